"""``/healthz`` and ``/readyz`` on SQLite and PostgreSQL, embedded broker and Redis."""

from __future__ import annotations

import pytest

from tests.web.conftest import CLOSED_PG_URL


@pytest.fixture
def embedded(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "broker" / "queue").mkdir(parents=True)
    return {"broker_url": "filesystem://", "data_dir": tmp_path}


def test_healthz_is_200_even_when_dependencies_are_down(make_receiver, settings):
    receiver = make_receiver(
        settings, database_url=CLOSED_PG_URL, broker_url="redis://127.0.0.1:1/0"
    )
    resp = receiver.client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_200_with_database_and_embedded_broker(make_receiver, settings, embedded):
    resp = make_receiver(settings, **embedded).client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_200_with_database_and_redis(make_receiver, settings):
    resp = make_receiver(settings, broker_url="redis://127.0.0.1:6379/0").client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()


def test_readyz_503_names_database_when_it_is_down(make_receiver, settings, embedded):
    receiver = make_receiver(settings, database_url=CLOSED_PG_URL, **embedded)
    resp = receiver.client.get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("down")
    assert body["checks"]["broker"] == "ok"
    assert "postgres@" not in resp.get_data(as_text=True)


def test_readyz_503_names_broker_when_redis_is_down(make_receiver, settings):
    receiver = make_receiver(settings, broker_url="redis://127.0.0.1:1/0")
    resp = receiver.client.get("/readyz")
    assert resp.status_code == 503
    checks = resp.get_json()["checks"]
    assert checks["broker"].startswith("down")
    assert checks["database"] == "ok"


def test_readyz_503_names_broker_when_embedded_queue_folder_is_missing(
    make_receiver, settings, tmp_path
):
    receiver = make_receiver(settings, broker_url="filesystem://", data_dir=tmp_path / "nowhere")
    resp = receiver.client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["broker"].startswith("down")


def test_readyz_503_names_both_when_both_are_down(make_receiver, settings):
    receiver = make_receiver(
        settings, database_url=CLOSED_PG_URL, broker_url="redis://127.0.0.1:1/0"
    )
    resp = receiver.client.get("/readyz")
    assert resp.status_code == 503
    checks = resp.get_json()["checks"]
    assert checks["database"].startswith("down") and checks["broker"].startswith("down")
