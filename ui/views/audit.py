"""The sign-in audit for admins (Home page): recent sign-ins, failures, locks and sign-outs, and the whole audit as
a CSV download."""
from __future__ import annotations

from datetime import timedelta

import streamlit as st

from eqn_core.store.schema import utc_now
from eqn_core.store.sign_in_log import sign_in_events

RECENT_DAYS = 7


def sign_in_audit(workspace) -> None:
    with st.expander("Sign-in audit (admins)"):
        recent = sign_in_events(workspace, since=utc_now() - timedelta(days=RECENT_DAYS))
        counts = recent["outcome"].value_counts()
        st.caption(f"Last {RECENT_DAYS} days: {counts.get('success', 0)} sign-ins, {counts.get('failure', 0)} wrong "
                   f"passwords, {counts.get('locked', 0)} attempts refused during a lock, {counts.get('sign-out', 0)} "
                   "sign-outs. Times are UTC; an empty address is this machine (or a proxy on it).")
        st.dataframe(recent.iloc[::-1], hide_index=True, width="stretch", key="audit_table",
                     column_config={"happened_at": st.column_config.DatetimeColumn("time (UTC)")})
        everything = sign_in_events(workspace)
        st.download_button("Download the whole audit (CSV)", everything.to_csv(index=False).encode("utf-8"),
                           file_name="sign_in_audit.csv", mime="text/csv", key="audit_download",
                           disabled=everything.empty)
