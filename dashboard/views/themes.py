"""Themes: the week's complaints grouped into recurring themes, to learn from (PLAYBOOK.md)."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import common
from repmon.models import utcnow
from repmon.themes import week_bounds

TREND = {"new": "● new", "rising": "▲ rising", "steady": "▬ steady", "falling": "▼ falling"}

st.title("Recurring themes")
db = common.url()
brand_id = common.brand_picker()
lo, hi = common.data_range_or_stop(db)

weeks = []  # newest first: the last week with data back to the first, at most a year
label, start, end = week_bounds(None, hi)
while start + timedelta(days=7) > lo and len(weeks) < 53:
    weeks.append(label)
    label, start, _ = week_bounds(None, start - timedelta(days=1))
week = st.sidebar.selectbox("Week", weeks, key="week", help="ISO weeks, Monday to Sunday in UTC.")
_, week_start, week_end = week_bounds(week)
themes = common.themes(db, week, brand_id)
if not themes:
    st.info(f"No complaints flagged this week ({week}). Themes group the scored posts that need a response: "
            "pick another week in the sidebar, or run `repmon collect` and `repmon process` to bring in new posts.")
    st.stop()

n_weeks = len(themes[0].previous)
st.caption(f"{week} ({week_start:%d %b} – {week_end - timedelta(days=1):%d %b}): the week's complaints by category and shared phrase, each post in one theme. Trend compares "
           f"the week with the mean of the {n_weeks} weeks before (new: none before; rising or falling: half as many "
           "again or a third fewer, and at least 2 posts apart).")
if week_end > utcnow():
    st.caption("This week is still running: trends compare it with the same days of the earlier weeks.")
table = pd.DataFrame({
    "theme": [t.label for t in themes],
    "posts": [t.count for t in themes],
    "trend": [TREND.get(t.trend, t.trend) for t in themes],
    "weeks": [[*t.previous, t.count] for t in themes],
    "before": [" · ".join(map(str, t.previous)) for t in themes],
    "share": [100 * t.share for t in themes],
    "languages": [", ".join(t.languages) for t in themes],
})
st.dataframe(table, hide_index=True, width="stretch", key="themes_table", column_config={
    "weeks": st.column_config.BarChartColumn(f"last {n_weeks + 1} weeks", y_min=0, help="Oldest first; this week last."),
    "before": st.column_config.TextColumn("weeks before", help="Posts in each earlier week, oldest first."),
    "share": st.column_config.NumberColumn("share", format="%.0f%%", help="Of this week's complaints."),
})
common.csv_button(table.drop(columns=["weeks"]), f"themes_{week}.csv", key="themes_csv")

st.subheader("Example posts")
for i, t in enumerate(themes):
    # The label is safe in Markdown: phrases hold letters and spaces only (themes.key_phrases).
    with st.expander(f"{t.label} · {t.count} post{'s' if t.count != 1 else ''} · {t.trend}"):
        for e in t.examples:
            with st.container(border=True):
                st.text(f"{e.author or 'unknown author'} · reach {e.author_reach:,}")  # untrusted, like the text
                st.text(e.text)
                if e.url and e.url.startswith(("https://", "http://")):
                    st.link_button("Open the original post", e.url, key=f"open_{i}_{e.mention_id}")
