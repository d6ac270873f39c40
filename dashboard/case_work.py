"""The Case page's working part, for agents and admins: publish, status actions, notes and
the scorer feedback. Viewers see the case without it."""

import streamlit as st

from dashboard import common
from repmon import cases, learning, posting, store
from repmon.errors import RepmonError
from repmon.models import CATEGORIES


def work_on(case, detail: dict, reply: str, db: str, actor: str) -> None:
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
                    cases.act(db, case.id, "respond", actor, text=reply)
                    where = posted.url or posted.native_id
                    cases.act(db, case.id, cases.NOTE, "repmon", text=f"posted on {posted.platform}: {where}")
                    st.toast("Reply published and the case marked responded")
                    st.rerun()
    else:
        st.caption(f"Reply on the platform itself, then mark the case responded. ({why_not})")

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
