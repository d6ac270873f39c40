"""A small OpenID Connect provider on 127.0.0.1, for real st.login() traffic in tests.

It serves what a real provider does for the authorization-code flow, and checks what a real one
checks: /.well-known/openid-configuration; /authorize (client_id, redirect_uri, response_type,
the openid scope, a PKCE S256 challenge) which skips the login screen and redirects straight
back with a one-time code and the state; /token (the client secret, by HTTP Basic or form, the
code, the same redirect_uri, the PKCE verifier) answering with an RS256-signed id_token that
carries the nonce; /jwks with the public key; /userinfo for the access token; /logout
(end_session_endpoint) back to post_logout_redirect_uri.

Who signs in is set with `sign_in_as(email, ...)` before the browser gets to /authorize.
Every request's path is kept in `received`; anything refused is kept in `refused` (a test
asserts it is empty, so a broken client shows up as that message, not as a hang).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


class OidcProvider:
    def __init__(self, client_id: str, client_secret: str, redirect_uris: tuple[str, ...] = ()) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris)  # empty: any (set it once the app's port is known)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self._identity: dict = {}
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.received: list[str] = []
        self.refused: list[str] = []
        self.issued: list[dict] = []  # the id_token claims handed out
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.metadata_url = f"{self.issuer}/.well-known/openid-configuration"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)

    def start(self) -> "OidcProvider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sign_in_as(self, email: str, name: str = "", email_verified: bool = True) -> None:
        with self._lock:
            self._identity = {"sub": hashlib.sha256(email.encode()).hexdigest()[:16], "email": email,
                              "email_verified": email_verified, "name": name or email.split("@")[0]}

    def metadata(self) -> dict:
        i = self.issuer
        return {
            "issuer": i, "authorization_endpoint": f"{i}/authorize", "token_endpoint": f"{i}/token",
            "jwks_uri": f"{i}/jwks", "userinfo_endpoint": f"{i}/userinfo", "end_session_endpoint": f"{i}/logout",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"], "grant_types_supported": ["authorization_code"],
        }

    def jwks(self) -> dict:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [dict(jwk, kid=self.kid, use="sig", alg="RS256")]}

    # --- the endpoints; each returns (status, headers, body) ---

    def authorize(self, q: dict) -> tuple:
        wrong = self._check(q.get("client_id") == self.client_id, "authorize: unknown client_id") or \
            self._check(q.get("response_type") == "code", "authorize: response_type is not code") or \
            self._check("openid" in q.get("scope", "").split(), "authorize: no openid scope") or \
            self._check(bool(q.get("redirect_uri")) and (not self.redirect_uris or q["redirect_uri"] in self.redirect_uris),
                        f"authorize: redirect_uri {q.get('redirect_uri')!r} is not registered") or \
            self._check(bool(q.get("state")), "authorize: no state") or \
            self._check(q.get("code_challenge_method") == "S256" and bool(q.get("code_challenge")),
                        "authorize: no PKCE S256 challenge")
        if wrong:
            return wrong
        with self._lock:
            if not self._identity:
                return self._refuse("authorize: nobody to sign in (call sign_in_as first)")
            code = secrets.token_urlsafe(24)
            self._codes[code] = {"identity": dict(self._identity), "nonce": q.get("nonce"),
                                 "redirect_uri": q["redirect_uri"], "challenge": q["code_challenge"]}
        sep = "&" if "?" in q["redirect_uri"] else "?"
        return 302, {"Location": q["redirect_uri"] + sep + urlencode({"code": code, "state": q["state"]})}, b""

    def token(self, form: dict, headers) -> tuple:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            from urllib.parse import unquote

            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        if client_id != self.client_id or not secrets.compare_digest(secret or "", self.client_secret):
            return self._refuse("token: wrong client_id or client_secret", 401, "invalid_client")
        if form.get("grant_type") != "authorization_code":
            return self._refuse("token: grant_type is not authorization_code", 400, "unsupported_grant_type")
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # one use only
        if grant is None:
            return self._refuse("token: unknown or reused code", 400, "invalid_grant")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._refuse("token: redirect_uri differs from the one at /authorize", 400, "invalid_grant")
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != grant["challenge"]:
            return self._refuse("token: PKCE code_verifier does not match the challenge", 400, "invalid_grant")
        now = int(time.time())
        claims = dict(grant["identity"], iss=self.issuer, aud=self.client_id, iat=now, exp=now + 300,
                      auth_time=now, **({"nonce": grant["nonce"]} if grant["nonce"] else {}))
        id_token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access] = grant["identity"]
            self.issued.append(claims)
        return self._json({"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
                           "scope": "openid email profile"})

    def userinfo(self, headers) -> tuple:
        with self._lock:
            who = self._tokens.get(headers.get("Authorization", "").removeprefix("Bearer "))
        if who is None:
            return self._refuse("userinfo: unknown access token", 401, "invalid_token")
        return self._json(who)

    def logout(self, q: dict) -> tuple:
        back = q.get("post_logout_redirect_uri")
        if not back or (self.redirect_uris and back not in self.redirect_uris):
            return self._refuse(f"logout: post_logout_redirect_uri {back!r} is not registered")
        return 302, {"Location": back}, b""

    # --- plumbing ---

    def _check(self, ok: bool, why: str) -> Optional[tuple]:
        return None if ok else self._refuse(why)

    def _refuse(self, why: str, status: int = 400, error: str = "invalid_request") -> tuple:
        self.refused.append(why)
        return status, {"Content-Type": "application/json"}, json.dumps({"error": error, "error_description": why}).encode()

    @staticmethod
    def _json(body: dict) -> tuple:
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                provider.received.append(url.path)
                q = dict(parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._answer(*provider._json(provider.metadata()))
                elif url.path == "/jwks":
                    self._answer(*provider._json(provider.jwks()))
                elif url.path == "/authorize":
                    self._answer(*provider.authorize(q))
                elif url.path == "/userinfo":
                    self._answer(*provider.userinfo(self.headers))
                elif url.path == "/logout":
                    self._answer(*provider.logout(q))
                else:
                    self._answer(404, {}, b"not found")

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                provider.received.append(url.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if url.path == "/token":
                    self._answer(*provider.token(dict(parse_qsl(body)), self.headers))
                elif url.path == "/userinfo":
                    self._answer(*provider.userinfo(self.headers))
                else:
                    self._answer(404, {}, b"not found")

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler
