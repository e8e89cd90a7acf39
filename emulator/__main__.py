"""``python -m emulator --port 4100 --seed-users 300 --seed-groups 12`` runs it standalone."""

from __future__ import annotations

import argparse
import sys

from .activity import start_activity
from .config import EmulatorConfig
from .server import EmulatorServer
from .state import EmulatorState


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4100)
    p.add_argument("--api-key", default=EmulatorConfig.api_key)
    p.add_argument("--seed-organizations", type=int, default=1)
    p.add_argument("--seed-directories", type=int, default=1)
    p.add_argument("--seed-users", type=int, default=300)
    p.add_argument("--seed-groups", type=int, default=12)
    p.add_argument("--seed-memberships", type=int, default=2, help="memberships per user")
    p.add_argument("--seed", type=int, default=42, help="random seed for fake data")
    p.add_argument("--seed-events", action="store_true", help="record events for seeded data")
    p.add_argument("--no-rate-limits", action="store_true")
    p.add_argument("--groups-on-users", action="store_true")
    p.add_argument("--webhook-url")
    p.add_argument("--webhook-secret")
    p.add_argument(
        "--demo-activity",
        type=float,
        default=0,
        metavar="SECONDS",
        help="change the first directory every SECONDS (0: never), so webhooks flow",
    )
    args = p.parse_args(argv)

    state = EmulatorState()
    config = EmulatorConfig(
        api_key=args.api_key,
        rate_limits=not args.no_rate_limits,
        groups_on_users=args.groups_on_users,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )
    server = EmulatorServer(state, config, host=args.host, port=args.port)
    seeded = {"organization_ids": [], "directory_ids": []}
    if args.seed_users or args.seed_groups:
        # Seed after the server (and its webhook dispatcher) exist so seed events get delivered.
        seeded = state.seed(
            organizations=args.seed_organizations,
            directories=args.seed_directories,
            users=args.seed_users,
            groups=args.seed_groups,
            memberships_per_user=args.seed_memberships,
            seed=args.seed,
            record_events=args.seed_events,
        )
    print(f"WorkOS emulator listening on {server.base_url}", flush=True)
    print(f"api key: {config.api_key}", flush=True)
    for did in seeded["directory_ids"]:
        print(f"directory: {did}", flush=True)
    if args.demo_activity > 0 and seeded["directory_ids"]:
        start_activity(state, seeded["directory_ids"][0], args.demo_activity)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
