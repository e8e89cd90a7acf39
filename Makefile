# Quick start: `make run` starts the whole service; `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP) ## install what is needed and start web, worker, beat (and the emulator without a key)
	$(BIN)/python -m worker run

test: $(STAMP) ## lint, then the whole suite on SQLite and PostgreSQL with real Redis and Celery
	bin/ensure-services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/resync_bench.py

clean:
	rm -rf $(VENV) .dirsync dirsync.db dirsync.db-*
