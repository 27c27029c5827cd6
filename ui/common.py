"""Streamlit glue shared by the pages: the app's workspace, the signed-in user, run and split pickers, the
session's threshold setting, cached reads, escaping of user strings for Markdown and plotly."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from eqn_core.accounts import (ADMIN, SIGN_IN_MAX_AGE, User, authenticate, issue_sign_in_token, load_users, local_user,
                               sign_out_token, user_for_email, user_from_token, users_file)
from eqn_core.runs import default_run_id, refresh_runs
from eqn_core.thresholds import DEFAULT_THRESHOLD, ENERGY_MAX, ENERGY_MIN, check_thresholds, effective_thresholds, reaches
from eqn_core.workspace import Workspace

DEFAULT_WORKSPACE = "eqn-workspace"


def workspace_root() -> Path:
    return Path(os.environ.get("EQN_WORKSPACE") or DEFAULT_WORKSPACE).resolve()


@st.cache_resource(show_spinner=False)
def open_workspace(root: str) -> Workspace:
    """The one Workspace object of this app process for the folder `root` (cached); the pages' cached reads go
    through it. It opens the database only for bursts of calls, so CLI commands can use the same workspace
    meanwhile (eqn_core.database)."""
    return Workspace(root)


def get_workspace() -> Workspace:
    return open_workspace(str(workspace_root()))


def data_version() -> int:
    """Bumped whenever the pages write to the workspace, so cached reads refresh."""
    return st.session_state.setdefault("_data_version", 0)


def bump_data_version() -> None:
    st.session_state["_data_version"] = data_version() + 1


@st.cache_data(show_spinner=False, max_entries=32)
def _energies(root: str, run_id: str, split: str, version: int) -> np.ndarray:
    return open_workspace(root).load_energies(run_id, split)


def load_energies(run_id: str, split: str) -> np.ndarray:
    """(N, C) energies of a run and split, cached across reruns (a slider move must not hit the database)."""
    return _energies(str(workspace_root()), run_id, split, data_version())


@st.cache_data(show_spinner=False, max_entries=16)
def _human_labels(root: str, dataset: str, split: str, version: int) -> np.ndarray:
    return open_workspace(root).load_dataset(dataset, splits=[split]).splits[split].human_labels


def load_human_labels(dataset: str, split: str) -> np.ndarray:
    return _human_labels(str(workspace_root()), dataset, split, data_version())


def finished_runs(workspace: Workspace, *, dataset: str | None = None):
    refresh_runs(workspace)
    runs = workspace.list_runs(dataset=dataset)
    return runs[runs["status"] == "finished"]


def run_label(row) -> str:
    return f"{row['run_id']}  ({row['mode']}, {row['dataset']})"


def pick_run(workspace: Workspace, *, key: str = "run", label: str = "Run", dataset: str | None = None,
             stop_if_none: bool = True, needs_energies: bool = True) -> dict | None:
    """A select box of finished runs; remembers the choice across pages in st.session_state[key] and, for the
    session's current run (key "run"), across a reload in the URL (?run=...). needs_energies: the page shows stored
    energies, so it does not open on a shipped model whose data set is not loaded (Try it does not need them)."""
    runs = finished_runs(workspace, dataset=dataset)
    if runs.empty:
        if stop_if_none:
            st.info("No finished run yet. Train one on the **Train** page.")
            st.stop()
        return None
    ids = runs["run_id"].tolist()
    labels = {row["run_id"]: run_label(row) for _, row in runs.iterrows()}
    default = st.session_state.get(key)
    if default not in ids and key == "run":
        default = st.query_params.get("run")
    if default not in ids:  # nothing remembered: the best finished EQN run, not merely the newest
        candidates = runs
        if needs_energies:
            from eqn_core.shipped import is_shipped

            candidates = runs[[not (is_shipped(row) and not workspace.energy_splits(row["run_id"]))
                               for row in runs.to_dict("records")]]
        default = default_run_id(candidates if not candidates.empty else runs)
    index = ids.index(default)
    run_id = st.selectbox(label, ids, index=index, format_func=labels.get, key=f"{key}_select")
    st.session_state[key] = run_id
    if key == "run" and st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id
    return workspace.get_run(run_id)


def pick_split(workspace: Workspace, run_id: str, *, key: str = "split", default: str = "test") -> str:
    splits = workspace.energy_splits(run_id)
    if not splits:
        from eqn_core.shipped import is_shipped

        run = workspace.get_run(run_id)
        if is_shipped(run):
            st.info(f"**{run_id}** is the ready model that ships with EQN Studio. Its energies of the "
                    f"{run['dataset']} texts appear here once that data set is loaded (Home or Data page); "
                    "**Try it** annotates your own texts with it now.")
        else:
            st.warning("This run has no stored energies.")
        st.stop()
    index = splits.index(default) if default in splits else 0
    return st.selectbox("Split", splits, index=index, key=key)


@st.cache_data(show_spinner=False, max_entries=64)
def _label_names(root: str, dataset: str, version: int) -> list[str]:
    return open_workspace(root).label_names(dataset)


def load_label_names(dataset: str) -> list[str]:
    """The C label names of a data set, in label-id order (cached)."""
    return _label_names(str(workspace_root()), dataset, data_version())


@st.cache_data(show_spinner=False, max_entries=16)
def _topk_tables(root: str, run_id: str, split: str, dataset: str, version: int) -> dict:
    from eqn_core.metrics import topk_tables

    return topk_tables(_energies(root, run_id, split, version), _human_labels(root, dataset, split, version))


def load_topk_tables(run_id: str, split: str, dataset: str) -> dict:
    """The threshold-free figures of a run on a split (top-k P/R/F1, Tables 4 and 5), computed once."""
    return _topk_tables(str(workspace_root()), run_id, split, dataset, data_version())


@st.cache_resource(show_spinner=False, max_entries=4)
def _run_model(run_dir: str, weights_mtime: float):
    from eqn_core.runs import load_run_model

    return load_run_model(run_dir)


def load_run_model_cached(run_dir: str | Path):
    """(model, config, label_names) of a finished run, loaded once per process (and again if its weights change)."""
    from eqn_core.runs import RunFolder

    weights = RunFolder(run_dir).weights_file
    return _run_model(str(run_dir), weights.stat().st_mtime if weights.exists() else 0.0)


def add_goemotions_with_progress(workspace: Workspace, *, from_dir: str | Path | None = None,
                                 offline_hint: str | None = None) -> bool:
    """Fetch and store GoEmotions with a progress bar, then rerun the page with a success note;
    on failure show the error where the button was (nothing is stored) and return False.
    offline_hint: what to do without internet, said after a failed download."""
    from eqn_core.data import DataError

    where = f"from {from_dir}" if from_dir else "from GitHub (about 4 MB)"
    bar = st.progress(0.0, text=f"Fetching GoEmotions {where} ...")

    def on_progress(file_name: str, done: int, total: int | None) -> None:
        bar.progress(min(1.0, done / total) if total else 0.0, text=f"{file_name}: {done / 1e6:.1f} MB")

    try:
        with st.spinner("Reading and storing GoEmotions ..."):
            dataset = workspace.add_goemotions(from_dir=from_dir, progress=on_progress)
    except (DataError, ValueError, OSError) as error:
        bar.empty()
        hint = "" if from_dir or not offline_hint else f" {offline_hint}"
        st.error(f"Could not load GoEmotions: {escape_markdown(error)}.{hint}")
        return False
    bump_data_version()
    st.session_state["dataset"] = dataset.name
    rows = ", ".join(f"{name} {len(split.texts):,}" for name, split in dataset.splits.items())
    flash(f"GoEmotions is in the workspace: {rows} texts, {len(dataset.label_names)} labels.")
    st.rerun()


def flash(message: str, kind: str = "success") -> None:
    """A message shown once, on the next run of the page (call before st.rerun())."""
    st.session_state["_flash"] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop("_flash", (None, None))
    if message:
        getattr(st, kind)(message)


# ---------------------------------------------------------------- thresholds, texts, energy bars (pages 4-7)
ENERGY_BAR_STYLES = {  # category -> (colour, bar pattern): human labels hatched, suggestions in a warm colour
    "human label": ("#1f77b4", "/"),
    "human label, low energy": ("#9ecae1", "/"),
    "suggested micro-emotion": ("#ff7f0e", ""),
    "below threshold": ("#c7c7c7", ""),
}


def run_global_threshold(run: dict) -> float:
    """The run's recorded global threshold h (metrics["global_threshold"]), else the default h."""
    value = (run.get("metrics") or {}).get("global_threshold")
    return float(value) if value is not None else DEFAULT_THRESHOLD


THRESHOLD_STATE = "eqn_thresholds"  # the session's one threshold setting: {"run_id", "global", "overrides"}


def threshold_setting(run: dict, label_names: list[str]) -> dict:
    """The session's threshold setting for this run: a global h and per-label overrides {label: h}.

    One setting per browser session, shared by Thresholds, Samples, Review and Export; kept across a reload in
    the URL (?h=2.5&h_labels=0:3.1,4:7). A new run starts from its recorded global h and no overrides.
    """
    state = st.session_state.get(THRESHOLD_STATE)
    if not state or state.get("run_id") != run["run_id"]:
        fresh_session = not state
        state = {"run_id": run["run_id"], "global": run_global_threshold(run), "overrides": {}}
        if fresh_session and st.query_params.get("run") in (None, run["run_id"]):  # a reload: the URL has it
            state.update(_setting_from_query(label_names) or {})
        st.session_state[THRESHOLD_STATE] = state
    _setting_to_query(state, label_names)
    return state


def set_threshold_setting(run: dict, label_names: list[str], global_threshold: float, overrides: dict) -> None:
    """Replace the session's setting (the Thresholds page calls this after every change)."""
    clean = {label: float(value) for label, value in overrides.items()
             if label in label_names and value is not None and np.isfinite(float(value))}
    state = {"run_id": run["run_id"], "global": float(global_threshold), "overrides": clean}
    st.session_state[THRESHOLD_STATE] = state
    _setting_to_query(state, label_names)


def _setting_from_query(label_names: list[str]) -> dict | None:
    try:
        global_threshold = float(st.query_params["h"]) if "h" in st.query_params else None
        overrides = {}
        for item in filter(None, st.query_params.get("h_labels", "").split(",")):
            index, value = item.split(":")
            overrides[label_names[int(index)]] = float(value)
        if global_threshold is not None:
            check_thresholds(global_threshold, 1)
        check_thresholds(list(overrides.values()) or 0.0, len(overrides) or 1)
    except (ValueError, IndexError, KeyError):
        return None  # a hand-edited URL: ignore it
    return {"overrides": overrides, **({"global": global_threshold} if global_threshold is not None else {})}


def _setting_to_query(state: dict, label_names: list[str]) -> None:
    wanted = {"h": f"{state['global']:g}",
              "h_labels": ",".join(f"{label_names.index(label)}:{value:g}" for label, value in state["overrides"].items()
                                   if label in label_names)}
    for name, value in wanted.items():
        if value and st.query_params.get(name) != value:
            st.query_params[name] = value
        elif not value and name in st.query_params:
            del st.query_params[name]


def pick_thresholds(workspace: Workspace, run: dict, label_names: list[str], *, key: str) -> dict:
    """The session's threshold setting (chosen on the Thresholds page), with a caption saying what it is.

    Returns {"thresholds": (C,) float64, "profile": None, "global_threshold": h, "overrides": {label: h},
    "per_label": bool, "describe": a short text for captions}.
    """
    state = threshold_setting(run, label_names)
    thresholds = effective_thresholds(state["global"], state["overrides"], label_names)  # (C,)
    count = len(state["overrides"])
    if count == 0:
        describe = f"h = {state['global']:g}"
    elif count >= len(label_names):
        describe = f"per-label thresholds on all {count} labels (the global h is inactive)"
    else:
        describe = f"h = {state['global']:g}, {count} per-label override(s)"
    left, right = st.columns([4, 1])
    left.caption(f"Thresholds: **{describe}** · the session's setting, shared by Thresholds, Samples, Review and "
                 "Export.")
    try:
        right.page_link("app_pages/3_Thresholds.py", label="Change thresholds", icon=":material/tune:")
    except StreamlitAPIException:  # the page run on its own (tests), without app.py's navigation
        right.caption("Change them on the Thresholds page.")
    return {"thresholds": thresholds, "profile": None, "global_threshold": state["global"],
            "overrides": dict(state["overrides"]), "per_label": count > 0, "describe": describe}


@st.cache_resource(show_spinner=False, max_entries=16)  # shared, not copied per read: treat it as read-only
def _texts(root: str, dataset: str, split: str, version: int):
    return open_workspace(root).texts(dataset, split)


def load_texts(dataset: str, split: str):
    """row_idx, text_id, text, label_ids of a split (cached), in row order."""
    return _texts(str(workspace_root()), dataset, split, data_version())


def energy_bar_figure(energies, human_labels, label_names: list[str], thresholds, *, per_label: bool,
                      title: str = "", height: int = 360):
    """Plotly bars of one text's C energies: human labels hatched, suggestions coloured, the threshold drawn.

    energies: (C,); human_labels: (C,) bool; thresholds: (C,). per_label: markers per label, else one line.
    """
    import plotly.graph_objects as go

    label_names = [plot_text(name) for name in label_names]  # plotly renders some HTML: show names as typed
    energies = np.asarray(energies, dtype=np.float64)  # (C,)
    human_labels = np.asarray(human_labels, dtype=bool)  # (C,)
    thresholds = np.asarray(thresholds, dtype=np.float64)  # (C,)
    above = reaches(energies[None, :], thresholds)[0]  # the one threshold rule (float32, energy >= h)
    category = np.where(human_labels, np.where(above, "human label", "human label, low energy"),
                        np.where(above, "suggested micro-emotion", "below threshold"))
    figure = go.Figure()
    for name, (colour, pattern) in ENERGY_BAR_STYLES.items():
        chosen = np.flatnonzero(category == name)
        if chosen.size:
            figure.add_bar(x=[label_names[i] for i in chosen], y=energies[chosen], name=name,
                           marker={"color": colour, "pattern": {"shape": pattern}},
                           hovertemplate="%{x}: %{y:.2f}<extra>" + name + "</extra>")
    if per_label:
        figure.add_scatter(x=label_names, y=thresholds, mode="markers", name="threshold (per label)",
                           marker={"symbol": "line-ew-open", "size": 18, "color": "#d62728", "line": {"width": 3}},
                           hovertemplate="%{x}: h = %{y:.2f}<extra></extra>")
    else:
        figure.add_hline(y=float(thresholds[0]), line_dash="dash", line_color="#d62728",
                         annotation_text=f"threshold h = {thresholds[0]:g}", annotation_position="top left")
    figure.update_layout(title=plot_text(title) if title else None, barmode="overlay", height=height, yaxis_title="energy",
                         yaxis_range=[0, 10.5], legend_orientation="h", legend_y=-0.3,
                         xaxis={"categoryorder": "array", "categoryarray": list(label_names), "tickangle": -45},
                         margin={"t": 40 if title else 10, "b": 10})
    return figure


def escape_markdown(text) -> str:
    """Any user string (label, text id, reviewer, file name) made safe for st.markdown / st.caption / st.error and
    widget labels: Markdown and HTML characters are escaped, so "[link](http://x)" or "<b>" show as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])", r"\\\1", str(text)).replace("\n", " ")


def plot_text(text) -> str:
    """A user string for plotly labels and hover text, which render a few HTML tags (<b>, <a href>): shown as typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_text(text: str) -> str:
    """A data set text as a Markdown block quote, its Markdown characters escaped (shown as typed)."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)
    return "> " + escaped.replace("\n", "  \n> ")


# ---------------------------------------------------------------- accounts: who is signed in, what they may do
def _users_path():
    return users_file(workspace_root())


def accounts_enabled() -> bool:
    """True when the users file lists anyone; else the app is in single-user local mode."""
    return bool(load_users(_users_path()))


SIGN_IN_PARAM = "signin"  # the URL parameter holding the sign-in token (eqn_core.accounts), kept across a reload
XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's own cookie: this browser keeps it, a copied link does not carry it


def browser_key(cookie: str | None) -> str:
    """The secret inside Streamlit's XSRF cookie ("2|mask|masked|time", masked afresh on every page load), or ""
    without one: what ties a sign-in token to the browser it was issued to."""
    value = (cookie or "").strip("\"'")
    if not value.startswith("2|"):
        return value  # version 1: the token itself; "" when there is no cookie (XSRF protection off, tests)
    try:
        _, mask_hex, masked_hex, _ = value.split("|")
        mask, masked = bytes.fromhex(mask_hex), bytes.fromhex(masked_hex)
    except ValueError:
        return ""
    if len(mask) != 4:
        return ""
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(masked)).hex()


def _browser() -> str:
    try:
        return browser_key(st.context.cookies.get(XSRF_COOKIE))
    except (AttributeError, RuntimeError):  # no browser behind this run
        return ""


def _remember_sign_in(user: User, token: str) -> None:
    st.session_state["_user"] = {"name": user.name, "role": user.role}
    st.session_state["_sign_in_token"] = token
    st.query_params[SIGN_IN_PARAM] = token


def _forget_sign_in(note: str | None = None) -> None:
    for key in ("_user", "_sign_in_token"):
        st.session_state.pop(key, None)
    if SIGN_IN_PARAM in st.query_params:
        del st.query_params[SIGN_IN_PARAM]
    if note:
        st.session_state["_sign_in_note"] = note


def oidc_providers() -> list[str] | None:
    """The single sign-on (OpenID Connect, st.login) offered when .streamlit/secrets.toml has an [auth] section: its
    provider names ([auth.google] -> "google"; "" for one unnamed provider); None when none is configured."""
    try:
        auth = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets file, or one that does not parse
        return None
    if not auth or not hasattr(auth, "keys"):
        return None
    named = [name for name in auth.keys() if hasattr(auth[name], "keys")]
    return named or [""]


def sign_on_library_installed() -> bool:
    """st.login needs Authlib (the optional extra "oidc")."""
    return importlib.util.find_spec("authlib") is not None


def _oidc_identity() -> tuple[str, User | None] | None:
    """(e-mail, the account it maps to or None) of a user signed in with the identity provider; None otherwise."""
    if not oidc_providers() or not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    return str(email or ""), user_for_email(_users_path(), email, email_verified=st.user.get("email_verified"))


def current_user() -> User:
    """The signed-in user; the local admin in single-user local mode. Never from a text box.

    A sign-in lives in the session and, as a signed token, in the URL (?signin=...), so a reload of the page keeps
    it; the token is checked on every run (expiry, sign-out, password change, removed account, other browser)."""
    if not accounts_enabled():
        return local_user()
    identity = _oidc_identity()
    if identity is not None:  # signed in with the identity provider (its own cookie keeps it across a reload)
        return identity[1] or User("", "", local=False)
    path = _users_path()
    signed_in = st.session_state.get("_user")
    token = st.session_state.get("_sign_in_token")
    if signed_in:
        entry = load_users(path).get(signed_in["name"])
        if entry is not None and (token is None or user_from_token(path, token, browser=_browser()) is not None):
            if token is not None and st.query_params.get(SIGN_IN_PARAM) != token:
                st.query_params[SIGN_IN_PARAM] = token  # a page switch left it out of the URL
            return User(signed_in["name"], entry["role"])  # role changes and removals apply at the next rerun
        _forget_sign_in("Your sign-in ended (expired, signed out, or the account changed). Sign in again."
                        if entry is not None else None)
    elif SIGN_IN_PARAM in st.query_params:  # a reload: the URL carries the sign-in
        token = st.query_params[SIGN_IN_PARAM]
        restored = user_from_token(path, token, browser=_browser())
        if restored is not None:
            _remember_sign_in(restored, token)
            return restored
        _forget_sign_in("That sign-in has expired or is not valid in this browser. Sign in again.")
    return User("", "", local=False)


def require_login() -> User:
    """Show the sign-in form and stop until someone signs in (when accounts exist); then the user."""
    user = current_user()
    if user.local or user.name:
        return user
    st.title("EQN Studio")
    st.subheader("Sign in")
    note = st.session_state.pop("_sign_in_note", None)
    if note:
        st.info(note)
    providers = oidc_providers()
    if providers:
        identity = _oidc_identity()
        if identity is not None:  # the provider knows them, the users file does not
            st.warning(f"You are signed in as {escape_markdown(identity[0] or 'an account without an e-mail address')}"
                       ", which has no EQN Studio account (or an unverified address). An admin adds it with "
                       "`eqn users add EMAIL --role reviewer`.")
            st.button("Sign out", key="oidc_logout", on_click=st.logout)
            st.stop()
        if not sign_on_library_installed():
            st.warning("Single sign-on is set up in `.streamlit/secrets.toml`, but its library is missing: install "
                       "it with `pip install -e \".[oidc]\"` (Authlib), then restart the app.")
            providers = []
        for provider in providers:
            st.button(f"Sign in with {provider}" if provider else "Sign in with single sign-on", type="primary",
                      key=f"oidc_login_{provider or 'default'}", on_click=st.login, args=(provider or None,))
    with st.expander("Or with a user name and password") if oidc_providers() else contextlib.nullcontext():
        with st.form("login_form"):
            name = st.text_input("User name", key="login_name", autocomplete="username")
            password = st.text_input("Password", type="password", key="login_password",
                                     autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary", key="login_submit")
    if submitted:
        found = authenticate(_users_path(), name, password)
        if found is None:
            st.error("Unknown user name or wrong password.")
        else:
            _remember_sign_in(found, issue_sign_in_token(_users_path(), found.name, browser=_browser()))
            st.rerun()
    st.caption("Accounts are managed by an admin with `eqn users add NAME --role admin|reviewer`. A sign-in lasts "
               f"across a reload of the page in this browser for {SIGN_IN_MAX_AGE // 3600} hours, or until you sign "
               "out.")
    st.stop()


def require_admin(what: str = "This page") -> User:
    """Stop the page with a note unless the user is an admin (admins load data, train, delete and export)."""
    user = require_login()
    if user.role != ADMIN:
        st.warning(f"{what} is for admins. You are signed in as {user.name} (reviewer): you can review and read.")
        st.stop()
    return user


def account_sidebar(user: User) -> None:
    with st.sidebar:
        if user.local:
            st.caption("Single-user local mode: no accounts are set up, so you act as the admin. Add accounts with "
                       "`eqn users add NAME --role admin|reviewer`.")
        else:
            st.caption(f"Signed in as **{user.name}** ({user.role})")
            if st.button("Sign out", key="logout", icon=":material/logout:"):
                sign_out()
                st.rerun()


def sign_out() -> None:
    """End the sign-in: the token is refused from now on (also in other tabs with it) and leaves the URL; a single
    sign-on sign-in ends through st.logout."""
    token = st.session_state.get("_sign_in_token")
    if token:
        sign_out_token(_users_path(), token)
    _forget_sign_in()
    if _oidc_identity() is not None:
        st.logout()
