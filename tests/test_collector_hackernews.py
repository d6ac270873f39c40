"""Hacker News collector against an emulated Algolia HN Search API (respx under the real httpx).

Hits and envelopes are shaped like real `search_by_date` answers; the fake honours
numericFilters, hitsPerPage/page and the 1,000-hit pagination cap, so window splitting runs as live.
"""

import json
import math
import re
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx
from sqlmodel import select

from collectors import hackernews
from collectors.hackernews import HackerNewsCollector, default_queries
from collectors.web import html_to_text
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, ConfigError, RateLimited, TransientError
from repmon.models import Mention

BRAND = BrandConfig(name="Tidewell", keywords=["tidewell"], exclude=["tidewell beach"])
SEARCH = "https://hn.algolia.com/api/v1/search_by_date"
NOW = int(time.time())


def story(oid, at, title="Tidewell Mobile outage takes down eSIM activation", text=None, url="https://example.com/tw"):
    return {
        "_highlightResult": {"author": {"matchLevel": "none", "matchedWords": [], "value": "jdoe"},
                             "title": {"fullyHighlighted": False, "matchLevel": "full", "matchedWords": ["tidewell"],
                                       "value": title.replace("Tidewell", "<em>Tidewell</em>")}},
        "_tags": ["story", "author_jdoe", f"story_{oid}"],
        "author": "jdoe", "children": [], "created_at": datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_at_i": at, "num_comments": 0, "objectID": str(oid), "points": 12, "story_id": oid,
        "story_text": text, "title": title, "updated_at": "2026-11-20T14:10:00Z", "url": url,
    }


def comment(oid, at, html="Tidewell support never answered<p>Second &amp; last paragraph", story_id=41000000, parent=41000000):
    return {
        "_highlightResult": {"comment_text": {"matchLevel": "full", "matchedWords": ["tidewell"], "value": html}},
        "_tags": ["comment", "author_pat", f"story_{story_id}"],
        "author": "pat", "comment_text": html,
        "created_at": datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "created_at_i": at,
        "objectID": str(oid), "parent_id": parent, "story_id": story_id,
        "story_title": "Ask HN: Which carrier?", "story_url": None, "updated_at": "2026-11-20T14:10:00Z",
    }


class FakeAlgolia:
    """Answers search_by_date from a list of hits the way the real index does."""

    def __init__(self, hits):
        self.hits = list(hits)
        self.requests = []

    def __call__(self, request):
        p = request.url.params
        self.requests.append(dict(p))
        bounds = dict(re.fullmatch(r"created_at_i(>=|<=)(\d+)", f).groups() for f in p["numericFilters"].split(","))
        lo, hi = int(bounds[">="]), int(bounds["<="])
        tags = p["tags"]
        sel = [h for h in self.hits if lo <= h["created_at_i"] <= hi
               and (tags == "(story,comment)" or h["_tags"][0] == tags)]
        sel.sort(key=lambda h: -h["created_at_i"])
        hpp, page = int(p["hitsPerPage"]), int(p["page"])
        pages = min(math.ceil(len(sel) / hpp), 1000 // hpp)
        body = {
            "exhaustive": {"nbHits": True, "typo": True}, "exhaustiveNbHits": True, "exhaustiveTypo": True,
            "hits": sel[page * hpp:(page + 1) * hpp] if page < pages else [],
            "hitsPerPage": hpp, "nbHits": len(sel), "nbPages": pages, "page": page,
            "params": str(request.url.query, "ascii"), "processingTimeMS": 1, "query": p["query"], "serverTimeMS": 2,
        }
        return httpx.Response(200, json=body)


def make(**opts):
    return HackerNewsCollector.from_config("hn", {"kind": "hackernews", **opts}, BRAND)


def run(collector, cursor=None):
    return list(collector.fetch(cursor))


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(hackernews, "_now", lambda: NOW)


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as router:
        yield router


def serve(api, hits):
    fake = FakeAlgolia(hits)
    api.get(SEARCH).mock(side_effect=fake)
    return fake


def test_maps_stories_and_comments(api):
    fake = serve(api, [story(41000000, NOW - 600, text="<p>Anyone else &gt; 2h without data?"),
                       comment(41000001, NOW - 300)])
    batches = run(make())
    assert len(batches) == 1 and len(fake.requests) == 1
    q = fake.requests[0]
    assert q["query"] == "Tidewell" and q["tags"] == "(story,comment)"
    assert q["numericFilters"] == f"created_at_i>={NOW - 7 * 86400},created_at_i<={NOW}"
    s, c = sorted(batches[0].mentions, key=lambda m: m["native_id"])
    assert s["platform"] == "hackernews" and s["kind"] == "post" and s["parent_id"] is None
    assert s["text"] == "Tidewell Mobile outage takes down eSIM activation\n\nAnyone else > 2h without data?"
    assert s["url"] == "https://news.ycombinator.com/item?id=41000000" and s["thread_id"] == "41000000"
    assert s["created_at"] == datetime.fromtimestamp(NOW - 600, timezone.utc) and s["created_at"].tzinfo
    assert c["kind"] == "comment" and c["author"] == "pat"
    assert c["text"] == "Tidewell support never answered\n\nSecond & last paragraph"
    assert c["thread_id"] == "41000000" and c["parent_id"] == "41000000"
    raw = c["raw"]
    assert raw["collector"] == "hackernews" and raw["query"] == "Tidewell" and raw["api"].endswith("search_by_date")
    assert raw["item"]["objectID"] == "41000001" and "_highlightResult" not in raw["item"]
    assert json.dumps(raw)  # storable as JSON


def test_paging_advances_the_cursor_only_after_the_whole_window(api):
    fake = serve(api, [comment(41000100 + i, NOW - 1000 + i) for i in range(5)])
    batches = run(make(page_size=2))
    assert [len(b.mentions) for b in batches] == [2, 2, 1]
    assert [r["page"] for r in fake.requests] == ["0", "1", "2"]
    # Pages come newest first inside a window, so only the last page may move the cursor.
    assert json.loads(batches[0].cursor) == {"since": {}} == json.loads(batches[1].cursor)
    assert json.loads(batches[-1].cursor)["since"]["Tidewell"] == NOW + 1
    assert len({m["native_id"] for b in batches for m in b.mentions}) == 5


def test_windows_over_1000_hits_are_split_and_walked_oldest_first(api):
    start = NOW - 5 * 86400
    hits = [comment(42000000 + i, start + i * 150) for i in range(2500)]  # 2,500 hits in ~4.3 days
    fake = serve(api, hits)
    batches = run(make(page_size=1000, backfill_days=6))
    got = [m["native_id"] for b in batches for m in b.mentions]
    assert len(got) == 2500 == len(set(got))
    assert all(r["hitsPerPage"] == "1000" for r in fake.requests)
    # Each window's last batch carries a cursor, and the cursor only ever moves forward.
    marks = [json.loads(b.cursor)["since"].get("Tidewell") for b in batches]
    moved = [m for m in marks if m is not None]
    assert moved == sorted(moved) and len(moved) >= 3
    oldest = [min(m["created_at"] for m in b.mentions) for b in batches if b.mentions]
    assert oldest == sorted(oldest)


def test_resume_fetches_only_newer_items(api, monkeypatch):
    fake = serve(api, [story(41000200, NOW - 5000), comment(41000201, NOW - 4000)])
    first = run(make(lag_seconds=0))
    since = json.loads(first[-1].cursor)["since"]["Tidewell"]
    assert since == NOW + 1
    fake.hits.append(comment(41000202, NOW + 30))
    monkeypatch.setattr(hackernews, "_now", lambda: NOW + 60)
    second = run(make(lag_seconds=0), first[-1].cursor)
    assert fake.requests[-1]["numericFilters"] == f"created_at_i>={NOW + 1},created_at_i<={NOW + 60}"
    assert [m["native_id"] for b in second for m in b.mentions] == ["41000202"]
    assert json.loads(second[-1].cursor)["since"]["Tidewell"] == NOW + 61


def test_lag_rereads_before_the_cursor(api):
    fake = serve(api, [])
    cursor = json.dumps({"since": {"Tidewell": NOW - 100}})
    run(make(lag_seconds=300), cursor)
    assert fake.requests[0]["numericFilters"].startswith(f"created_at_i>={NOW - 400},")


def test_empty_result_still_advances_the_cursor(api):
    serve(api, [])
    batches = run(make())
    assert len(batches) == 1 and batches[0].mentions == []
    assert json.loads(batches[0].cursor)["since"]["Tidewell"] == NOW + 1


def test_off_brand_hits_are_dropped_unless_match_brand_is_off(api):
    serve(api, [comment(41000300, NOW - 60, html="Sunset at Tidewell Beach"),
                comment(41000301, NOW - 50, html="tidewel typo hit from the fuzzy index")])
    assert run(make())[0].mentions == []
    assert run(make())[0].notes["dropped"] == 2
    assert len(run(make(match_brand=False))[0].mentions) == 2


def test_removed_comment_without_text_is_skipped(api):
    gone = comment(41000400, NOW - 60)
    gone["comment_text"] = None
    gone["author"] = None
    serve(api, [gone, comment(41000401, NOW - 50)])
    assert [m["native_id"] for m in run(make())[0].mentions] == ["41000401"]


def test_emoji_and_right_to_left_text_survive(api):
    fa = "خط Tidewell از دیشب قطع است 😡<p>پشتیبانی جواب نمی‌دهد &#128545;"
    ar = "خدمة Tidewell سيئة جدا 👎"
    serve(api, [comment(41000500, NOW - 60, html=fa), story(41000501, NOW - 50, title=ar)])
    texts = sorted(m["text"] for m in run(make())[0].mentions)
    assert texts == sorted(["خط Tidewell از دیشب قطع است 😡\n\nپشتیبانی جواب نمی‌دهد 😡", ar])


def test_html_to_text():
    assert html_to_text('a &quot;b&quot;<p>see <a href="https://x.org" rel="nofollow">https://x.org</a>'
                        "<p><pre><code>  x = 1\n</code></pre>") == 'a "b"\n\nsee https://x.org\n\nx = 1'
    assert html_to_text(None) == "" and html_to_text("it&#x27;s <i>fine</i>") == "it's fine"


@pytest.mark.parametrize("headers, seconds", [({"Retry-After": "120"}, 120), ({}, 60)])
def test_429_raises_rate_limited_with_reset(api, headers, seconds):
    api.get(SEARCH).mock(return_value=httpx.Response(429, headers=headers, json={"message": "Too many requests"}))
    before = datetime.now(timezone.utc)
    with pytest.raises(RateLimited) as exc:
        run(make())
    assert before + timedelta(seconds=seconds - 1) <= exc.value.reset_at <= datetime.now(timezone.utc) + timedelta(seconds=seconds)


def test_429_with_http_date():
    with respx.mock() as api:
        api.get(SEARCH).mock(return_value=httpx.Response(429, headers={"Retry-After": "Fri, 20 Nov 2026 14:03:00 GMT"}))
        with pytest.raises(RateLimited) as exc:
            run(make())
    assert exc.value.reset_at == datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)


@pytest.mark.parametrize("response, error", [
    (httpx.Response(503, text="<html>Service Unavailable</html>"), TransientError),
    (httpx.Response(200, text='{"hits": [{"objectID": '), TransientError),
    (httpx.Response(200, json={"message": "no hits key"}), TransientError),
    (httpx.Response(401, json={"message": "Invalid Application-ID or API key", "status": 401}), AuthError),
    (httpx.ReadTimeout("timed out"), TransientError),
    (httpx.ConnectError("name resolution failed"), TransientError),
])
def test_errors_are_translated(api, response, error):
    route = api.get(SEARCH)
    route.mock(side_effect=response) if isinstance(response, Exception) else route.mock(return_value=response)
    with pytest.raises(error) as exc:
        run(make())
    assert "hackernews search 'Tidewell'" in str(exc.value)


def test_exists(api):
    base = "https://hn.algolia.com/api/v1/items/"
    api.get(base + "1").mock(return_value=httpx.Response(200, json={
        "id": 1, "created_at": "2006-10-09T18:21:51.000Z", "created_at_i": 1160418111, "type": "story", "author": "pg",
        "title": "Y Combinator", "url": "http://ycombinator.com", "text": None, "points": 57, "parent_id": None,
        "story_id": 1, "children": [], "options": []}))
    api.get(base + "2").mock(return_value=httpx.Response(404, json={"status": 404, "error": "Not Found"}))
    api.get(base + "3").mock(return_value=httpx.Response(200, json={
        "id": 3, "created_at_i": 1160418111, "type": "comment", "author": None, "text": None, "title": None,
        "parent_id": 1, "story_id": 1, "children": []}))
    api.get(base + "4").mock(return_value=httpx.Response(502))
    c = make()
    assert c.exists("1") is True and c.exists("2") is False and c.exists("3") is False
    with pytest.raises(TransientError):
        c.exists("4")


def test_default_queries_come_from_the_brand():
    brand = BrandConfig(name="Tidewell Mobile", keywords=["tidewell", "refund*", '"tide well"'], handles=["@tidewellhelp"])
    c = HackerNewsCollector.from_config("hn", {}, brand)
    assert c.options.queries == []
    assert default_queries(brand) == ["Tidewell Mobile", "tidewell", "refund", '"tide well"', "tidewellhelp"]


@pytest.mark.parametrize("opts, key", [({"page_size": 0}, "sources.hn.page_size"),
                                        ({"pagesize": 10}, "sources.hn.pagesize"),
                                        ({"queries": "tidewell"}, "sources.hn.queries")])
def test_options_errors_name_the_key(opts, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        make(**opts)


def _cfg(tmp_path, **opts):
    return config.parse({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
                         "brands": [{"name": "Tidewell", "keywords": ["tidewell"]}],
                         "sources": {"hn": {"kind": "hackernews", "page_size": 2, **opts}}}, "test")


def test_through_the_runner_twice_and_after_a_crash(api, tmp_path, monkeypatch):
    serve(api, [story(41000600, NOW - 900)] + [comment(41000601 + i, NOW - 800 + i) for i in range(4)])
    cfg = _cfg(tmp_path)
    store.migrate(cfg.database.url)

    # Crash while storing the second page: the first page is kept, the cursor has not moved.
    real, calls = store.upsert_mentions, []

    def flaky(s, rows, cursor=None):
        calls.append(cursor)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(s, rows, cursor=cursor)

    monkeypatch.setattr(store, "upsert_mentions", flaky)
    r = pipeline.collect(cfg, only="hn")[0]
    assert r.error and "disk full" in r.error and r.inserted == 2
    monkeypatch.setattr(store, "upsert_mentions", real)

    r = pipeline.collect(cfg, only="hn")[0]
    assert r.error is None and r.inserted == 3
    r = pipeline.collect(cfg, only="hn")[0]
    assert r.error is None and r.inserted == 0 and r.updated == 0
    with store.session(cfg.database.url) as s:
        rows = s.exec(select(Mention).where(Mention.source == "hn")).all()
        cursor = store.load_cursor(s, "hn")
    assert len(rows) == 5 and {m.platform for m in rows} == {"hackernews"}
    assert json.loads(cursor)["since"]["Tidewell"] >= NOW
