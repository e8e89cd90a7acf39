"""Flask app serving the WorkOS Directory Sync REST API plus a ``/_emulator`` control API."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from .config import EmulatorConfig
from .pagination import PaginationError, validate
from .state import EmulatorState
from .webhooks import describe

if TYPE_CHECKING:
    from .webhooks import WebhookDispatcher

_KIND_LABEL = {
    "organization": "Organization",
    "directory": "Directory",
    "directory_user": "Directory User",
    "directory_group": "Directory Group",
}


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (sliding log)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: float) -> float:
        """Record a hit; returns 0 when allowed, else seconds until a slot frees up."""
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - window:
                q.popleft()
            if len(q) >= limit:
                return q[0] + window - now
            q.append(now)
            return 0.0

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.by_route: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.by_route_status: Counter[str] = Counter()
            self.limited: Counter[str] = Counter()
            self.total = 0

    def count(self, route: str, status: int) -> None:
        with self._lock:
            self.total += 1
            self.by_route[route] += 1
            self.by_status[str(status)] += 1
            self.by_route_status[f"{route} {status}"] += 1

    def limit(self, kind: str) -> None:
        with self._lock:
            self.limited[kind] += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": {
                    "total": self.total,
                    "by_route": dict(self.by_route),
                    "by_status": dict(self.by_status),
                    "by_route_status": dict(self.by_route_status),
                },
                "rate_limited": self.by_status.get("429", 0),
                "rate_limited_by_kind": dict(self.limited),
            }


def _error(status: int, message: str, code: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"message": message}
    if code:
        body["code"] = code
    body.update(extra)
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _not_found(kind: str, object_id: str) -> Response:
    label = _KIND_LABEL.get(kind, kind)
    return _error(404, f"{label} '{object_id}' not found", "entity_not_found")


def _ratelimited(plain: bool, retry_after: float) -> Response:
    seconds = str(max(1, math.ceil(retry_after)))
    if plain:
        resp = Response("Ratelimited", status=429, mimetype="text/plain")
    else:
        resp = _error(429, "Too many requests", "rate_limit_exceeded")
    resp.headers["Retry-After"] = seconds
    return resp


def _multi(*names: str) -> list[str]:
    """Array query param in any encoding: ``a=x,y``, ``a=x&a=y``, ``a[]=x``."""
    out: list[str] = []
    for name in names:
        for key in (name, f"{name}[]"):
            for raw in request.args.getlist(key):
                out.extend(part.strip() for part in raw.split(",") if part.strip())
    return out


def _arg(*names: str) -> str | None:
    for name in names:
        value = request.args.get(name)
        if value:
            return value
    return None


def _page_args() -> dict[str, Any]:
    limit, order = validate(request.args.get("limit"), request.args.get("order"))
    return {
        "limit": limit,
        "order": order,
        "before": request.args.get("before") or None,
        "after": request.args.get("after") or None,
    }


def _list(data: list[dict], meta: dict) -> dict[str, Any]:
    return {"object": "list", "data": data, "list_metadata": meta}


def create_app(
    state: EmulatorState,
    config: EmulatorConfig,
    dispatcher: WebhookDispatcher | None = None,
) -> Flask:
    """Build the emulator Flask app. ``dispatcher`` only feeds webhook numbers to /stats."""
    app = Flask("emulator")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    stats = Stats()
    limiter = SlidingWindowLimiter()
    rng = random.Random(config.random_seed)
    app.extensions["emulator"] = {
        "state": state,
        "config": config,
        "dispatcher": dispatcher,
        "stats": stats,
        "limiter": limiter,
    }

    def is_api() -> bool:
        return not (request.path.startswith("/_emulator") or request.path == "/health")

    @app.before_request
    def gate() -> Response | None:
        if not is_api():
            return None
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:].strip() != config.api_key:
            return _error(401, "Unauthorized")
        is_user_list = request.path.rstrip("/") == "/directory_users"
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        if config.take("burst_429"):
            stats.limit("burst")
            return _ratelimited(is_user_list, config.retry_after_seconds)
        if config.take("fail_next"):
            return _error(500, "Internal server error (injected)", "server_error")
        if config.error_rate and rng.random() < config.error_rate:
            return _error(500, "Internal server error (injected)", "server_error")
        if config.rate_limits:
            wait = limiter.hit(f"key:{config.api_key}", int(config.general_limit_per_minute), 60.0)
            if wait:
                stats.limit("general")
                return _ratelimited(False, wait)
            if is_user_list:
                directory = _arg("directory", "directory_id")
                if not directory:
                    group = _arg("group", "group_id")
                    directory = state.directory_of("group", group) if group else None
                if directory:
                    wait = limiter.hit(
                        f"dir:{directory}", int(config.directory_users_per_second), 1.0
                    )
                    if wait:
                        stats.limit("directory_users")
                        return _ratelimited(True, wait)
        return None

    @app.after_request
    def count(resp: Response) -> Response:
        if is_api():
            rule = request.url_rule.rule if request.url_rule else "<unmatched>"
            stats.count(f"{request.method} {rule}", resp.status_code)
        return resp

    @app.errorhandler(PaginationError)
    def bad_page(exc: PaginationError) -> Response:
        return _error(422, str(exc), "invalid_request_parameters")

    @app.errorhandler(404)
    def route_404(_exc: Exception) -> Response:
        return _error(404, "Not Found")

    @app.errorhandler(405)
    def route_405(_exc: Exception) -> Response:
        return _error(405, "Method Not Allowed")

    # ------------------------------------------------------------------ REST API
    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/organizations")
    def list_organizations() -> Any:
        data, meta = state.page_organizations(
            domains=_multi("domains") or None, search=_arg("search"), **_page_args()
        )
        return _list(data, meta)

    @app.get("/organizations/<org_id>")
    def get_organization(org_id: str) -> Any:
        obj = state.get("organization", org_id)
        return obj if obj else _not_found("organization", org_id)

    @app.get("/directories")
    def list_directories() -> Any:
        data, meta = state.page_directories(
            organization_id=_arg("organization_id", "organization"),
            search=_arg("search"),
            domain=_arg("domain"),
            **_page_args(),
        )
        return _list(data, meta)

    @app.get("/directories/<directory_id>")
    def get_directory(directory_id: str) -> Any:
        obj = state.get("directory", directory_id)
        return obj if obj else _not_found("directory", directory_id)

    @app.delete("/directories/<directory_id>")
    def delete_directory(directory_id: str) -> Any:
        try:
            state.delete_directory(directory_id)
        except KeyError:
            return _not_found("directory", directory_id)
        return Response(status=202)

    @app.get("/directory_users")
    def list_users() -> Any:
        directory = _arg("directory", "directory_id")
        group = _arg("group", "group_id")
        if not directory and not group:
            return _error(422, "Please provide a directory or a group.", "invalid_request")
        page = _page_args()
        try:
            data, meta = state.page_users(
                directory_id=directory,
                group_id=group,
                idp_id=_arg("idp_id"),
                email=_arg("email"),
                groups=bool(config.groups_on_users),
                **page,
            )
        except KeyError as exc:
            kind = exc.args[0]
            return _not_found(kind, group if kind == "directory_group" else directory or "")
        return _list(data, meta)

    @app.get("/directory_users/<user_id>")
    def get_user(user_id: str) -> Any:
        obj = state.get_user(user_id, groups=bool(config.groups_on_users))
        return obj if obj else _not_found("directory_user", user_id)

    @app.get("/directory_groups")
    def list_groups() -> Any:
        directory = _arg("directory", "directory_id")
        user = _arg("user", "user_id")
        if not directory and not user:
            return _error(422, "Please provide a directory or a user.", "invalid_request")
        page = _page_args()
        try:
            data, meta = state.page_groups(directory_id=directory, user_id=user, **page)
        except KeyError as exc:
            kind = exc.args[0]
            return _not_found(kind, user if kind == "directory_user" else directory or "")
        return _list(data, meta)

    @app.get("/directory_groups/<group_id>")
    def get_group(group_id: str) -> Any:
        obj = state.get("directory_group", group_id)
        return obj if obj else _not_found("directory_group", group_id)

    @app.get("/events")
    def list_events() -> Any:
        limit, _ = validate(request.args.get("limit"), None)
        try:
            data, after = state.page_events(
                after=request.args.get("after") or None,
                limit=limit,
                types=_multi("events") or None,
                organization_id=_arg("organization_id"),
                range_start=_arg("range_start"),
                range_end=_arg("range_end"),
            )
        except ValueError:
            return _error(
                422, "range_start and range_end must be ISO-8601 timestamps", "invalid_request"
            )
        return {"object": "list", "data": data, "list_metadata": {"after": after}}

    # ------------------------------------------------------------------ control API
    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    def mutate(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if request.args.get("silent") in ("1", "true", "yes"):
                with state.silent():
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)
        except KeyError as exc:
            return _error(404, str(exc.args[0] if exc.args else exc), "entity_not_found")
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc), "invalid_request")

    def created(result: Any) -> Any:
        if isinstance(result, Response):
            return result
        return jsonify(result), 201

    @app.post("/_emulator/seed")
    def control_seed() -> Any:
        return mutate(state.seed, **body())

    @app.get("/_emulator/config")
    def control_get_config() -> Any:
        return config.to_dict()

    @app.post("/_emulator/config")
    def control_set_config() -> Any:
        changes = body()
        try:
            config.update(**changes)
        except TypeError as exc:
            return _error(400, str(exc), "invalid_request")
        if "random_seed" in changes:
            rng.seed(config.random_seed)
        if changes.get("rate_limits") is False or "general_limit_per_minute" in changes:
            limiter.reset()
        return config.to_dict()

    @app.post("/_emulator/organizations")
    def control_create_org() -> Any:
        b = body()
        return created(
            mutate(state.create_organization, b.get("name", "Org"), b.get("domains", ()))
        )

    @app.post("/_emulator/directories")
    def control_create_directory() -> Any:
        b = body()
        org = b.pop("organization_id", None)
        name = b.pop("name", "Directory")
        return created(mutate(state.create_directory, org, name, **b))

    @app.route("/_emulator/directories/<directory_id>", methods=["PATCH", "DELETE"])
    def control_directory(directory_id: str) -> Any:
        if request.method == "DELETE":
            return mutate(state.delete_directory, directory_id)
        return mutate(state.update_directory, directory_id, **body())

    @app.post("/_emulator/users")
    def control_create_user() -> Any:
        b = body()
        directory_id = b.pop("directory_id", None)
        return created(mutate(state.create_user, directory_id, **b))

    @app.route("/_emulator/users/<user_id>", methods=["PATCH", "DELETE"])
    def control_user(user_id: str) -> Any:
        if request.method == "DELETE":
            return mutate(state.delete_user, user_id)
        return mutate(state.update_user, user_id, **body())

    @app.post("/_emulator/groups")
    def control_create_group() -> Any:
        b = body()
        directory_id = b.pop("directory_id", None)
        return created(mutate(state.create_group, directory_id, **b))

    @app.route("/_emulator/groups/<group_id>", methods=["PATCH", "DELETE"])
    def control_group(group_id: str) -> Any:
        if request.method == "DELETE":
            return mutate(state.delete_group, group_id)
        return mutate(state.update_group, group_id, **body())

    @app.route("/_emulator/groups/<group_id>/members/<user_id>", methods=["POST", "DELETE"])
    def control_member(group_id: str, user_id: str) -> Any:
        fn = state.add_member if request.method == "POST" else state.remove_member
        result = mutate(fn, group_id, user_id)
        return result if isinstance(result, Response) else {"changed": result}

    @app.get("/_emulator/snapshot/<directory_id>")
    def control_snapshot(directory_id: str) -> Any:
        snap = state.snapshot(directory_id)
        return {
            "users": snap["users"],
            "groups": snap["groups"],
            "memberships": sorted([g, u] for g, u in snap["memberships"]),
        }

    @app.get("/_emulator/stats")
    def control_stats() -> Any:
        out = stats.as_dict()
        out["webhooks"] = describe(app.extensions["emulator"]["dispatcher"])
        out["state"] = state.counts()
        return out

    @app.post("/_emulator/stats/reset")
    def control_stats_reset() -> Any:
        stats.reset()
        disp = app.extensions["emulator"]["dispatcher"]
        if disp is not None:
            disp.reset_stats()
        return {"ok": True}

    @app.post("/_emulator/webhooks/wait_idle")
    def control_wait_idle() -> Any:
        disp = app.extensions["emulator"]["dispatcher"]
        timeout = float(body().get("timeout", 10))
        return {"idle": True if disp is None else disp.wait_idle(timeout)}

    return app
