"""Operator commands (``python -m worker ...``) against the running service."""

from __future__ import annotations

import re

from emulator import EmulatorServer
from tests.e2e.conftest import Service
from tests.e2e.helpers import (
    directory_row_counts,
    sync_run,
    wait_converged,
    wait_inbox_settled,
    wait_run_finished,
    wait_runs_idle,
)
from tests.support import assert_mirror_matches

SUMMARY = re.compile(
    r"^run (?P<id>\d+) (?P<status>\w+) in [\d.]+s; (?P<counts>.*); (?P<requests>\d+) API requests$",
    re.MULTILINE,
)


def test_cli_resync_is_executed_by_the_worker_and_wait_runs_inline(
    service: Service, emulator: EmulatorServer
) -> None:
    state = emulator.state
    directory_id = state.seed(users=150, groups=6)["directory_ids"][0]  # records no events
    assert state.event_count() == 0

    # Without --wait: a run row is created, the task enqueued, the worker executes it.
    out = service.cli("resync", "--directory", directory_id)
    assert out.returncode == 0, out.stderr
    match = re.fullmatch(r"queued sync run (\d+)\n", out.stdout)
    assert match, out.stdout
    run = wait_run_finished(service, int(match.group(1)), timeout=60)
    assert (run.status, run.error, run.trigger) == ("succeeded", None, "cli")
    assert (run.users_inserted, run.groups_inserted, run.memberships_inserted) == (150, 6, 300)
    assert_mirror_matches(service.factory, state, directory_id)

    # With --wait: runs in the CLI process, prints a summary, exit code 0.
    users = sorted(state.snapshot(directory_id)["users"])
    with state.silent():  # changed behind the mirror's back: only a resync can notice
        state.update_user(users[0], first_name="Renamed")
        state.delete_user(users[1])
    out = service.cli("resync", "--directory", directory_id, "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = SUMMARY.search(out.stdout)
    assert summary, out.stdout
    assert summary["status"] == "succeeded"
    assert summary["counts"] == "users: +0 ~1 -1, groups: +0 ~0 -0, memberships: +0 ~0 -2"
    assert int(summary["requests"]) > 0
    run = sync_run(service, int(summary["id"]))
    assert run is not None and run.status == "succeeded" and run.trigger == "cli"
    assert_mirror_matches(service.factory, state, directory_id)

    # A directory WorkOS does not know: the code treats the 404 as "the directory was deleted"
    # and removes it (here: nothing to remove). The run succeeds and the exit code is 0.
    missing = "directory_01HZZZZZZZZZZZZZZZZZZZZZZZ"
    out = service.cli("resync", "--directory", missing, "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = SUMMARY.search(out.stdout)
    assert summary and summary["status"] == "succeeded", out.stdout
    assert summary["counts"] == "users: +0 ~0 -0, groups: +0 ~0 -0, memberships: +0 ~0 -0"
    assert not any(directory_row_counts(service, missing).values())
    assert_mirror_matches(service.factory, state, directory_id)  # nothing else touched


def _status_rows(output: str) -> dict[str, list[str]]:
    """Rows printed by ``status``, keyed by directory id: tab-separated when stdout is not a
    terminal (as here), a rich table (cells between "│") otherwise."""
    rows = {}
    for line in output.splitlines():
        if "\t" in line:
            cells = [c.strip() for c in line.split("\t")]
        else:
            cells = [c.strip() for c in line.split("│")][1:-1]
        if len(cells) == 7 and cells[0].startswith("directory_"):
            rows[cells[0]] = cells
    return rows


def test_cli_status_prints_each_directory_with_its_counts(
    service: Service, emulator: EmulatorServer
) -> None:
    state = emulator.state
    seeded = state.seed(users=40, groups=3, memberships_per_user=1)["directory_ids"][0]
    out = service.cli("resync", "--directory", seeded, "--wait")
    assert out.returncode == 0, out.stdout + out.stderr

    org = state.create_organization("Hooli", domains=("hooli.test",))
    live = state.create_directory(org["id"], "Hooli Azure")["id"]  # via webhooks from here
    people = [state.create_user(live, email=f"p{i}@hooli.test")["id"] for i in range(3)]
    group = state.create_group(live, "Staff")["id"]
    state.add_member(group, people[0])
    state.add_member(group, people[1])
    wait_converged(service, state, seeded, live)
    wait_inbox_settled(service)
    wait_runs_idle(service)

    out = service.cli("status")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = _status_rows(out.stdout)
    assert set(rows) == {seeded, live}, out.stdout
    name, dir_state, users, groups, edges, last = rows[seeded][1:]
    assert (name, dir_state, users, groups, edges) == ("Acme 1 Okta", "linked", "40", "3", "40")
    assert re.match(r"#\d+ succeeded \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", last), last
    name, dir_state, users, groups, edges, last = rows[live][1:]
    assert (name, users, groups, edges) == ("Hooli Azure", "3", "1", "2")
    assert re.match(r"#\d+ succeeded ", last), last  # the resync dsync.activated asked for
    events = state.event_count()
    assert f"events: pending 0, processed {events}, ignored 0, failed 0" in out.stdout
