"""Who uses the app and what they may do: accounts (or single-user local mode), the sign-in form (throttled and
audited: eqn_core.review.sign_in), the signed sign-in token kept in a cookie across reloads and new tabs of the same
browser, single sign-on (OpenID Connect, st.login), require_login / require_admin, the account in the sidebar and
signing out (on every tab)."""
from __future__ import annotations

import contextlib
import importlib.util
import json

import streamlit as st

from eqn_core.review.accounts import (
    ADMIN,
    SIGN_IN_MAX_AGE,
    User,
    issue_sign_in_token,
    load_users,
    local_user,
    sign_out_token,
    user_for_email,
    user_from_token,
    users_file,
)
from eqn_core.review.sign_in import SignInLocked, record_sign_in, record_sign_out, sign_in_with_password
from ui.display import escape_markdown
from ui.session import get_workspace, workspace_root


def _users_path():
    return users_file(workspace_root())


def accounts_enabled() -> bool:
    """True when the users file lists anyone; else the app is in single-user local mode."""
    return bool(load_users(_users_path()))


SIGN_IN_COOKIE = "eqn_signin"  # the sign-in token (eqn_core.review.accounts): this browser's tabs share it
LEGACY_SIGN_IN_PARAM = "signin"  # where earlier releases kept the token: removed from any URL that still has it
XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's own cookie: this browser keeps it, a copied cookie elsewhere does not
SESSION_CHECK_SECONDS = 30  # an idle tab notices a sign-out elsewhere (or an expired sign-in) this often


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


def client_address() -> str:
    """The browser's address as the server sees it ("" on this machine or when unknown: then only the account
    is throttled, so one proxy in front of the app does not lock everyone out)."""
    try:
        address = st.context.ip_address
    except (AttributeError, RuntimeError):  # no browser behind this run
        return ""
    return address if isinstance(address, str) else ""


def _remember_sign_in(user: User, token: str, *, write_cookie: bool) -> None:
    st.session_state["_user"] = {"name": user.name, "role": user.role}
    st.session_state["_sign_in_token"] = token
    if write_cookie:
        st.session_state["_cookie_change"] = token  # written by the next run's page (see write_cookie_change)


def _forget_sign_in(note: str | None = None, *, clear_cookie: bool = True) -> None:
    for key in ("_user", "_sign_in_token"):
        st.session_state.pop(key, None)
    if clear_cookie:
        st.session_state["_cookie_change"] = ""
    if note:
        st.session_state["_sign_in_note"] = note


def write_cookie_change() -> None:
    """Set or clear the sign-in cookie in the browser when a sign-in or sign-out asked for it. The cookie is
    written by a script in the page (the server cannot set one on Streamlit's connection): readable by this site's
    pages only (SameSite=Strict), sent back with every new tab or reload (st.context.cookies), expiring with the token."""
    change = st.session_state.pop("_cookie_change", None)
    if change is None:
        return
    attributes = f"Path=/; SameSite=Strict; Max-Age={SIGN_IN_MAX_AGE if change else 0}"
    st.html(f"""<script>
        document.cookie = {json.dumps(SIGN_IN_COOKIE)} + "=" + {json.dumps(change)} + "; " + {json.dumps(attributes)}
            + (location.protocol === "https:" ? "; Secure" : "");
    </script>""", unsafe_allow_javascript=True)


def _cookie_token() -> str | None:
    try:
        token = st.context.cookies.get(SIGN_IN_COOKIE)
    except (AttributeError, RuntimeError):  # no browser behind this run
        return None
    return token if isinstance(token, str) and token else None


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

    A sign-in lives in the session and, as a signed token, in a cookie of this browser, so a reload or a new tab
    keeps it; the token is checked on every run (expiry, sign-out on any tab, password change, removed account,
    another browser). No secret ever goes into the URL."""
    if not accounts_enabled():
        return local_user()
    if LEGACY_SIGN_IN_PARAM in st.query_params:  # a link from an earlier release: never read, always dropped
        del st.query_params[LEGACY_SIGN_IN_PARAM]
    identity = _oidc_identity()
    if identity is not None:  # signed in with the identity provider (its own cookie keeps it across a reload)
        if identity[1] is not None and not st.session_state.get("_sign_on_recorded"):
            record_sign_in(get_workspace(), identity[1], client=client_address(), method="single sign-on")
            st.session_state["_sign_on_recorded"] = True
        return identity[1] or User("", "", local=False)
    path = _users_path()
    signed_in = st.session_state.get("_user")
    if signed_in:
        entry = load_users(path).get(signed_in["name"])
        token = st.session_state.get("_sign_in_token")
        if entry is not None and (token is None or user_from_token(path, token, browser=_browser()) is not None):
            return User(signed_in["name"], entry["role"])  # role changes and removals apply at the next rerun
        _forget_sign_in("Your sign-in ended (expired, signed out, or the account changed). Sign in again."
                        if entry is not None else None)
        return User("", "", local=False)
    token = _cookie_token()
    if token is not None:  # a reload or a new tab of a browser that signed in
        restored = user_from_token(path, token, browser=_browser())
        if restored is not None:
            _remember_sign_in(restored, token, write_cookie=False)
            return restored
        _forget_sign_in("That sign-in has expired or was ended. Sign in again.")
    return User("", "", local=False)


def require_login() -> User:
    """Show the sign-in form and stop until someone signs in (when accounts exist); then the user."""
    user = current_user()
    write_cookie_change()
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
        try:
            found = sign_in_with_password(get_workspace(), _users_path(), name, password, client=client_address())
        except SignInLocked as locked:
            st.error(str(locked))
        else:
            if found is None:
                st.error("Unknown user name or wrong password.")
            else:
                _remember_sign_in(found, issue_sign_in_token(_users_path(), found.name, browser=_browser()),
                                  write_cookie=True)
                st.rerun()
    st.caption("Accounts are managed by an admin with `eqn users add NAME --role admin|reviewer`. A sign-in lasts "
               f"across reloads and new tabs of this browser for {SIGN_IN_MAX_AGE // 3600} hours, or until you sign "
               "out. After 5 wrong passwords in 15 minutes signing in is locked for a while.")
    st.stop()


def require_admin(what: str = "This page") -> User:
    """Stop the page with a note unless the user is an admin (admins load data, train, delete and export)."""
    user = require_login()
    if user.role != ADMIN:
        st.warning(f"{what} is for admins. You are signed in as {user.name} (reviewer): you can review and read.")
        st.stop()
    return user


def account_sidebar(user: User) -> None:
    write_cookie_change()
    with st.sidebar:
        if user.local:
            st.caption("Single-user local mode: no accounts are set up, so you act as the admin. Add accounts with "
                       "`eqn users add NAME --role admin|reviewer`.")
        else:
            st.caption(f"Signed in as **{user.name}** ({user.role})")
            if st.button("Sign out", key="logout", icon=":material/logout:"):
                sign_out(user)
                st.rerun()
            _check_sign_in_still_valid()


@st.fragment(run_every=SESSION_CHECK_SECONDS)
def _check_sign_in_still_valid() -> None:
    """An idle tab ends its sign-in soon after a sign-out on another tab (or expiry): the whole app reruns then."""
    token = st.session_state.get("_sign_in_token")
    if token is not None and user_from_token(_users_path(), token, browser=_browser()) is None:
        st.rerun(scope="app")


def sign_out(user: User) -> None:
    """End the sign-in: the token is refused from now on (also in every other tab, which share its cookie), the
    cookie is cleared, the audit records it; a single sign-on sign-in ends through st.logout."""
    token = st.session_state.get("_sign_in_token")
    if token:
        sign_out_token(_users_path(), token)
    record_sign_out(get_workspace(), user, client=client_address())
    _forget_sign_in()
    if _oidc_identity() is not None:
        st.logout()
