"""Mastodon posts from one instance: hashtag timelines (public, no token) and, with an access
token, full-text status search.

Each stream (a hashtag, or the search) is read newest first with `max_id` paging, down to the
newest status the last run saw (`since`). The walk's own progress (the oldest id read so far and
the newest id seen) is in the cursor after every page, so a crash or the `max_pages` cap resumes
the walk where it stopped; only when a walk reaches `since` does `since` move up to the walk's
newest id. Status ids are instance-local numeric strings: they compare as numbers.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from pydantic import Field, field_validator

from collectors.base import MALFORMED, Batch, Collector, Options, count, item_ref, lang_code
from collectors import web
from collectors.web import USER_AGENT, html_to_text
from repmon.errors import TransientError

log = logging.getLogger(__name__)
PAGE_LIMIT = 40  # the API's maximum for timelines and search


class MastodonOptions(Options):
    instance: str = Field(description="base URL of the instance, e.g. https://mastodon.social")
    hashtags: list[str] = Field(default_factory=list, description="tags to follow, without '#'; default: from the brand")
    access_token: Optional[str] = Field(None, description="enables full-text search (where the instance offers it)")
    query: Optional[str] = Field(None, description="search query; default: the brand name")
    max_pages: int = Field(10, ge=1, description="pages per stream per run; the walk resumes next run")
    backfill_days: float = Field(7, ge=0, description="how far back the first run reads")
    timeout: float = Field(30, gt=0, description="seconds per request")

    @field_validator("instance")
    @classmethod
    def _base_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("https://", "http://")):
            v = f"https://{v}"
        if not urlsplit(v).netloc:
            raise ValueError("expected the instance's base URL, such as https://mastodon.social")
        return v

    @field_validator("hashtags")
    @classmethod
    def _bare_tags(cls, v: list[str]) -> list[str]:
        return [t.strip().lstrip("#") for t in v if t.strip().lstrip("#")]


def id_key(status_id: str) -> tuple[int, str]:
    # Numeric strings without leading zeros order by length, then text: the same as int order,
    # and still sane for servers whose ids are fixed-length sortable strings (Pleroma).
    return len(status_id), status_id


def brand_tags(brand: Any) -> list[str]:
    tags: dict[str, str] = {}
    for term in [brand.name, *brand.keywords, *brand.handles]:
        tag = re.sub(r"\W", "", term.split("@")[1] if term.startswith("@") else term)
        if tag and not tag.isdigit():
            tags.setdefault(tag.lower(), tag)
    return list(tags.values())


def check_response(resp: httpx.Response, what: str) -> None:
    web.check_response(resp, what, reset_at=reset_time, auth_hint="; check sources.*.access_token")


def reset_time(resp: httpx.Response) -> datetime:
    """Mastodon sends X-RateLimit-Reset as an ISO time; fall back to Retry-After, then 5 minutes."""
    now = datetime.now(timezone.utc)
    value = resp.headers.get("X-RateLimit-Reset", "").strip()
    if value:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    after = resp.headers.get("Retry-After", "").strip()
    return now + timedelta(seconds=int(after) if after.isdigit() else 300)


class MastodonCollector(Collector):
    kind = "mastodon"
    options_model = MastodonOptions

    @property
    def opts(self) -> MastodonOptions:
        return self.options  # type: ignore[return-value]

    def _client(self) -> httpx.Client:
        headers = {"User-Agent": USER_AGENT}
        if self.opts.access_token:
            headers["Authorization"] = f"Bearer {self.opts.access_token}"
        return httpx.Client(base_url=self.opts.instance, timeout=self.opts.timeout, headers=headers)

    def streams(self) -> list[tuple[str, str, dict]]:
        """(cursor key, path, fixed params) for every stream this source reads."""
        tags = self.opts.hashtags or brand_tags(self.brand)
        out = [(f"tag:{t.lower()}", f"/api/v1/timelines/tag/{quote(t, safe='')}", {}) for t in tags]
        if self.opts.access_token:
            q = self.opts.query or self.brand.name
            out.append((f"search:{q}", "/api/v2/search", {"q": q, "type": "statuses", "resolve": "false"}))
        return out

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        state: dict[str, dict] = json.loads(cursor).get("streams", {}) if cursor else {}
        self._uris: dict[str, Optional[str]] = {}
        with self._client() as client:
            for key, path, params in self.streams():
                yield from self._walk(client, state, key, path, params)

    def _walk(self, client: httpx.Client, state: dict, key: str, path: str, params: dict) -> Iterator[Batch]:
        st = state.setdefault(key, {})
        if "walk" not in st:
            floor = datetime.now(timezone.utc) - timedelta(days=self.opts.backfill_days)
            st["walk"] = {"max_id": None, "newest": None, "floor": None if st.get("since") else floor.isoformat()}
        walk = st["walk"]
        since: Optional[str] = st.get("since")
        search = path.endswith("/search")
        for _ in range(self.opts.max_pages):
            query = dict(params, limit=PAGE_LIMIT)
            if since:
                query["min_id" if search else "since_id"] = since
            if walk["max_id"]:
                query["max_id"] = walk["max_id"]
            resp, listed = self._get(client, path, key, query)
            statuses = [s for s in listed if _usable(s)]
            for s in listed:
                if not _usable(s):
                    log.warning("mastodon %s: skipped %s: no id or readable created_at", key,
                                item_ref(s, "id", "uri"))
            retrieved = datetime.now(timezone.utc).isoformat()
            # Keep only what is inside the walk's window, whatever the server did with the bounds.
            fresh = [s for s in statuses if (not since or id_key(s["id"]) > id_key(since))
                     and (not walk["max_id"] or id_key(s["id"]) < id_key(walk["max_id"]))]
            if walk["floor"]:
                fresh = [s for s in fresh if _when(s["created_at"]) >= datetime.fromisoformat(walk["floor"])]
            if fresh:
                oldest, newest = min((s["id"] for s in fresh), key=id_key), max((s["id"] for s in fresh), key=id_key)
                walk["max_id"] = _next_max_id(resp) or oldest
                if not walk["newest"] or id_key(newest) > id_key(walk["newest"]):
                    walk["newest"] = newest
            # Only an empty or cut page ends the walk: instances may return short pages
            # (filtered statuses) with more below them.
            done = not fresh or len(fresh) < len(statuses)
            if done:
                # The walk reached what the last one saw (or the backfill floor): move up.
                st["since"] = walk["newest"] or since
                del st["walk"]
                if not st["since"]:
                    st.pop("since")
            self._uris.update({s["id"]: s.get("uri") for s in statuses})
            mentions = []
            for s in fresh:
                if s.get("reblog"):
                    continue
                try:
                    mentions.append(self.to_mention(s, key, retrieved, self._parent_uri(client, s)))
                except MALFORMED as exc:
                    log.warning("mastodon %s: skipped status %r: malformed (%s: %s)", key, s["id"],
                                type(exc).__name__, str(exc)[:200])
            yield Batch(mentions, json.dumps({"streams": state}), {"stream": key})
            if done:
                return

    def _get(self, client: httpx.Client, path: str, key: str, params: dict) -> tuple[httpx.Response, list[dict]]:
        what = f"mastodon {self.opts.instance} {key}"
        try:
            resp = client.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{what}: timed out") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
        check_response(resp, what)
        try:
            body = resp.json()
        except ValueError as exc:
            raise TransientError(f"{what}: the instance sent malformed JSON") from exc
        statuses = body.get("statuses") if isinstance(body, dict) else body
        if not isinstance(statuses, list):
            raise TransientError(f"{what}: unexpected response shape (no list of statuses)")
        return resp, statuses

    def _parent_uri(self, client: httpx.Client, status: dict) -> Optional[str]:
        """The replied-to status's URI (its native_id here); the API only gives its local id."""
        local_id = status.get("in_reply_to_id")
        if not _local_id(local_id):
            return None
        if local_id not in self._uris:
            what = f"mastodon {self.opts.instance} status {local_id}"
            try:
                resp = client.get(f"/api/v1/statuses/{quote(local_id, safe='')}")
            except httpx.TransportError as exc:
                raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
            if resp.status_code in (404, 410):
                self._uris[local_id] = None  # the parent is gone (or private): nothing to link to
            else:
                check_response(resp, what)
                try:
                    parent = resp.json()
                except ValueError as exc:
                    raise TransientError(f"{what}: the instance sent malformed JSON") from exc
                uri = parent.get("uri") if isinstance(parent, dict) else None
                self._uris[local_id] = uri if isinstance(uri, str) else None
        return self._uris[local_id]

    def to_mention(self, status: dict, query: str, retrieved_at: str, parent_uri: Optional[str] = None) -> dict:
        account = status.get("account") or {}
        acct = account.get("acct") or account.get("username") or ""
        if acct and "@" not in acct:
            acct = f"{acct}@{urlsplit(self.opts.instance).hostname}"  # local accounts: make it global
        text = html_to_text(status.get("content"))
        if status.get("spoiler_text"):
            text = f"{status['spoiler_text'].strip()}\n\n{text}".strip()
        is_reply = bool(status.get("in_reply_to_id"))
        return {
            "platform": "mastodon",
            "native_id": status.get("uri") or status.get("url") or status["id"],
            "url": status.get("url") or status.get("uri"),
            "author": f"@{acct}" if acct else "",
            "author_reach": count(account.get("followers_count")),
            "text": text,
            "lang": lang_code(status.get("language")),
            "created_at": _when(status["created_at"]),
            # The thread root would cost a /context call per post; the parent link is enough
            # for a reply to find the case it answers.
            "thread_id": None,
            "parent_id": parent_uri,
            "kind": "comment" if is_reply else "post",
            "rating": None,
            "raw": {"item": status, "collector": self.kind, "query": query, "retrieved_at": retrieved_at,
                    "api": f"{self.opts.instance}/api/v1"},
        }

    def exists(self, native_id: str) -> bool:
        """A status on this instance is looked up by its local id; any other by its URI at its home
        server. 404 or 410 means it is gone."""
        parts = urlsplit(native_id)
        local = re.fullmatch(r"/users/[^/]+/statuses/(\d+)", parts.path or "")
        what = f"mastodon status {native_id}"
        try:
            if local and parts.hostname == urlsplit(self.opts.instance).hostname:
                with self._client() as client:
                    resp = client.get(f"/api/v1/statuses/{local.group(1)}")
            else:  # another server: no token goes there
                resp = httpx.get(native_id, follow_redirects=True, timeout=self.opts.timeout,
                                 headers={"User-Agent": USER_AGENT, "Accept": "application/activity+json"})
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code in (404, 410):
            return False
        if resp.status_code in (401, 403):
            raise TransientError(f"{what}: its server refuses to say (HTTP {resp.status_code})")
        check_response(resp, what)
        return True


def _local_id(value: Any) -> bool:
    """An instance's status id (numeric on Mastodon, flake ids on Pleroma): it goes into URLs."""
    return isinstance(value, str) and 0 < len(value) <= 100 and value.isascii() and value.isprintable()


def _usable(status: Any) -> bool:
    """A status with an id and a readable created_at: paging and the backfill floor need both."""
    if not isinstance(status, dict) or not _local_id(status.get("id")):
        return False
    try:
        _when(status.get("created_at"))
    except MALFORMED:
        return False
    return True


def _when(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _next_max_id(resp: httpx.Response) -> Optional[str]:
    """The Link header's rel="next" max_id, where the instance sends one."""
    url = resp.links.get("next", {}).get("url")
    values = parse_qs(urlsplit(url).query).get("max_id") if url else None
    return values[0] if values else None
