"""Sources: is every collector healthy?"""

import streamlit as st

from dashboard import common, queries

st.title("Sources")
df = queries.sources(common.url())
if df.empty:
    st.info("No sources have run yet. Configure one under [sources] in repmon.toml, then `repmon collect` "
            "(or `repmon demo` for the built-in demo source).")
    st.stop()
shown = df[["name", "kind", "enabled", "last_run_at", "last_success_at", "failing_since", "rate_limited_until",
            "last_error", "items_total", "last_items", "budget_used", "budget_limit"]]
st.dataframe(shown, hide_index=True, width="stretch")
common.csv_button(shown, "sources.csv", key="sources_csv")
