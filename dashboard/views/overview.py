"""Overview: how the brand's reputation moves, and how much needs an answer."""

from datetime import datetime, time, timedelta

import altair as alt
import streamlit as st

from dashboard import common

st.title("Reputation overview")
db = common.url()
brand_id = common.brand_picker()
lo, hi = common.data_range_or_stop(db)
tz = common.zone()  # days start at midnight where the team works, not in UTC
lo, hi = lo.astimezone(tz), hi.astimezone(tz)

default_start = max(lo.date(), hi.date() - timedelta(days=55))
picked = st.sidebar.date_input("Date range", (default_start, hi.date()), min_value=lo.date(),
                               max_value=hi.date(), key="range")
start_day, end_day = picked if isinstance(picked, tuple) and len(picked) == 2 else (default_start, hi.date())
start = datetime.combine(start_day, time.min, tzinfo=tz)
end = datetime.combine(end_day, time.min, tzinfo=tz) + timedelta(days=1)

week = timedelta(days=7)
now_k = common.kpis(db, brand_id, end - week, end)
prev_k = common.kpis(db, brand_id, end - 2 * week, end - week)
st.caption(f"Last 7 days to {end_day:%Y-%m-%d}, against the 7 days before")
# Two rows of four, so each label fits at a laptop's width (seven in one row were cut off).
c = st.columns(4) + st.columns(4)
c[0].metric("Mentions", f"{now_k['volume']:,}", f"{now_k['volume'] - prev_k['volume']:+,}")
c[1].metric("Negative share", f"{now_k['negative_share']:.0%}",
            f"{(now_k['negative_share'] - prev_k['negative_share']) * 100:+.1f} pts", delta_color="inverse")
c[2].metric("Needed a response", f"{now_k['needs_response']:,}",
            f"{now_k['needs_response'] - prev_k['needs_response']:+,}", delta_color="inverse")
c[3].metric("Open cases", f"{now_k['open_cases']:,}")
c[4].metric("Past first-response SLA", f"{now_k['breached']:,}")
median = now_k["median_first_response_min"]
c[5].metric("Median first response", "—" if median is None else f"{median:.0f} min")
c[6].metric("Answered within SLA", "—" if now_k["within_sla"] is None else f"{now_k['within_sla']:.0%}")

d = common.daily(db, brand_id, start, end)
if d.empty:
    st.info("No scored mentions in this range: pick a wider range, or run `repmon process` to score new mentions.")
    st.stop()

st.subheader("Reputation index")
st.caption("Reach-weighted mean sentiment, -100 (all negative) to +100 (all positive). Spikes in volume are marked.")
baseline = d["volume"].median()
d["spike"] = d["volume"] > 3 * baseline
index_line = alt.Chart(d).mark_line(point=False).encode(
    x=alt.X("day:T", title=None), y=alt.Y("reputation_index:Q", title="index"),
    tooltip=["day:T", alt.Tooltip("reputation_index:Q", format=".1f"), "volume:Q"],
)
spikes = alt.Chart(d[d["spike"]]).mark_rule(color="#d62728", strokeDash=[4, 3]).encode(x="day:T")
st.altair_chart(index_line + spikes, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Volume and sentiment mix")
    mix = d.melt(id_vars="day", value_vars=["negative", "neutral", "positive"], var_name="label", value_name="posts")
    st.altair_chart(
        alt.Chart(mix).mark_bar().encode(
            x=alt.X("day:T", title=None), y=alt.Y("posts:Q", title="mentions"),
            color=alt.Color("label:N", scale=alt.Scale(domain=["negative", "neutral", "positive"],
                                                       range=["#d62728", "#9e9e9e", "#2ca02c"])),
            tooltip=["day:T", "label:N", "posts:Q"],
        ),
        width="stretch",
    )
with right:
    st.subheader("By source and language")
    by = st.radio("Group by", ["source", "platform", "lang"], horizontal=True, key="breakdown_by")
    b = common.breakdown(db, by, brand_id, start, end)
    st.dataframe(b, hide_index=True, width="stretch",
                 column_config={"mean_sentiment": st.column_config.NumberColumn(format="%.2f")})
    common.csv_button(b, f"mentions_by_{by}.csv", key="breakdown_csv")

brand_cfg = common.brand_config(brand_id)
if brand_cfg is not None and brand_cfg.competitors:
    st.subheader("Share of voice")
    names = {brand_cfg.name: [brand_cfg.name, *brand_cfg.keywords, *brand_cfg.handles],
             **{c: [c] for c in brand_cfg.competitors}}
    sov = common.share_of_voice(db, names, brand_id, start, end)
    st.caption("Mentions naming each brand in this range (a post naming two counts for both), and how many "
               "of them were negative.")
    st.altair_chart(alt.Chart(sov).mark_bar().encode(
        x=alt.X("share:Q", axis=alt.Axis(format="%"), title="share of voice"), y=alt.Y("name:N", sort="-x", title=None),
        tooltip=["name:N", "mentions:Q", alt.Tooltip("share:Q", format=".0%"),
                 alt.Tooltip("negative_share:Q", format=".0%")],
    ), width="stretch")
    st.dataframe(sov, hide_index=True, width="stretch", column_config={
        "share": st.column_config.NumberColumn(format="percent"),
        "negative_share": st.column_config.NumberColumn(format="percent")})
    common.csv_button(sov, "share_of_voice.csv", key="sov_csv")
