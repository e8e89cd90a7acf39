"""Run the emulator in-process on a real socket (werkzeug threaded server)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .config import EmulatorConfig
from .state import EmulatorState
from .webhooks import WebhookDispatcher


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no per-request access log
        pass


class EmulatorServer:
    """``with EmulatorServer() as srv: requests.get(srv.base_url + "/health")``."""

    def __init__(
        self,
        state: EmulatorState | None = None,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = state if state is not None else EmulatorState()
        self.config = config if config is not None else EmulatorConfig()
        self.dispatcher = WebhookDispatcher(self.state, self.config)
        self.app = create_app(self.state, self.config, self.dispatcher)
        self._server = make_server(
            host, port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self.dispatcher.stop()

    def serve_forever(self) -> None:
        """Block the calling thread until interrupted (used by ``python -m emulator``)."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
