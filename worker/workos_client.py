"""A small WorkOS REST client on one ``requests.Session``.

It paginates with cursors, retries transient failures with capped exponential backoff and
jitter (honouring ``Retry-After``), paces itself under the documented rate limits, and turns
errors into typed exceptions so callers can tell "retry later" from "fix your key".
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from worker.config import Settings
from worker.pacing import LocalPacer, Pacer, make_pacer

log = logging.getLogger(__name__)

USER_AGENT = f"dirsync/0.1 python-requests/{requests.__version__}"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
PAGE_LIMIT = 100


class WorkOSError(Exception):
    """Any failure talking to WorkOS."""

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class AuthenticationError(WorkOSError):
    """401/403: the API key is wrong or lacks permission. Retrying cannot help."""


class NotFoundError(WorkOSError):
    """404: the object does not exist (any more)."""


class TransientError(WorkOSError):
    """429, 5xx, timeouts and connection failures that outlasted the retry budget."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_description") or body.get("code") or body)
    return str(body)[:200]


class WorkOSClient:
    """Typed access to the Directory Sync endpoints dirsync reads."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 60.0,
        requests_per_minute: int = 5400,
        directory_users_per_second: float = 3.6,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.requests_per_minute = requests_per_minute
        self.directory_users_per_second = directory_users_per_second
        self.pacer: Pacer = pacer or LocalPacer()
        self._api_key_tag = api_key[-4:] if len(api_key) > 8 else "key"
        self._sleep = sleep
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {api_key}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
        )
        self.request_count = 0

    @classmethod
    def from_settings(cls, settings: Settings, api_key: str, base_url: str) -> WorkOSClient:
        return cls(
            api_key,
            base_url,
            connect_timeout=settings.api_connect_timeout,
            read_timeout=settings.api_read_timeout,
            max_retries=settings.api_max_retries,
            requests_per_minute=settings.api_requests_per_minute,
            directory_users_per_second=settings.directory_users_per_second,
            pacer=make_pacer(settings.pacing_redis_url),
        )

    # -- transport -------------------------------------------------------------------------

    def _pace(self, path: str, params: dict[str, Any], directory: str | None) -> None:
        waits = [
            self.pacer.reserve(
                f"key:{self._api_key_tag}",
                self.requests_per_minute / 60.0,
                max(1, self.requests_per_minute // 120),
            )
        ]
        directory = directory or params.get("directory")
        if path == "/directory_users" and directory:
            waits.append(
                self.pacer.reserve(f"dir_users:{directory}", self.directory_users_per_second, 1)
            )
        wait = max(waits)
        if wait > 0:
            self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2**attempt) * random.uniform(0.5, 1.5)

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, directory: str | None = None
    ) -> dict[str, Any]:
        """GET ``path`` and return its JSON, retrying transient failures.

        ``directory`` names the directory whose ``/directory_users`` budget a request spends
        when the query itself does not say (a ``group`` filter).
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path
        last: str = ""
        for attempt in range(self.max_retries + 1):
            self._pace(path, params, directory)
            self.request_count += 1
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
                delay = self._backoff(attempt)
            else:
                status = response.status_code
                if status < 300:
                    try:
                        return response.json()
                    except ValueError:
                        raise WorkOSError(
                            f"GET {path}: response is not JSON", status=status
                        ) from None
                request_id = response.headers.get("X-Request-ID")
                message = _error_message(response)
                if status in (401, 403):
                    raise AuthenticationError(
                        f"WorkOS rejected the API key ({status}: {message}); check WORKOS_API_KEY",
                        status=status,
                        request_id=request_id,
                    )
                if status == 404:
                    raise NotFoundError(f"GET {path}: {message}", status=404, request_id=request_id)
                if status not in RETRY_STATUSES:
                    raise WorkOSError(
                        f"GET {path} failed ({status}): {message}",
                        status=status,
                        request_id=request_id,
                    )
                last = f"HTTP {status}: {message}"
                delay = self._backoff(attempt)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None:
                    delay = min(retry_after, self.retry_after_cap) + random.uniform(0, 0.25)
            if attempt == self.max_retries:
                break
            log.info("GET %s: %s; retry %d in %.2fs", path, last, attempt + 1, delay)
            self._sleep(delay)
        raise TransientError(f"GET {path} still failing after {self.max_retries + 1} tries: {last}")

    def pages(
        self, path: str, params: dict[str, Any] | None = None, *, directory: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield every page of a list endpoint, following ``list_metadata.after`` until null."""
        query = {"limit": PAGE_LIMIT, "order": "asc", **(params or {})}
        while True:
            body = self.get(path, query, directory=directory)
            data = body.get("data") or []
            if data:
                yield data
            after = (body.get("list_metadata") or {}).get("after")
            if not after or not data:
                return
            query = {**query, "after": after}
            query.pop("before", None)

    # -- endpoints -----------------------------------------------------------------------

    def get_directory(self, directory_id: str) -> dict[str, Any]:
        return self.get(f"/directories/{directory_id}")

    def directories(self, organization_id: str | None = None) -> Iterator[list[dict[str, Any]]]:
        return self.pages("/directories", {"organization_id": organization_id})

    def organizations(self) -> Iterator[list[dict[str, Any]]]:
        return self.pages("/organizations")

    def get_organization(self, organization_id: str) -> dict[str, Any]:
        return self.get(f"/organizations/{organization_id}")

    def users(
        self, *, directory: str | None = None, group: str | None = None, paced_as: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Users of a directory, or members of a group (``paced_as`` = the group's directory)."""
        params = {"directory": directory, "group": group}
        return self.pages("/directory_users", params, directory=paced_as)

    def groups(
        self, *, directory: str | None = None, user: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        return self.pages("/directory_groups", {"directory": directory, "user": user})

    def events(
        self, *, after: str | None = None, types: list[str] | None = None, limit: int = PAGE_LIMIT
    ) -> dict[str, Any]:
        """One page of ``GET /events`` (oldest first); the caller stores the cursor."""
        params: dict[str, Any] = {"limit": limit, "after": after}
        if types:
            params["events"] = ",".join(types)
        return self.get("/events", params)


def parse_time(value: Any) -> datetime | None:
    """Parse a WorkOS timestamp leniently (``Z``, offsets, or a space instead of ``T``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
