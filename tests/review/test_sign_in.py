"""Signing in with a password: the throttle (clock controlled), the audit, and the password policy."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from eqn_core.cli.main import main as eqn
from eqn_core.review.accounts import REVIEWER, add_user, password_problem
from eqn_core.review.sign_in import (
    FIRST_LOCK,
    SignInLocked,
    describe_wait,
    record_sign_out,
    sign_in_with_password,
)
from eqn_core.store.sign_in_log import sign_in_events
from eqn_core.store.workspace import Workspace

T0 = datetime(2026, 12, 1, 9, 0, 0)
GOOD = "violet harbor kettle 58"


@pytest.fixture
def setup(tmp_path):
    users = tmp_path / "ws" / "users.json"
    add_user(users, "ana", GOOD, role=REVIEWER)
    add_user(users, "bo", "quartz maple orbit 71", role=REVIEWER)
    with Workspace(tmp_path / "ws") as workspace:
        yield workspace, users


def attempt(setup, password, *, at, account="ana", client="10.0.0.1"):
    workspace, users = setup
    return sign_in_with_password(workspace, users, account, password, client=client, now=at)


def test_five_failures_lock_the_account_even_for_the_right_password(setup):
    for i in range(4):
        assert attempt(setup, f"guess {i}", at=T0 + timedelta(seconds=10 * i)) is None
    assert attempt(setup, GOOD, at=T0 + timedelta(seconds=50)).name == "ana"  # four failures: no lock; success resets
    for i in range(5):
        assert attempt(setup, f"guess {i}", at=T0 + timedelta(minutes=1, seconds=i)) is None
    with pytest.raises(SignInLocked) as locked:
        attempt(setup, GOOD, at=T0 + timedelta(minutes=2))
    assert "locked for 4 min 4 s, even with the right password" in str(locked.value)  # 5 min from the 5th failure
    assert attempt(setup, GOOD, at=T0 + timedelta(minutes=1, seconds=4) + FIRST_LOCK).name == "ana"


def test_each_failure_after_a_lock_locks_again_for_twice_as_long(setup):
    start = T0
    for i in range(5):
        attempt(setup, "wrong", at=start + timedelta(seconds=i))
    after_first = start + timedelta(seconds=4) + FIRST_LOCK
    assert attempt(setup, "wrong again", at=after_first) is None
    with pytest.raises(SignInLocked) as locked:
        attempt(setup, GOOD, at=after_first + timedelta(minutes=9))
    assert locked.value.seconds_left == pytest.approx(60)  # 10 min lock, 9 min gone
    assert attempt(setup, GOOD, at=after_first + timedelta(minutes=10)).name == "ana"


def test_failures_spread_over_more_than_15_minutes_do_not_lock(setup):
    for i in range(8):
        assert attempt(setup, "typo", at=T0 + timedelta(minutes=4 * i)) is None
    assert attempt(setup, GOOD, at=T0 + timedelta(minutes=33)).name == "ana"


def test_one_client_guessing_many_accounts_is_locked_too(setup):
    for i, account in enumerate(["ana", "bo", "cy", "dee", "ed"]):
        attempt(setup, "password1", account=account, at=T0 + timedelta(seconds=i))
    with pytest.raises(SignInLocked) as locked:
        attempt(setup, "quartz maple orbit 71", account="bo", at=T0 + timedelta(minutes=1))
    assert locked.value.by_client and "from this address" in str(locked.value)
    # the account itself is not locked from another address
    assert attempt(setup, "quartz maple orbit 71", account="bo", client="10.0.0.2", at=T0 + timedelta(minutes=1))


def test_every_attempt_and_sign_out_is_in_the_audit(setup):
    workspace, _ = setup
    attempt(setup, "nope", at=T0)
    user = attempt(setup, GOOD, at=T0 + timedelta(seconds=1))
    record_sign_out(workspace, user, client="10.0.0.1")
    for i in range(6):
        try:
            attempt(setup, "nope", account="bo", client="10.0.0.9", at=T0 + timedelta(seconds=10 + i))
        except SignInLocked:
            pass
    events = sign_in_events(workspace)
    assert events["outcome"].tolist() == ["failure", "success", "sign-out"] + ["failure"] * 5 + ["locked"]
    assert set(events.columns) == {"happened_at", "account", "client", "outcome", "method"}
    assert events["client"].iloc[-1] == "10.0.0.9" and events["account"].iloc[-1] == "bo"


def test_eqn_users_audit_prints_and_exports(setup, tmp_path, capsys):
    workspace, _ = setup
    attempt(setup, GOOD, at=datetime.now() - timedelta(minutes=1))
    root = str(workspace.root)
    assert eqn(["-w", root, "users", "audit"]) == 0
    assert "ana" in capsys.readouterr().out
    assert eqn(["-w", root, "users", "audit", "-o", str(tmp_path / "audit.csv")]) == 0
    assert "success" in (tmp_path / "audit.csv").read_text()


def test_common_and_guessable_passwords_are_refused_with_the_reason(tmp_path):
    assert "very common password" in password_problem("password1", name="ana")
    assert "too easy to guess" in password_problem("ana-password", name="ana")
    assert password_problem("short") == "A password needs at least 8 characters."
    assert password_problem(GOOD, name="ana") is None
    with pytest.raises(ValueError, match="too easy to guess"):
        add_user(tmp_path / "users.json", "cy", "password1")


def test_eqn_users_add_says_why_a_password_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EQN_PASSWORD", "password1")
    assert eqn(["-w", str(tmp_path / "ws"), "users", "add", "ana"]) == 2
    assert "very common password" in capsys.readouterr().err
    assert not (tmp_path / "ws" / "users.json").exists()


def test_waits_are_said_in_plain_units():
    assert describe_wait(30) == "30 s" and describe_wait(184) == "3 min 4 s" and describe_wait(300) == "5 min"
    assert describe_wait(7260) == "2 h 1 min"
