"""One case: the posts, why they were flagged, the suggested reply, and the actions."""

import streamlit as st

from dashboard import common, queries
from repmon import cases, learning, pipeline, posting, sla, store
from repmon.models import CATEGORIES, utcnow
from repmon.errors import RepmonError

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

if st.button("Check the posts still exist", key="recheck", help="Asks the source before you reply."):
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

first_post = detail["posts"][0][0]
allowed, why_not = posting.can_post(common.cfg(), first_post)
if allowed:
    with st.popover("Post reply", icon=":material/send:"):
        st.caption(f"Publishes the reply above on {first_post.platform} as the brand, in reply to the post. "
                   "Nothing is posted without this click.")
        if st.button("Publish now", key="publish", type="primary"):
            try:
                posted = posting.post_reply(common.cfg(), first_post, reply)
            except RepmonError as exc:
                st.error(str(exc))
            else:
                cases.act(db, case.id, "respond", st.session_state.get("actor") or "dashboard", text=reply)
                where = posted.url or posted.native_id
                cases.act(db, case.id, cases.NOTE, "repmon", text=f"posted on {posted.platform}: {where}")
                st.toast("Reply published and the case marked responded")
                st.rerun()
else:
    st.caption(f"Reply on the platform itself, then mark the case responded. ({why_not})")

actor = st.text_input("Your name", value=st.session_state.get("actor", ""), key="actor")
b = st.columns(6)
action = None
if b[0].button("Acknowledge", key="ack"):
    action = ("acknowledge", {})
if b[1].button("Mark responded", key="respond", type="primary"):
    action = ("respond", {"text": reply})
if b[2].button("Waiting on customer", key="wait"):
    action = ("wait", {})
if b[3].button("Resolve", key="resolve"):
    action = ("resolve", {})
if b[4].button("Assign to me", key="assign"):
    action = ("assign", {"owner": actor or "me"})
with b[5].popover("Dismiss"):
    why = st.text_input("Why does it not need a response?", key="dismiss_reason")
    if st.button("Dismiss case", key="dismiss"):
        action = ("dismiss", {"text": why})
if action:
    try:
        cases.act(db, case.id, action[0], actor or "dashboard", **action[1])
    except RepmonError as exc:
        st.error(str(exc))
    else:
        st.toast(f"Case #{case.id}: {action[0]} saved")
        st.rerun()

with st.form("note_form", clear_on_submit=True, border=False):
    note = st.text_input("Internal note (never posted)", key="note_text")
    if st.form_submit_button("Add note") and note.strip():
        cases.act(db, case.id, cases.NOTE, actor or "dashboard", text=note)
        st.rerun()

with st.expander("Teach the scorer"):
    st.caption("Your verdict is stored with the post; `repmon train` fits this deployment's model on them.")
    f = st.columns([1, 1, 2, 1])
    verdict = None
    if f[0].button("Needed a response", key="fb_needed"):
        verdict = ("needs_response", None)
    if f[1].button("Didn't need one", key="fb_not_needed"):
        verdict = ("no_response", None)
    right = f[2].selectbox("Right category", CATEGORIES, index=CATEGORIES.index(case.category)
                           if case.category in CATEGORIES else 0, key="fb_category", label_visibility="collapsed")
    if f[3].button("Wrong category", key="fb_category_btn"):
        verdict = ("wrong_category", right)
    if verdict:
        with store.session(db) as s:
            for mention, _score in detail["posts"]:
                learning.record_feedback(s, mention.id, verdict[0], verdict[1], actor or "dashboard")
        st.toast("Thanks: the scorer will learn from this at the next `repmon train`.")

with st.expander("History"):
    for e in detail["events"]:
        st.text(f"{common.local(e.at)}  {e.actor}: {e.action}  {e.detail or ''}")
