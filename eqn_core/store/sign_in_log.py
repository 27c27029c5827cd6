"""The sign-in audit in the workspace: every sign-in attempt (its outcome) and sign-out, appended, never changed."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from eqn_core.store.database import Database
from eqn_core.store.schema import SIGN_IN_OUTCOMES, utc_now

MAX_ACCOUNT_LENGTH = 100  # what a stranger types as a name is kept, cut to this length
AUDIT_COLUMNS = ["happened_at", "account", "client", "outcome", "method"]


def record_sign_in_event(database: Database, *, account: str, client: str, outcome: str, method: str = "password",
                         at: datetime | None = None) -> None:
    if outcome not in SIGN_IN_OUTCOMES:
        raise ValueError(f"Unknown sign-in outcome {outcome!r}; use one of {SIGN_IN_OUTCOMES}.")
    with database.transaction() as con:
        con.execute("INSERT INTO sign_in_events (happened_at, account, client, outcome, method) VALUES (?, ?, ?, ?, ?)",
                    [at or utc_now(), str(account or "").strip()[:MAX_ACCOUNT_LENGTH], str(client or ""), outcome,
                     method])


def sign_in_events(database: Database, *, since: datetime | None = None, account: str | None = None,
                   client: str | None = None) -> pd.DataFrame:
    """The audit, oldest first: AUDIT_COLUMNS; only events at or after `since`, of `account` or of `client` (both
    given: events of either)."""
    where, params = [], []
    if since is not None:
        where.append("happened_at >= ?")
        params.append(since)
    who = []
    if account is not None:
        who.append("account = ?")
        params.append(str(account).strip()[:MAX_ACCOUNT_LENGTH])
    if client is not None:
        who.append("client = ?")
        params.append(client)
    if who:
        where.append("(" + " OR ".join(who) + ")")
    sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM sign_in_events"
    sql += (" WHERE " + " AND ".join(where)) if where else ""
    return database.fetch_df(sql + " ORDER BY id", params)
