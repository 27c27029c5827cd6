"""End to end in a real headless Chromium: the served app on a real workspace, the Thresholds slider moved by keys.

The test builds a tiny workspace (the tiny data set and a real frozen CoEQN run on the 1-layer random BERT),
serves app.py with `streamlit run` in a subprocess pointed at it (EQN_WORKSPACE), and drives Debian's chromium
through Playwright: home page text, the Thresholds page, the global threshold slider moved with the keyboard,
the macro-F1 figure checked against metrics computed here. Screenshots go to tmp_path (and to
benchmarks/out/screenshots/ when EQN_SAVE_SCREENSHOTS is set).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app_server import PAGE_TIMEOUT_MS, REPO

RUN_ID = "tiny-coeqn"
SPLIT = "test"
START_H = 3.0  # the page's initial global threshold
STEP = 0.1  # the slider's step: one arrow key press
UPDATE_TIMEOUT_MS = 60_000  # a rerun after a slider move

pytestmark = pytest.mark.slow


def macro_f1(energies: np.ndarray, human_labels: np.ndarray, h: float) -> str:
    from eqn_core.method.metrics import decide, per_label_report

    report = per_label_report(decide(energies, rule="threshold", thresholds=np.float64(h)), human_labels)
    return f"{report['macro']['f1']:.4f}"  # as the page shows it


@pytest.fixture
def served_workspace(tmp_path, tiny_dataset, tiny_encoder_dir) -> dict:
    """A closed workspace holding the tiny data set and a finished frozen CoEQN run, plus its test figures."""
    from eqn_core.method.config import TrainConfig
    from eqn_core.runs.lifecycle import ingest_run, prepare_run
    from eqn_core.runs.process import execute_run
    from eqn_core.store.workspace import Workspace

    root = tmp_path / "workspace"
    config = TrainConfig(dataset="tiny", mode="coeqn", encoder=tiny_encoder_dir, encoder_mode="frozen", epochs=2,
                         batch_size=16, learning_rate=0.05, device="cpu", seed=3)
    with Workspace(root) as workspace:  # closed on exit, so the app process can open the DuckDB file
        workspace.add_dataset(tiny_dataset)
        folder = prepare_run(workspace, config, run_id=RUN_ID)
        status = execute_run(folder.path, cache_dir=workspace.cache_dir)
        assert status["status"] == "finished", status
        ingest_run(workspace, RUN_ID)
        energies = workspace.load_energies(RUN_ID, SPLIT)
        labels = workspace.load_dataset("tiny", splits=[SPLIT]).splits[SPLIT].human_labels
    return {"root": root, "energies": energies, "labels": labels}


@pytest.fixture
def app_url(served_workspace, serve_app):
    """`streamlit run app.py` on a free port against the workspace; stopped at teardown."""
    server = serve_app(served_workspace["root"])
    served_workspace["server"] = server  # a fault test kills it
    return server.url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    tab = context.new_page()
    tab.set_default_timeout(PAGE_TIMEOUT_MS)
    return tab


def wait_until_idle(page) -> None:
    """Wait for Streamlit's "Running..." status to be gone (no rerun in flight) and no skeleton left."""
    page.wait_for_function(
        """() => {
            const status = document.querySelector('[data-testid="stStatusWidget"]');
            const running = status && /Running/i.test(status.innerText || '');
            return !running && !document.querySelector('[data-testid="stSkeleton"]');
        }""", timeout=UPDATE_TIMEOUT_MS, polling=200)


METRIC_VALUE_JS = """(label) => {
    for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
        const name = metric.querySelector('[data-testid="stMetricLabel"]');
        const value = metric.querySelector('[data-testid="stMetricValue"]');
        if (name && value && name.innerText.trim() === label) return value.innerText.trim();
    }
    return null;
}"""


def metric_value(page, label: str) -> str | None:
    return page.evaluate(METRIC_VALUE_JS, label)


def slider_value(slider) -> float:
    """The slider's value: aria-valuenow where the widget sets it, else the range input's value."""
    return float(slider.evaluate("e => e.getAttribute('aria-valuenow') ?? e.value"))


def keep_screenshots(folder: Path, names: list[str]) -> None:
    if not os.environ.get("EQN_SAVE_SCREENSHOTS"):
        return
    target = REPO / "benchmarks" / "out" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(folder / name, target / name)


def presses_that_change_macro_f1(energies, labels) -> int:
    """How many ArrowLeft presses (from h = 3.0) change the macro F1, looking for the fewest (at most 30)."""
    before = macro_f1(energies, labels, START_H)
    for presses in range(3, 31):
        if macro_f1(energies, labels, round(START_H - presses * STEP, 1)) != before:
            return presses
    pytest.fail("the tiny run's energies give the same macro F1 for every h in [0, 3]; nothing to test")


def test_thresholds_slider_updates_macro_f1_in_chromium(app_url, page, served_workspace, tmp_path):
    energies, labels = served_workspace["energies"], served_workspace["labels"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    names = ["home.png", "thresholds_before.png", "thresholds_after.png"]

    # Home page: title, the next step for a workspace with a finished run, the data set listed
    page.goto(app_url, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
    page.get_by_role("heading", name="EQN Studio").wait_for(timeout=PAGE_TIMEOUT_MS)
    page.get_by_text("Move thresholds and see precision, recall and F1 change").wait_for(timeout=PAGE_TIMEOUT_MS)
    page.get_by_text("In this workspace").wait_for()
    wait_until_idle(page)
    assert "Annotate texts with" in page.inner_text("body")
    page.screenshot(path=str(shots / names[0]), full_page=True)

    # The Thresholds page, through the sidebar navigation (as a user would)
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name="Thresholds")
    if not link.count():  # sidebar collapsed: the home page's own link to the page
        link = page.get_by_test_id("stPageLink").get_by_role("link", name="Thresholds")
    link.first.click()
    page.get_by_role("heading", name="Thresholds").wait_for(timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(f"() => ({METRIC_VALUE_JS})('Macro F1') !== null", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    slider = page.get_by_role("slider", name="Global energy threshold h")
    assert slider.count() == 1, f"expected one global threshold slider, found {slider.count()}"
    assert slider_value(slider) == pytest.approx(START_H)
    before = metric_value(page, "Macro F1")
    assert before == macro_f1(energies, labels, START_H)
    page.screenshot(path=str(shots / names[1]), full_page=True)

    # Move h down with the keyboard until the figures must change, then wait for the rerun to show them
    presses = presses_that_change_macro_f1(energies, labels)
    slider.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowLeft")
    target = round(START_H - presses * STEP, 1)
    assert slider_value(slider) == pytest.approx(target)
    expected = macro_f1(energies, labels, target)
    assert expected != before
    try:  # the key presses may be sent as more than one rerun: wait for the figure of the final value
        page.wait_for_function(f"([want]) => ({METRIC_VALUE_JS})('Macro F1') === want", arg=[expected],
                               timeout=UPDATE_TIMEOUT_MS, polling=200)
    except Exception as error:
        pytest.fail(f"Macro F1 did not become {expected} (h = {target}); shown: {metric_value(page, 'Macro F1')}, "
                    f"before: {before} ({type(error).__name__})")
    wait_until_idle(page)
    after = metric_value(page, "Macro F1")
    assert after == expected != before, (before, after, target)
    assert f"global h = {target:.1f}" in page.inner_text("body")
    page.screenshot(path=str(shots / names[2]), full_page=True)

    for name in names:
        assert (shots / name).stat().st_size > 10_000, name
    keep_screenshots(shots, names)


def test_killing_the_app_server_mid_session_loses_nothing(app_url, page, served_workspace):
    """Fault: the server dies (SIGKILL, no clean-up) while a browser session has the Thresholds page open. The
    workspace then opens at once in another process with every record as it was, and the command line works."""
    from eqn_core.store.workspace import Workspace

    root = served_workspace["root"]
    page.goto(f"{app_url}/Thresholds", wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(f"() => ({METRIC_VALUE_JS})('Macro F1') !== null", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    with Workspace(root) as workspace:  # another process writes while the app is up, as the CLI would
        run_id = workspace.list_runs()["run_id"].iloc[0]
        workspace.save_threshold_profile("before-kill", run_id=run_id, thresholds=np.full(4, 2.5))
        before = {"runs": workspace.list_runs()[["run_id", "status"]].values.tolist(),
                  "profiles": sorted(workspace.list_threshold_profiles()["name"])}
    served_workspace["server"].kill()
    started = time.monotonic()
    with Workspace(root) as workspace:
        assert {"runs": workspace.list_runs()[["run_id", "status"]].values.tolist(),
                "profiles": sorted(workspace.list_threshold_profiles()["name"])} == before
        stored = workspace.load_energies(run_id, SPLIT)
    assert time.monotonic() - started < 10, "no lock may outlive the killed server"
    assert np.array_equal(stored, served_workspace["energies"])
    listed = subprocess.run([sys.executable, "-m", "eqn_core.cli", "-w", str(root), "runs"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr
