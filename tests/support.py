"""Helpers for comparing the mirror with the emulator's state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from emulator import EmulatorState
from worker.models import Change, DirectoryGroup, DirectoryUser, GroupMembership
from worker.records import CONTENT_COLUMNS, group_row, user_row


def mirror_snapshot(factory: sessionmaker[Session], directory_id: str) -> dict[str, Any]:
    """The mirror of one directory, in the shape of :func:`expected_snapshot`."""
    with factory() as session:
        users = {
            u.id: {c: getattr(u, c) for c in CONTENT_COLUMNS["user"]}
            for u in session.scalars(
                select(DirectoryUser).where(DirectoryUser.directory_id == directory_id)
            )
        }
        groups = {
            g.id: {c: getattr(g, c) for c in CONTENT_COLUMNS["group"]}
            for g in session.scalars(
                select(DirectoryGroup).where(DirectoryGroup.directory_id == directory_id)
            )
        }
        edges = set(
            session.execute(
                select(GroupMembership.group_id, GroupMembership.user_id).where(
                    GroupMembership.directory_id == directory_id
                )
            ).all()
        )
    return {"users": users, "groups": groups, "memberships": edges}


def expected_snapshot(state: EmulatorState, directory_id: str) -> dict[str, Any]:
    """What the mirror of ``directory_id`` must equal: the emulator's current state."""
    snap = state.snapshot(directory_id)

    def content(kind: str, row: dict[str, Any]) -> dict[str, Any]:
        return {c: row[c] for c in CONTENT_COLUMNS[kind]}

    return {
        "users": {i: content("user", user_row(u)) for i, u in snap["users"].items()},
        "groups": {i: content("group", group_row(g)) for i, g in snap["groups"].items()},
        "memberships": {tuple(e) for e in snap["memberships"]},
    }


def assert_mirror_matches(
    factory: sessionmaker[Session], state: EmulatorState, directory_id: str
) -> None:
    actual = mirror_snapshot(factory, directory_id)
    expected = expected_snapshot(state, directory_id)
    assert set(actual["users"]) == set(expected["users"]), "user ids differ"
    assert set(actual["groups"]) == set(expected["groups"]), "group ids differ"
    for user_id, row in expected["users"].items():
        assert actual["users"][user_id] == row, f"user {user_id} differs"
    for group_id, row in expected["groups"].items():
        assert actual["groups"][group_id] == row, f"group {group_id} differs"
    assert actual["memberships"] == expected["memberships"], "memberships differ"


def changes(factory: sessionmaker[Session], **filters: Any) -> list[Change]:
    with factory() as session:
        query = select(Change).order_by(Change.seq)
        for key, value in filters.items():
            query = query.where(getattr(Change, key) == value)
        return list(session.scalars(query))
