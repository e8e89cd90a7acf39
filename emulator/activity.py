"""Demo activity: a thread that changes the directory now and then, like a real IdP would,
so a demo (``make run``) shows webhooks flowing into the mirror."""

from __future__ import annotations

import logging
import random
import threading

from .state import EmulatorState

log = logging.getLogger(__name__)


def mutate_once(state: EmulatorState, directory_id: str, rng: random.Random) -> str:
    """Make one plausible change to ``directory_id`` (recording its event); describe it."""
    users = state.list_users(directory_id)
    groups = state.list_groups(directory_id)
    roll = rng.random()
    if roll < 0.25 or not users:
        n = rng.randrange(1_000_000)
        user = state.create_user(
            directory_id, email=f"new.hire{n}@demo.test", first_name="New", last_name=f"Hire{n}"
        )
        if groups:
            state.add_member(rng.choice(groups)["id"], user["id"])
        return f"hired {user['email']}"
    user = rng.choice(users)
    if roll < 0.5:
        state.update_user(
            user["id"], custom_attributes={"department": rng.choice(["Sales", "R&D"])}
        )
        return f"moved {user['email']}"
    if roll < 0.65:
        state.update_user(user["id"], state="suspended")
        return f"suspended {user['email']}"
    if roll < 0.85 and groups:
        group = rng.choice(groups)
        if state.is_member(group["id"], user["id"]):
            state.remove_member(group["id"], user["id"])
            return f"removed {user['email']} from {group['name']}"
        state.add_member(group["id"], user["id"])
        return f"added {user['email']} to {group['name']}"
    state.delete_user(user["id"])
    return f"deleted {user['email']}"


def start_activity(
    state: EmulatorState, directory_id: str, every_seconds: float, seed: int = 1
) -> threading.Event:
    """Mutate every ``every_seconds`` until the returned event is set."""
    stop = threading.Event()
    rng = random.Random(seed)

    def loop() -> None:
        while not stop.wait(every_seconds):
            try:
                print(f"emulator activity: {mutate_once(state, directory_id, rng)}", flush=True)
            except Exception:
                log.exception("demo activity failed")

    threading.Thread(target=loop, name="emulator-activity", daemon=True).start()
    return stop
