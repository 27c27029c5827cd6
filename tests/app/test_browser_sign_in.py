"""Sign-in in a real headless Chromium: kept across a reload and a new tab by a cookie (never in the URL), not
usable from another browser, ended on every tab by signing out; wrong passwords lock the form."""
from __future__ import annotations

import time

import pytest

from app_server import PAGE_TIMEOUT_MS

pytestmark = pytest.mark.slow
PASSWORD = "ana harbor violet 58"


@pytest.fixture
def accounts_server(tmp_path, serve_app):
    from eqn_core.review.accounts import add_user

    root = tmp_path / "workspace"
    add_user(root / "users.json", "ana", PASSWORD, role="admin")
    server = serve_app(root)
    return server.url


def open_page(context, url: str):
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url, wait_until="domcontentloaded")
    return page


def sign_in(page, password: str = PASSWORD) -> None:
    page.get_by_label("User name").fill("ana")
    page.get_by_role("textbox", name="Password").fill(password)
    page.keyboard.press("Enter")


def test_a_cookie_keeps_the_sign_in_across_tabs_until_sign_out(accounts_server, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    first = open_page(context, accounts_server)
    sign_in(first)
    first.get_by_text("Signed in as ana").wait_for()
    first.wait_for_function("() => document.cookie.includes('eqn_signin=')", timeout=PAGE_TIMEOUT_MS)
    assert "signin" not in first.url
    cookie = next(c for c in context.cookies() if c["name"] == "eqn_signin")
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0

    second = open_page(context, accounts_server + "/Review")  # a new tab of the same browser
    second.get_by_text("Signed in as ana").wait_for()
    second.reload(wait_until="domcontentloaded")  # and a reload
    second.get_by_text("Signed in as ana").wait_for()
    assert "signin" not in second.url

    stranger = browser.new_context()  # another browser holding a copy of the cookie: not signed in
    stranger.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
    elsewhere = open_page(stranger, accounts_server)
    elsewhere.get_by_role("button", name="Sign in").wait_for()
    assert "Signed in as" not in elsewhere.inner_text("body")

    first.get_by_role("button", name="Sign out").click()
    first.get_by_role("button", name="Sign in").wait_for()
    first.screenshot(path=str(tmp_path / "signed_out.png"))
    second.get_by_role("link", name="Home").click()  # the other tab's next step finds the sign-in ended
    second.get_by_role("button", name="Sign in").wait_for()
    third = open_page(context, accounts_server)  # and a new tab opens on the sign-in form
    third.get_by_role("button", name="Sign in").wait_for()


def failures_recorded(root) -> int:
    from eqn_core.store.sign_in_log import sign_in_events
    from eqn_core.store.workspace import Workspace

    with Workspace(root) as workspace:  # the app's server process takes turns with this one
        return int((sign_in_events(workspace)["outcome"] == "failure").sum())


def test_five_wrong_passwords_lock_the_form_in_the_browser(accounts_server, browser, tmp_path):
    root = tmp_path / "workspace"
    page = open_page(browser.new_context(viewport={"width": 1300, "height": 900}), accounts_server)
    for attempt in range(5):
        sign_in(page, f"wrong guess {attempt}")
        page.get_by_text("Unknown user name or wrong password.").wait_for()
        deadline = time.monotonic() + 60  # the message of the last attempt may still show: wait for this one's record
        while failures_recorded(root) < attempt + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
    sign_in(page)
    page.get_by_text("Too many failed sign-ins for this account").wait_for()
    page.screenshot(path=str(tmp_path / "locked.png"))
    assert "Signed in as" not in page.inner_text("body")
