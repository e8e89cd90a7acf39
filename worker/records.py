"""Turn WorkOS JSON objects into mirror rows (one place that knows the field mapping)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker.workos_client import parse_time

# Events speak active/inactive for directories, REST speaks linked/unlinked: we store REST's.
EVENT_DIRECTORY_STATES = {"active": "linked", "inactive": "unlinked"}

# Columns that make up a row's content (everything but synced_at), per kind.
CONTENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "organization": ("name", "domains", "external_id", "metadata_", "created_at", "updated_at"),
    "directory": (
        "organization_id",
        "name",
        "domain",
        "type",
        "state",
        "external_key",
        "created_at",
        "updated_at",
    ),
    "user": (
        "directory_id",
        "organization_id",
        "idp_id",
        "email",
        "first_name",
        "last_name",
        "name",
        "state",
        "role",
        "roles",
        "custom_attributes",
        "raw_attributes",
        "created_at",
        "updated_at",
    ),
    "group": (
        "directory_id",
        "organization_id",
        "idp_id",
        "name",
        "raw_attributes",
        "created_at",
        "updated_at",
    ),
}


class InvalidObject(ValueError):
    """A WorkOS object lacks a field we cannot do without (id, updated_at ...)."""


def _required_time(obj: dict[str, Any], key: str) -> datetime:
    value = parse_time(obj.get(key))
    if value is None:
        raise InvalidObject(f"{obj.get('object', 'object')} {obj.get('id')!r} has no {key}")
    return value


def _id(obj: dict[str, Any]) -> str:
    value = obj.get("id")
    if not isinstance(value, str) or not value:
        raise InvalidObject(f"{obj.get('object', 'object')} without an id")
    return value


def _slug(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("slug")
    return value if isinstance(value, str) else None


def organization_row(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _id(obj),
        "name": obj.get("name") or "",
        "domains": list(obj.get("domains") or []),
        "external_id": obj.get("external_id"),
        "metadata_": dict(obj.get("metadata") or {}),
        "created_at": parse_time(obj.get("created_at")),
        "updated_at": _required_time(obj, "updated_at"),
    }


def directory_row(obj: dict[str, Any]) -> dict[str, Any]:
    state = obj.get("state") or "linked"
    return {
        "id": _id(obj),
        "organization_id": obj.get("organization_id"),
        "name": obj.get("name") or "",
        "domain": obj.get("domain"),
        "type": obj.get("type") or "",
        "state": EVENT_DIRECTORY_STATES.get(state, state),
        "external_key": obj.get("external_key"),
        "created_at": parse_time(obj.get("created_at")),
        "updated_at": _required_time(obj, "updated_at"),
    }


def user_row(obj: dict[str, Any]) -> dict[str, Any]:
    directory_id = obj.get("directory_id")
    if not directory_id:
        raise InvalidObject(f"directory_user {obj.get('id')!r} has no directory_id")
    roles = [s for s in (_slug(r) for r in obj.get("roles") or []) if s]
    return {
        "id": _id(obj),
        "directory_id": directory_id,
        "organization_id": obj.get("organization_id"),
        "idp_id": obj.get("idp_id"),
        "email": obj.get("email"),
        "first_name": obj.get("first_name"),
        "last_name": obj.get("last_name"),
        "name": obj.get("name"),
        "state": obj.get("state") or "active",
        "role": _slug(obj.get("role")),
        "roles": roles,
        "custom_attributes": dict(obj.get("custom_attributes") or {}),
        "raw_attributes": dict(obj.get("raw_attributes") or {}),
        "created_at": parse_time(obj.get("created_at")),
        "updated_at": _required_time(obj, "updated_at"),
    }


def group_row(obj: dict[str, Any]) -> dict[str, Any]:
    directory_id = obj.get("directory_id")
    if not directory_id:
        raise InvalidObject(f"directory_group {obj.get('id')!r} has no directory_id")
    return {
        "id": _id(obj),
        "directory_id": directory_id,
        "organization_id": obj.get("organization_id"),
        "idp_id": obj.get("idp_id"),
        "name": obj.get("name") or "",
        "raw_attributes": dict(obj.get("raw_attributes") or {}),
        "created_at": parse_time(obj.get("created_at")),
        "updated_at": _required_time(obj, "updated_at"),
    }


ROW_BUILDERS = {
    "organization": organization_row,
    "directory": directory_row,
    "user": user_row,
    "group": group_row,
}


def same_content(kind: str, current: dict[str, Any], incoming: dict[str, Any]) -> bool:
    return all(current.get(c) == incoming.get(c) for c in CONTENT_COLUMNS[kind])
