"""Helpers of the review import and tool export tests (tests/*/test_review_*, test_label_studio_*, test_hf_dataset):
a workspace with one run of known energies on four texts, and the review decisions the Label Studio fixture holds."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LABEL_STUDIO_EXPORT = FIXTURES / "label_studio_export.json"  # a real Label Studio 1.23 server's JSON export
LABEL_STUDIO_USERS = FIXTURES / "label_studio_users.json"  # the same server's GET /api/users/

LABELS = ["joy", "anger", 'so-so "meh"', "neutral"]  # a quoted name, and a non-emotion label never suggested
TEXTS = ["What a lovely day", 'He said "no", twice', "line one\nline two", "=1+1 café"]
TEXT_IDS = ["a", "b", "c", "d"]
HUMAN = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=bool)
ENERGIES = np.array([[7.25, 1.0, 3.5, 0.5],      # a: joy and so-so suggested at h = 3
                     [4.0, 8.125, 0.25, 6.0],    # b: joy and anger (neutral is never suggested)
                     [0.5, 0.5, 0.5, 9.0],       # c: nothing
                     [3.0, 2.9, 9.875, 0.0]],    # d: joy (3.0 reaches 3.0) and so-so
                    dtype=np.float32)  # (N=4, C=4)
RUN = "r1"
SPLIT = "test"

# What the fixture's annotations mean (reviewer, text id, label, decision, energy), in the order they are stored:
# ana on a: joy and so-so kept as suggested, anger added at 5.5, a note; ana on b: joy unticked, anger set to 9;
# ben on b: both suggestions kept; ben skipped c (no review); nobody annotated d.
LABEL_STUDIO_DECISIONS = [
    ("ana@example.org", "a", "joy", "accept", 7.25),
    ("ana@example.org", "a", "anger", "set", 5.5),
    ("ana@example.org", "a", 'so-so "meh"', "accept", 3.5),
    ("ana@example.org", "b", "joy", "reject", 4.0),
    ("ana@example.org", "b", "anger", "set", 9.0),
    ("Ben@Example.org", "b", "joy", "accept", 4.0),
    ("Ben@Example.org", "b", "anger", "accept", 8.12),
]
LABEL_STUDIO_NOTES = {("ana@example.org", "a"): "anger too"}


def make_review_workspace(root: Path, *, run_id: str = RUN) -> Path:
    """A workspace at root with data set "tiny" (split test: TEXTS) and run run_id holding ENERGIES on it."""
    from eqn_core.io.datasets import LabeledDataset, LabeledSplit
    from eqn_core.store.workspace import Workspace

    test = LabeledSplit(texts=list(TEXTS), human_labels=HUMAN.copy(), text_ids=list(TEXT_IDS))
    dataset = LabeledDataset(name="tiny", label_names=list(LABELS), splits={SPLIT: test}, multi_label=True,
                             source="review_support")
    with Workspace(root) as workspace:
        workspace.add_dataset(dataset)
        workspace.create_run(run_id, dataset="tiny", mode="eqn", encoder="all-MiniLM-L6-v2", config={},
                             run_dir=f"runs/{run_id}")
        workspace.store_energies(run_id, SPLIT, ENERGIES)
    return root


def add_accounts(path: Path) -> Path:
    """An app users file with the fixture's annotators: ana's address as it is, ben's in other letter case."""
    from eqn_core.review.accounts import add_user

    add_user(path, "ana@example.org", "Lantern-Quiet-Harbor-71", role="admin")
    add_user(path, "Ben@Example.org", "Orchid-Velvet-Summit-38", role="reviewer")
    return path


def stored_decisions(workspace, *, run_id: str = RUN) -> list[tuple]:
    """Every stored decision (reviewer, text id, label, decision, energy rounded), oldest first."""
    frame = workspace.reviews(run_id=run_id, split=SPLIT, latest_only=False)
    return [(reviewer, text_id, label, decision, None if pd.isna(energy) else round(float(energy), 4))
            for reviewer, text_id, label, decision, energy in
            zip(frame["reviewer"], frame["text_id"], frame["label"], frame["decision"], frame["energy"])]
