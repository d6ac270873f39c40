"""Apple App Store reviews of one app: the public customer-reviews RSS feed, or the App Store
Connect API when a key is configured.

Both are read newest first. The cursor keeps a high-water mark per country (RSS) or for the
whole app (Connect): the newest review time seen plus the ids at exactly that time, as dlt's
incremental does. A walk stops at the first review the mark covers. The mark only moves on a
walk's last page, so a crash mid-walk re-reads from the top next time and the store's upsert
drops the repeats; nothing between the old mark and the newest review is ever skipped.

The RSS feed serves at most 10 pages of 50 reviews per country; it needs no credentials.
The Connect API serves every review of every territory, 200 a page, for the app's own team.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import httpx
from pydantic import Field, field_validator, model_validator

from collectors.base import MALFORMED, Batch, Collector, Options
from collectors.web import USER_AGENT, retry_after
from repmon.errors import AuthError, CollectorError, RateLimited, TransientError

log = logging.getLogger(__name__)

RSS = "https://itunes.apple.com/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"
CONNECT_API = "https://api.appstoreconnect.apple.com"
RSS_PAGE_LIMIT = 10  # Apple answers HTTP 400 past page 10


# --- shared with collectors.google_play -------------------------------------------------------

@dataclass
class Mark:
    """High-water mark of a newest-first walk: the newest time seen and the ids at that time."""

    at: Optional[datetime] = None
    ids: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, d: Optional[dict]) -> "Mark":
        if not d or not d.get("at"):
            return cls()
        return cls(datetime.fromisoformat(d["at"]), set(d.get("ids", ())))

    def dump(self) -> Optional[dict]:
        return {"at": self.at.isoformat(), "ids": sorted(self.ids)} if self.at else None

    def covers(self, at: datetime, native_id: str) -> bool:
        """True for a review stored by an earlier walk: older than the mark, or at it and known."""
        return self.at is not None and (at < self.at or (at == self.at and native_id in self.ids))

    def advanced(self, seen: Iterable[tuple[datetime, str]]) -> "Mark":
        new = Mark(self.at, set(self.ids))
        for at, nid in seen:
            if new.at is None or at > new.at:
                new.at, new.ids = at, {nid}
            elif at == new.at:
                new.ids.add(nid)
        return new


def check_status(resp: httpx.Response, what: str, not_found: str, rate_default: float = 60) -> None:
    """Translate an HTTP status into repmon's error tree."""
    code = resp.status_code
    if code < 400:
        return
    if code == 429:
        reset = retry_after(resp, rate_default)
        raise RateLimited(f"{what}: rate limited (HTTP 429) until {reset:%Y-%m-%d %H:%M:%S} UTC", reset_at=reset)
    if code in (401, 403):
        raise AuthError(f"{what}: access refused (HTTP {code}); check the credentials")
    if code == 404:
        raise CollectorError(not_found)
    if code >= 500:
        raise TransientError(f"{what}: server error (HTTP {code})")
    raise CollectorError(f"{what}: HTTP {code}: {resp.text[:200]}")


def send(client: httpx.Client, method: str, url: str, what: str, **kw: Any) -> httpx.Response:
    try:
        return client.request(method, url, **kw)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{what}: timed out") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc


def parse_json(resp: httpx.Response, what: str) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise TransientError(f"{what}: the server sent malformed JSON") from exc


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


# --- the collector ---------------------------------------------------------------------------

class AppStoreOptions(Options):
    app_id: str = Field(description="the numeric App Store id, as in apps.apple.com/app/id<app_id>")
    countries: list[str] = Field(default_factory=lambda: ["us"], min_length=1,
                                 description="storefronts to read (RSS only; Connect reads every territory)")
    max_pages: int = Field(RSS_PAGE_LIMIT, ge=1, le=RSS_PAGE_LIMIT,
                           description="pages per country per run (RSS: 50 reviews a page; Connect: 200)")
    timeout: float = Field(30, gt=0, description="seconds per request")
    # App Store Connect API key (Users and Access > Integrations); all three or none.
    issuer_id: Optional[str] = None
    key_id: Optional[str] = None
    private_key: Optional[str] = Field(None, description="the .p8 key's PEM text, or a path to the .p8 file")

    @field_validator("app_id", mode="before")
    @classmethod
    def _numeric_id(cls, v: Any) -> str:
        v = str(v).strip().removeprefix("id")
        if not v.isdigit():
            raise ValueError("expected the numeric App Store id, e.g. '389801252'")
        return v

    @field_validator("countries")
    @classmethod
    def _country_codes(cls, v: list[str]) -> list[str]:
        out = [c.strip().lower() for c in v]
        bad = [c for c in out if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"expected two-letter storefront codes such as 'us' or 'de', got {bad}")
        return list(dict.fromkeys(out))

    @model_validator(mode="after")
    def _whole_key(self) -> "AppStoreOptions":
        given = [k for k in ("issuer_id", "key_id", "private_key") if getattr(self, k)]
        if given and len(given) < 3:
            missing = sorted({"issuer_id", "key_id", "private_key"} - set(given))
            raise ValueError(f"an App Store Connect key needs issuer_id, key_id and private_key; missing {missing}")
        return self


class AppStoreCollector(Collector):
    kind = "app_store"
    options_model = AppStoreOptions
    prefiltered = True  # every review is about the app

    @property
    def opts(self) -> AppStoreOptions:
        return self.options  # type: ignore[return-value]

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.opts.timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=True)

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        state: dict = json.loads(cursor) if cursor else {}
        with self._client() as client:
            if self.opts.issuer_id:
                yield from self._connect(client, state)
            else:
                for country in self.opts.countries:
                    yield from self._rss(client, country, state)

    # -- public RSS feed --

    def _rss(self, client: httpx.Client, country: str, state: dict) -> Iterator[Batch]:
        app_id = self.opts.app_id
        marks = state.setdefault("rss", {})
        mark = Mark.load(marks.get(country))
        seen: list[tuple[datetime, str]] = []
        ids: set[str] = set()
        what = f"app_store rss {country}/{app_id}"
        for page in range(1, self.opts.max_pages + 1):
            url = RSS.format(country=country, page=page, app_id=app_id)
            resp = send(client, "GET", url, what)
            check_status(resp, what, f"app_id {app_id} not found on the App Store ({country} storefront)")
            body = parse_json(resp, what)
            if not isinstance(body, dict) or not isinstance(body.get("feed"), dict):
                raise TransientError(f"{what}: unexpected response shape (no 'feed' object)")
            feed = body["feed"]
            entries = feed.get("entry", [])  # an empty page has no "entry"; a one-review page has an object
            entries = [entries] if isinstance(entries, dict) else entries if isinstance(entries, list) else []
            retrieved = datetime.now(timezone.utc).isoformat()
            mentions, reached = [], False
            for entry in entries:
                if not isinstance(entry, dict) or "im:rating" not in entry:
                    continue  # older feeds put the app itself first on page 1
                try:
                    m = rss_mention(entry, app_id, country, retrieved)
                except MALFORMED as exc:
                    raise TransientError(f"{what}: a review entry is malformed ({type(exc).__name__}: {exc})") from exc
                if mark.covers(m["created_at"], m["native_id"]) or m["native_id"] in ids:
                    reached = True  # stored before, or the feed looped back
                    break
                ids.add(m["native_id"])
                seen.append((m["created_at"], m["native_id"]))
                mentions.append(m)
            last = reached or not mentions or page >= min(self.opts.max_pages, _last_page(feed))
            if last:
                if not reached and mentions and mark.at is not None:
                    log.warning("source=%s country=%s: more than %d pages of new reviews; older ones are skipped",
                                self.name, country, self.opts.max_pages)
                marks[country] = mark.advanced(seen).dump()
            if mentions or last:
                yield Batch(mentions, json.dumps(state), {"country": country, "page": page})
            if last:
                return

    # -- App Store Connect API --

    def _connect(self, client: httpx.Client, state: dict) -> Iterator[Batch]:
        app_id = self.opts.app_id
        mark = Mark.load(state.get("connect"))
        seen: list[tuple[datetime, str]] = []
        ids: set[str] = set()
        what = f"app_store connect {app_id}"
        url: Optional[str] = f"{CONNECT_API}/v1/apps/{app_id}/customerReviews"
        params: Optional[dict] = {"sort": "-createdDate", "limit": 200, "include": "response"}
        token = ConnectToken(self.opts)
        for page in range(1, self.opts.max_pages + 1):
            assert url is not None
            resp = send(client, "GET", url, what, params=params, headers={"Authorization": f"Bearer {token.get()}"})
            # Connect's limit is per hour and sends no Retry-After; come back in a quarter hour.
            check_status(resp, what, f"app_id {app_id} not found in App Store Connect (or the key's team does not own it)",
                         rate_default=900)
            body = parse_json(resp, what)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise TransientError(f"{what}: unexpected response shape (no 'data' list)")
            included = body.get("included")
            replies = {r["id"]: r for r in included if isinstance(r, dict) and isinstance(r.get("id"), str)
                       and r.get("type") == "customerReviewResponses"} if isinstance(included, list) else {}
            retrieved = datetime.now(timezone.utc).isoformat()
            mentions, reached = [], False
            for item in body["data"]:
                try:
                    m = connect_mention(item, app_id, replies, retrieved)
                except MALFORMED as exc:
                    raise TransientError(f"{what}: a review is malformed ({type(exc).__name__}: {exc})") from exc
                if mark.covers(m["created_at"], m["native_id"]) or m["native_id"] in ids:
                    reached = True
                    break
                ids.add(m["native_id"])
                seen.append((m["created_at"], m["native_id"]))
                mentions.append(m)
            links = body.get("links")
            url = links.get("next") if isinstance(links, dict) else None
            params = None  # the next link carries the query
            if url is not None and not (isinstance(url, str) and url.startswith(f"{CONNECT_API}/")):
                # The bearer token goes wherever the link points: only ever to the API itself.
                log.warning("source=%s: ignored a next link outside %s: %r", self.name, CONNECT_API, str(url)[:200])
                url = None
            last = reached or not url or page == self.opts.max_pages
            if last:
                state["connect"] = mark.advanced(seen).dump()
            if mentions or last:
                yield Batch(mentions, json.dumps(state), {"page": page})
            if last:
                return


def _last_page(feed: dict) -> int:
    """The feed's rel="last" link names its last page; without one, read until an empty page."""
    links = feed.get("link") or []
    for link in [links] if isinstance(links, dict) else links if isinstance(links, list) else []:
        attrs = link.get("attributes") if isinstance(link, dict) else None
        href = attrs.get("href") if isinstance(attrs, dict) else None
        if isinstance(href, str) and attrs.get("rel") == "last" and "page=" in href:
            number = href.split("page=", 1)[1].split("/", 1)[0]
            if number.isascii() and number.isdigit():
                return int(number)
    return RSS_PAGE_LIMIT


def _label(entry: dict, key: str) -> str:
    value = entry.get(key)
    return str(value.get("label", "")) if isinstance(value, dict) else ""


def rss_mention(entry: dict, app_id: str, country: str, retrieved_at: str) -> dict:
    try:
        native_id = _label(entry, "id")
        created = utc(_label(entry, "updated"))
        rating = int(_label(entry, "im:rating"))
    except ValueError as exc:
        raise TransientError(f"app_store rss: a review entry is malformed ({exc})") from exc
    title, content = _label(entry, "title").strip(), _label(entry, "content").strip()
    links = entry.get("link")
    link = (links[0] if isinstance(links, list) and links else links) or {}
    url = link.get("attributes", {}).get("href") or f"https://apps.apple.com/{country}/app/id{app_id}?see-all=reviews"
    author = entry.get("author") or {}
    return {
        "platform": "app_store",
        "native_id": native_id,
        "url": url,
        "author": _label(author, "name"),
        "author_reach": 0,
        "text": "\n\n".join(p for p in (title, content) if p),
        "lang": None,  # a storefront is not a language: the runner detects it
        "created_at": created,
        "thread_id": native_id,
        "parent_id": None,
        "kind": "review",
        "rating": rating,
        "raw": {"item": entry, "collector": "app_store", "query": app_id, "country": country,
                "version": _label(entry, "im:version") or None, "retrieved_at": retrieved_at,
                "api": "itunes.apple.com/rss/customerreviews/json"},
    }


def connect_mention(item: dict, app_id: str, replies: dict, retrieved_at: str) -> dict:
    attrs = item.get("attributes") or {}
    try:
        created = utc(attrs["createdDate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TransientError(f"app_store connect: review {item.get('id')} has no valid createdDate") from exc
    title, body = (attrs.get("title") or "").strip(), (attrs.get("body") or "").strip()
    reply_ref = ((item.get("relationships") or {}).get("response") or {}).get("data") or {}
    reply = replies.get(reply_ref.get("id", ""))
    raw = {"item": item, "collector": "app_store", "query": app_id, "territory": attrs.get("territory"),
           "retrieved_at": retrieved_at, "api": "api.appstoreconnect.apple.com/v1/apps/customerReviews"}
    if reply is not None:
        raw.update(replied=True, reply=reply)
    return {
        "platform": "app_store",
        "native_id": str(item["id"]),
        "url": f"https://apps.apple.com/app/id{app_id}?see-all=reviews",
        "author": attrs.get("reviewerNickname") or "",
        "author_reach": 0,
        "text": "\n\n".join(p for p in (title, body) if p),
        "lang": None,
        "created_at": created,
        "thread_id": str(item["id"]),
        "parent_id": None,
        "kind": "review",
        "rating": int(attrs["rating"]) if attrs.get("rating") is not None else None,
        "raw": raw,
    }


class ConnectToken:
    """An ES256 JWT for the App Store Connect API, re-signed before its 20-minute limit."""

    LIFETIME = 15 * 60

    def __init__(self, opts: AppStoreOptions):
        self.opts = opts
        self._token, self._exp = "", 0.0

    def _key(self) -> str:
        key = (self.opts.private_key or "").strip()
        if "BEGIN" in key:
            return key
        path = Path(key).expanduser()
        try:
            return path.read_text()
        except OSError as exc:
            raise AuthError(f"app_store private_key: neither a PEM key nor a readable .p8 file ({path})") from exc

    def get(self) -> str:
        now = time.time()
        if now < self._exp - 60:
            return self._token
        import jwt  # PyJWT[crypto]: only Connect users need it

        payload = {"iss": self.opts.issuer_id, "iat": int(now), "exp": int(now) + self.LIFETIME,
                   "aud": "appstoreconnect-v1"}
        try:
            self._token = jwt.encode(payload, self._key(), algorithm="ES256",
                                     headers={"kid": self.opts.key_id, "typ": "JWT"})
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise AuthError(f"app_store private_key: cannot sign with it ({type(exc).__name__}); "
                            "expected the ES256 .p8 key App Store Connect gave you") from None
        self._exp = now + self.LIFETIME
        return self._token
