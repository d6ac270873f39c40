"""What every page shares: the config, the database URL, cached queries, time display."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import oidc, queries
from repmon import auth
from repmon import config as config_mod
from repmon import store
from repmon.themes import weekly_themes

VIEWS = Path(__file__).parent / "views"
TTL = 30  # seconds: new mentions show up within half a minute without hammering the database


@st.cache_resource
def _config() -> config_mod.Config:
    cfg = config_mod.load()
    store.migrate(cfg.database.url)
    return cfg


def cfg() -> config_mod.Config:
    return _config()


def url() -> str:
    return cfg().database.url


def page_setup() -> None:
    if cfg().path is None:
        st.info("Demo mode: built-in demo data and settings, no login. Configure repmon.toml for your own brand.",
                icon=":material/info:")


def login_required() -> bool:
    return bool(cfg().dashboard.users or cfg().dashboard.oidc)


def role() -> Optional[str]:
    """The signed-in user's role: a password sign-in's, else the OIDC identity's; without users or
    OIDC everyone is admin (localhost only: the config refuses another address without login)."""
    if not login_required():
        return "admin"
    if st.session_state.get("role"):
        return st.session_state["role"]
    return oidc.role(cfg().dashboard.oidc) if cfg().dashboard.oidc else None


def user_name() -> str:
    """Who acts, for case history: the password user's name or the OIDC email."""
    if not login_required():
        return st.session_state.get("actor", "")
    return st.session_state.get("user") or (oidc.email() if cfg().dashboard.oidc else "")


def can(needed: str) -> bool:
    return auth.allows(role(), needed)


def login_gate() -> None:
    """With users or OIDC configured: "Sign in with <provider>" and/or a password form until
    someone with a role is in, then a sign-out button."""
    if not login_required():
        return
    if role():
        with st.sidebar:
            st.caption(f"Signed in as {user_name()} ({role()})")
            if st.button("Sign out", key="sign_out"):
                if st.session_state.pop("role", None):  # a password sign-in
                    st.session_state.pop("user", None)
                    st.rerun()
                oidc.sign_out()
        return
    st.title("Sign in to repmon")
    dash = cfg().dashboard
    if dash.oidc:
        oidc.sign_in(dash.oidc)
        if not dash.users:
            st.stop()
        st.caption("or with a repmon name and password")
    with st.form("login"):
        name = st.text_input("Name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        if st.form_submit_button("Sign in"):
            granted = auth.login(cfg().dashboard.users, name, password)
            if granted:
                st.session_state.update(user=name.strip(), role=granted)
                st.rerun()
            st.error("Wrong name or password.")
    st.stop()


def zone() -> ZoneInfo:
    return ZoneInfo(cfg().dashboard.timezone)


def local(ts: Optional[datetime], fmt: str = "%Y-%m-%d %H:%M") -> str:
    if ts is None:
        return "—"
    return ts.astimezone(zone()).strftime(fmt)


@st.cache_data(ttl=TTL, show_spinner=False)
def daily(db: str, brand_id: Optional[int], start: Optional[datetime], end: Optional[datetime]):
    return queries.daily(db, brand_id, start, end, tz=cfg().dashboard.timezone)


@st.cache_data(ttl=TTL, show_spinner=False)
def breakdown(db: str, by: str, brand_id: Optional[int], start: Optional[datetime], end: Optional[datetime]):
    return queries.breakdown(db, by, brand_id, start, end)


@st.cache_data(ttl=TTL, show_spinner=False)
def kpis(db: str, brand_id: Optional[int], start: Optional[datetime], end: Optional[datetime]):
    return queries.kpis(db, brand_id, start, end)


@st.cache_data(ttl=TTL, show_spinner=False)
def brands(db: str):
    return queries.brands(db)


@st.cache_data(ttl=TTL, show_spinner=False)
def data_range(db: str):
    return queries.data_range(db)


@st.cache_data(ttl=60, show_spinner=False)  # grouping a week in Python costs more than a count: cache longer
def themes(db: str, week: str, brand_id: Optional[int]):
    return weekly_themes(db, week, brand_id, limit=20)


@st.cache_data(ttl=TTL, show_spinner=False)
def share_of_voice(db: str, names: dict, brand_id: Optional[int], start: Optional[datetime], end: Optional[datetime]):
    return queries.share_of_voice(db, names, brand_id, start, end)


def brand_config(brand_id: Optional[int]):
    """The configured brand behind a brand id (None when it is not in the config)."""
    if brand_id is None:
        return None
    df = brands(url())
    name = df[df["id"] == brand_id]["name"]
    return next((b for b in cfg().brands if not name.empty and b.name == name.iloc[0]), None)


def csv_button(df, filename: str, key: str) -> None:
    """Every table can leave the dashboard: a CSV of exactly what is shown."""
    st.download_button("Download CSV", df.to_csv(index=False).encode("utf-8"), filename, "text/csv", key=key)


def data_range_or_stop(db: str):
    """(first, last) mention time; with no mentions at all, say how to get some and stop the page."""
    lo, hi = data_range(db)
    if lo is None:
        st.info("No mentions yet. Load the demo with `repmon demo`, or configure a source under "
                "[sources] in repmon.toml and run `repmon collect`.")
        st.stop()
    return lo, hi


def brand_picker() -> Optional[int]:
    df = brands(url())
    if df.empty:
        return None
    names = dict(zip(df["name"], df["id"]))
    choice = st.sidebar.selectbox("Brand", list(names), key="brand")
    return int(names[choice])
