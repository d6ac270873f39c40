"""Sources: is every collector healthy?"""

import pandas as pd
import streamlit as st

from alerts import outbox
from dashboard import common, queries

st.title("Sources")
df = queries.sources(common.url())
if df.empty:
    st.info("No sources have run yet. Configure one under [sources] in repmon.toml, then `repmon collect` "
            "(or `repmon demo` for the built-in demo source).")
else:
    shown = df[["name", "kind", "enabled", "last_run_at", "last_success_at", "failing_since", "rate_limited_until",
                "last_error", "items_total", "last_items", "budget_used", "budget_limit"]]
    st.dataframe(shown, hide_index=True, width="stretch")
    common.csv_button(shown, "sources.csv", key="sources_csv")

# Alerts that did not reach Slack (yet): a failed one is a page nobody got.
st.subheader("Alerts")
undelivered = outbox.problems(common.url())
failed = sum(a.status == "failed" for a in undelivered)
if not undelivered:
    st.success("Every alert has been delivered.")
else:
    if failed:
        st.error(f"{failed} alert(s) failed for good. Fix the cause shown, then `repmon alerts retry --failed`.")
    st.dataframe(pd.DataFrame([{
        "id": a.id, "status": a.status, "kind": a.kind, "channel": a.channel, "case": a.case_id,
        "queued": common.local(a.created_at), "attempts": a.attempts,
        "next try": common.local(a.next_attempt_at) if a.status != "failed" else "—", "last error": a.last_error or "",
    } for a in undelivered]), hide_index=True, width="stretch", key="alerts_table")
