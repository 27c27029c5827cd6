"""AppTest runs of the Samples, Correlations, Review and Export pages against a small real workspace."""
import base64
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, make_dataset, shown, table_with
from eqn_core.method.thresholds import ThresholdSetting
from eqn_core.review.suggestions import LOW_ENERGY_HUMAN, SUGGESTED
from eqn_core.store.sign_in_log import sign_in_events
from eqn_core.store.workspace import Workspace

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the pages import ui, as under `streamlit run app.py`

LABELS = ["joy", "anger", "fear", "neutral"]
PASSWORDS = {"ana": "ana harbor violet 58", "ben": "ben quartz lantern 64", "boss": "boss quartz maple 71",
             "cy@example.org": "cy willow saddle 27"}  # passwords the policy accepts (eqn_core.review.accounts)
PROFILE = [3.0, 7.0, 5.0, 3.0]  # (C,) the saved profile "strict"
TIMEOUT = 60


def designed_energies(human_labels: np.ndarray, split: str) -> np.ndarray:
    """Human labels 8.0, others 0.5, plus known suggestions on the test split (h = 3):
    suggested (9, joy) 9.5, (2, anger) 6.0, (5, fear) 4.0; low-energy human label (4, fear) 1.0."""
    energies = np.where(human_labels, 8.0, 0.5).astype(np.float32)  # (N, C)
    if split == "test":
        energies[9, 0], energies[2, 1], energies[5, 2], energies[4, 2] = 9.5, 6.0, 4.0, 1.0
    return energies


@pytest.fixture
def root(workspace_root):
    """A workspace with data set "tiny", EQN run "r1" (dev + test energies, profile "strict") and its
    Model 1 "r1.model1" (coeqn); closed again, so the app opens the DuckDB file itself."""
    folder = workspace_root
    dataset = make_dataset()
    rng = np.random.default_rng(0)
    with Workspace(folder) as workspace:
        workspace.add_dataset(dataset)
        for run_id, mode in (("r1", "eqn"), ("r1.model1", "coeqn")):
            workspace.create_run(run_id, dataset="tiny", mode=mode, encoder="tiny-encoder", config={"mode": mode},
                                 run_dir=workspace.runs_dir / run_id)
            for split in ("dev", "test"):
                human_labels = dataset.splits[split].human_labels
                energies = designed_energies(human_labels, split)
                if mode == "coeqn":  # Model 1: weaker, noisier energies, so the two correlation maps differ
                    energies = np.clip(np.where(human_labels, 6.0, 1.0) + rng.uniform(0, 3, human_labels.shape),
                                       0, 10).astype(np.float32)
                workspace.store_energies(run_id, split, energies)
            workspace.update_run(run_id, status="finished",
                                 metrics={"thresholds": PROFILE, "global_threshold": 3.0, "label_names": LABELS})
        workspace.save_threshold_profile("strict", run_id="r1", thresholds=np.array(PROFILE))
    return folder


def page(name: str, run_id: str | None = "r1") -> AppTest:
    """The page with run_id chosen (as if picked earlier on another page: pick_run remembers it)."""
    at = AppTest.from_file(str(REPO / "app_pages" / name), default_timeout=TIMEOUT)
    if run_id is not None:
        at.session_state["run"] = run_id
    return at


def charts(at: AppTest) -> dict:
    """The page's plotly charts by key, each as its figure dict."""
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def array(value) -> np.ndarray:
    """A figure's data array: a plain list, or plotly's typed-array form {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        values = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return values.reshape([int(n) for n in str(value["shape"]).split(",")]) if "shape" in value else values
    return np.asarray(value)


def table_rows(at: AppTest, key: str) -> list[int]:
    return at.dataframe(key).value["row"].tolist()


def stored_reviews(root: Path, **filters) -> pd.DataFrame:
    with Workspace(root) as workspace:
        return workspace.reviews(run_id="r1", split="test", **filters)


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [exception.value for exception in at.exception]


# ------------------------------------------------------------------------ Samples
def test_samples_filters_change_the_table_and_a_chosen_text_gets_its_energy_bars(root):
    at = page("4_Samples.py").run()
    assert_ok(at)
    assert table_rows(at, "samples_table") == list(range(16))

    at.selectbox("samples_suggestion").set_value(SUGGESTED).run()
    assert table_rows(at, "samples_table") == [2, 5, 9]
    at.selectbox("samples_emotion").set_value("fear").run()
    assert table_rows(at, "samples_table") == [5]
    at.selectbox("samples_suggestion").set_value(LOW_ENERGY_HUMAN).run()
    assert table_rows(at, "samples_table") == [4]
    at.selectbox("samples_suggestion").set_value(None).run()
    at.selectbox("samples_membership").set_value("human").run()
    assert table_rows(at, "samples_table") == [4]
    at.selectbox("samples_membership").set_value("any").run()
    at.slider("samples_energy_range").set_value((3.0, 10.0)).run()
    assert table_rows(at, "samples_table") == [5]  # fear energy 4.0; row 4's human fear is 1.0
    at.slider("samples_energy_range").set_value((0.0, 10.0))
    at.selectbox("samples_emotion").set_value(None)
    at.text_input("samples_search").input("number 1").run()
    assert table_rows(at, "samples_table") == [1, 10, 11, 12, 13, 14, 15]
    at.text_input("samples_search").input("").run()

    at.selectbox("samples_text").set_value(9).run()
    assert_ok(at)
    figure = charts(at)["samples_energy_bars"]
    bars = {trace["name"]: trace for trace in figure["data"] if trace["type"] == "bar"}
    suggested = bars["suggested micro-emotion"]
    assert suggested["x"] == ["joy"] and array(suggested["y"]).tolist() == [9.5]
    assert bars["human label"]["x"] == ["anger"] and bars["human label"]["marker"]["pattern"]["shape"] == "/"
    assert [shape["y0"] for shape in figure["layout"]["shapes"]] == [3.0]  # the global threshold line

    # the session's setting of run r1, as the Thresholds page leaves it (ui.threshold_state)
    at.session_state["eqn_thresholds"] = {"r1": ThresholdSetting(3.0, dict(zip(LABELS, PROFILE)))}
    at.run()
    assert_ok(at)
    markers = [trace for trace in charts(at)["samples_energy_bars"]["data"] if trace["type"] == "scatter"]
    assert markers and array(markers[0]["y"]).tolist() == PROFILE and list(markers[0]["x"]) == LABELS
    at.selectbox("samples_suggestion").set_value(SUGGESTED).run()
    assert table_rows(at, "samples_table") == [9]  # anger 6.0 < 7 and fear 4.0 < 5 under "strict"


# ------------------------------------------------------------------------ Correlations
def test_correlations_preselects_eqn_and_model1_and_shows_their_difference(root):
    at = page("5_Correlations.py", run_id=None).run()
    assert_ok(at)
    assert at.selectbox("corr_run_a_select").value == "r1.model1"
    assert at.selectbox("corr_run_b_select").value == "r1"
    shown = charts(at)
    assert set(shown) == {"corr_heatmap_a", "corr_heatmap_b", "corr_heatmap_difference"}
    z_a, z_b = (array(shown[key]["data"][0]["z"]) for key in ("corr_heatmap_a", "corr_heatmap_b"))
    np.testing.assert_allclose(array(shown["corr_heatmap_difference"]["data"][0]["z"]), z_b - z_a, atol=1e-9)
    assert z_a.shape == (4, 4) and not np.allclose(z_a, z_b)
    assert shown["corr_heatmap_difference"]["data"][0]["zmid"] == 0
    assert [metric.label for metric in at.metric] == ["Run A: mean off-diagonal r", "Run B: mean off-diagonal r",
                                                      "B − A: mean off-diagonal difference"]

    at.selectbox("corr_order").set_value("b").run()
    assert_ok(at)
    from eqn_core.method.metrics import cluster_order, pearson_matrix

    order = cluster_order(pearson_matrix(designed_energies(make_dataset().splits["test"].human_labels, "test")))
    assert charts(at)["corr_heatmap_a"]["data"][0]["x"] == [LABELS[i] for i in order]


# ------------------------------------------------------------------------ Review
def sign_in_as(at: AppTest, name: str, role: str) -> AppTest:
    at.session_state["_user"] = {"name": name, "role": role}
    return at


@pytest.fixture
def accounts(root, monkeypatch):
    """Three accounts in the workspace's users file: ana and ben review, boss is the admin."""
    from eqn_core.review.accounts import add_user

    for name, role in (("ana", "reviewer"), ("ben", "reviewer"), ("boss", "admin")):
        add_user(root / "users.json", name, PASSWORDS[name], role=role)
    return root


def shown_row(at: AppTest) -> int:
    return int(re.search(r"\*\*Row (\d+)\*\*", next(m.value for m in at.markdown if "**Row " in m.value)).group(1))


def test_review_one_text_at_a_time_submit_add_reject_and_revise(root):
    at = page("6_Review.py").run()
    assert_ok(at)
    # single-user local mode: the local admin; the queue starts with the strongest missed emotion (row 9, joy 9.5)
    assert shown_row(at) == 9
    assert [box.key for box in at.checkbox] == ["review_accept_9_0_0"]  # the one suggestion, ticked
    assert at.number_input("review_energy_9_0_0").value == 9.5 and at.number_input("review_energy_9_0_3").value == 0.5
    assert at.button("review_submit_9_0").proto.shortcut.lower() == "ctrl+enter"

    # reject the suggestion, add fear at 6 (a missed emotion), write a note, submit once
    at.checkbox("review_accept_9_0_0").uncheck()
    at.number_input("review_energy_9_0_2").set_value(6.0)
    at.text_area("review_note_9_0").input("fear, not joy")
    at.button("review_submit_9_0").click().run()
    assert_ok(at)
    decided = stored_reviews(root)
    assert decided[["row_idx", "label", "decision", "energy", "note", "reviewer"]].values.tolist() == [
        [9, "joy", "reject", 9.5, "fear, not joy", "local"], [9, "fear", "set", 6.0, "fear, not joy", "local"]]
    assert "Saved row 9" in at.success[0].value
    assert shown_row(at) == 2  # the next text: anger 6.0 missed

    # accept as suggested (keyboard Alt+A): one "accept" row
    at.button("review_accept_all_2_1").click().run()
    assert stored_reviews(root).iloc[-1][["row_idx", "label", "decision"]].tolist() == [2, "anger", "accept"]
    assert shown_row(at) == 5

    # previous: back to row 2, revise: anger to 4.5; appended, the latest counts
    at.button("review_previous").click().run()
    assert shown_row(at) == 2 and "reviewed by you" in next(m.value for m in at.markdown if "**Row " in m.value)
    at.number_input("review_energy_2_2_1").set_value(4.5)
    at.button("review_submit_2_2").click().run()
    with Workspace(root) as workspace:
        everything = workspace.reviews(run_id="r1", split="test", latest_only=False)
        assert everything[everything["row_idx"] == 2]["decision"].tolist() == ["accept", "set"]
        assert workspace.reviews(run_id="r1", split="test").query("row_idx == 2")["energy"].tolist() == [4.5]
        assert sorted(workspace.submissions(run_id="r1", split="test")["row_idx"]) == [2, 9]

    # my reviewed texts: both, with their text; reopen row 9
    at.segmented_control("review_section").set_value("My reviewed texts").run()
    assert_ok(at)
    mine = table_with(at, "your decisions")
    assert sorted(mine["row"]) == [2, 9] and mine.set_index("row").loc[9, "text"].startswith("today I felt")
    assert mine.set_index("row").loc[9, "your decisions"] == "joy ✗, fear → 6"
    at.selectbox("review_reopen_pick").set_value(9)
    at.button("review_reopen").click().run()
    assert shown_row(at) == 9 and at.number_input("review_energy_9_3_2").value == 6.0
    assert at.checkbox("review_accept_9_3_0").value is False  # the earlier rejection


def test_review_queue_leaves_neutral_out_and_filters(root):
    with Workspace(root) as workspace:  # neutral (label 3) strongly "missed" on row 0: never suggested
        energies = workspace.load_energies("r1", "test").copy()
        energies[0, 3] = 9.9
        workspace.store_energies("r1", "test", energies)
    at = page("6_Review.py").run()
    assert shown_row(at) == 9
    at.selectbox("review_order").set_value("row").run()
    assert shown_row(at) == 0 and not at.checkbox  # row 0: neutral 9.9 is not a suggestion
    at.selectbox("review_emotion").set_value("fear").run()
    at.slider("review_energy_range").set_value((3.0, 10.0)).run()
    assert shown_row(at) == 5  # fear 4.0 (row 4's fear is 1.0)
    at.selectbox("review_status").set_value("reviewed").run()
    assert "No text left in this queue" in at.success[0].value


def test_accounts_roles_blind_review_agreement_and_adjudication(accounts):
    root = accounts
    login = page("6_Review.py").run()  # accounts exist: the page asks for a sign-in first
    assert login.text_input("login_name") and not login.get("form")[1:] and not [m for m in login.markdown
                                                                                  if "**Row " in m.value]
    login.text_input("login_name").input("ana")
    login.text_input("login_password").input("wrong password")
    login.button("login_submit").click().run()
    assert "wrong password" in login.error[0].value
    login.text_input("login_password").input(PASSWORDS["ana"])
    login.button("login_submit").click().run()
    assert_ok(login)
    assert shown_row(login) == 9 and login.session_state["_user"]["name"] == "ana"
    assert "Team: assign, agree, adjudicate" not in login.segmented_control("review_section").options

    for name, role in (("data", "1_Data.py"), ("train", "2_Train.py"), ("export", "7_Export.py")):
        guarded = sign_in_as(page(role), "ana", "reviewer").run()
        assert "for admins" in guarded.warning[0].value, name

    # the admin assigns rows 9 and 2 to both reviewers
    boss = sign_in_as(page("6_Review.py"), "boss", "admin").run()
    boss.segmented_control("review_section").set_value("Team: assign, agree, adjudicate").run()
    boss.multiselect("review_assign_people").set_value(["ana", "ben"])
    boss.number_input("review_assign_count").set_value(2)
    boss.selectbox("review_assign_order").set_value("missed")
    boss.button("review_assign_go").click().run()
    assert_ok(boss)
    with Workspace(root) as workspace:
        assert workspace.assignments(run_id="r1", split="test")[["row_idx", "reviewer"]].values.tolist() == [
            [2, "ana"], [2, "ben"], [9, "ana"], [9, "ben"]]

    # ana accepts joy on 9; ben first sees no one else's decision (blind), then rejects it
    ana = sign_in_as(page("6_Review.py"), "ana", "reviewer").run()
    assert ana.toggle("review_only_assigned").value is True
    ana.button("review_accept_all_9_0").click().run()
    ben = sign_in_as(page("6_Review.py"), "ben", "reviewer").run()
    assert shown_row(ben) == 9 and "blind review" in ben.caption[-1].value
    assert any("**Blind review** for this run and split" in caption.value for caption in ben.caption)
    assert not [frame for frame in ben.dataframe if "decision" in frame.value.columns]
    ben.checkbox("review_accept_9_0_0").uncheck()
    ben.button("review_submit_9_0").click().run()
    ben.button("review_previous").click().run()
    assert table_with(ben, "decision")["reviewer"].tolist() == ["ana"]  # after deciding, the others show

    # the admin sees progress, agreement and the disagreement, and adjudicates it
    boss = sign_in_as(page("6_Review.py"), "boss", "admin").run()
    boss.segmented_control("review_section").set_value("Team: assign, agree, adjudicate").run()
    assert_ok(boss)
    progress = table_with(boss, "assigned_done")
    assert progress.set_index("reviewer").loc["ana", "assigned_done"] == 1
    agreement = table_with(boss, "Cohen's kappa")
    assert agreement["label"].tolist() == ["joy", "anger", "fear", "all emotions"]  # neutral left out
    assert agreement.set_index("label").loc["joy", "ana only"] == 1
    found = table_with(boss, "values")
    assert found[["row_idx", "label", "values"]].values.tolist() == [[9, "joy", "ana 9.5 · ben 0.0"]]
    boss.number_input("review_adjudicate_value_9|joy").set_value(7.0)
    boss.button("review_adjudicate_go").click().run()
    assert_ok(boss)
    with Workspace(root) as workspace:
        assert workspace.adjudications(run_id="r1", split="test")[["row_idx", "label", "energy", "adjudicator"]
                                                                  ].values.tolist() == [[9, "joy", 7.0, "boss"]]


def signed_in_app():
    """What app.py does around every page: the sign-in, then the account in the sidebar."""
    import streamlit as st

    from ui.auth import account_sidebar, require_login

    user = require_login()
    account_sidebar(user)
    st.markdown(f"Signed-in page of {user.name}")


def with_cookie(monkeypatch, token):
    """A fresh session of a browser whose sign-in cookie holds `token` (AppTest sends no cookies of its own)."""
    import ui.auth

    monkeypatch.setattr(ui.auth, "_cookie_token", lambda: token)


def test_a_reload_or_new_tab_keeps_the_sign_in_until_sign_out_and_a_tampered_cookie_is_refused(accounts, monkeypatch):
    login = page("6_Review.py").run()
    login.text_input("login_name").input("ana")
    login.text_input("login_password").input(PASSWORDS["ana"])
    login.button("login_submit").click().run()
    assert_ok(login)
    token = login.session_state["_sign_in_token"]
    assert shown_row(login) == 9 and "signin" not in login.query_params  # no secret in the URL
    script = " ".join(element.proto.body for element in login.html)
    assert "eqn_signin" in script and token in script and "SameSite=Strict" in script  # the cookie is written

    with_cookie(monkeypatch, token)  # a reload or a new tab: a fresh session, the browser's cookie
    reload = page("6_Review.py", run_id=None).run()
    assert_ok(reload)
    assert shown_row(reload) == 9 and not reload.text_input and reload.session_state["_user"]["name"] == "ana"

    with_cookie(monkeypatch, token.replace(".", ".x", 1))
    tampered = page("6_Review.py", run_id=None).run()
    assert tampered.text_input("login_name") and "expired or was ended" in tampered.info[0].value

    with_cookie(monkeypatch, None)  # a link with a token in it, as earlier releases made: never signs in
    legacy = page("6_Review.py", run_id=None)
    legacy.query_params = {"signin": token}
    legacy.run()
    assert legacy.text_input("login_name") and "signin" not in legacy.query_params

    with_cookie(monkeypatch, token)
    app = AppTest.from_function(signed_in_app, default_timeout=TIMEOUT)  # app.py's sign-in and sidebar
    app.run()
    assert_ok(app)
    assert "Signed in as **ana** (reviewer)" in [caption.value for caption in app.sidebar.caption]
    app.sidebar.button("logout").click().run()
    assert app.text_input("login_name")
    assert "Max-Age=0" in " ".join(element.proto.body for element in app.html)  # the cookie is cleared
    again = page("6_Review.py", run_id=None).run()  # another tab still holding the old cookie
    assert again.text_input("login_name") and not [m for m in again.markdown if "**Row " in m.value]
    with Workspace(accounts) as workspace:
        audit = sign_in_events(workspace)
    assert audit["outcome"].tolist() == ["success", "sign-out"] and set(audit["account"]) == {"ana"}


def test_wrong_passwords_lock_the_sign_in_form_with_the_time_left(accounts):
    login = page("6_Review.py").run()
    for attempt in range(5):
        login.text_input("login_name").input("ana")
        login.text_input("login_password").input(f"guess number {attempt}")
        login.button("login_submit").click().run()
        assert login.error[0].value == "Unknown user name or wrong password."
    login.text_input("login_password").input(PASSWORDS["ana"])  # the right password, during the lock
    login.button("login_submit").click().run()
    assert re.match(r"Too many failed sign-ins for this account: signing in is locked for (5 min|4 min 5\d s), even "
                    "with the right password", login.error[0].value)
    assert not [m for m in login.markdown if "**Row " in m.value]


OIDC_SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "not-a-real-secret",
                         "client_id": "eqn-studio", "client_secret": "not-a-real-secret",
                         "server_metadata_url": "https://id.example.org/.well-known/openid-configuration"}}


def test_single_sign_on_maps_the_providers_email_to_an_account(accounts, monkeypatch):
    import ui.auth
    from eqn_core.review.accounts import add_user

    monkeypatch.setattr(ui.auth, "sign_on_library_installed", lambda: True)  # st.login's Authlib (not needed here)

    add_user(accounts / "users.json", "cy@example.org", PASSWORDS["cy@example.org"], role="reviewer")
    outside = page("6_Review.py", run_id=None)  # [auth] configured, nobody signed in: both ways to sign in
    outside.secrets = OIDC_SECRETS
    outside.user = {"is_logged_in": False}
    outside.run()
    assert_ok(outside)
    assert outside.button("oidc_login_default").label == "Sign in with single sign-on"
    assert outside.text_input("login_name")  # the password form stays, in an expander
    monkeypatch.setattr(ui.auth, "sign_on_library_installed", lambda: False)
    outside.run()
    assert "pip install" in outside.warning[0].value and not [b for b in outside.button if b.key.startswith("oidc")]
    monkeypatch.setattr(ui.auth, "sign_on_library_installed", lambda: True)

    cy = page("6_Review.py")
    cy.secrets = OIDC_SECRETS
    cy.user = {"is_logged_in": True, "email": "Cy@Example.org", "email_verified": True}
    cy.run()
    assert_ok(cy)
    assert shown_row(cy) == 9 and "(cy@example.org)" in shown(cy.caption[0].value)
    app = AppTest.from_function(signed_in_app, default_timeout=TIMEOUT)
    app.secrets, app.user = OIDC_SECRETS, {"is_logged_in": True, "email": "cy@example.org"}
    app.run()
    assert "Signed in as **cy@example.org** (reviewer)" in [shown(caption.value) for caption in app.sidebar.caption]
    app.sidebar.button("logout").click().run()  # st.logout: the provider's sign-in ends
    assert_ok(app)
    assert app.button("oidc_login_default") and not app.sidebar.caption

    stranger = page("6_Review.py")
    stranger.secrets = OIDC_SECRETS
    stranger.user = {"is_logged_in": True, "email": "eve@example.org"}
    stranger.run()
    assert "no EQN Studio account" in stranger.warning[0].value and stranger.button("oidc_logout")
    assert not [m for m in stranger.markdown if "**Row " in m.value]


def test_admin_turns_blind_review_off_and_reviewers_see_others_at_once(accounts):
    root = accounts
    boss = sign_in_as(page("6_Review.py"), "boss", "admin").run()
    boss.segmented_control("review_section").set_value("Team: assign, agree, adjudicate").run()
    assert boss.toggle("review_blind").value is True  # the default
    boss.toggle("review_blind").set_value(False).run()
    assert_ok(boss)
    assert "Open review for r1 · test" in boss.success[0].value
    assert boss.toggle("review_blind").value is False
    with Workspace(root) as workspace:
        assert workspace.blind_review(run_id="r1", split="test") is False
        assert workspace.blind_review(run_id="r1", split="dev") is True

    ana = sign_in_as(page("6_Review.py"), "ana", "reviewer").run()
    assert any("**Open review** for this run and split" in caption.value for caption in ana.caption)
    ana.button("review_accept_all_9_0").click().run()
    ben = sign_in_as(page("6_Review.py"), "ben", "reviewer").run()
    assert shown_row(ben) == 9 and not any("blind review" in caption.value for caption in ben.caption)
    assert table_with(ben, "decision")["reviewer"].tolist() == ["ana"]  # before ben decided anything

    boss.toggle("review_blind").set_value(True).run()  # back to blind: ben no longer sees ana's decision
    ben.run()
    assert "blind review" in ben.caption[-1].value and table_with(ben, "decision") is None


# ------------------------------------------------------------------------ Export
def test_export_writes_the_chosen_rows_and_offers_the_download(root):
    with Workspace(root) as workspace:
        workspace.record_review(run_id="r1", split="test", row_idx=9, label="joy", decision="set", energy=2.0,
                                reviewer="ana")
    at = page("7_Export.py").run()
    assert_ok(at)
    at.radio("export_content").set_value("binary")
    at.radio("export_format").set_value("parquet")
    at.selectbox("export_rows").set_value("suggested").run()
    assert any(caption.value.startswith("3 rows selected") for caption in at.caption)
    at.button("export_go").click().run()
    assert_ok(at)
    path = root / "exports" / "r1_test_binary.parquet"
    assert path.is_file() and str(path) in shown(at.success[0].value)
    exported = pd.read_parquet(path)
    assert exported["row_idx"].tolist() == [2, 5, 9]
    assert exported[LABELS].values.tolist() == [[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]]
    assert at.download_button("export_download").proto.label == "Download r1_test_binary.parquet"
    assert table_with(at, "text_id")["row_idx"].tolist() == [2, 5, 9]  # the preview

    at.radio("export_content").set_value("reviewed")
    at.radio("export_format").set_value("csv")
    at.selectbox("export_rows").set_value("all").run()
    at.button("export_go").click().run()
    assert_ok(at)
    reviewed = pd.read_csv(root / "exports" / "r1_test_reviewed.csv", keep_default_na=False)
    assert len(reviewed) == 16 and reviewed.loc[9, "joy"] == 2.0 and reviewed.loc[9, "reviewers"] == "ana"
    assert reviewed.loc[2, "anger"] == pytest.approx(6.0) and reviewed.loc[4, "fear"] == 0.0  # 1.0 < h = 3
