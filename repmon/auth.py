"""Dashboard accounts: scrypt password hashes kept in the config, OIDC identities mapped to
roles, and what each role may do.

    repmon user add ana --role agent      # asks for the password, prints the TOML to paste

A hash looks like `scrypt$16384$8$1$<salt>$<key>` (base64). Only the hash is stored; the
password never is, and a wrong name and a wrong password take the same time to refuse.

OIDC ([dashboard.oidc]) is Streamlit's own st.login(): Streamlit talks to the provider and keeps
the identity in a signed cookie. It reads its settings from a secrets file, which
`write_streamlit_auth` makes private (0600, in a fresh 0700 folder outside the project) for the
life of one `repmon dashboard`; `oidc_role` decides which role, if any, an identity gets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import tempfile
from pathlib import Path
from typing import Mapping, Optional

ROLES = ("viewer", "agent", "admin")  # each can do what the ones before it can
N, R, P = 2**14, 8, 1
_DUMMY = None  # a hash to check against for unknown names, built on first use


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def valid_hash(stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        int(parts[1]), int(parts[2]), int(parts[3])
        base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    return True


def verify(password: str, stored: str) -> bool:
    if not valid_hash(stored):
        return False
    _, n, r, p, salt, key = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                         dklen=len(base64.b64decode(key)))
    return hmac.compare_digest(got, base64.b64decode(key))


def login(users, name: str, password: str) -> Optional[str]:
    """The role of `name` when `password` is right, else None. `users` are config entries."""
    global _DUMMY
    user = next((u for u in users if hmac.compare_digest(u.name.encode(), name.strip().encode())), None)
    if user is None:
        _DUMMY = _DUMMY or hash_password("not a password")
        verify(password, _DUMMY)  # the same work as for a real name: no timing hint
        return None
    return user.role if verify(password, user.password_hash) else None


def allows(role: Optional[str], needed: str) -> bool:
    """Whether `role` may do what needs `needed` (viewer < agent < admin)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def oidc_role(oidc, claims: Mapping) -> tuple[Optional[str], str]:
    """(role, "") for a signed-in identity `claims` (st.user) that [dashboard.oidc] lets in, else
    (None, why not). Listed emails get their role; others get default_role when their domain is
    in allowed_domains ("*": any). An email the provider says is unverified never counts."""
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        return None, "the provider did not share an email address (is the 'email' scope allowed?)"
    if claims.get("email_verified") in (False, "false"):
        return None, f"the provider has not verified {email}"
    if email in oidc.roles:
        return oidc.roles[email], ""
    domain = email.rpartition("@")[2]
    if oidc.default_role and ("*" in oidc.allowed_domains or domain in oidc.allowed_domains):
        return oidc.default_role, ""
    return None, f"{email} has no access to this dashboard"


def _toml_str(v: str) -> str:
    out = "".join(c if c >= " " and c not in '"\\\x7f' else f"\\u{ord(c):04x}" for c in v)
    return f'"{out}"'


def streamlit_auth_toml(dashboard, port: Optional[int] = None) -> str:
    """Streamlit's [auth] section (the default provider) for `dashboard.oidc`."""
    o = dashboard.oidc
    keys = {"redirect_uri": dashboard.oidc_redirect_uri(port), "cookie_secret": o.cookie_secret,
            "client_id": o.client_id, "client_secret": o.client_secret, "server_metadata_url": o.server_metadata_url}
    return "# Written by repmon dashboard from [dashboard.oidc]; removed when it stops.\n[auth]\n" + \
        "".join(f"{k} = {_toml_str(v)}\n" for k, v in keys.items())


def _runtime_dir() -> str:
    """$XDG_RUNTIME_DIR (per user, in memory) when usable, else the system temporary folder."""
    run = os.environ.get("XDG_RUNTIME_DIR")
    if run and os.path.isdir(run) and os.stat(run).st_uid == os.getuid() and os.access(run, os.W_OK):
        return run
    return tempfile.gettempdir()


def write_streamlit_auth(dashboard, port: Optional[int] = None) -> Path:
    """Write Streamlit's auth settings to a new private file; give it to `streamlit run
    --secrets.files`, and `remove_streamlit_auth` it when the server stops."""
    folder = Path(tempfile.mkdtemp(prefix="repmon-auth-", dir=_runtime_dir()))  # 0700, a new name each time
    path = folder / "secrets.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(streamlit_auth_toml(dashboard, port))
    return path


def remove_streamlit_auth(path: Path) -> None:
    path = Path(path)
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass
