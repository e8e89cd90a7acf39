"""In-process WorkOS Directory Sync API emulator for dirsync's tests, benchmarks and demo."""

from .app import create_app
from .config import EmulatorConfig
from .server import EmulatorServer
from .state import EmulatorState
from .webhooks import WebhookDispatcher, deliver, sign

__all__ = [
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "WebhookDispatcher",
    "create_app",
    "deliver",
    "sign",
]
