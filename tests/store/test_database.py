"""Tests for eqn_core.store.database: the DuckDB file shared between processes (waits, busy, closed) and damaged files."""
import subprocess
import sys

import pytest

from conftest import REPO, quoted_dataset, run_python
from eqn_core.store.database import WorkspaceBusyError
from eqn_core.store.workspace import Workspace


def test_closed_workspace_says_so(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.close()
    with pytest.raises(RuntimeError, match="closed"):
        ws.dataset_names()


def test_second_process_uses_the_workspace_while_the_first_keeps_it(workspace):
    workspace.add_dataset(quoted_dataset())
    other = run_python("""
        import sys
        from eqn_core.store.workspace import Workspace
        ws = Workspace(sys.argv[1])
        ws.add_dataset(ws.load_dataset("tiny").__class__(**{**ws.load_dataset("tiny").__dict__, "name": "second"}))
        print(ws.dataset_names())
    """, str(workspace.root))
    assert other.returncode == 0, other.stderr
    assert "second" in other.stdout
    assert workspace.dataset_names() == ["second", "tiny"]  # the first sees the second's write at once


def test_a_held_connection_makes_others_wait_then_says_busy(workspace):
    with workspace.connection():  # a long operation in this process
        other = run_python("""
            import sys
            from eqn_core.store.database import WorkspaceBusyError
            from eqn_core.store.workspace import Workspace
            try:
                Workspace(sys.argv[1], read_only=sys.argv[2] == "1", lock_wait=0.3)
            except WorkspaceBusyError as error:
                print(error)
                sys.exit(3)
        """, str(workspace.root), "0")
    assert other.returncode == 3, other.stderr
    assert str(workspace.db_path) in other.stdout and "busy" in other.stdout
    assert issubclass(WorkspaceBusyError, RuntimeError)
    workspace.add_dataset(quoted_dataset())  # the holder is unaffected


# ------------------------------------------------------------------------ a damaged database file
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_database_says_which_file_and_what_to_do(run_workspace, damage):
    from eqn_core.store.database import WorkspaceDamagedError

    run_workspace.close()
    db = run_workspace.db_path
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"not a database at all" * 100)
    with pytest.raises(WorkspaceDamagedError) as error:
        Workspace(run_workspace.root).load_dataset("tiny")  # damage may show at the open or at the first read
    message = str(error.value)
    assert str(db) in message and "damaged" in message and "backup" in message
    cli = subprocess.run([sys.executable, "-m", "eqn_core.cli", "-w", str(run_workspace.root), "train",
                          "--dataset", "tiny"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "damaged" in cli.stderr and str(db) in cli.stderr
