"""In-memory WorkOS Directory Sync state: objects, memberships and the event log.

Everything is guarded by one ``threading.RLock``. Objects are stored as dicts in exact WorkOS
JSON shape (workos-api.md section 4) and every public method hands out copies.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from .pagination import paginate

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

EVENT_TYPES = (
    "dsync.activated",
    "dsync.deleted",
    "dsync.group.created",
    "dsync.group.updated",
    "dsync.group.deleted",
    "dsync.group.user_added",
    "dsync.group.user_removed",
    "dsync.user.created",
    "dsync.user.updated",
    "dsync.user.deleted",
)

_KIND_ALIASES = {
    "organization": "organization",
    "org": "organization",
    "directory": "directory",
    "directory_user": "directory_user",
    "user": "directory_user",
    "directory_group": "directory_group",
    "group": "directory_group",
    "event": "event",
}

_USER_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "name",
    "state",
    "idp_id",
    "custom_attributes",
    "raw_attributes",
    "emails",
    "job_title",
    "username",
    "role",
    "roles",
)
_GROUP_FIELDS = ("name", "idp_id", "raw_attributes")
_DIRECTORY_FIELDS = ("name", "type", "state", "domain", "external_key")

# REST directory states -> event directory states (workos-api.md section 2.2, last paragraph).
_EVENT_DIR_STATE = {"linked": "active", "unlinked": "inactive"}

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ben", "Carla", "Chen", "Dana", "Diego", "Elena", "Emeka",
    "Fatima", "Finn", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Julia", "Kai",
    "Kenji", "Lara", "Leo", "Lina", "Maya", "Mateo", "Nadia", "Noah", "Olga", "Omar",
    "Priya", "Quinn", "Rita", "Rosa", "Sam", "Sara", "Tariq", "Tess", "Uma", "Victor",
    "Wen", "Xavier", "Yara", "Yusuf", "Zoe", "Zane", "Ingrid", "Pablo", "Mei", "Tomas",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Baker", "Becker", "Cohen", "Costa", "Dubois", "Evans", "Fischer", "Garcia",
    "Hansen", "Ito", "Jensen", "Kim", "Kowalski", "Larsen", "Lopez", "Meyer", "Moreau",
    "Nakamura", "Ng", "Novak", "Okafor", "Olsen", "Patel", "Perez", "Quinn", "Rossi",
    "Santos", "Schmidt", "Silva", "Singh", "Smith", "Tanaka", "Torres", "Umar", "Vargas",
    "Weber", "Wong", "Xu", "Young", "Zhang", "Ziegler", "Haddad", "Ivanova", "Mensah",
)  # fmt: skip
DEPARTMENTS = (
    "Engineering", "Sales", "Marketing", "Finance", "Support", "Legal", "People",
    "Operations", "Product", "Design", "Security", "Data",
)  # fmt: skip
JOB_TITLES = ("Engineer", "Manager", "Analyst", "Specialist", "Director", "Associate", "Lead")


def format_ms(ms: int) -> str:
    """Millisecond Unix time -> ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    secs, rem = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem:03d}Z"


def format_ts(dt: datetime) -> str:
    """Aware datetime -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    return format_ms(int(dt.timestamp() * 1000 + 0.5) if dt.tzinfo else _naive_ms(dt))


def _naive_ms(dt: datetime) -> int:
    return int(dt.replace(tzinfo=UTC).timestamp() * 1000 + 0.5)


def parse_ts(value: str) -> int:
    """Lenient ISO-8601 -> millisecond Unix time (``Z``, offsets, space separator, no tz = UTC)."""
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000 + 0.5)


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _clone(value: Any) -> Any:
    """Fast deep copy for JSON-shaped data (dicts, lists, scalars)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


_PAIRS = [a + b for a in CROCKFORD for b in CROCKFORD]  # 10 bits -> 2 chars


def _encode_ulid(ms: int, rand: int) -> str:
    """48-bit ms timestamp + 80-bit randomness -> 26 Crockford base32 chars."""
    value = (ms << 80) | rand  # fits in 130 bits = 13 pairs of 10 bits
    p = _PAIRS
    return "".join([p[(value >> shift) & 1023] for shift in range(120, -1, -10)])


class EmulatorState:
    """Thread-safe in-memory store of WorkOS organizations, directories, users, groups, events."""

    def __init__(self, *, random_seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self._rng = random.Random(random_seed)
        self._last_ms = 0  # clock
        self._ulid_ms = 0
        self._ulid_rand = 0
        self._silent = 0
        self._listeners: list[Callable[[dict], None]] = []
        self._org_seq = 0

        self._orgs: dict[str, dict] = {}
        self._org_ids: list[str] = []
        self._dirs: dict[str, dict] = {}
        self._dir_ids: list[str] = []
        self._dir_counts: dict[str, list[int]] = {}  # directory_id -> [active, inactive]
        self._users: dict[str, dict] = {}
        self._dir_user_ids: dict[str, list[str]] = {}
        self._groups: dict[str, dict] = {}
        self._dir_group_ids: dict[str, list[str]] = {}
        self._memberships: set[tuple[str, str]] = set()
        self._group_members: dict[str, list[str]] = {}  # group_id -> sorted user ids
        self._user_groups: dict[str, list[str]] = {}  # user_id -> sorted group ids

        self._events: list[dict] = []
        self._event_ids: list[str] = []
        self._event_ms: list[int] = []
        self._event_org: list[str | None] = []
        self._event_index: dict[str, int] = {}

    # ------------------------------------------------------------------ clock and ids
    def _tick(self) -> int:
        with self.lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms + 1
            self._last_ms = ms
            return ms

    def now(self) -> datetime:
        """Strictly increasing aware UTC datetime with millisecond precision."""
        return _ms_to_dt(self._tick())

    def new_id(self, prefix: str) -> str:
        """``<prefix>_`` + monotonic 26-char Crockford base32 ULID."""
        with self.lock:
            ms = max(time.time_ns() // 1_000_000, self._ulid_ms)
            if ms == self._ulid_ms:
                rand = self._ulid_rand + 1
                if rand >= 1 << 80:
                    ms, rand = ms + 1, self._rng.getrandbits(79)
            else:
                rand = self._rng.getrandbits(79)
            self._ulid_ms, self._ulid_rand = ms, rand
            return f"{prefix}_{_encode_ulid(ms, rand)}"

    # ------------------------------------------------------------------ events
    def add_listener(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(event)`` (under the state lock) for every recorded event. The event
        dict is shared with the log: listeners must not mutate it and must return quickly."""
        with self.lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[dict], None]) -> None:
        with self.lock, contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    @contextlib.contextmanager
    def silent(self) -> Iterator[None]:
        """Mutations made inside this block (from any thread) record no events."""
        with self.lock:
            self._silent += 1
        try:
            yield
        finally:
            with self.lock:
                self._silent -= 1

    def _record(self, event_type: str, data: dict, ms: int, org_id: str | None) -> None:
        if self._silent:
            return
        eid = self.new_id("event")
        event = {
            "object": "event",
            "id": eid,
            "event": event_type,
            "data": data,
            "created_at": format_ms(ms),
        }
        self._event_index[eid] = len(self._events)
        self._events.append(event)
        self._event_ids.append(eid)
        self._event_ms.append(ms)
        self._event_org.append(org_id)
        for listener in self._listeners:
            listener(event)  # listeners must treat the event as read-only

    def events_since(
        self,
        after_id: str | None = None,
        limit: int | None = 100,
        types: Iterable[str] | None = None,
        organization_id: str | None = None,
        range_start: datetime | str | None = None,
        range_end: datetime | str | None = None,
    ) -> list[dict]:
        """Events in recorded (ascending) order, after ``after_id``; ``limit=None`` = all."""
        return self.page_events(
            after=after_id,
            limit=limit,
            types=types,
            organization_id=organization_id,
            range_start=range_start,
            range_end=range_end,
        )[0]

    def page_events(
        self,
        *,
        after: str | None = None,
        limit: int | None = 10,
        types: Iterable[str] | None = None,
        organization_id: str | None = None,
        range_start: datetime | str | int | None = None,
        range_end: datetime | str | int | None = None,
    ) -> tuple[list[dict], str | None]:
        """(events, next_after) where next_after is the last id if more events match."""
        type_set = set(types) if types else None
        start_ms = _to_ms(range_start)
        end_ms = _to_ms(range_end)
        out: list[dict] = []
        more = False
        with self.lock:
            i = bisect_right(self._event_ids, after) if after else 0
            if start_ms is not None:
                i = max(i, bisect_left(self._event_ms, start_ms))
            n = len(self._events)
            while i < n:
                if end_ms is not None and self._event_ms[i] > end_ms:
                    break
                ev = self._events[i]
                i += 1
                if type_set is not None and ev["event"] not in type_set:
                    continue
                if organization_id and self._event_org[i - 1] != organization_id:
                    continue
                if limit is not None and len(out) >= limit:
                    more = True
                    break
                out.append(_clone(ev))
        return out, (out[-1]["id"] if out and more else None)

    def event_count(self) -> int:
        with self.lock:
            return len(self._events)

    # ------------------------------------------------------------------ object views
    def _directory_view(self, d: dict) -> dict:
        out = _clone(d)
        active, inactive = self._dir_counts.get(d["id"], (0, 0))
        out["metadata"] = {
            "users": {"active": active, "inactive": inactive},
            "groups": len(self._dir_group_ids.get(d["id"], ())),
        }
        return out

    def _user_view(self, u: dict, groups: bool | None = None) -> dict:
        """User copy; ``groups`` None = no key, False = ``[]``, True = filled."""
        out = _clone(u)
        if groups is not None:
            out["groups"] = (
                [_clone(self._groups[g]) for g in self._user_groups.get(u["id"], ())]
                if groups
                else []
            )
        return out

    def _directory_event_data(self, d: dict, *, deleted: bool = False) -> dict:
        data = {
            "object": "directory",
            "id": d["id"],
            "organization_id": d["organization_id"],
            "type": d["type"],
            "state": "deleting" if deleted else _EVENT_DIR_STATE.get(d["state"], d["state"]),
            "name": d["name"],
            "created_at": d["created_at"],
            "updated_at": d["updated_at"],
        }
        if not deleted:
            org = self._orgs.get(d["organization_id"])
            data["external_key"] = d["external_key"]
            data["domains"] = [
                {"object": "organization_domain", "id": dom["id"], "domain": dom["domain"]}
                for dom in (org["domains"] if org else ())
            ]
        return data

    # ------------------------------------------------------------------ read helpers
    def get(self, kind: str, object_id: str) -> dict | None:
        """Copy of one object (kind: organization/directory/directory_user/directory_group/
        event, or short forms org/user/group), or None."""
        k = _KIND_ALIASES.get(kind)
        if k is None:
            raise ValueError(f"unknown kind {kind!r}")
        with self.lock:
            if k == "organization":
                obj = self._orgs.get(object_id)
                return _clone(obj) if obj else None
            if k == "directory":
                obj = self._dirs.get(object_id)
                return self._directory_view(obj) if obj else None
            if k == "directory_user":
                obj = self._users.get(object_id)
                return _clone(obj) if obj else None
            if k == "directory_group":
                obj = self._groups.get(object_id)
                return _clone(obj) if obj else None
            idx = self._event_index.get(object_id)
            return _clone(self._events[idx]) if idx is not None else None

    def get_user(self, user_id: str, *, groups: bool | None = None) -> dict | None:
        with self.lock:
            u = self._users.get(user_id)
            return self._user_view(u, groups) if u else None

    def list_organizations(self) -> list[dict]:
        with self.lock:
            return [_clone(self._orgs[i]) for i in self._org_ids]

    def list_directories(self, organization_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                self._directory_view(self._dirs[i])
                for i in self._dir_ids
                if organization_id is None or self._dirs[i]["organization_id"] == organization_id
            ]

    def list_users(self, directory_id: str) -> list[dict]:
        with self.lock:
            return [_clone(self._users[i]) for i in self._dir_user_ids.get(directory_id, ())]

    def list_groups(self, directory_id: str) -> list[dict]:
        with self.lock:
            return [_clone(self._groups[i]) for i in self._dir_group_ids.get(directory_id, ())]

    def members(self, group_id: str) -> list[str]:
        """User ids of a group's members, in creation order."""
        with self.lock:
            return list(self._group_members.get(group_id, ()))

    def groups_of(self, user_id: str) -> list[str]:
        with self.lock:
            return list(self._user_groups.get(user_id, ()))

    def is_member(self, group_id: str, user_id: str) -> bool:
        with self.lock:
            return (group_id, user_id) in self._memberships

    def snapshot(self, directory_id: str) -> dict:
        """{"users": {id: obj}, "groups": {id: obj}, "memberships": {(group_id, user_id)}}."""
        with self.lock:
            gids = self._dir_group_ids.get(directory_id, [])
            uids = self._dir_user_ids.get(directory_id, [])
            return {
                "users": {i: _clone(self._users[i]) for i in uids},
                "groups": {i: _clone(self._groups[i]) for i in gids},
                "memberships": {(g, u) for g in gids for u in self._group_members.get(g, ())},
            }

    def counts(self) -> dict:
        with self.lock:
            return {
                "organizations": len(self._orgs),
                "directories": len(self._dirs),
                "users": len(self._users),
                "groups": len(self._groups),
                "memberships": len(self._memberships),
                "events": len(self._events),
            }

    def directory_of(self, kind: str, object_id: str) -> str | None:
        """Directory id of a user or group (None when unknown)."""
        with self.lock:
            store = self._users if _KIND_ALIASES.get(kind) == "directory_user" else self._groups
            obj = store.get(object_id)
            return obj["directory_id"] if obj else None

    # ------------------------------------------------------------------ paged reads (REST)
    def page_organizations(
        self, *, domains: Iterable[str] | None = None, search: str | None = None, **page: Any
    ) -> tuple[list[dict], dict]:
        dom_set = {d.lower() for d in domains} if domains else None
        needle = search.lower() if search else None
        with self.lock:
            ids: list[str] = self._org_ids
            if dom_set or needle:
                ids = [
                    i
                    for i in ids
                    if (
                        not dom_set
                        or any(d["domain"].lower() in dom_set for d in self._orgs[i]["domains"])
                    )
                    and (not needle or needle in self._orgs[i]["name"].lower())
                ]
            page_ids, meta = paginate(ids, **page)
            return [_clone(self._orgs[i]) for i in page_ids], meta

    def page_directories(
        self,
        *,
        organization_id: str | None = None,
        search: str | None = None,
        domain: str | None = None,
        **page: Any,
    ) -> tuple[list[dict], dict]:
        needle = search.lower() if search else None
        with self.lock:
            ids: list[str] = self._dir_ids
            if organization_id or needle or domain:
                ids = [
                    i
                    for i in ids
                    if (not organization_id or self._dirs[i]["organization_id"] == organization_id)
                    and (not needle or needle in self._dirs[i]["name"].lower())
                    and (not domain or self._dirs[i].get("domain") == domain)
                ]
            page_ids, meta = paginate(ids, **page)
            return [self._directory_view(self._dirs[i]) for i in page_ids], meta

    def page_users(
        self,
        *,
        directory_id: str | None = None,
        group_id: str | None = None,
        idp_id: str | None = None,
        email: str | None = None,
        groups: bool = False,
        **page: Any,
    ) -> tuple[list[dict], dict]:
        """Raises KeyError(kind) when the directory or group does not exist."""
        with self.lock:
            if group_id is not None:
                if group_id not in self._groups:
                    raise KeyError("directory_group")
                ids: list[str] = self._group_members.get(group_id, [])
                if directory_id is not None and self._groups[group_id]["directory_id"] != (
                    directory_id
                ):
                    ids = []
            elif directory_id is not None:
                if directory_id not in self._dirs:
                    raise KeyError("directory")
                ids = self._dir_user_ids.get(directory_id, [])
            else:
                ids = []
            if idp_id is not None or email is not None:
                em = email.lower() if email else None
                ids = [
                    i
                    for i in ids
                    if (idp_id is None or self._users[i]["idp_id"] == idp_id)
                    and (em is None or (self._users[i]["email"] or "").lower() == em)
                ]
            page_ids, meta = paginate(ids, **page)
            return [self._user_view(self._users[i], groups) for i in page_ids], meta

    def page_groups(
        self, *, directory_id: str | None = None, user_id: str | None = None, **page: Any
    ) -> tuple[list[dict], dict]:
        """Raises KeyError(kind) when the directory or user does not exist."""
        with self.lock:
            if user_id is not None:
                if user_id not in self._users:
                    raise KeyError("directory_user")
                ids: list[str] = self._user_groups.get(user_id, [])
                if directory_id is not None and self._users[user_id]["directory_id"] != (
                    directory_id
                ):
                    ids = []
            elif directory_id is not None:
                if directory_id not in self._dirs:
                    raise KeyError("directory")
                ids = self._dir_group_ids.get(directory_id, [])
            else:
                ids = []
            page_ids, meta = paginate(ids, **page)
            return [_clone(self._groups[i]) for i in page_ids], meta

    # ------------------------------------------------------------------ organizations
    def create_organization(self, name: str, domains: Iterable[str] = ()) -> dict:
        """Create an organization (records no event)."""
        with self.lock:
            ms = self._tick()
            ts = format_ms(ms)
            oid = self.new_id("org")
            doms = []
            for dom in domains:
                doms.append(
                    {
                        "object": "organization_domain",
                        "id": self.new_id("org_domain"),
                        "organization_id": oid,
                        "domain": dom,
                        "state": "verified",
                        "verification_strategy": "dns",
                        "created_at": ts,
                        "updated_at": ts,
                    }
                )
            org = {
                "object": "organization",
                "id": oid,
                "name": name,
                "external_id": None,
                "metadata": {},
                "domains": doms,
                "created_at": ts,
                "updated_at": ts,
            }
            self._orgs[oid] = org
            self._org_ids.append(oid)
            self._org_seq += 1
            return _clone(org)

    # ------------------------------------------------------------------ directories
    def create_directory(
        self,
        organization_id: str,
        name: str,
        type: str = "okta scim v2.0",  # WorkOS field name
        domain: str | None = None,
        state: str = "linked",
    ) -> dict:
        """Create a directory; records ``dsync.activated``."""
        with self.lock:
            org = self._orgs.get(organization_id)
            if org is None:
                raise KeyError(f"organization {organization_id} not found")
            ms = self._tick()
            ts = format_ms(ms)
            did = self.new_id("directory")
            if domain is None and org["domains"]:
                domain = org["domains"][0]["domain"]
            d = {
                "object": "directory",
                "id": did,
                "organization_id": organization_id,
                "external_key": "".join(
                    self._rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                    for _ in range(16)
                ),
                "type": type,
                "state": state,
                "name": name,
                "domain": domain,
                "created_at": ts,
                "updated_at": ts,
            }
            self._dirs[did] = d
            self._dir_ids.append(did)
            self._dir_counts[did] = [0, 0]
            self._dir_user_ids[did] = []
            self._dir_group_ids[did] = []
            self._record("dsync.activated", self._directory_event_data(d), ms, organization_id)
            return self._directory_view(d)

    def update_directory(self, directory_id: str, **fields: Any) -> dict:
        """Update name/type/state/domain/external_key (records no event)."""
        with self.lock:
            d = self._require(self._dirs, directory_id, "directory")
            bad = set(fields) - set(_DIRECTORY_FIELDS)
            if bad:
                raise TypeError(f"unknown directory fields: {sorted(bad)}")
            d.update(fields)
            d["updated_at"] = format_ms(self._tick())
            return self._directory_view(d)

    def delete_directory(self, directory_id: str) -> dict:
        """Remove a directory with its users, groups and memberships; one ``dsync.deleted``."""
        with self.lock:
            d = self._require(self._dirs, directory_id, "directory")
            ms = self._tick()
            for gid in self._dir_group_ids.pop(directory_id, []):
                for uid in self._group_members.pop(gid, []):
                    self._memberships.discard((gid, uid))
                del self._groups[gid]
            for uid in self._dir_user_ids.pop(directory_id, []):
                self._user_groups.pop(uid, None)
                del self._users[uid]
            del self._dirs[directory_id]
            self._dir_ids.pop(bisect_left(self._dir_ids, directory_id))
            self._dir_counts.pop(directory_id, None)
            d["updated_at"] = format_ms(ms)
            data = self._directory_event_data(d, deleted=True)
            self._record("dsync.deleted", data, ms, d["organization_id"])
            return data

    # ------------------------------------------------------------------ users
    def _make_user(
        self,
        d: dict,
        ts: str,
        *,
        email: str | None,
        first_name: str | None,
        last_name: str | None,
        state: str,
        idp_id: str | None,
        custom_attributes: dict | None,
        role: str | None,
        roles: list | None,
    ) -> dict:
        uid = self.new_id("directory_user")
        name = " ".join(p for p in (first_name, last_name) if p) or None
        role_obj = {"slug": role} if role else None
        if roles is None:
            roles_list = [dict(role_obj)] if role_obj else []
        else:
            roles_list = [r if isinstance(r, dict) else {"slug": r} for r in roles]
        return {
            "object": "directory_user",
            "id": uid,
            "directory_id": d["id"],
            "organization_id": d["organization_id"],
            "idp_id": idp_id if idp_id is not None else f"00u{self._rng.getrandbits(60):015x}",
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "name": name,
            "state": state,
            "custom_attributes": dict(custom_attributes or {}),
            "raw_attributes": {},
            "emails": [],
            "job_title": None,
            "username": None,
            "role": role_obj,
            "roles": roles_list,
            "created_at": ts,
            "updated_at": ts,
        }

    def _insert_user(self, u: dict) -> None:
        did = u["directory_id"]
        self._users[u["id"]] = u
        _sorted_add(self._dir_user_ids.setdefault(did, []), u["id"])
        self._dir_counts.setdefault(did, [0, 0])[0 if u["state"] == "active" else 1] += 1

    def create_user(
        self,
        directory_id: str,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        state: str = "active",
        idp_id: str | None = None,
        custom_attributes: dict | None = None,
        role: str | None = "member",
        roles: list | None = None,
    ) -> dict:
        """Create a directory user; records ``dsync.user.created``."""
        with self.lock:
            d = self._require(self._dirs, directory_id, "directory")
            ms = self._tick()
            u = self._make_user(
                d,
                format_ms(ms),
                email=email,
                first_name=first_name,
                last_name=last_name,
                state=state,
                idp_id=idp_id,
                custom_attributes=custom_attributes,
                role=role,
                roles=roles,
            )
            self._insert_user(u)
            self._record("dsync.user.created", _clone(u), ms, u["organization_id"])
            return _clone(u)

    def update_user(self, user_id: str, **fields: Any) -> dict:
        """Update user fields; records ``dsync.user.updated`` with ``previous_attributes``.

        ``role`` may be a slug string (sets ``role`` and, unless ``roles`` is given, ``roles``).
        ``name`` is recomputed from first/last name unless passed explicitly.
        """
        with self.lock:
            u = self._require(self._users, user_id, "directory_user")
            bad = set(fields) - set(_USER_FIELDS)
            if bad:
                raise TypeError(f"unknown user fields: {sorted(bad)}")
            new = dict(fields)
            if "role" in new:
                r = new["role"]
                new["role"] = {"slug": r} if isinstance(r, str) else r
                if "roles" not in new:
                    new["roles"] = [dict(new["role"])] if new["role"] else []
            if "roles" in new and new["roles"] is not None:
                new["roles"] = [r if isinstance(r, dict) else {"slug": r} for r in new["roles"]]
            if ("first_name" in new or "last_name" in new) and "name" not in new:
                first = new.get("first_name", u["first_name"])
                last = new.get("last_name", u["last_name"])
                new["name"] = " ".join(p for p in (first, last) if p) or None
            previous = {k: _clone(u[k]) for k, v in new.items() if u.get(k) != v}
            old_state = u["state"]
            for k, v in new.items():
                u[k] = _clone(v)
            if old_state != u["state"]:
                counts = self._dir_counts.setdefault(u["directory_id"], [0, 0])
                counts[0 if old_state == "active" else 1] -= 1
                counts[0 if u["state"] == "active" else 1] += 1
            ms = self._tick()
            u["updated_at"] = format_ms(ms)
            data = _clone(u)
            data["previous_attributes"] = previous
            self._record("dsync.user.updated", data, ms, u["organization_id"])
            return _clone(u)

    def delete_user(self, user_id: str) -> dict:
        """Remove a user and its memberships; records only ``dsync.user.deleted``."""
        with self.lock:
            u = self._require(self._users, user_id, "directory_user")
            ms = self._tick()
            for gid in self._user_groups.pop(user_id, []):
                self._memberships.discard((gid, user_id))
                _sorted_remove(self._group_members.get(gid, []), user_id)
            del self._users[user_id]
            _sorted_remove(self._dir_user_ids.get(u["directory_id"], []), user_id)
            counts = self._dir_counts.get(u["directory_id"])
            if counts:
                counts[0 if u["state"] == "active" else 1] -= 1
            u["updated_at"] = format_ms(ms)
            self._record("dsync.user.deleted", _clone(u), ms, u["organization_id"])
            return u

    # ------------------------------------------------------------------ groups
    def _make_group(self, d: dict, ts: str, name: str, idp_id: str | None) -> dict:
        gid = self.new_id("directory_group")
        return {
            "object": "directory_group",
            "id": gid,
            "idp_id": idp_id if idp_id is not None else f"00g{self._rng.getrandbits(60):015x}",
            "directory_id": d["id"],
            "organization_id": d["organization_id"],
            "name": name,
            "raw_attributes": {},
            "created_at": ts,
            "updated_at": ts,
        }

    def _insert_group(self, g: dict) -> None:
        self._groups[g["id"]] = g
        _sorted_add(self._dir_group_ids.setdefault(g["directory_id"], []), g["id"])
        self._group_members[g["id"]] = []

    def create_group(self, directory_id: str, name: str, idp_id: str | None = None) -> dict:
        """Create a group; records ``dsync.group.created``."""
        with self.lock:
            d = self._require(self._dirs, directory_id, "directory")
            ms = self._tick()
            g = self._make_group(d, format_ms(ms), name, idp_id)
            self._insert_group(g)
            self._record("dsync.group.created", _clone(g), ms, g["organization_id"])
            return _clone(g)

    def update_group(self, group_id: str, **fields: Any) -> dict:
        """Update name/idp_id/raw_attributes; records ``dsync.group.updated``."""
        with self.lock:
            g = self._require(self._groups, group_id, "directory_group")
            bad = set(fields) - set(_GROUP_FIELDS)
            if bad:
                raise TypeError(f"unknown group fields: {sorted(bad)}")
            previous = {k: _clone(g[k]) for k, v in fields.items() if g.get(k) != v}
            for k, v in fields.items():
                g[k] = _clone(v)
            ms = self._tick()
            g["updated_at"] = format_ms(ms)
            data = _clone(g)
            data["previous_attributes"] = previous
            self._record("dsync.group.updated", data, ms, g["organization_id"])
            return _clone(g)

    def delete_group(self, group_id: str) -> dict:
        """Remove a group and its memberships; records only ``dsync.group.deleted``."""
        with self.lock:
            g = self._require(self._groups, group_id, "directory_group")
            ms = self._tick()
            for uid in self._group_members.pop(group_id, []):
                self._memberships.discard((group_id, uid))
                _sorted_remove(self._user_groups.get(uid, []), group_id)
            del self._groups[group_id]
            _sorted_remove(self._dir_group_ids.get(g["directory_id"], []), group_id)
            g["updated_at"] = format_ms(ms)
            self._record("dsync.group.deleted", _clone(g), ms, g["organization_id"])
            return g

    # ------------------------------------------------------------------ memberships
    def _link(self, gid: str, uid: str) -> None:
        self._memberships.add((gid, uid))
        _sorted_add(self._group_members.setdefault(gid, []), uid)
        _sorted_add(self._user_groups.setdefault(uid, []), gid)

    def add_member(self, group_id: str, user_id: str) -> bool:
        """Add a user to a group; records ``dsync.group.user_added``. False if already a member."""
        with self.lock:
            g = self._require(self._groups, group_id, "directory_group")
            u = self._require(self._users, user_id, "directory_user")
            if g["directory_id"] != u["directory_id"]:
                raise ValueError("user and group belong to different directories")
            if (group_id, user_id) in self._memberships:
                return False
            ms = self._tick()
            self._link(group_id, user_id)
            data = {"directory_id": g["directory_id"], "user": _clone(u), "group": _clone(g)}
            self._record("dsync.group.user_added", data, ms, g["organization_id"])
            return True

    def remove_member(self, group_id: str, user_id: str) -> bool:
        """Remove a membership; records ``dsync.group.user_removed``. False if not a member."""
        with self.lock:
            g = self._require(self._groups, group_id, "directory_group")
            u = self._require(self._users, user_id, "directory_user")
            if (group_id, user_id) not in self._memberships:
                return False
            ms = self._tick()
            self._memberships.discard((group_id, user_id))
            _sorted_remove(self._group_members.get(group_id, []), user_id)
            _sorted_remove(self._user_groups.get(user_id, []), group_id)
            data = {"directory_id": g["directory_id"], "user": _clone(u), "group": _clone(g)}
            self._record("dsync.group.user_removed", data, ms, g["organization_id"])
            return True

    # ------------------------------------------------------------------ seeding
    def seed(
        self,
        *,
        organizations: int = 1,
        directories: int = 1,
        users: int = 300,
        groups: int = 12,
        memberships_per_user: int = 2,
        seed: int = 42,
        record_events: bool = False,
    ) -> dict:
        """Deterministic fake data. ``directories``/``users``/``groups`` are per organization /
        per directory. All seeded users and groups share one creation timestamp (one bulk
        import), so seeding does not push the strictly increasing clock into the future."""
        rng = random.Random(seed)
        org_ids: list[str] = []
        dir_ids: list[str] = []
        with self.lock:
            base_silent = self._silent
            if not record_events:
                self._silent += 1
            try:
                for _ in range(organizations):
                    n = self._org_seq + 1
                    org = self.create_organization(f"Acme {n}", domains=(f"acme-{n}.test",))
                    org_ids.append(org["id"])
                    for k in range(directories):
                        suffix = f" {k + 1}" if directories > 1 else ""
                        d = self.create_directory(org["id"], f"Acme {n} Okta{suffix}")
                        dir_ids.append(d["id"])
                        self._seed_directory(
                            self._dirs[d["id"]],
                            f"acme-{n}.test",
                            rng,
                            users,
                            groups,
                            memberships_per_user,
                        )
            finally:
                self._silent = base_silent
        return {"organization_ids": org_ids, "directory_ids": dir_ids}

    def _seed_directory(
        self, d: dict, domain: str, rng: random.Random, n_users: int, n_groups: int, per_user: int
    ) -> None:
        ms = self._tick()
        ts = format_ms(ms)
        org_id = d["organization_id"]
        record = not self._silent
        gids: list[str] = []
        gsnap: dict[str, dict] = {}  # event payloads are immutable, so seed events share them
        for i in range(n_groups):
            dept = DEPARTMENTS[i % len(DEPARTMENTS)]
            name = dept if i < len(DEPARTMENTS) else f"{dept} {i // len(DEPARTMENTS) + 1}"
            g = self._make_group(d, ts, name, f"00g{rng.getrandbits(60):015x}")
            self._insert_group(g)
            gids.append(g["id"])
            if record:
                gsnap[g["id"]] = _clone(g)
                self._record("dsync.group.created", gsnap[g["id"]], ms, org_id)
        seen: dict[str, int] = {}
        per_user = min(per_user, n_groups)
        for _ in range(n_users):
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            local = f"{first}.{last}".lower()
            c = seen.get(local, 0) + 1
            seen[local] = c
            email = f"{local}{c if c > 1 else ''}@{domain}"
            roll = rng.random()
            state = "inactive" if roll < 0.05 else "suspended" if roll < 0.07 else "active"
            dept = rng.choice(DEPARTMENTS)
            u = self._make_user(
                d,
                ts,
                email=email,
                first_name=first,
                last_name=last,
                state=state,
                idp_id=f"00u{rng.getrandbits(60):015x}",
                custom_attributes={"department": dept, "job_title": rng.choice(JOB_TITLES)},
                role="admin" if rng.random() < 0.02 else "member",
                roles=None,
            )
            self._insert_user(u)
            usnap = _clone(u) if record else u
            if record:
                self._record("dsync.user.created", usnap, ms, org_id)
            for gid in rng.sample(gids, per_user) if per_user else ():
                self._link(gid, u["id"])
                if record:
                    data = {"directory_id": d["id"], "user": usnap, "group": gsnap[gid]}
                    self._record("dsync.group.user_added", data, ms, org_id)

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _require(store: dict[str, dict], object_id: str, kind: str) -> dict:
        obj = store.get(object_id)
        if obj is None:
            raise KeyError(f"{kind} {object_id} not found")
        return obj


def _sorted_add(ids: list[str], value: str) -> None:
    if not ids or ids[-1] < value:
        ids.append(value)
    else:
        i = bisect_left(ids, value)
        if i == len(ids) or ids[i] != value:
            insort(ids, value)


def _sorted_remove(ids: list[str], value: str) -> None:
    i = bisect_left(ids, value)
    if i < len(ids) and ids[i] == value:
        del ids[i]


def _to_ms(value: datetime | str | int | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000 + 0.5) if value.tzinfo else _naive_ms(value)
    return parse_ts(value)
