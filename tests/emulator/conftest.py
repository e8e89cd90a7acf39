"""Fixtures for the WorkOS emulator tests (no mocks: real sockets, real SDK)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # let plain `pytest` import the top-level `emulator` package
    sys.path.insert(0, str(ROOT))

from emulator import EmulatorConfig, EmulatorServer, EmulatorState  # noqa: E402

API_KEY = "sk_test_dirsync"


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(random_seed=7)


@pytest.fixture
def server(state: EmulatorState) -> Iterator[EmulatorServer]:
    """Emulator with rate limits off (most tests page a lot)."""
    with EmulatorServer(state, EmulatorConfig(rate_limits=False, random_seed=1)) as srv:
        yield srv


@pytest.fixture
def limited_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState(), EmulatorConfig(rate_limits=True)) as srv:
        yield srv


class Api:
    """Thin requests wrapper that adds the Bearer key."""

    def __init__(self, base_url: str, key: str = API_KEY) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str, **params: object) -> requests.Response:
        return self.session.get(self.base_url + path, params=params, timeout=10)

    def raw(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=10, **kwargs)


@pytest.fixture
def api(server: EmulatorServer) -> Api:
    return Api(server.base_url)


@pytest.fixture
def make_api() -> type[Api]:
    """The Api class itself (test modules cannot import conftest reliably)."""
    return Api


class Receiver:
    """Tiny local webhook receiver. ``fail_first[event_id] = n`` answers 500 n times first."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_first: dict[str, int] = {}  # event id -> failures left
        self.fail_matching: dict[bytes, int] = {}  # body substring -> failures left
        self.fail_all = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                event_id = json.loads(body).get("id")
                with receiver.lock:
                    left = receiver.fail_first.get(event_id, 0)
                    failing = receiver.fail_all or left > 0
                    if left > 0:
                        receiver.fail_first[event_id] = left - 1
                    for needle, n in receiver.fail_matching.items():
                        if n > 0 and needle in body:
                            receiver.fail_matching[needle] = n - 1
                            failing = True
                    receiver.requests.append(
                        {
                            "headers": dict(self.headers),
                            "body": body,
                            "status": 500 if failing else 200,
                        }
                    )
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/webhooks/workos"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def delivered(self) -> list[dict]:
        """Parsed bodies of the requests answered 200, in arrival order."""
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests if r["status"] == 200]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
