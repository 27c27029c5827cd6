"""What every `eqn` command shares: the workspace folder it works on."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WORKSPACE = "eqn-workspace"


def workspace_path(args) -> Path:
    return Path(args.workspace or os.environ.get("EQN_WORKSPACE") or DEFAULT_WORKSPACE)


def open_workspace(args):
    from eqn_core.store.workspace import Workspace

    return Workspace(workspace_path(args))
