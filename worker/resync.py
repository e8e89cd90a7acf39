"""Full resync: make the mirror of a directory (or of everything) exactly equal to WorkOS.

A directory resync streams the directory, its groups, its users and each group's members page
by page, writing each page in one short transaction (so memory stays flat and event processing
interleaves). Every row it sees gets ``synced_at`` stamped. Only after the whole enumeration
succeeded does it remove rows of the directory whose ``synced_at`` predates the run: a resync
that fails or is interrupted part-way removes nothing. Rows written by events during the run
carry a newer ``synced_at`` and survive; their deletes left tombstones that refuse the run's
older reads (see worker/mirror.py).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.db import dialect_insert, lock_directory, transaction, utcnow
from worker.mirror import (
    ChangeLog,
    WriteCounts,
    add_tombstone,
    delete_directory_contents,
    delete_organizations,
    sweep_unconfirmed,
    upsert_edges,
    upsert_objects,
)
from worker.models import (
    Directory,
    DirectoryGroup,
    Organization,
    ResyncLease,
    SyncRun,
)
from worker.records import directory_row, group_row, organization_row, user_row
from worker.workos_client import NotFoundError, WorkOSClient

log = logging.getLogger(__name__)

SWEEP_CHUNK = 1000
ProgressCallback = Callable[[SyncRun], None]


class ResyncBusy(Exception):
    """Another resync of the same directory holds the lease."""


def create_run(
    factory: sessionmaker[Session],
    *,
    scope: str,
    trigger: str,
    directory_id: str | None = None,
    parent_id: int | None = None,
    due_in: float = 0.0,
) -> int:
    """Record a queued run; ``due_in`` postpones it (the sweep will not enqueue it earlier)."""
    with transaction(factory) as session:
        run = SyncRun(
            scope=scope,
            directory_id=directory_id,
            trigger=trigger,
            status="queued",
            queued_at=utcnow() + timedelta(seconds=due_in),
            parent_id=parent_id,
        )
        session.add(run)
        session.flush()
        return run.id


def acquire_lease(
    session: Session, directory_id: str, run_id: int, holder: str, seconds: int
) -> tuple[int, str]:
    """Take or renew the directory's resync lease; return (run id, holder) now holding it.

    ``holder`` names one execution, so a redelivered task for the same run cannot run
    alongside the first one.
    """
    now = utcnow()
    stmt = dialect_insert(session, ResyncLease).values(
        directory_id=directory_id,
        run_id=run_id,
        holder=holder,
        expires_at=now + timedelta(seconds=seconds),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["directory_id"],
        set_={
            "run_id": stmt.excluded.run_id,
            "holder": stmt.excluded.holder,
            "expires_at": stmt.excluded.expires_at,
        },
        where=(ResyncLease.expires_at < now) | (ResyncLease.holder == holder),
    )
    session.execute(stmt)
    row = session.execute(
        select(ResyncLease.run_id, ResyncLease.holder).where(
            ResyncLease.directory_id == directory_id
        )
    ).one()
    return row.run_id, row.holder


class LeaseLost(Exception):
    """Our lease expired and another execution took the directory over."""


class _Heartbeat:
    """Renews the resync lease and the run's heartbeat every third of the lease, so a run
    that waits long on WorkOS (Retry-After, slow pages) is not presumed dead."""

    def __init__(self, resyncer: Resyncer, run_id: int, directory_id: str) -> None:
        self._stop = threading.Event()
        interval = max(1.0, resyncer.settings.resync_lease_seconds / 3)

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    resyncer.heartbeat(run_id, directory_id)
                except Exception:
                    log.warning("resync heartbeat failed (run %s)", run_id, exc_info=True)

        self._thread = threading.Thread(target=beat, name=f"resync-heartbeat-{run_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class _Tally:
    """In-memory counters of one run, written to its row with every batch."""

    run: SyncRun

    def add(self, kind: str, counts: WriteCounts, seen: int) -> None:
        run = self.run
        setattr(run, f"{kind}_inserted", getattr(run, f"{kind}_inserted") + counts.inserted)
        setattr(run, f"{kind}_updated", getattr(run, f"{kind}_updated") + counts.updated)
        setattr(run, f"{kind}_deleted", getattr(run, f"{kind}_deleted") + counts.deleted)
        if kind in ("users", "groups", "memberships"):
            setattr(run, f"{kind}_seen", getattr(run, f"{kind}_seen") + seen)


COUNTER_FIELDS = [
    f"{kind}_{what}"
    for kind in ("organizations", "directories", "users", "groups", "memberships")
    for what in ("inserted", "updated", "deleted")
] + ["users_seen", "groups_seen", "memberships_seen", "api_requests"]


class Resyncer:
    """Runs resyncs. One instance per process; safe to use from one thread at a time."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        client: WorkOSClient,
        settings: Settings,
        *,
        progress: ProgressCallback | None = None,
        enqueue_directory: Callable[[int], None] | None = None,
    ) -> None:
        self.factory = factory
        self.client = client
        self.settings = settings
        self.progress = progress
        self.enqueue_directory = enqueue_directory

    # -- bookkeeping ---------------------------------------------------------------------

    def _load(self, run_id: int) -> SyncRun:
        with self.factory() as session:
            run = session.get(SyncRun, run_id)
            if run is None:
                raise LookupError(f"sync run {run_id} does not exist")
            session.expunge(run)
            return run

    def _save(self, session: Session, run: SyncRun, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(run, key, value)
        run.api_requests = self.client.request_count - self._requests_at_start
        values = {f: getattr(run, f) for f in COUNTER_FIELDS}
        values.update(fields)
        values["heartbeat_at"] = utcnow()
        session.execute(update(SyncRun).where(SyncRun.id == run.id).values(**values))

    # -- directory -----------------------------------------------------------------------

    def run_directory(self, run_id: int) -> SyncRun:
        """Resync one directory; always leaves the run row finished (succeeded/failed/skipped)."""
        run = self._load(run_id)
        if run.status in ("succeeded", "failed", "skipped"):
            return run  # a redelivered task for a run that already ended
        directory_id = run.directory_id
        assert directory_id is not None
        self._requests_at_start = self.client.request_count
        self._holder = uuid.uuid4().hex
        self._run_id = run_id
        self._lease_lost = False
        with transaction(self.factory) as session:
            holder_run, _ = acquire_lease(
                session, directory_id, run_id, self._holder, self.settings.resync_lease_seconds
            )
            if holder_run == run_id and _ != self._holder:
                log.warning("run %s is already being executed elsewhere; not starting", run_id)
                return run
            if holder_run != run_id:
                message = f"another resync of {directory_id} is running (run {holder_run})"
                self._save(session, run, status="skipped", finished_at=utcnow(), error=message)
                log.warning("run %s skipped: %s", run_id, message)
                return run
            self._save(session, run, status="running", started_at=utcnow(), error=None)
        heartbeat = _Heartbeat(self, run_id, directory_id)
        try:
            self._sync_directory(run, directory_id)
        except LeaseLost:
            # Another execution of this run owns it now (we were presumed dead): leave the run
            # row to it and stop quietly.
            log.warning("run %s: lease lost to another execution; stopping", run_id)
            return run
        except Exception as exc:
            log.exception("resync of %s failed (run %s)", directory_id, run_id)
            with transaction(self.factory) as session:
                self._save(
                    session, run, status="failed", finished_at=utcnow(), error=_describe(exc)
                )
        else:
            with transaction(self.factory) as session:
                self._save(session, run, status="succeeded", finished_at=utcnow())
        finally:
            heartbeat.stop()
            with transaction(self.factory) as session:
                session.execute(
                    delete(ResyncLease).where(
                        ResyncLease.directory_id == directory_id,
                        ResyncLease.holder == self._holder,
                    )
                )
        self._report(run)
        return run

    def _renew(self, session: Session, directory_id: str) -> None:
        _, holder = acquire_lease(
            session, directory_id, self._run_id, self._holder, self.settings.resync_lease_seconds
        )
        if holder != self._holder:
            raise LeaseLost(f"lease on {directory_id} was taken over; stopping this execution")

    def heartbeat(self, run_id: int, directory_id: str) -> None:
        """Renew the lease and stamp the run as alive (from the heartbeat thread)."""
        with transaction(self.factory) as session:
            try:
                self._renew(session, directory_id)
            except LeaseLost:
                self._lease_lost = True
                return
            session.execute(
                update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=utcnow())
            )

    def _report(self, run: SyncRun) -> None:
        if self.progress is not None:
            self.progress(run)

    def _write(
        self,
        run: SyncRun,
        directory_id: str,
        kind: str,
        seen: int,
        work: Callable[[Session, ChangeLog], WriteCounts],
    ) -> None:
        """One batch: lock the directory, write, renew the lease, save counters, commit."""
        if self._lease_lost:
            raise LeaseLost(f"lease on {directory_id} was taken over; stopping this execution")
        changes = ChangeLog(source="resync", sync_run_id=run.id)
        with transaction(self.factory) as session:
            lock_directory(session, directory_id)
            counts = work(session, changes)
            self._renew(session, directory_id)
            _Tally(run).add(kind, counts, seen)
            self._save(session, run)
            changes.flush(session)
        self._report(run)

    def _sync_directory(self, run: SyncRun, directory_id: str) -> None:
        mark = utcnow()
        try:
            directory = self.client.get_directory(directory_id)
        except NotFoundError:
            log.info("directory %s no longer exists in WorkOS; removing it", directory_id)
            self._remove_directory(run, directory_id, mark)
            return
        row = directory_row(directory)
        org_id = row["organization_id"]
        self._write(
            run,
            directory_id,
            "directories",
            1,
            lambda s, c: upsert_objects(s, "directory", [row], c, touch_unchanged=True),
        )
        size = self.settings.sync_batch_size
        for batch in _batched(self.client.groups(directory=directory_id), size):
            rows = [group_row(o) for o in batch]
            self._write(
                run,
                directory_id,
                "groups",
                len(rows),
                lambda s, c, rows=rows: upsert_objects(s, "group", rows, c, touch_unchanged=True),
            )
        for batch in _batched(self.client.users(directory=directory_id), size):
            rows = [user_row(o) for o in batch]
            self._write(
                run,
                directory_id,
                "users",
                len(rows),
                lambda s, c, rows=rows: upsert_objects(s, "user", rows, c, touch_unchanged=True),
            )
        for group_id in self._groups_seen_since(directory_id, mark):
            observed = utcnow()
            members = self.client.users(group=group_id, paced_as=directory_id)
            for batch in _batched(members, size):
                user_ids = [o["id"] for o in batch]
                self._write(
                    run,
                    directory_id,
                    "memberships",
                    len(user_ids),
                    lambda s, c, g=group_id, u=user_ids, t=observed: upsert_edges(
                        s, directory_id, g, u, t, c, organization_id=org_id, touch_unchanged=True
                    ),
                )
        # The enumeration is complete: only now remove what WorkOS no longer has.
        for kind in ("membership", "user", "group"):
            while self._sweep_chunk(run, directory_id, kind, mark):
                pass

    def _groups_seen_since(self, directory_id: str, mark: datetime) -> Iterator[str]:
        """Group ids this run confirmed, streamed from the database in keyset pages."""
        last = ""
        while True:
            with self.factory() as session:
                ids = list(
                    session.scalars(
                        select(DirectoryGroup.id)
                        .where(
                            DirectoryGroup.directory_id == directory_id,
                            DirectoryGroup.synced_at >= mark,
                            DirectoryGroup.id > last,
                        )
                        .order_by(DirectoryGroup.id)
                        .limit(500)
                    )
                )
            if not ids:
                return
            yield from ids
            last = ids[-1]

    def _sweep_chunk(self, run: SyncRun, directory_id: str, kind: str, mark: datetime) -> bool:
        """Delete one chunk of rows not confirmed since ``mark``; False when none are left."""
        changes = ChangeLog(source="resync", sync_run_id=run.id)
        with transaction(self.factory) as session:
            lock_directory(session, directory_id)
            deleted = sweep_unconfirmed(
                session, kind, directory_id, mark, changes, limit=SWEEP_CHUNK
            )
            if deleted:
                self._renew(session, directory_id)
                _Tally(run).add(f"{kind}s", WriteCounts(deleted=deleted), 0)
                self._save(session, run)
                changes.flush(session)
        return deleted > 0

    def _remove_directory(self, run: SyncRun, directory_id: str, mark: datetime) -> None:
        changes = ChangeLog(source="resync", sync_run_id=run.id)
        with transaction(self.factory) as session:
            lock_directory(session, directory_id)
            add_tombstone(session, "directory", directory_id, directory_id, mark)
            deleted = delete_directory_contents(session, directory_id, changes)
            for kind, plural in (
                ("membership", "memberships"),
                ("user", "users"),
                ("group", "groups"),
                ("directory", "directories"),
            ):
                setattr(run, f"{plural}_deleted", getattr(run, f"{plural}_deleted") + deleted[kind])
            self._save(session, run)

    # -- everything ----------------------------------------------------------------------

    def run_all(self, run_id: int, *, inline: bool) -> SyncRun:
        """Mirror organizations and directories, remove vanished ones, then resync each
        directory: in this process when ``inline``, else as one queued task per directory."""
        run = self._load(run_id)
        if run.status in ("succeeded", "failed", "skipped"):
            return run
        self._requests_at_start = self.client.request_count
        with transaction(self.factory) as session:
            self._save(session, run, status="running", started_at=utcnow(), error=None)
        child_ids: list[int] = []
        try:
            mark = utcnow()
            for page in self.client.organizations():
                rows = [organization_row(o) for o in page]
                self._write_global(run, "organizations", "organization", rows)
            for page in self.client.directories():
                rows = [directory_row(o) for o in page]
                self._write_global(run, "directories", "directory", rows)
            # Complete enumeration of both lists: now vanished ones may go.
            with self.factory() as session:
                gone_dirs = list(
                    session.scalars(select(Directory.id).where(Directory.synced_at < mark))
                )
                gone_orgs = list(
                    session.scalars(select(Organization.id).where(Organization.synced_at < mark))
                )
                directory_ids = list(
                    session.scalars(
                        select(Directory.id)
                        .where(Directory.synced_at >= mark)
                        .order_by(Directory.id)
                    )
                )
            for directory_id in gone_dirs:
                self._remove_directory(run, directory_id, mark)
            if gone_orgs:
                self._remove_organizations(run, gone_orgs, mark)
            for directory_id in directory_ids:
                child_ids.append(
                    create_run(
                        self.factory,
                        scope="directory",
                        trigger=run.trigger,
                        directory_id=directory_id,
                        parent_id=run.id,
                    )
                )
        except Exception as exc:
            log.exception("resync --all failed (run %s)", run_id)
            with transaction(self.factory) as session:
                self._save(
                    session, run, status="failed", finished_at=utcnow(), error=_describe(exc)
                )
            self._report(run)
            return run
        failed: list[str] = []
        for child_id in child_ids:
            if inline:
                child = Resyncer(
                    self.factory, self.client, self.settings, progress=self.progress
                ).run_directory(child_id)
                if child.status != "succeeded":
                    failed.append(f"{child.directory_id} (run {child_id}: {child.status})")
            elif self.enqueue_directory is not None:
                self.enqueue_directory(child_id)
        with transaction(self.factory) as session:
            if failed:
                self._save(
                    session,
                    run,
                    status="failed",
                    finished_at=utcnow(),
                    error="directory resyncs failed: " + ", ".join(failed),
                )
            else:
                self._save(session, run, status="succeeded", finished_at=utcnow())
        self._report(run)
        return run

    def _write_global(
        self, run: SyncRun, plural: str, kind: str, rows: list[dict[str, Any]]
    ) -> None:
        changes = ChangeLog(source="resync", sync_run_id=run.id)
        with transaction(self.factory) as session:
            if kind == "directory":
                for row in rows:
                    lock_directory(session, row["id"])
            counts = upsert_objects(session, kind, rows, changes, touch_unchanged=True)
            _Tally(run).add(plural, counts, 0)
            self._save(session, run)
            changes.flush(session)
        self._report(run)

    def _remove_organizations(self, run: SyncRun, org_ids: list[str], mark: datetime) -> None:
        changes = ChangeLog(source="resync", sync_run_id=run.id)
        with transaction(self.factory) as session:
            run.organizations_deleted += delete_organizations(session, org_ids, mark, changes)
            self._save(session, run)
            changes.flush(session)


def _batched(pages: Iterator[list[dict[str, Any]]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Regroup API pages into write batches of about ``size`` objects (memory stays bounded)."""
    batch: list[dict[str, Any]] = []
    for page in pages:
        batch.extend(page)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
