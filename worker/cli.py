"""Operator commands: ``python -m worker resync|status|replay|migrate|run``."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from sqlalchemy import func, select

from worker import runtime
from worker.db import transaction
from worker.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    SyncRun,
    WebhookEvent,
)
from worker.resync import Resyncer, create_run


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """dirsync operator commands."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class _Progress:
    """A rich progress bar in a terminal, nothing otherwise."""

    def __init__(self, expected_users: int | None) -> None:
        self.enabled = sys.stdout.isatty()
        self.bar: Any = None
        self.tasks: dict[Any, Any] = {}
        self.expected_users = expected_users

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, run: SyncRun) -> None:
        if self.bar is None or run.scope != "directory":
            return
        key = run.id
        if key not in self.tasks:
            self.tasks[key] = {
                kind: self.bar.add_task(
                    f"{run.directory_id} {kind}",
                    total=self.expected_users if kind == "users" else None,
                )
                for kind in ("groups", "users", "memberships")
            }
        finished = run.status in ("succeeded", "failed", "skipped")
        # Each phase is complete once the next one started (groups, users, then memberships).
        done = {
            "groups": finished or run.users_seen > 0,
            "users": finished or run.memberships_seen > 0,
            "memberships": finished,
        }
        for kind, task in self.tasks[key].items():
            seen = getattr(run, f"{kind}_seen")
            if done[kind]:
                self.bar.update(task, completed=seen, total=seen)
            else:
                self.bar.update(task, completed=seen)


def _summary(run: SyncRun) -> str:
    parts = []
    for kind in ("organizations", "directories", "users", "groups", "memberships"):
        ins, upd, dele = (getattr(run, f"{kind}_{w}") for w in ("inserted", "updated", "deleted"))
        if ins or upd or dele or kind in ("users", "groups", "memberships"):
            parts.append(f"{kind}: +{ins} ~{upd} -{dele}")
    took = ""
    if run.started_at and run.finished_at:
        took = f" in {(run.finished_at - run.started_at).total_seconds():.1f}s"
    line = f"run {run.id} {run.status}{took}; " + ", ".join(parts)
    line += f"; {run.api_requests} API requests"
    if run.error:
        line += f"\nerror: {run.error}"
    return line


@cli.command()
@click.option("--directory", "directory_id", help="Resync this directory.")
@click.option("--all", "all_", is_flag=True, help="Resync organizations and every directory.")
@click.option("--wait", is_flag=True, help="Run here until done; exit non-zero on failure.")
def resync(directory_id: str | None, all_: bool, wait: bool) -> None:
    """Make the mirror of a directory (or of everything) equal to WorkOS."""
    if bool(directory_id) == all_:
        raise click.UsageError("give exactly one of --directory ID or --all")
    factory = runtime.session_factory()
    scope = "all" if all_ else "directory"
    run_id = create_run(factory, scope=scope, trigger="cli", directory_id=directory_id)
    if not wait:
        from worker.tasks import resync_all_task, resync_directory_task

        task = resync_all_task if all_ else resync_directory_task
        task.apply_async(args=[run_id])
        click.echo(f"queued sync run {run_id}")
        return
    client = runtime.workos_client()
    expected = None
    if directory_id:
        try:
            meta = client.get_directory(directory_id).get("metadata") or {}
            users = meta.get("users") or {}
            expected = int(users.get("active", 0)) + int(users.get("inactive", 0)) or None
        except Exception:
            expected = None
    with _Progress(expected) as progress:
        resyncer = Resyncer(factory, client, runtime.settings(), progress=progress)
        run = resyncer.run_all(run_id, inline=True) if all_ else resyncer.run_directory(run_id)
    with factory() as session:
        run = session.get(SyncRun, run_id) or run
        children = list(session.scalars(select(SyncRun).where(SyncRun.parent_id == run_id)))
    for child in children:
        click.echo(f"  {child.directory_id}: {_summary(child)}")
    click.echo(_summary(run))
    if run.status != "succeeded":
        sys.exit(1)


@cli.command()
def status() -> None:
    """Print each directory with its counts, state and last sync run."""
    from rich.console import Console
    from rich.table import Table

    factory = runtime.session_factory()
    headers = ("directory", "name", "state", "users", "groups", "memberships", "last sync run")
    rows: list[tuple[str, ...]] = []
    with factory() as session:

        def counts(model: Any) -> dict[str, int]:
            rows = session.execute(
                select(model.directory_id, func.count()).group_by(model.directory_id)
            )
            return dict(rows.all())

        users, groups, edges = (
            counts(DirectoryUser),
            counts(DirectoryGroup),
            counts(GroupMembership),
        )
        for directory in session.scalars(select(Directory).order_by(Directory.name)):
            last = session.scalars(
                select(SyncRun)
                .where(SyncRun.directory_id == directory.id)
                .order_by(SyncRun.id.desc())
                .limit(1)
            ).first()
            last_text = "never"
            if last is not None:
                when = last.finished_at or last.started_at or last.queued_at
                last_text = f"#{last.id} {last.status} {when:%Y-%m-%d %H:%M:%S}Z"
                if last.error:
                    last_text += f" ({last.error[:60]})"
            rows.append(
                (
                    directory.id,
                    directory.name,
                    directory.state,
                    str(users.get(directory.id, 0)),
                    str(groups.get(directory.id, 0)),
                    str(edges.get(directory.id, 0)),
                    last_text,
                )
            )
        inbox = dict(
            session.execute(
                select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
            ).all()
        )
    footer = "events: " + ", ".join(
        f"{k} {inbox.get(k, 0)}" for k in ("pending", "processed", "ignored", "failed")
    )
    if sys.stdout.isatty():
        table = Table(*headers, title="dirsync mirror")
        for row in rows:
            table.add_row(*row)
        console = Console()
        console.print(table)
        console.print(footer)
        return
    # Not a terminal: tab-separated lines that scripts can read.
    for row in (headers, *rows):
        click.echo("\t".join(row))
    click.echo(footer)


@cli.command()
@click.option("--failed", "all_failed", is_flag=True, help="Replay every failed event.")
@click.argument("event_ids", nargs=-1)
@click.option("--inline", is_flag=True, help="Process here instead of enqueueing.")
def replay(all_failed: bool, event_ids: tuple[str, ...], inline: bool) -> None:
    """Process failed (dead-lettered) events again."""
    from worker.inbox import process_event, requeue_failed

    if not all_failed and not event_ids:
        raise click.UsageError("give --failed or one or more event ids")
    factory = runtime.session_factory()
    with transaction(factory) as session:
        ids = requeue_failed(session, list(event_ids) or None)
    if not ids:
        click.echo("nothing to replay")
        return
    failures = 0
    for event_id in ids:
        if inline:
            result = process_event(
                factory, event_id, max_attempts=runtime.settings().event_max_attempts
            )
            click.echo(f"{event_id}: {result.status}{' ' + result.error if result.error else ''}")
            failures += result.status == "failed"
        else:
            from worker.tasks import process_event_task

            process_event_task.apply_async(args=[event_id])
    if not inline:
        click.echo(f"re-enqueued {len(ids)} events")
    if failures:
        sys.exit(1)


@cli.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    from worker.launcher import upgrade_database

    upgrade_database(runtime.settings().database_url)
    click.echo("database is at the latest migration")


@cli.command()
@click.option("--port", default=None, type=int, help="Web port (default $PORT or 8000).")
def run(port: int | None) -> None:
    """Run the whole service here: migrations, web, worker, beat (and the emulator if no key)."""
    from worker.launcher import launch

    sys.exit(launch(port))
