"""Sign-in through the OpenID Connect provider in [dashboard.oidc], done by Streamlit itself.

st.login() sends the browser to the provider; Streamlit checks what comes back (state, nonce,
PKCE, the id_token's signature) and keeps the identity in a signed cookie that st.user reads.
Here: the button, and the repmon role that identity gets (repmon.auth.oidc_role), re-read from
st.user on every run so a session never outlives its cookie.
"""

from __future__ import annotations

from typing import Optional

import streamlit as st

from repmon import auth


def _streamlit_has_settings() -> bool:
    """Whether Streamlit was started with the [auth] settings (`repmon dashboard` writes them)."""
    try:
        return bool(st.secrets.get("auth"))
    except Exception:  # no secrets file at all: StreamlitSecretNotFoundError
        return False


def _signed_in() -> bool:
    return bool(st.user.get("is_logged_in"))


def email() -> str:
    return str(st.user.get("email") or "").strip().lower() if _signed_in() else ""


def role(oidc) -> Optional[str]:
    """The role of whoever st.user says is signed in, None when nobody or not allowed."""
    return auth.oidc_role(oidc, st.user.to_dict())[0] if _signed_in() else None


def sign_in(oidc) -> None:
    """The "Sign in with <provider>" button; for an identity that gets no role, why, and a way out."""
    if not _streamlit_has_settings():
        st.error("Sign-in with an identity provider is configured, but Streamlit was started without its "
                 "settings: start the dashboard with `repmon dashboard` (or `repmon up`).")
        return
    if _signed_in():
        _, why = auth.oidc_role(oidc, st.user.to_dict())
        st.error(f"{oidc.provider} signed you in, but {why}. Ask a repmon admin to add your address to "
                 "[dashboard.oidc] roles, or sign out and use another account.")
        if st.button("Sign out", key="oidc_refused_sign_out"):
            st.logout()
        return
    if st.button(f"Sign in with {oidc.provider}", key="oidc_sign_in", type="primary"):
        st.login()


def sign_out() -> None:
    st.logout()
