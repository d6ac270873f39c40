"""The dashboard entry point: `repmon dashboard` runs `streamlit run` on this file."""

import streamlit as st

from dashboard.common import VIEWS, can, login_gate, page_setup

st.set_page_config(page_title="repmon", page_icon=":material/campaign:", layout="wide")
page_setup()
login_gate()
pages = {
    "Reputation": [st.Page(VIEWS / "overview.py", title="Overview", icon=":material/monitoring:", default=True)],
    "Cases": [
        st.Page(VIEWS / "queue.py", title="Case queue", icon=":material/inbox:", url_path="queue"),
        st.Page(VIEWS / "case.py", title="Case", icon=":material/forum:", url_path="case"),
    ],
    "Insights": [st.Page(VIEWS / "themes.py", title="Themes", icon=":material/category:", url_path="themes")],
}
if can("admin"):
    pages["System"] = [st.Page(VIEWS / "sources.py", title="Sources", icon=":material/sensors:", url_path="sources")]
st.navigation(pages).run()
