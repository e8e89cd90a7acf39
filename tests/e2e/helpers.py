"""Polling helpers for the end-to-end tests: bounded waits, never fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import func, select

from emulator import EmulatorState
from tests.support import assert_mirror_matches
from worker.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    SyncRun,
    WebhookEvent,
)

if TYPE_CHECKING:
    from tests.e2e.conftest import Service

T = TypeVar("T")
CONVERGE_SECONDS = 60


def wait_for(
    check: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.25,
    message: str = "condition",
) -> T:
    """Call ``check`` until it returns a truthy value without raising AssertionError.

    On timeout, raise with the last AssertionError's text, so the failure says what was still
    different rather than only "timed out".
    """
    deadline = time.monotonic() + timeout
    last: AssertionError | None = None
    while True:
        try:
            value = check()
        except AssertionError as exc:
            last = exc
        else:
            if value:
                return value
            last = None
        if time.monotonic() >= deadline:
            detail = f": {last}" if last is not None else ""
            raise AssertionError(f"{message} not reached within {timeout:.0f}s{detail}") from last
        time.sleep(interval)


def wait_converged(
    service: Service,
    state: EmulatorState,
    *directory_ids: str,
    timeout: float = CONVERGE_SECONDS,
) -> None:
    """Wait until the mirror of every directory equals the emulator's state."""

    def converged() -> bool:
        for directory_id in directory_ids:
            try:
                assert_mirror_matches(service.factory, state, directory_id)
            except AssertionError as exc:
                raise AssertionError(f"{directory_id}: {exc}; {service.describe()}") from None
        return True

    wait_for(converged, timeout=timeout, interval=0.3, message="mirror == emulator")


def directory_row_counts(service: Service, directory_id: str) -> dict[str, int]:
    """Rows left anywhere in the mirror for ``directory_id`` (the directory row included)."""
    with service.factory() as session:
        counts = {
            name: session.scalar(
                select(func.count()).select_from(model).where(model.directory_id == directory_id)
            )
            or 0
            for name, model in (
                ("users", DirectoryUser),
                ("groups", DirectoryGroup),
                ("memberships", GroupMembership),
            )
        }
        counts["directory"] = (
            session.scalar(
                select(func.count()).select_from(Directory).where(Directory.id == directory_id)
            )
            or 0
        )
    return counts


def wait_directory_gone(service: Service, directory_id: str, timeout: float = 30) -> None:
    def gone() -> bool:
        counts = directory_row_counts(service, directory_id)
        assert not any(counts.values()), f"rows left for {directory_id}: {counts}"
        return True

    wait_for(gone, timeout=timeout, message=f"directory {directory_id} removed from the mirror")


def wait_inbox_settled(service: Service, timeout: float = 30) -> dict[str, int]:
    """Wait until no inbox event is pending; return the status counts."""

    def settled() -> dict[str, int]:
        inbox = service.inbox()
        assert not inbox.get("pending"), f"inbox not drained: {service.describe()}"
        return inbox or {"empty": 0}

    return wait_for(settled, timeout=timeout, message="inbox drained")


def processed_event_types(service: Service) -> set[str]:
    with service.factory() as session:
        return set(
            session.scalars(
                select(WebhookEvent.event_type).where(WebhookEvent.status == "processed").distinct()
            )
        )


def failed_events(service: Service) -> list[tuple[str, str, str | None]]:
    with service.factory() as session:
        return [
            (row.id, row.event_type, row.last_error)
            for row in session.scalars(select(WebhookEvent).where(WebhookEvent.status == "failed"))
        ]


def sync_run(service: Service, run_id: int) -> SyncRun | None:
    with service.factory() as session:
        return session.get(SyncRun, run_id)


def wait_run_finished(service: Service, run_id: int, timeout: float = 60) -> SyncRun:
    def finished() -> SyncRun | None:
        run = sync_run(service, run_id)
        assert run is not None, f"sync run {run_id} does not exist"
        if run.status in ("queued", "running"):
            raise AssertionError(f"run {run_id} still {run.status}")
        return run

    return wait_for(finished, timeout=timeout, interval=0.3, message=f"sync run {run_id} finished")


def wait_webhooks_delivered(service: Service, timeout: float = 30) -> dict[str, int]:
    """Wait until the emulator has no webhook queued, in flight or awaiting retry."""
    assert service.emulator.dispatcher.wait_idle(timeout), (
        f"webhooks still pending after {timeout}s: {service.describe()}"
    )
    return service.emulator.dispatcher.stats()


def wait_runs_idle(service: Service, timeout: float = 60) -> None:
    """Wait until no sync run is queued or running."""

    def idle() -> bool:
        with service.factory() as session:
            busy = list(
                session.execute(
                    select(SyncRun.id, SyncRun.status).where(
                        SyncRun.status.in_(("queued", "running"))
                    )
                ).all()
            )
        assert not busy, f"sync runs not finished: {busy}"
        return True

    wait_for(idle, timeout=timeout, message="no sync run queued or running")
