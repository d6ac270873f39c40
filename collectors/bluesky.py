"""Bluesky posts that name the brand, via app.bsky.feed.searchPosts with an app password.

Search results come newest first (sort=latest). Each query is walked down to where the last
walk began (`since`, minus `lag_seconds` because posts reach the search index late); within a
run the API's own cursor pages. The walk's progress (the oldest time read, and the newest time
and URIs seen) is in the cursor after every page, so a crash or the `max_pages` cap resumes the
walk with `until`; only when a walk ends does `since` move up to the newest time it saw.
Times are the API's `sortAt`: the earlier of the record's createdAt and the post's indexedAt.

Search syntax has no OR, so without `query` each brand term is searched on its own.
The Jetstream websocket (no auth, resumable cursor) is a planned alternative, not built yet.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

import httpx
from pydantic import Field, field_validator

from collectors.base import MALFORMED, Batch, Collector, Options, count, item_ref, lang_code, page_token
from collectors.web import USER_AGENT
from repmon.errors import AuthError, CollectorError, RateLimited, TransientError

log = logging.getLogger(__name__)
SEARCH = "app.bsky.feed.searchPosts"
# Signed-in sessions by (service, handle), kept for the life of the process: createSession is
# limited to 30 per 5 minutes and 100-300 a day, fewer than a 5-minute schedule would use.
# Tokens stay in memory, never in the cursor (which is stored in the database).
_SESSIONS: dict[tuple[str, str], dict] = {}


class BlueskyOptions(Options):
    handle: str = Field(min_length=1, description="the account that signs in, e.g. acme.bsky.social")
    app_password: str = Field(min_length=1, description="an app password (Settings > App passwords), not the account password")
    service: str = Field("https://bsky.social", description="the account's PDS / entryway")
    query: Optional[str] = Field(None, description="one search query; default: each brand term searched alone")
    limit: int = Field(100, ge=1, le=100, description="posts per request")
    max_pages: int = Field(10, ge=1, description="pages per query per run; the walk resumes next run")
    backfill_days: float = Field(7, ge=0, description="how far back the first run reads")
    lag_seconds: int = Field(300, ge=0, description="re-read this much before `since` for late-indexed posts")
    timeout: float = Field(30, gt=0, description="seconds per request")

    @field_validator("service")
    @classmethod
    def _base_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("https://", "http://")):
            raise ValueError("expected a base URL such as https://bsky.social")
        return v

    @field_validator("handle")
    @classmethod
    def _bare_handle(cls, v: str) -> str:
        return v.strip().lstrip("@")


def parse_time(value: str) -> datetime:
    """atproto datetimes: 'Z' or an offset, 0-9 fraction digits; a naive one is taken as UTC."""
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    when = datetime.fromisoformat(value)
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def sort_at(post: dict) -> datetime:
    """The time search sorts and filters by: the earlier of createdAt and indexedAt, in whole
    milliseconds (the precision `since`/`until` work at), so it survives the cursor's text form."""
    at = parse_time(post["indexedAt"])
    try:
        at = min(parse_time((post.get("record") or {})["createdAt"]), at)
    except (KeyError, TypeError, ValueError):
        pass
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _usable(post: Any) -> bool:
    """A post with a uri and a readable time: the walk's bounds need both."""
    if not isinstance(post, dict) or not isinstance(post.get("uri"), str) or not 0 < len(post["uri"]) <= 200:
        return False
    try:
        return sort_at(post).year < 9999  # `until` is a millisecond past the oldest
    except MALFORMED:
        return False


def _token(value: Any) -> bool:
    """A JWT the service handed out, fit for an Authorization header."""
    return (isinstance(value, str) and 0 < len(value) <= 10_000 and value.isascii() and value.isprintable()
            and " " not in value)


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def brand_queries(brand: Any) -> list[str]:
    out: dict[str, str] = {}
    for term in [brand.name, *brand.keywords, *brand.handles]:
        term = term.strip().lstrip("@").rstrip("*")
        if term:
            out.setdefault(term.lower(), term)
    return list(out.values())


def reset_time(resp: httpx.Response) -> datetime:
    value = resp.headers.get("ratelimit-reset", "").strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value), timezone.utc)
    after = resp.headers.get("Retry-After", "").strip()
    return datetime.now(timezone.utc) + timedelta(seconds=int(after) if after.isdigit() else 300)


def _error_name(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("error") or "")[:100] if isinstance(body, dict) else ""


def check_response(resp: httpx.Response, what: str) -> None:
    code = resp.status_code
    if code < 400:
        return
    if code == 429:
        reset = reset_time(resp)
        raise RateLimited(f"{what}: rate limited (HTTP 429) until {reset:%H:%M:%S} UTC", reset_at=reset)
    if code in (401, 403) or _error_name(resp) in ("ExpiredToken", "InvalidToken", "AuthFactorTokenRequired"):
        raise AuthError(f"{what}: refused (HTTP {code} {_error_name(resp)}); check sources.*.handle and app_password")
    if code >= 500:
        raise TransientError(f"{what}: server error (HTTP {code} {_error_name(resp)})")
    raise CollectorError(f"{what}: HTTP {code}: {resp.text[:200]}")


class BlueskyCollector(Collector):
    kind = "bluesky"
    options_model = BlueskyOptions

    @property
    def opts(self) -> BlueskyOptions:
        return self.options  # type: ignore[return-value]

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        state: dict[str, dict] = json.loads(cursor).get("queries", {}) if cursor else {}
        queries = [self.opts.query] if self.opts.query else brand_queries(self.brand)
        with httpx.Client(base_url=self.opts.service, timeout=self.opts.timeout,
                          headers={"User-Agent": USER_AGENT}) as client:
            for q in queries:
                yield from self._walk(client, state, q)

    def _walk(self, client: httpx.Client, state: dict, q: str) -> Iterator[Batch]:
        st = state.setdefault(q, {})
        if "walk" not in st:
            floor = datetime.now(timezone.utc) - timedelta(days=self.opts.backfill_days)
            st["walk"] = {"until": None, "newest": None, "uris": [], "floor": None if st.get("since") else iso(floor)}
        walk = st["walk"]
        since = parse_time(st["since"]) - timedelta(seconds=self.opts.lag_seconds) if st.get("since") else None
        params: dict[str, Any] = {"q": q, "sort": "latest", "limit": self.opts.limit,
                                  "since": iso(since) if since else walk["floor"]}
        if walk["until"]:
            params["until"] = walk["until"]
        seen_at_since = set(st.get("uris", ()))
        for _ in range(self.opts.max_pages):
            body = self._xrpc(client, SEARCH, params)
            posts, next_cursor = [p for p in body["posts"] if _usable(p)], body.get("cursor")
            for post in body["posts"]:
                if not _usable(post):
                    log.warning("bluesky q=%r: skipped %s: no uri or readable indexedAt", q,
                                item_ref(post, "uri", "cid"))
            next_cursor = page_token(next_cursor)
            retrieved = datetime.now(timezone.utc).isoformat()
            mentions = []
            for post in posts:
                at = sort_at(post)
                if not walk["newest"] or at > parse_time(walk["newest"]):
                    walk["newest"], walk["uris"] = iso(at), [post["uri"]]
                elif iso(at) == walk["newest"] and post["uri"] not in walk["uris"]:
                    walk["uris"].append(post["uri"])
                if not (st.get("since") == iso(at) and post["uri"] in seen_at_since):
                    try:
                        mentions.append(self.to_mention(post, q, retrieved))
                    except MALFORMED as exc:
                        log.warning("bluesky q=%r: skipped %s: malformed (%s: %s)", q, post["uri"],
                                    type(exc).__name__, str(exc)[:200])
            if posts:
                # `until` is exclusive: one millisecond past the oldest post re-reads its
                # neighbours on a resume rather than skipping any.
                walk["until"] = iso(min(map(sort_at, posts)) + timedelta(milliseconds=1))
            done = not posts or not next_cursor
            if done:
                # The lag window re-reads older posts: `since` only ever moves up.
                if walk["newest"] and (not st.get("since") or parse_time(walk["newest"]) > parse_time(st["since"])):
                    st["since"], st["uris"] = walk["newest"], walk["uris"]
                del st["walk"]
            yield Batch(mentions, json.dumps({"queries": state}), {"query": q})
            if done:
                return
            params["cursor"] = next_cursor

    @property
    def _session(self) -> dict:
        return _SESSIONS.get((self.opts.service, self.opts.handle), {})

    @_session.setter
    def _session(self, value: dict) -> None:
        _SESSIONS[(self.opts.service, self.opts.handle)] = value

    def _login(self, client: httpx.Client) -> None:
        what = f"bluesky sign-in as {self.opts.handle}"
        if _token(self._session.get("refreshJwt")):
            resp = self._send(client, "POST", "com.atproto.server.refreshSession", what,
                              headers={"Authorization": f"Bearer {self._session['refreshJwt']}"})
            if resp.status_code == 200:
                self._session = self._json(resp, what)
                if _token(self._session.get("accessJwt")):
                    return
        resp = self._send(client, "POST", "com.atproto.server.createSession", what,
                          json={"identifier": self.opts.handle, "password": self.opts.app_password})
        check_response(resp, what)
        self._session = self._json(resp, what)
        if not _token(self._session.get("accessJwt")):
            self._session = {}
            raise TransientError(f"{what}: the session has no accessJwt")

    def _xrpc(self, client: httpx.Client, method: str, params: dict) -> dict:
        what = f"bluesky {method} q={params.get('q')!r}" if "q" in params else f"bluesky {method}"
        if not self._session:
            self._login(client)
        for attempt in range(2):
            resp = self._send(client, "GET", method, what, params=params,
                              headers={"Authorization": f"Bearer {self._session['accessJwt']}"})
            expired = resp.status_code == 400 and _error_name(resp) in ("ExpiredToken", "InvalidToken")
            if not (expired or resp.status_code == 401) or attempt:
                break
            self._login(client)  # access tokens live minutes; refresh (or sign in again) once
        check_response(resp, what)
        body = self._json(resp, what)
        if method == SEARCH and not isinstance(body.get("posts"), list):
            raise TransientError(f"{what}: unexpected response shape (no 'posts' list)")
        return body

    @staticmethod
    def _send(client: httpx.Client, verb: str, method: str, what: str, **kw: Any) -> httpx.Response:
        try:
            return client.request(verb, f"/xrpc/{method}", **kw)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{what}: timed out") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _json(resp: httpx.Response, what: str) -> dict:
        try:
            body = resp.json()
        except ValueError as exc:
            raise TransientError(f"{what}: the service sent malformed JSON") from exc
        if not isinstance(body, dict):
            raise TransientError(f"{what}: expected a JSON object")
        return body

    def to_mention(self, post: dict, query: str, retrieved_at: str) -> dict:
        record, author = post.get("record") or {}, post.get("author") or {}
        handle = author.get("handle") or ""
        who = handle if handle and handle != "handle.invalid" else author.get("did", "")
        reply = record.get("reply") or {}
        root, parent = (reply.get("root") or {}).get("uri"), (reply.get("parent") or {}).get("uri")
        langs = record.get("langs")
        try:
            created = parse_time(record["createdAt"])
        except (KeyError, TypeError, ValueError):
            created = parse_time(post["indexedAt"])
        return {
            "platform": "bluesky",
            "native_id": post["uri"],
            "url": f"https://bsky.app/profile/{who}/post/{post['uri'].rsplit('/', 1)[-1]}",
            "author": f"@{handle}" if handle else "",
            "author_reach": count(author.get("followersCount")),
            "text": record.get("text") or "",
            "lang": lang_code(langs[0]) if isinstance(langs, list) and langs else None,
            "created_at": created,
            "thread_id": root or post["uri"],
            "parent_id": parent,
            "kind": "comment" if parent else "post",
            "rating": None,
            "raw": {"item": post, "collector": self.kind, "query": query, "retrieved_at": retrieved_at,
                    "api": f"{self.opts.service}/xrpc/{SEARCH}"},
        }

    def exists(self, native_id: str) -> bool:
        """app.bsky.feed.getPosts leaves out posts that are gone."""
        with httpx.Client(base_url=self.opts.service, timeout=self.opts.timeout,
                          headers={"User-Agent": USER_AGENT}) as client:
            body = self._xrpc(client, "app.bsky.feed.getPosts", {"uris": native_id})
        return any(p.get("uri") == native_id for p in body.get("posts") or [])
