"""Tests for eqn_core.review.label_studio's import: the JSON export a real Label Studio server produced
(tests/fixtures, made by tests/review/test_label_studio_server.py) read back as review decisions of app accounts."""
from __future__ import annotations

import copy
import json

import pytest

from conftest import table_dump
from eqn_core.io.errors import DataError
from eqn_core.review.label_studio import import_label_studio
from eqn_core.store.workspace import Workspace
from review_support import (
    LABEL_STUDIO_DECISIONS,
    LABEL_STUDIO_EXPORT,
    LABEL_STUDIO_NOTES,
    LABEL_STUDIO_USERS,
    RUN,
    SPLIT,
    add_accounts,
    make_review_workspace,
    stored_decisions,
)


@pytest.fixture
def workspace(tmp_path):
    with Workspace(make_review_workspace(tmp_path / "ws")) as ws:
        yield ws


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    return add_accounts(tmp_path_factory.mktemp("accounts") / "users.json")


def run_import(workspace, export=LABEL_STUDIO_EXPORT, **options):
    options.setdefault("users_path", LABEL_STUDIO_USERS)
    return import_label_studio(workspace, export, run_id=RUN, split=SPLIT, **options)


def test_the_real_servers_export_becomes_decisions_of_the_annotators_accounts(workspace, accounts):
    summary = run_import(workspace, accounts_path=accounts)
    assert summary == {"decisions": 7, "adjudications": 0, "submissions": 3, "texts": 2, "annotations": 3,
                       "reviewers": ["Ben@Example.org", "ana@example.org"], "stored": True}
    assert stored_decisions(workspace) == LABEL_STUDIO_DECISIONS  # ben matched without case; c skipped
    submissions = workspace.submissions(run_id=RUN, split=SPLIT)
    notes = {(reviewer, text_id): note for reviewer, text_id, note in
             zip(submissions["reviewer"], submissions["text_id"], submissions["note"]) if note}
    assert notes == LABEL_STUDIO_NOTES


def test_an_annotator_without_an_account_is_an_error_unless_the_email_may_stand_in(workspace, tmp_path):
    before = table_dump(workspace)
    with pytest.raises(DataError) as caught:
        run_import(workspace, accounts_path=tmp_path / "no-users.json")
    message = str(caught.value)
    assert "label_studio_export.json, row 1" in message and "annotator ana@example.org has no account" in message
    assert "--reviewer-from-email" in message and table_dump(workspace) == before
    run_import(workspace, accounts_path=tmp_path / "no-users.json", reviewer_from_email=True)
    assert {row[0] for row in stored_decisions(workspace)} == {"ana@example.org", "ben@example.org"}


def test_user_ids_need_the_users_list(workspace, accounts):
    with pytest.raises(DataError, match="Label Studio user 1, who is not in the users list"):
        run_import(workspace, users_path=None, accounts_path=accounts)


def edited_export(tmp_path, edit):
    tasks = copy.deepcopy(json.loads(LABEL_STUDIO_EXPORT.read_text()))
    edit(tasks)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(tasks))
    return path


def choices_of(tasks, task=0):
    return tasks[task]["annotations"][0]["result"][0]["value"]["choices"]


@pytest.mark.parametrize("edit,expected", [
    (lambda tasks: choices_of(tasks).append("bliss"), ["row 1", "unknown label 'bliss' ticked", "result"]),
    (lambda tasks: tasks[1]["data"].update(text_id="zz"), ["row 2", "unknown text id 'zz'", "data.text_id"]),
    (lambda tasks: tasks[0]["data"].update(split="dev"), ["the task is from split 'dev', not 'test'"]),
    (lambda tasks: tasks[0]["annotations"][0]["result"][1]["value"].update(number=12),
     ["the energy of 'joy' is 12, not a number in [0, 10]"]),
    (lambda tasks: tasks[0]["annotations"][0]["result"].append(
        {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["x"]}}),
     ["a result from 'sentiment'"]),
    (lambda tasks: tasks[1]["annotations"][1].update(completed_by=99), ["row 2", "Label Studio user 99"]),
])
def test_a_bad_task_is_named_and_nothing_is_stored(workspace, accounts, tmp_path, edit, expected):
    path = edited_export(tmp_path, edit)
    before = table_dump(workspace)
    with pytest.raises(DataError) as caught:
        run_import(workspace, path, accounts_path=accounts)
    message = str(caught.value)
    assert message.startswith("edited.json, row")
    for part in expected:
        assert part in message
    assert table_dump(workspace) == before


def test_not_a_json_export(workspace, accounts, tmp_path):
    flat = tmp_path / "min.json"
    flat.write_text(json.dumps([{"data": {"text_id": "a"}, "emotions": ["joy"]}]))
    with pytest.raises(DataError, match="export the project as JSON"):
        run_import(workspace, flat, accounts_path=accounts)
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(DataError, match="broken.json, line 1: invalid JSON"):
        run_import(workspace, broken, accounts_path=accounts)


def test_a_dry_run_stores_nothing(workspace, accounts):
    before = table_dump(workspace)
    summary = run_import(workspace, accounts_path=accounts, dry_run=True)
    assert summary["decisions"] == 7 and summary["stored"] is False
    assert table_dump(workspace) == before
