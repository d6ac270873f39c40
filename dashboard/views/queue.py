"""Case queue: the posts that need an answer, most urgent first."""

import streamlit as st

from dashboard import common, queries
from repmon.models import CASE_STATUSES, CATEGORIES, PRIORITIES, utcnow

st.title("Case queue")
db = common.url()
brand_id = common.brand_picker()
options = queries.case_options(db)
f = st.columns([1, 1, 2, 2])
status = f[0].selectbox("Status", ["open", "all", *CASE_STATUSES], key="status")
sla = f[1].selectbox("SLA", queries.SLA_FILTERS, key="sla", help="The first-response clock of cases not yet answered.")
priority = f[2].multiselect("Priority", list(PRIORITIES), key="priority")
langs = f[3].multiselect("Language", ["en", "es", "ro", "fa", "de", "fr", "pt", "it", "nl", "pl", "tr"], key="lang")
g = st.columns([2, 2, 1])
category = g[0].multiselect("Category", list(CATEGORIES), key="category")
platform = g[1].multiselect("Source", options["platform"], key="platform")
owner = g[2].selectbox("Owner", ["anyone", "nobody", *options["owner"]], key="owner")
df = queries.case_queue(db, status=status, brand_id=brand_id, priority=priority or None, lang=langs or None,
                        category=category or None, platform=platform or None,
                        owner=None if owner == "anyone" else owner, sla=sla)
if df.empty and (sla != "any" or priority or langs or category or platform or owner != "anyone"):
    st.info("No cases match these filters.")
    st.stop()
if df.empty:
    st.info("No cases here. Cases open when a scored post needs a response: run `repmon demo` for sample data, "
            "or `repmon collect` and `repmon process` for your own sources.")
    st.stop()

now = utcnow()
df["SLA"] = [
    "answered" if str(done) != "NaT" else "—" if str(due) == "NaT" else f"{(due - now).total_seconds() / 3600:+.1f} h"
    for due, done in zip(df["first_response_due"], df["first_response_at"])
]
df["owner"] = df["owner"].fillna("")
df["post"] = df["text"].str.slice(0, 140)
df["posted"] = [common.local(t.to_pydatetime()) for t in df["created_at"]]
shown = df[["id", "priority", "status", "SLA", "owner", "category", "lang", "platform", "author", "posted", "post",
            "posts"]]
st.caption(f"{len(df)} cases. SLA is the time left to the first-response target (negative = overdue). "
           "Select a row to open the case.")
common.csv_button(shown, "cases.csv", key="queue_csv")
event = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun",
                     selection_mode="single-row", key="queue_table")
rows = event.selection.rows if event else []
if rows:
    st.switch_page(common.VIEWS / "case.py", query_params={"id": str(int(shown.iloc[rows[0]]["id"]))})
