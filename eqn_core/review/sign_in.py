"""Signing in with a password, throttled and audited: after MAX_FAILURES failures for an account, or from one
client address, within FAILURE_WINDOW, both are locked for a while; each failure after a lock locks again for twice
as long (up to MAX_LOCK); a success ends the count. During a lock even the right password does not sign in, and the
password is not checked at all. Every attempt and sign-out goes into the workspace's audit (store.sign_in_log),
which is also what the throttle counts, so a restart of the app or a second app process forgets nothing.
"""
from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from eqn_core.review.accounts import User, authenticate
from eqn_core.store.database import Database
from eqn_core.store.schema import utc_now
from eqn_core.store.sign_in_log import MAX_ACCOUNT_LENGTH, record_sign_in_event, sign_in_events

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
FIRST_LOCK = timedelta(minutes=5)
MAX_LOCK = timedelta(hours=24)
MEMORY = timedelta(hours=24)  # failures older than this (and before the last success) no longer count
_ATTEMPTS = threading.Lock()  # the app's sessions are threads of one process: one attempt is checked at a time


class SignInLocked(Exception):
    """A sign-in refused unchecked because of too many failures; says plainly how long the lock lasts."""

    def __init__(self, seconds_left: float, *, by_client: bool = False):
        super().__init__(seconds_left, by_client)
        self.seconds_left, self.by_client = seconds_left, by_client

    def __str__(self) -> str:
        whose = "from this address" if self.by_client else "for this account"
        return (f"Too many failed sign-ins {whose}: signing in is locked for {describe_wait(self.seconds_left)}, "
                "even with the right password. Ask an admin if you forgot your password.")


def describe_wait(seconds: float) -> str:
    minutes, rest = divmod(max(1, math.ceil(seconds)), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def locked_until(events: pd.DataFrame) -> datetime | None:
    """When the lock that these events (one account's or one client's: columns happened_at, outcome; oldest first) put in
    place ends, or None if they put none. Attempts refused during a lock ("locked") do not count as failures."""
    ends, locks, recent = None, 0, []
    for at, outcome in zip(events["happened_at"], events["outcome"]):
        if outcome == "success":
            ends, locks, recent = None, 0, []
        elif outcome == "failure" and (ends is None or at >= ends):
            recent = [earlier for earlier in recent if at - earlier < FAILURE_WINDOW] + [at]
            if locks or len(recent) >= MAX_FAILURES:  # after a first lock, every failure locks again, longer
                ends = at + min(MAX_LOCK, FIRST_LOCK * 2 ** locks)
                locks, recent = locks + 1, []
    return ends


def check_lock(database: Database, *, account: str, client: str, now: datetime | None = None) -> None:
    """Raise SignInLocked while the account or the client address is locked."""
    now = now or utc_now()
    events = sign_in_events(database, since=now - MEMORY, account=account, client=client or None)
    account_events = events[events["account"] == str(account or "").strip()[:MAX_ACCOUNT_LENGTH]]
    client_events = events[events["client"] == client] if client else events.iloc[0:0]
    for these, by_client in ((account_events, False), (client_events, True)):
        ends = locked_until(these)
        if ends is not None and ends > now:
            raise SignInLocked((ends - now).total_seconds(), by_client=by_client)


def sign_in_with_password(database: Database, users_path: str | Path, account: str, password: str, *, client: str,
                          now: datetime | None = None) -> User | None:
    """The user when the password is right and no lock holds, None when it is wrong; SignInLocked during a lock.
    Each attempt is recorded (success, failure, or locked when refused unchecked)."""
    account = str(account or "").strip()
    with _ATTEMPTS:
        try:
            check_lock(database, account=account, client=client, now=now)
        except SignInLocked:
            record_sign_in_event(database, account=account, client=client, outcome="locked", at=now)
            raise
        user = authenticate(users_path, account, password)
        record_sign_in_event(database, account=account, client=client, outcome="success" if user else "failure",
                             at=now)
    return user


def record_sign_in(database: Database, user: User, *, client: str, method: str) -> None:
    """A sign-in that needed no password here (single sign-on), for the audit."""
    record_sign_in_event(database, account=user.name, client=client, outcome="success", method=method)


def record_sign_out(database: Database, user: User, *, client: str) -> None:
    record_sign_in_event(database, account=user.name, client=client, outcome="sign-out", method="")
