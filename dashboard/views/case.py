"""One case: the posts, why they were flagged, the suggested reply, and the actions."""

import streamlit as st

from dashboard import case_work, common, queries
from repmon import cases, pipeline, sla
from repmon.models import utcnow

st.title("Case")
db = common.url()
raw_id = st.query_params.get("id") or st.session_state.get("case_id")
case_id = st.number_input("Case number", min_value=1, step=1, value=int(raw_id) if raw_id else None,
                          key="case_id_input")
if not case_id:
    st.info("Open a case from the Case queue, or type its number above.")
    st.stop()
detail = queries.case_detail(db, int(case_id))
if detail is None:
    st.warning(f"There is no case #{case_id}.")
    st.stop()
case = detail["case"]
st.session_state["case_id"] = case.id
st.subheader(f"#{case.id} · {case.priority} · {case.category} · {case.status}")
st.caption(f"{case.platform} · {case.author} · language {case.lang} · opened {common.local(case.opened_at)} · "
           f"owner {case.owner or 'nobody'}")
first_clock, resolution_clock = sla.clocks(case, utcnow())
c = st.columns(2)
for col, clk in zip(c, (first_clock, resolution_clock)):
    due = f" (due {common.local(clk.due)})" if clk.due else ""
    text = f"{str(clk).capitalize()}{due}"
    if clk.state in ("breached", "missed"):
        col.error(text, icon=":material/timer_off:")
    elif clk.state == "at_risk":
        col.warning(text, icon=":material/timer:")
    else:
        col.info(text, icon=":material/schedule:")
if case.status == "gone":
    st.warning("The post was removed by its author: the case is closed as gone, a public reply would go nowhere.")
if detail["earlier"]:
    with st.expander(f"{len(detail['earlier'])} earlier case(s) from {case.author}"):
        for e in detail["earlier"]:  # only our own values in the link text: ids, categories, statuses
            st.markdown(f"[#{e.id} · {e.category} · {e.status} · opened {common.local(e.opened_at)}](case?id={e.id})")

for mention, score in detail["posts"]:
    with st.container(border=True):
        st.caption(f"{mention.author} ({mention.author_reach:,} followers) · {common.local(mention.created_at)}"
                   + (f" · {mention.rating}★" if mention.rating else "")
                   + (f" · removed at the source {common.local(mention.deleted_at)}" if mention.deleted_at else ""))
        st.text(mention.text)  # untrusted: shown as plain text, never as Markdown or HTML
        if mention.url:
            st.link_button("Open the original post", mention.url)
        if score is not None:
            st.caption(f"Flagged because: {', '.join(score.reasons)} · sentiment {score.sentiment:+.2f}")

if detail["thread"]:
    with st.expander(f"Thread context: {len(detail['thread'])} other post(s) in the conversation"):
        for m in detail["thread"]:
            who = "the brand" if m.is_own else m.author
            st.text(f"{common.local(m.created_at)} · {who} ({m.author_reach:,} followers)")  # untrusted: plain text
            st.text(m.text)

if common.can("agent") and st.button("Check the posts still exist", key="recheck",
                                    help="Asks the source before you reply."):
    results = {m.id: pipeline.recheck(common.cfg(), m.id) for m, _ in detail["posts"]}
    if all(alive is False for alive in results.values()):
        cases.close_gone(db)
        st.warning("The post has been removed at the source: the case is closed as gone.")
    elif any(alive is False for alive in results.values()):
        st.warning("A post in this case has been removed at the source: a public reply would go nowhere.")
    elif all(alive is None for alive in results.values()):
        st.info("This source cannot be re-checked; open the original post to see it.")
    else:
        st.success("The posts are still there.")

st.subheader("Reply")
reply = st.text_area("Suggested reply (edit before sending)", value=case.final_reply or case.suggested_reply,
                     height=140, key=f"reply_{case.id}")
source = "the configured model" if case.suggestion_source == "generator" else f"template {case.suggestion_source or '?'}"
over = " — over X's 280 limit" if case.platform == "x" and len(reply) > 280 else ""
st.caption(f"Drafted by {source}, checked against the playbook. {len(reply)} characters{over}")
st.code(reply, language=None, wrap_lines=True)  # its copy button copies the reply as written

if common.can("agent"):
    if common.login_required():
        actor = common.user_name()
    else:
        actor = st.text_input("Your name", value=st.session_state.get("actor", ""), key="actor")
    case_work.work_on(case, detail, reply, db, actor or "dashboard")
else:
    st.caption("You can read this case; working on it needs the agent role.")

with st.expander("History"):
    for e in detail["events"]:
        st.text(f"{common.local(e.at)}  {e.actor}: {e.action}  {e.detail or ''}")
