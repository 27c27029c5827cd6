"""Against a real Label Studio server (opt-in: EQN_TEST_LABEL_STUDIO=/path/to/label-studio, installed in its own
virtual environment, e.g. python3 -m venv ls-venv && ls-venv/bin/pip install label-studio): our tasks and labeling
configuration go in through its REST API, annotations are submitted, its JSON export comes back as review decisions.
Starting the server takes about a minute (it migrates a fresh SQLite database). EQN_LABEL_STUDIO_FIXTURE_OUT=DIR also
writes the export and the users list there (how tests/fixtures/label_studio_*.json were made)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from eqn_core.cli.main import main as eqn
from eqn_core.review.label_studio import energy_control_names
from eqn_core.store.workspace import Workspace
from review_support import (
    LABEL_STUDIO_DECISIONS,
    LABELS,
    RUN,
    SPLIT,
    add_accounts,
    make_review_workspace,
    stored_decisions,
)

EXECUTABLE = os.environ.get("EQN_TEST_LABEL_STUDIO")
TOKEN = "0123456789abcdef0123456789abcdef01234567"
ADMIN, ADMIN_PASSWORD = "ana@example.org", "Lantern-Quiet-Harbor-71"

pytestmark = pytest.mark.skipif(not EXECUTABLE, reason="set EQN_TEST_LABEL_STUDIO=/path/to/label-studio (its own "
                                                       "virtual environment) to run this against a real server")


class Server:
    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, body=None, *, raw: bool = False):
        request = urllib.request.Request(self.base + path, method=method, data=None if body is None else
                                         json.dumps(body).encode(), headers={"Authorization": f"Token {TOKEN}",
                                                                             "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                data = response.read()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: HTTP {error.code} {error.read()[:500]!r}") from None
        return data if raw else json.loads(data or b"null")


@pytest.fixture
def label_studio(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_dir = tmp_path / "label-studio"
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}
    with open(tmp_path / "label-studio.log", "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [EXECUTABLE, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port), "--data-dir",
             str(data_dir), "--username", ADMIN, "--password", ADMIN_PASSWORD, "--user-token", TOKEN,
             "--enable-legacy-api-token"], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Label Studio did not start: {(tmp_path / 'label-studio.log').read_text()[-3000:]}")
            time.sleep(2)
        yield Server(base)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def result(label_energies: dict, note: str = "") -> list[dict]:
    """An annotation's result: these emotions ticked, each with its energy (None: no number given)."""
    names = energy_control_names(LABELS)
    items = [{"from_name": "emotions", "to_name": "text", "type": "choices",
              "value": {"choices": list(label_energies)}}]
    items += [{"from_name": names[label], "to_name": "text", "type": "number", "value": {"number": energy}}
              for label, energy in label_energies.items() if energy is not None]
    if note:
        items.append({"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": [note]}})
    return items


def test_tasks_annotated_in_label_studio_come_back_as_review_decisions(label_studio, tmp_path, capsys):
    root = make_review_workspace(tmp_path / "ws")
    tasks_path = tmp_path / "out" / "tasks.json"
    assert eqn(["-w", str(root), "export", "--run", RUN, "--split", SPLIT, "--format", "label-studio",
                "-o", str(tasks_path)]) == 0
    config = tasks_path.with_name("tasks.config.xml").read_text()
    project = label_studio.call("POST", "/api/projects", {"title": "EQN review", "label_config": config})
    imported = label_studio.call("POST", f"/api/projects/{project['id']}/import", json.loads(tasks_path.read_text()))
    assert imported["task_count"] == 4 and imported["prediction_count"] == 4
    ben = label_studio.call("POST", "/api/users/", {"email": "ben@example.org", "username": "ben"})
    listed = label_studio.call("GET", f"/api/tasks?project={project['id']}&page_size=100")
    task_ids = {task["data"]["text_id"]: task["id"] for task in (listed["tasks"] if isinstance(listed, dict)
                                                                 else listed)}
    suggested = {task["data"]["text_id"]: task["data"]["suggested"] for task in json.loads(tasks_path.read_text())}

    def annotate(text_id, body):
        label_studio.call("POST", f"/api/tasks/{task_ids[text_id]}/annotations", body)

    a, b = suggested["a"], suggested["b"]
    annotate("a", {"result": result({"joy": a["joy"], "anger": 5.5, 'so-so "meh"': a['so-so "meh"']}, "anger too")})
    annotate("b", {"result": result({"anger": 9.0})})
    annotate("b", {"result": result({"joy": b["joy"], "anger": b["anger"]}), "completed_by": ben["id"]})
    annotate("c", {"result": [], "was_cancelled": True, "completed_by": ben["id"]})
    export = tmp_path / "export.json"
    export.write_bytes(label_studio.call("GET", f"/api/projects/{project['id']}/export?exportType=JSON", raw=True))
    users = tmp_path / "users.json"
    users.write_text(json.dumps(label_studio.call("GET", "/api/users/"), indent=1))
    if os.environ.get("EQN_LABEL_STUDIO_FIXTURE_OUT"):
        out = Path(os.environ["EQN_LABEL_STUDIO_FIXTURE_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(export, out / "label_studio_export.json")
        shutil.copy(users, out / "label_studio_users.json")

    accounts = add_accounts(tmp_path / "accounts.json")
    assert eqn(["-w", str(root), "review", "import-label-studio", str(export), "--run", RUN, "--split", SPLIT,
                "--users", str(users), "--accounts", str(accounts)]) == 0
    assert "stored 7 decisions on 2 texts (3 submissions)" in capsys.readouterr().out
    with Workspace(root) as workspace:
        assert stored_decisions(workspace) == LABEL_STUDIO_DECISIONS
        assert len(workspace.submissions(run_id=RUN, split=SPLIT)) == 3
