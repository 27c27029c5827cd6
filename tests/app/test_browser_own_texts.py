"""Own texts in a real headless Chromium, as a new user does it: upload a 300-text CSV without labels on the Data page,
annotate it with the shipped goemotions-eqn model (a background job the page follows), browse it on Samples, review
two texts on Review, and export the energies and the reviewed energies as CSV; the files hold every text with its
metadata, energies on the 0-10 scale and the two reviewed texts with the reviewer's values."""
from __future__ import annotations

import pandas as pd
import pytest

from app_server import PAGE_TIMEOUT_MS, AppServer, AppServerError
from conftest import APP_SERVER_ENV, shared_data_dir

pytestmark = pytest.mark.slow


@pytest.fixture
def shipped_server(tmp_path):
    """The app on an empty workspace that holds the shipped goemotions-eqn model, as on a first open."""
    root = tmp_path / "workspace"
    server = AppServer(root, tmp_path / "streamlit.log", env={**APP_SERVER_ENV, "EQN_SHIPPED_MODELS": "1"})
    try:
        server.start()
    except AppServerError as error:
        pytest.fail(str(error))
    yield server, root
    server.stop()


def idle(page) -> None:
    page.wait_for_function(
        """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
                   return !(s && /Running/i.test(s.innerText || '')); }""", timeout=PAGE_TIMEOUT_MS, polling=100)


def test_upload_annotate_browse_and_export_own_texts(shipped_server, browser, tmp_path):
    server, root = shipped_server
    texts = pd.read_csv(shared_data_dir() / "goemotions" / "test.tsv", sep="\t", header=None, usecols=[0],
                        names=["text"], quoting=3).head(300)
    texts["speaker"] = ["A", "B", "C"] * 100
    upload = tmp_path / "diary.csv"
    texts.to_csv(upload, index=False)

    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(server.url + "/Data", wait_until="domcontentloaded")
    page.get_by_text("Your texts (no labels)").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(upload))
    page.get_by_role("button", name="Add texts").click()
    page.get_by_text("Text set diary: 300 texts (metadata columns: speaker)").wait_for()
    page.get_by_role("button", name="Annotate: annotate 300 texts with goemotions-eqn").click()
    page.get_by_text("finished · 300 of 300 texts").wait_for(timeout=4 * PAGE_TIMEOUT_MS)  # the job, in the background
    page.screenshot(path=str(tmp_path / "data_own_texts.png"), full_page=True)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Samples").click()
    page.get_by_text("Your texts (no labels)").click()
    idle(page)
    page.get_by_text("of 300").first.wait_for()
    page.screenshot(path=str(tmp_path / "samples_own_texts.png"), full_page=True)

    # Review: no labelled data is loaded, so the page opens on the own texts; accept one text as suggested, then
    # give the next text's first emotion (admiration) 7.5 and submit
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Review").click()
    page.get_by_text("text 1 of 300 in this queue").wait_for()
    page.get_by_role("button", name="Accept as suggested").click()
    page.get_by_text("text 1 of 299 in this queue").wait_for()
    number = page.locator('[data-testid="stNumberInput"] input').first
    number.fill("7.5")
    number.press("Tab")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("admiration set to 7.5").wait_for()
    idle(page)
    page.get_by_text("text 1 of 298 in this queue").wait_for()
    page.screenshot(path=str(tmp_path / "review_own_texts.png"), full_page=True)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Export").click()
    page.get_by_text("Your texts (no labels)").click()
    idle(page)
    page.get_by_role("button", name="Export 300 rows").click()
    page.get_by_role("button", name="Download", exact=False).first.wait_for()
    page.get_by_text("Reviewed energies", exact=False).click()
    idle(page)
    page.get_by_role("button", name="Export 300 rows").click()
    page.get_by_text("Saved 300 rows (reviewed energies").wait_for()
    page.screenshot(path=str(tmp_path / "export_reviewed_own_texts.png"), full_page=True)
    reviewed = pd.read_csv(next((root / "exports").glob("*_reviewed.csv")), keep_default_na=False)
    assert len(reviewed) == 300 and int((reviewed["review_count"] == 1).sum()) == 2
    assert (reviewed.loc[reviewed["review_count"] == 1, "admiration"] == 7.5).sum() == 1
    assert reviewed["speaker"].tolist() == texts["speaker"].tolist()
    exported = sorted((root / "exports").glob("*_energies.csv"))
    assert len(exported) == 1
    frame = pd.read_csv(exported[0], keep_default_na=False)
    assert len(frame) == 300 and frame["speaker"].tolist() == texts["speaker"].tolist()
    assert frame["text"].tolist() == [t if t[:1] not in "=+-@" else "'" + t for t in texts["text"]]
    energies = frame[["joy", "sadness", "neutral"]].to_numpy()
    assert energies.min() >= 0 and energies.max() <= 10 and energies.max() > 3  # real energies, on the scale
    assert (exported[0].parent / (exported[0].name + ".meta.json")).is_file()
