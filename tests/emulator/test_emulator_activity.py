"""Demo activity produces real events, and the mirror follows them."""

from __future__ import annotations

import random

from emulator import EmulatorState
from emulator.activity import mutate_once


def test_each_demo_change_records_an_event_and_keeps_state_consistent():
    state = EmulatorState()
    directory_id = state.seed(users=20, groups=3)["directory_ids"][0]
    rng = random.Random(3)
    for _ in range(60):
        before = state.event_count()
        description = mutate_once(state, directory_id, rng)
        assert state.event_count() > before, description
    snap = state.snapshot(directory_id)
    for group_id, user_id in snap["memberships"]:
        assert group_id in snap["groups"] and user_id in snap["users"]
