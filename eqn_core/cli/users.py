"""`eqn users`: the app's accounts (add, remove, list) and the sign-in audit."""
from __future__ import annotations

import os
import sys

from eqn_core.cli.common import open_workspace, workspace_path


def read_password(args) -> str:
    """$EQN_PASSWORD, else one line from stdin when it is not a terminal, else asked twice without echo."""
    import getpass

    if os.environ.get("EQN_PASSWORD"):
        return os.environ["EQN_PASSWORD"]
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != password:
        raise ValueError("the two passwords differ")
    return password


def cmd_users(args) -> int:
    from eqn_core.review.accounts import add_user, load_users, remove_user, users_file

    if args.action == "audit":
        return _audit(args)
    path = users_file(workspace_path(args))
    if args.action == "add":
        user = add_user(path, args.name, read_password(args), role=args.role, replace=args.replace)
        print(f"{user.name} ({user.role}) is in {path}")
    elif args.action == "remove":
        remove_user(path, args.name)
        print(f"removed {args.name} from {path}")
    else:
        users = load_users(path)
        if not users:
            print(f"no users in {path}: the app runs in single-user local mode")
        for name, entry in sorted(users.items()):
            print(f"{name}\t{entry['role']}\t{entry.get('created_at', '')}")
    return 0


def _audit(args) -> int:
    """Print the sign-in audit (the last --days days), or write all of it with -o."""
    from datetime import timedelta

    from eqn_core.export.files import write_frame
    from eqn_core.store.schema import utc_now
    from eqn_core.store.sign_in_log import sign_in_events

    with open_workspace(args) as workspace:
        recent = args.days and not args.output
        events = sign_in_events(workspace, since=utc_now() - timedelta(days=args.days) if recent else None)
        if args.output:
            result = write_frame(events, args.output, fmt=args.format, overwrite=args.force,
                                 workspace_root=workspace.root)
            print(f"wrote {len(events):,} sign-in events to {result['path']}")
            return 0
    print(events.to_string(index=False) if len(events) else "no sign-ins recorded")
    return 0
