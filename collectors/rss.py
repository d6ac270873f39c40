"""RSS and Atom feeds (blogs, news sites, a news search's feed), parsed by feedparser.

Feeds are fetched with httpx using conditional GET: the ETag / Last-Modified a feed sent last
time are kept in the cursor, and a 304 means nothing new. Per feed the cursor also keeps the
ids the feed listed last time, and only entries with other ids are yielded. Ids rather than a
newest-time mark, because news search feeds add articles late with their original (older) date.
One failing feed does not stop the others: its error is raised after the rest are read.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

import feedparser
import httpx
from pydantic import Field, field_validator

from collectors.base import MALFORMED, Batch, Collector, Options
from collectors.web import USER_AGENT, check_response, get, html_to_text
from repmon.errors import CollectorError, RateLimited, TransientError
from repmon.matching import BrandMatcher

log = logging.getLogger(__name__)
MAX_ID = 200  # Mention.native_id's length
MAX_REMEMBERED = 2000  # ids kept per feed; a longer feed's tail is re-sent and the upsert drops it
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"


class RssOptions(Options):
    feeds: list[str] = Field(min_length=1, description="feed URLs (RSS 2.0, RSS 1.0 or Atom)")
    match_brand: bool = Field(True, description="keep only entries that name the brand and no exclusion")
    platform: str = Field("rss", min_length=1, max_length=50)
    user_agent: str = USER_AGENT
    timeout: float = Field(30, gt=0)

    @field_validator("feeds")
    @classmethod
    def _http_urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"expected http(s) feed URLs (got {url!r})")
        return v


class RssCollector(Collector):
    kind = "rss"
    options_model = RssOptions

    def __init__(self, name: str, options: Options, brand: Any):
        super().__init__(name, options, brand)
        # With match_brand off (a feed that is all about the brand) the runner keeps every entry too.
        self.prefiltered = not options.match_brand  # type: ignore[attr-defined]

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        opts: RssOptions = self.options  # type: ignore[assignment]
        state: dict[str, dict] = json.loads(cursor).get("feeds", {}) if cursor else {}
        matcher = BrandMatcher(self.brand) if opts.match_brand else None
        errors: list[CollectorError] = []
        headers = {"User-Agent": opts.user_agent, "Accept": ACCEPT}
        with httpx.Client(timeout=opts.timeout, headers=headers, follow_redirects=True) as client:
            for url in opts.feeds:
                try:
                    mentions, feed_state, notes = self._read(client, url, state.get(url, {}), matcher)
                except CollectorError as exc:
                    log.warning("source=%s feed=%s failed: %s", self.name, url, exc)
                    errors.append(exc)
                    continue
                state[url] = feed_state
                yield Batch(mentions, json.dumps({"feeds": state}), notes)
        if errors:
            raise _combined(errors) from errors[0]

    def _read(self, client: httpx.Client, url: str, seen: dict,
              matcher: Optional[BrandMatcher]) -> tuple[list, dict, dict]:
        what = f"feed {url}"
        conditional = {}
        if seen.get("etag"):
            conditional["If-None-Match"] = seen["etag"]
        if seen.get("modified"):
            conditional["If-Modified-Since"] = seen["modified"]
        resp = get(client, url, what, headers=conditional)
        if resp.status_code == 304:
            return [], seen, {"feed": url, "not_modified": True}
        check_response(resp, what)
        headers = {k.lower(): v for k, v in resp.headers.items()}  # the charset lives in Content-Type
        # A stream, never bytes or str: feedparser would treat those as a path or URL to open itself.
        try:
            parsed = feedparser.parse(io.BytesIO(resp.content), response_headers=headers)
        except MALFORMED as exc:  # feedparser's own failures, e.g. on a character reference to a surrogate
            raise CollectorError(f"{what}: feedparser cannot read it ({type(exc).__name__}: {str(exc)[:200]})") \
                from exc
        notes: dict[str, Any] = {"feed": url}
        problem = f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}" if parsed.bozo else None
        if not parsed.entries and not parsed.get("version"):
            if problem and not isinstance(parsed.bozo_exception, feedparser.NonXMLContentType):
                raise TransientError(f"{what}: not a readable RSS/Atom feed ({problem})")
            ctype = resp.headers.get("Content-Type", "no content type")
            raise CollectorError(f"{what}: the address serves no RSS/Atom feed ({ctype}); check the URL")
        if problem:
            # Many feeds are a little broken (a stray entity, a wrong content type); keep what parsed.
            notes["bozo"] = problem
            log.info("feed=%s is malformed but readable: %s", url, problem)

        retrieved = datetime.now(timezone.utc)
        platform = self.options.platform  # type: ignore[attr-defined]
        feed_title = parsed.feed.get("title", "") if parsed.get("feed") else ""
        known = set(seen.get("ids", []))
        mentions, unmatched, listed = [], 0, []
        for number, entry in enumerate(parsed.entries, 1):
            try:
                m = to_mention(entry, url, feed_title, retrieved, platform, notes.get("bozo"))
            except MALFORMED as exc:
                log.warning("source=%s feed=%s: skipped entry %d: malformed (%s: %s)", self.name, url, number,
                            type(exc).__name__, str(exc)[:200])
                continue
            listed.append(m["native_id"])
            if m["native_id"] in known:
                continue
            if matcher and not matcher.matches(m["text"]):
                unmatched += 1
                continue
            mentions.append(m)
        notes["unmatched"] = unmatched
        feed_state = {
            "etag": resp.headers.get("ETag"),
            "modified": resp.headers.get("Last-Modified"),
            "ids": listed[:MAX_REMEMBERED],
        }
        return mentions, feed_state, notes


def _combined(errors: list[CollectorError]) -> CollectorError:
    """One error for the run; rate limits win (so the scheduler waits), then transient ones (so it retries)."""
    message = "; ".join(map(str, errors))
    limited = [e for e in errors if isinstance(e, RateLimited)]
    if limited:
        return RateLimited(message, reset_at=max((e.reset_at for e in limited if e.reset_at), default=None))
    if any(isinstance(e, TransientError) for e in errors):
        return TransientError(message)
    return type(errors[0])(message) if len({type(e) for e in errors}) == 1 else CollectorError(message)


def _when(entry: Any) -> Optional[datetime]:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = entry.get(key)
        if t:
            try:
                return datetime.fromtimestamp(calendar.timegm(t), timezone.utc)  # feedparser gives UTC tuples
            except (TypeError, ValueError, OverflowError):  # a date feedparser read but no calendar has (year 0)
                continue
    return None


def native_id(entry: Any) -> str:
    key = entry.get("id") or entry.get("guid") or entry.get("link")
    if not key:
        key = "sha256:" + hashlib.sha256(f"{entry.get('title', '')}\n{entry.get('summary', '')}".encode()).hexdigest()
    elif len(key) > MAX_ID:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def to_mention(entry: Any, feed_url: str, feed_title: str, retrieved: datetime, platform: str,
               bozo: Optional[str] = None) -> dict:
    summary = entry.get("summary") or (entry.get("content") or [{}])[0].get("value", "")
    title = html_to_text(entry.get("title", ""))
    text = "\n\n".join(p for p in (title, html_to_text(summary)) if p) or entry.get("link", "")
    when = _when(entry)
    raw: dict[str, Any] = {"item": jsonable(entry), "collector": "rss", "query": feed_url,
                           "retrieved_at": retrieved.isoformat(), "api": "feedparser " + feedparser.__version__}
    if when is None:
        raw["undated"] = True  # created_at is the retrieval time, not the publication time
    if bozo:
        raw["bozo"] = bozo
    return {
        "platform": platform,
        "native_id": native_id(entry),
        "url": entry.get("link"),
        "author": (entry.get("author") or feed_title or "")[:200],
        "author_reach": 0,
        "text": text,
        "lang": None,
        "created_at": when or retrieved,
        "thread_id": None,
        "parent_id": None,
        "kind": "post",
        "rating": None,
        "raw": raw,
    }


def jsonable(value: Any) -> Any:
    """feedparser's dicts hold time tuples and bytes; the raw column takes JSON only."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not isinstance(value, time.struct_time):
        return [jsonable(v) for v in value]
    if isinstance(value, time.struct_time):
        try:
            return datetime.fromtimestamp(calendar.timegm(value), timezone.utc).isoformat()
        except (ValueError, OverflowError):  # year 0
            return "%04d-%02d-%02dT%02d:%02d:%02d" % tuple(value[:6])
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
