"""Review in a real headless Chromium with accounts: two reviewers sign in, one reviews five texts with the keyboard
only (accepting, adding a missed emotion, rejecting, then revising one), the other reviews blind, the admin
adjudicates their disagreement and exports the review log, which holds every decision.

The workspace holds the tiny data set and a run whose test energies are designed (no training): the suggestions
are known. The fields are focused by the test (locator.focus(), no click); every action is a key press.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from app_server import PAGE_TIMEOUT_MS, REPO
from conftest import make_dataset

pytestmark = pytest.mark.slow
PASSWORDS = {"ana": "ana harbor violet 58", "ben": "ben quartz lantern 64",  # passwords the policy accepts
             "boss": "boss quartz maple 71"}


@pytest.fixture
def review_server(tmp_path, serve_app):
    from eqn_core.review.accounts import add_user
    from eqn_core.store.workspace import Workspace

    root = tmp_path / "workspace"
    dataset = make_dataset()
    with Workspace(root) as workspace:
        workspace.add_dataset(dataset)
        workspace.create_run("r1", dataset="tiny", mode="eqn", encoder="tiny", config={"mode": "eqn"},
                             run_dir=workspace.runs_dir / "r1")
        human = dataset.splits["test"].human_labels
        energies = np.where(human, 8.0, 0.5).astype(np.float32)  # (N, C)
        energies[9, 0], energies[2, 1], energies[5, 2] = 9.5, 6.0, 4.0  # suggestions: (9 joy) (2 anger) (5 fear)
        workspace.store_energies("r1", "test", energies)
        workspace.update_run("r1", status="finished", metrics={"global_threshold": 3.0})
    for name, password in PASSWORDS.items():
        add_user(root / "users.json", name, password, role="admin" if name == "boss" else "reviewer")
    return {"url": serve_app(root).url, "root": root}


def idle(page) -> None:
    page.wait_for_function(
        """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
                   return !(s && /Running/i.test(s.innerText || '')) && !document.querySelector('[data-testid="stSkeleton"]'); }""",
        timeout=PAGE_TIMEOUT_MS, polling=100)


def sign_in(browser, url: str, name: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_label("User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[name])
    page.keyboard.press("Enter")  # submits the sign-in form
    page.get_by_text(f"Signed in as {name}").wait_for()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Review").click()
    page.get_by_role("heading", name="Review").wait_for()
    page.get_by_role("button", name="Submit").wait_for()  # the form is there, its shortcuts bound
    idle(page)
    return page


def shown_row(page) -> int:
    text = page.get_by_text("· id ").first.inner_text()
    return int(text.split("Row ")[1].split(" ")[0])


def press(page, keys: str, *, until_row_is_not: int | None = None) -> None:
    page.keyboard.press(keys)
    if until_row_is_not is not None:
        page.wait_for_function(
            """(old) => { const el = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
                  .find(e => /Row \\d+ · id/.test(e.innerText)); return el && !el.innerText.includes('Row ' + old + ' ');}""",
            arg=until_row_is_not, timeout=PAGE_TIMEOUT_MS, polling=100)
    idle(page)
    time.sleep(0.5)  # a key that also submits the form (Enter in a field) may bring one more rerun: let it pass
    idle(page)


def energy_field(page, label: str):
    return page.get_by_role("spinbutton", name=label, exact=False).first


def test_two_reviewers_keyboard_blind_adjudication_and_review_log(review_server, browser, tmp_path):
    url, root = review_server["url"], review_server["root"]
    ana = sign_in(browser, url, "ana")
    assert "Data" not in ana.get_by_test_id("stSidebarNav").inner_text()  # reviewers load and export nothing

    # 1. row 9: accept as suggested (Alt+A)
    assert shown_row(ana) == 9
    ana.screenshot(path=str(tmp_path / "review_screen.png"), full_page=True)
    press(ana, "Alt+a", until_row_is_not=9)
    # 2. row 2: add fear, an emotion the model missed, then submit (Ctrl+Enter)
    assert shown_row(ana) == 2
    field = energy_field(ana, "fear")
    field.focus()
    ana.keyboard.press("Control+a")
    ana.keyboard.type("7")
    press(ana, "Control+Enter", until_row_is_not=2)
    # 3. row 5: reject the suggestion (Space on its tick box), submit
    assert shown_row(ana) == 5
    ana.get_by_role("checkbox").first.focus()
    ana.keyboard.press("Space")
    press(ana, "Control+Enter", until_row_is_not=5)
    # 4. and 5.: accept as suggested
    fourth = shown_row(ana)
    press(ana, "Alt+a", until_row_is_not=fourth)
    fifth = shown_row(ana)
    press(ana, "Alt+a", until_row_is_not=fifth)
    # revise: back (Alt+P) to the fifth text, set joy to 3, submit
    press(ana, "Alt+p", until_row_is_not=shown_row(ana))
    assert shown_row(ana) == fifth
    field = energy_field(ana, "joy")
    field.focus()
    ana.keyboard.press("Control+a")
    ana.keyboard.type("3")
    press(ana, "Control+Enter", until_row_is_not=fifth)

    ana.get_by_text("My reviewed texts", exact=True).click()
    ana.get_by_text("5 texts reviewed by you. Pick one").wait_for()  # the texts, with what was decided (checked in the log)

    # ben reviews row 9 blind: no sight of ana's decision until he has submitted his own
    ben = sign_in(browser, url, "ben")
    assert shown_row(ben) == 9
    assert "blind review" in ben.inner_text("body") and "Other reviewers on this text" not in ben.inner_text("body")
    ben.get_by_role("checkbox").first.focus()
    ben.keyboard.press("Space")  # reject joy: ana accepted it
    press(ben, "Control+Enter", until_row_is_not=9)
    press(ben, "Alt+p", until_row_is_not=shown_row(ben))
    ben.get_by_text("Other reviewers on this text").wait_for()

    # the admin adjudicates (row 9, joy) and exports the review log
    boss = sign_in(browser, url, "boss")
    boss.get_by_text("Team: assign, agree, adjudicate", exact=True).click()
    boss.get_by_text("Disagreements to adjudicate").wait_for()
    idle(boss)
    boss.get_by_text("ana 9.5 · ben 0.0").first.wait_for(state="attached")  # in the disagreement table
    value = boss.get_by_role("spinbutton", name="Final energy")
    value.fill("6.5")
    boss.get_by_role("button", name="Adjudicate").click()
    boss.get_by_text("Adjudicated row 9").wait_for()
    boss.screenshot(path=str(tmp_path / "review_team.png"), full_page=True)
    boss.get_by_test_id("stSidebarNav").get_by_role("link", name="Export").click()
    boss.get_by_role("heading", name="Export").wait_for()
    idle(boss)
    boss.get_by_text("Review log (one row per decision").click()
    boss.wait_for_function("() => [...document.querySelectorAll('input')].some(e => e.value === 'r1_test_review_log.csv')",
                           timeout=PAGE_TIMEOUT_MS, polling=100)
    idle(boss)
    boss.get_by_role("button", name="Export", exact=True).click()
    boss.get_by_text("Saved ").wait_for()
    boss.get_by_role("button", name="Download r1_test_review_log.csv", exact=True).wait_for()
    log = pd.read_csv(root / "exports" / "r1_test_review_log.csv", keep_default_na=False)
    rows = [(r.row_idx, r.label, r.decision, r.reviewer_energy, r.reviewer) for r in log.itertuples()]
    # every decision, in order, none overwritten: ana's five texts (the fourth and fifth had no suggestion: a
    # submission without label decisions) and her revision, ben's rejection, the adjudication
    assert rows == [(9, "joy", "accept", 9.5, "ana"), (2, "anger", "accept", 6.0, "ana"), (2, "fear", "set", 7.0, "ana"),
                    (5, "fear", "reject", 0.0, "ana"), (fifth, "joy", "set", 3.0, "ana"),
                    (9, "joy", "reject", 0.0, "ben"), (9, "joy", "adjudicate", 6.5, "boss")], log[["decision_id", "row_idx", "label", "decided_at"]].values.tolist()
    assert {"text_id", "label", "model_energy", "reviewer_energy", "decision", "note", "decided_at"} <= set(log.columns)
    assert (root / "exports" / "r1_test_review_log.csv.meta.json").is_file()
    if os.environ.get("EQN_SAVE_SCREENSHOTS"):
        target = REPO / "benchmarks" / "out" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        for name in ("review_screen.png", "review_team.png"):
            (target / name).write_bytes((tmp_path / name).read_bytes())
