"""Dashboard accounts: scrypt password hashes kept in the config, and what each role may do.

    repmon user add ana --role agent      # asks for the password, prints the TOML to paste

A hash looks like `scrypt$16384$8$1$<salt>$<key>` (base64). Only the hash is stored; the
password never is, and a wrong name and a wrong password take the same time to refuse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Optional

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
