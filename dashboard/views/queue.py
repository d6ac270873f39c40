"""Case queue: the posts that need an answer, most urgent first."""

import streamlit as st

from dashboard import common, queries
from repmon.models import PRIORITIES, utcnow

st.title("Case queue")
db = common.url()
brand_id = common.brand_picker()
f = st.columns([1, 2, 2])
status = f[0].selectbox("Status", ["open", "all", "new", "acknowledged", "waiting", "responded", "resolved",
                                   "dismissed"], key="status")
priority = f[1].multiselect("Priority", list(PRIORITIES), key="priority")
langs = f[2].multiselect("Language", ["en", "es", "ro", "fa", "de", "fr", "pt", "it", "nl"], key="lang")
df = queries.case_queue(db, status=status, brand_id=brand_id, priority=priority or None, lang=langs or None)
if df.empty:
    st.info("No cases here. Cases open when a scored post needs a response: run `repmon demo` for sample data, "
            "or `repmon collect` and `repmon process` for your own sources.")
    st.stop()

now = utcnow()
df["SLA"] = [
    "—" if due is None or str(due) == "NaT" else (f"{(due - now).total_seconds() / 3600:+.1f} h")
    for due in df["first_response_due"]
]
df["post"] = df["text"].str.slice(0, 140)
df["posted"] = [common.local(t.to_pydatetime()) for t in df["created_at"]]
shown = df[["id", "priority", "status", "SLA", "category", "lang", "platform", "author", "posted", "post", "posts"]]
st.caption(f"{len(df)} cases. SLA is the time left to the first-response target (negative = overdue). "
           "Select a row to open the case.")
event = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun",
                     selection_mode="single-row", key="queue_table")
rows = event.selection.rows if event else []
if rows:
    st.switch_page(common.VIEWS / "case.py", query_params={"id": str(int(shown.iloc[rows[0]]["id"]))})
