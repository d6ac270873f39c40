"""Hacker News stories and comments that name the brand, via the Algolia HN Search API.

Search results are capped at 1,000 hits per query, so a time window with more hits is split in
halves until each half fits. Windows are walked oldest to newest, and the cursor (per query:
the first second not yet read) only advances on a window's last page, so a crash mid-window
re-reads that window and the store's upsert drops the repeats. Each run re-reads the last
`lag_seconds` before the cursor too, because the search index adds some items late.
"""

from __future__ import annotations

import html
import json
import logging
import math
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

import httpx
from pydantic import Field

from collectors.base import MALFORMED, Batch, Collector, Options, count, item_ref
from collectors.web import USER_AGENT, check_response, get, html_to_text
from repmon.errors import TransientError
from repmon.matching import BrandMatcher

log = logging.getLogger(__name__)

API = "https://hn.algolia.com/api/v1"
MAX_HITS = 1000  # Algolia's paginationLimitedTo for the HN index


class HackerNewsOptions(Options):
    queries: list[str] = Field(default_factory=list, description="search terms; default: the brand's name, keywords, handles")
    include_comments: bool = True
    match_brand: bool = Field(True, description="drop hits that fail the brand's keyword/exclude rules")
    backfill_days: float = Field(7, ge=0, description="how far back the first run reads")
    lag_seconds: int = Field(300, ge=0, description="re-read this much before the cursor for late-indexed items")
    page_size: int = Field(100, ge=1, le=1000, description="hits per request")
    timeout: float = Field(30, gt=0, description="seconds per request")


def _now() -> int:
    return int(datetime.now(timezone.utc).timestamp())


def default_queries(brand: Any) -> list[str]:
    terms = [brand.name, *brand.keywords, *(h.lstrip("@") for h in brand.handles)]
    out: dict[str, str] = {}
    for t in terms:
        t = t.strip().rstrip("*").strip()  # Algolia matches prefixes anyway
        if t and t.lower() not in out:
            out[t.lower()] = t
    return list(out.values())


class HackerNewsCollector(Collector):
    kind = "hackernews"
    options_model = HackerNewsOptions

    def _client(self) -> httpx.Client:
        timeout = self.options.timeout  # type: ignore[attr-defined]
        return httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        opts: HackerNewsOptions = self.options  # type: ignore[assignment]
        state: dict[str, int] = json.loads(cursor).get("since", {}) if cursor else {}
        queries = opts.queries or default_queries(self.brand)
        matcher = BrandMatcher(self.brand) if opts.match_brand else None
        now = _now()
        with self._client() as client:
            for query in queries:
                if query in state:
                    lo = max(0, state[query] - opts.lag_seconds)
                else:
                    lo = now - int(opts.backfill_days * 86400)
                for hi, last, body in self._pages(client, query, lo, now):
                    retrieved = datetime.now(timezone.utc).isoformat()
                    mentions, dropped = [], 0
                    for hit in body.get("hits", []):
                        try:
                            m = to_mention(hit, query, retrieved)
                        except MALFORMED as exc:
                            log.warning("hackernews query=%r: skipped %s: malformed (%s: %s)", query,
                                        item_ref(hit, "objectID"), type(exc).__name__, str(exc)[:200])
                            m = None
                        if m is None or (matcher and not matcher.matches(f"{m['text']} {hit.get('url') or ''}")):
                            dropped += 1
                            continue
                        mentions.append(m)
                    if last:
                        state[query] = hi + 1
                    if mentions or last:
                        yield Batch(mentions, json.dumps({"since": state}), {"dropped": dropped, "query": query})

    def _pages(self, client: httpx.Client, query: str, lo: int, hi: int) -> Iterator[tuple[int, bool, dict]]:
        """(window end, is the window's last page, response) for [lo, hi], oldest window first."""
        if lo > hi:
            return
        first = self._search(client, query, lo, hi, 0)
        hits = count(first.get("nbHits"))
        if hits > MAX_HITS and lo < hi:
            mid = (lo + hi) // 2
            yield from self._pages(client, query, lo, mid)
            yield from self._pages(client, query, mid + 1, hi)
            return
        if hits > MAX_HITS:
            log.warning("hackernews query=%r second=%d has %s hits; only %d are readable",
                        query, lo, first.get("nbHits"), MAX_HITS)
        readable = math.ceil(MAX_HITS / self.options.page_size)  # type: ignore[attr-defined]
        pages = max(1, min(count(first.get("nbPages", 1)), readable))
        yield hi, pages == 1, first
        for page in range(1, pages):
            yield hi, page == pages - 1, self._search(client, query, lo, hi, page)

    def _search(self, client: httpx.Client, query: str, lo: int, hi: int, page: int) -> dict:
        opts: HackerNewsOptions = self.options  # type: ignore[assignment]
        params = {
            "query": query,
            "tags": "(story,comment)" if opts.include_comments else "story",
            "numericFilters": f"created_at_i>={lo},created_at_i<={hi}",
            "hitsPerPage": opts.page_size,
            "page": page,
        }
        what = f"hackernews search {query!r}"
        resp = get(client, f"{API}/search_by_date", what, params=params)
        check_response(resp, what)
        try:
            body = resp.json()
        except ValueError as exc:
            raise TransientError(f"{what}: the API sent malformed JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("hits"), list):
            raise TransientError(f"{what}: unexpected response shape (no 'hits' list)")
        return body

    def exists(self, native_id: str) -> bool:
        what = f"hackernews item {native_id}"
        with self._client() as client:
            resp = get(client, f"{API}/items/{native_id}", what)
            if resp.status_code == 404:
                return False
            check_response(resp, what)
            try:
                item = resp.json()
            except ValueError as exc:
                raise TransientError(f"{what}: the API sent malformed JSON") from exc
        if not isinstance(item, dict):
            raise TransientError(f"{what}: unexpected response shape (not an object)")
        # A deleted item can linger with its author and text blanked out.
        blanked = item.get("author") is None and not item.get("text") and not item.get("title")
        return not (item.get("deleted") or blanked)


def to_mention(hit: dict, query: str, retrieved_at: str) -> Optional[dict]:
    """One search hit as a mention dict; None when it carries no text (a removed comment)."""
    item_id = str(hit["objectID"])
    is_comment = "comment" in (hit.get("_tags") or []) or hit.get("comment_text") is not None
    if is_comment:
        text = html_to_text(hit.get("comment_text"))
        thread, parent = hit.get("story_id"), hit.get("parent_id")
    else:
        body = html_to_text(hit.get("story_text"))
        text = "\n\n".join(p for p in (html.unescape(hit.get("title") or "").strip(), body) if p)
        thread, parent = hit.get("story_id") or item_id, None
    if not text:
        return None
    # The highlight copy repeats the whole text with markup; it is not worth storing twice.
    item = {k: v for k, v in hit.items() if k != "_highlightResult"}
    return {
        "platform": "hackernews",
        "native_id": item_id,
        "url": f"https://news.ycombinator.com/item?id={item_id}",
        "author": hit.get("author") or "",
        "author_reach": 0,
        "text": text,
        "lang": None,
        "created_at": datetime.fromtimestamp(int(hit["created_at_i"]), timezone.utc),
        "thread_id": str(thread) if thread is not None else None,
        "parent_id": str(parent) if parent is not None else None,
        "kind": "comment" if is_comment else "post",
        "rating": None,
        "raw": {"item": item, "collector": "hackernews", "query": query, "retrieved_at": retrieved_at,
                "api": "hn.algolia.com/api/v1/search_by_date"},
    }
