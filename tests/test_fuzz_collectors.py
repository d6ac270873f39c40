"""Property-based fuzzing of the collectors (issue #9, "Bad input").

Each collector runs through `repmon.pipeline.collect` against the HTTP its client library
really sends, intercepted the way its own tests intercept it (`responses` under tweepy/praw,
`respx` under httpx, googleapiclient's HttpMockSequence, a local server for Google Play).
The answers are either API-shaped pages whose fields hypothesis mutates (keys dropped, wrong
types, nulls, huge/unicode/control-character strings, bad timestamps, negative or enormous
counts), or garbage bodies (HTML error pages, truncated JSON, bytes, empty, wrong types).

The property, for every answer: `pipeline.collect` returns; nothing crashed in the collector
(the runner logs "collector crashed" only for an exception outside repmon's CollectorError
tree); a failure is the source's recorded error; and what was stored is whole pages of
storable mentions.

Examples per test: profile "repmon-fuzz" (40); HYPOTHESIS_PROFILE=ci selects "repmon-fuzz-ci".
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Optional
from xml.sax.saxutils import escape

import httpx
import prawcore
import pytest
import respx
import responses
import sqlalchemy as sa
from google_play_scraper.constants.request import Formats
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from sqlmodel import select

from collectors import bluesky as bluesky_mod
from collectors.google_play import GooglePlayCollector
from collectors.youtube import YouTubeCollector
from repmon import config, pipeline, store
from repmon.models import KINDS, Mention
# The collectors' own tests hold payloads shaped like each API's: their builders are reused here.
from tests import test_collector_app_store as ast
from tests import test_collector_bluesky as bt
from tests import test_collector_google_play as gpt
from tests import test_collector_hackernews as ht
from tests import test_collector_mastodon as mt
from tests import test_collector_reddit as rt
from tests import test_collector_rss as rsst
from tests import test_collector_x as xt
from tests import test_collector_youtube as yt

settings.register_profile(
    "repmon-fuzz", max_examples=40, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("repmon-fuzz-ci", settings.get_profile("repmon-fuzz"), max_examples=300)
FUZZ = settings.get_profile("repmon-fuzz-ci" if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else "repmon-fuzz")

BRAND = {"name": "Tidewell", "keywords": ["tidewell", "acme"], "handles": ["@TidewellCare"]}
NOW = datetime.now(timezone.utc)


# -- what hypothesis puts into payloads --------------------------------------------------------

BAD_TIMES = st.sampled_from([
    "", " ", "not a date", "2024-13-45T25:61:61Z", "0000-00-00T00:00:00Z", "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z", "2024-05-01", "2024-05-01T10:00:00", "2024-05-01T10:00:00+25:00", "-1", "1e400",
    "NaN", "２０２４-05-01T10:00:00Z", "Fri, 20 Nov 2026 13:00:00 GMT", "1714557600", "2024-05-01T10:00:00.123456789Z",
])
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn"]), max_size=20),  # control, zero-width, RTL marks
    st.sampled_from(["", " ", "\x00", "😡" * 20, "\u202eTidewell\u202c", "خدمة Tidewell سيئة", "<p>Tidewell</p><script>x</script>",
                     "&amp;&lt;&#0;&#xD800;", "null", "[removed]", "Tidewell \ud83d", "\ud800", "\ufeff\u200b\u200d"]),
    # Huge. (Not one letter repeated: lingua needs ~20 s for 120,000 of those, see scoring/lang.py.)
    st.integers(100, 10_000).map(lambda n: "Tidewell " + "жабв где 😡 " * n),
)
NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([-1, 0, 2**31, 2**63, 10**30]),
                    st.floats(allow_nan=True, allow_infinity=True))
JUNK = st.one_of(st.none(), st.booleans(), NUMBERS, ODD_TEXT, BAD_TIMES, st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


def _retyped(value: Any) -> Any:
    """The same value in the wrong JSON type."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return int(value) if value.isdigit() else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return "null"


@st.composite
def mutated(draw: Any, doc: Any, focus: frozenset = frozenset(), most: int = 4) -> Any:
    """`doc` with 1..most mutations; paths ending in a `focus` key (the fields the collector
    reads) are picked four times in five."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, most))):
        paths = list(_paths(doc))
        if not paths:
            break
        hot = [p for p in paths if p[-1] in focus]
        path = draw(st.sampled_from(hot if hot and draw(st.integers(0, 4)) else paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["delete", "junk", "junk", "retype"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "retype":
            parent[path[-1]] = _retyped(parent[path[-1]])
        else:
            parent[path[-1]] = draw(JUNK)
    note(f"mutated payload: {json.dumps(doc, allow_nan=True)[:1500]}")
    return doc


def to_json(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


def _truncated(doc: Any) -> st.SearchStrategy:
    body = json.dumps(doc)
    return st.integers(0, max(0, len(body) - 1)).map(lambda n: body[:n].encode())


HTML_PAGES = [b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
              b"<!DOCTYPE html><html><body>Service Unavailable - Zero size object</body></html>",
              b"<html><body><h1>Rate limit exceeded</h1></body></html>", b"upstream connect error or disconnect/reset"]
CONTENT_TYPES = ["application/json; charset=utf-8", "text/html; charset=utf-8", "text/plain", "application/xml",
                 "application/octet-stream", "application/json; charset=latin-1", ""]


def garbage(valid: Any) -> st.SearchStrategy:
    """(status, content type, body) answers that are not the API's page."""
    json_values = st.recursive(st.none() | st.booleans() | NUMBERS | st.text(max_size=10),
                               lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                               max_leaves=8).map(to_json)
    body = st.one_of(st.just(b""), st.sampled_from(HTML_PAGES), st.binary(max_size=200), _truncated(valid), json_values,
                     st.sampled_from([b"null", b"[]", b"{}", b"\"ok\"", b"0", b"\xef\xbb\xbf{}", b"{\"data\": nul",
                                      b")]}'\n\n[]", b"\x1f\x8b\x08\x00"]))
    status = st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403, 404, 410, 418, 429, 500, 502, 503])
    return st.tuples(status, st.sampled_from(CONTENT_TYPES), body)


def _edited(doc: Any, edit: Callable[[Any], None]) -> Any:
    doc = copy.deepcopy(doc)
    edit(doc)
    return doc


# -- running a source through the pipeline -----------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def one_tls_context():
    """Every httpx.Client loads the CA bundle (~60 ms); the examples share one context instead."""
    import httpx._transports.default as transport

    contexts: dict = {}
    real = transport.create_ssl_context

    def shared(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        key = (repr(verify), repr(cert), trust_env)
        if key not in contexts:
            contexts[key] = real(verify=verify, cert=cert, trust_env=trust_env)
        return contexts[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(transport, "create_ssl_context", shared)
        yield


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> str:
    """A migrated SQLite file, migrated once; each test works on a copy."""
    path = tmp_path_factory.mktemp("fuzzdb") / "template.db"
    url = f"sqlite:///{path}"
    store.migrate(url)
    store._engines.pop(url).dispose()
    return str(path)


@pytest.fixture
def db(template_db, tmp_path) -> Iterator[str]:
    """A database for one test; `fresh(db)` empties what a collector run writes, between examples."""
    path = tmp_path / "fuzz.db"
    shutil.copy(template_db, path)
    url = f"sqlite:///{path}"
    yield url
    engine = store._engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def fresh(url: str) -> str:
    with store.session(url) as s:
        for table in ("mentionrevision", "mention", "collectorcursor", "alertoutbox", "source"):
            s.execute(sa.text(f"DELETE FROM {table}"))
    return url


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(r.getMessage() + (f"\n{r.exc_text}" if r.exc_text else "") for r in self.records)


@contextlib.contextmanager
def captured() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def collect(url: str, kind: str, options: dict, brand: Optional[dict] = None):
    """One run of a source named "src" on an emptied database: (result, stored mentions, log records)."""
    fresh(url)
    with captured() as logs:
        cfg = config.parse({"database": {"url": url}, "brands": [brand or BRAND],
                            "sources": {"src": {"kind": kind, **options}}}, "fuzz")
        [result] = pipeline.collect(cfg, only="src", retries=0)
        with store.session(url) as s:
            rows = s.exec(select(Mention)).all()
    return result, rows, logs


def assert_sane(result: pipeline.CollectResult, rows: list[Mention], logs: Records) -> None:
    """The property every collector run must have, whatever the API answered."""
    note(f"result: {result}")
    crashed = [r for r in logs.records if "collector crashed" in r.getMessage()]
    assert not crashed, f"an exception outside the CollectorError tree escaped the collector:\n{logs.text()[-4000:]}"
    assert result.error is None or result.error.strip(), "a failure must say what failed"
    # Whole pages only: what the result counted is exactly what is stored (the database was empty).
    assert len(rows) == result.inserted, (len(rows), result)
    for m in rows:
        assert isinstance(m.native_id, str) and 0 < len(m.native_id) <= 200, m.native_id
        assert isinstance(m.platform, str) and 0 < len(m.platform) <= 50
        assert isinstance(m.text, str) and m.text.strip(), repr(m.text)
        assert isinstance(m.author, str) and len(m.author) <= 200, m.author
        assert m.url is None or isinstance(m.url, str)
        assert isinstance(m.created_at, datetime) and m.created_at.tzinfo is not None
        assert isinstance(m.author_reach, int) and 0 <= m.author_reach < 2**31, m.author_reach
        assert m.rating is None or (isinstance(m.rating, int) and 1 <= m.rating <= 5), m.rating
        assert m.lang is None or (isinstance(m.lang, str) and 0 < len(m.lang) <= 16), m.lang
        assert m.kind in KINDS, m.kind
        for ref in (m.thread_id, m.parent_id):
            assert ref is None or (isinstance(ref, str) and len(ref) <= 200), ref
        json.dumps(m.raw)


def run_and_check(url: str, kind: str, options: dict, brand: Optional[dict] = None) -> pipeline.CollectResult:
    result, rows, logs = collect(url, kind, options, brand)
    assert_sane(result, rows, logs)
    return result


# -- X (tweepy over requests, intercepted with `responses`) --------------------------------------


X_FOCUS = frozenset({"data", "includes", "users", "meta", "errors", "id", "text", "author_id", "created_at", "lang",
                     "conversation_id", "referenced_tweets", "type", "edit_history_tweet_ids", "note_tweet",
                     "public_metrics", "followers_count", "username", "next_token", "detail", "title"})


def x_page() -> dict:
    root = xt.post(30, text="Tidewell dropped my calls again 😡", seq=1)
    reply = xt.post(20, text="@anapop tidewell support says 2 hours", author="783214", reply_to=root["id"],
                    conversation=root["id"], seq=2)
    other = xt.post(10, text="تایدول Tidewell افتضاحه", author="1120633726478823425", lang="fa", seq=3)
    return {"data": [other, reply, root],
            "includes": {"users": list(xt.USERS.values()), "tweets": [root]},
            "errors": [{"value": "1", "detail": "Could not find tweet with referenced_tweets.id: [1].",
                        "title": "Not Found Error", "resource_type": "tweet", "parameter": "referenced_tweets.id",
                        "resource_id": "1", "type": "https://api.twitter.com/2/problems/resource-not-found"}],
            "meta": {"newest_id": other["id"], "oldest_id": root["id"], "result_count": 3}}


@contextlib.contextmanager
def x_api(first: tuple[int, str, bytes]) -> Iterator[None]:
    answers = [first]

    def search(request):
        status, ctype, body = answers.pop(0) if answers else (200, "application/json", b'{"meta": {"result_count": 0}}')
        return status, dict(xt.HEADERS, **({"Content-Type": ctype} if ctype else {})), body

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, xt.SEARCH, callback=search)
        rsps.add_callback(responses.GET, re.compile(rf"{xt.API}/users/\d+/mentions.*"), callback=search)
        yield


X_OPTS = {"bearer_token": "AAAA-fuzz-bearer-token", "mentions_user_id": "783214"}


@FUZZ
@example(page=_edited(x_page(), lambda d: d["includes"].update(users=[None, "x"])))  # found by fuzzing
@example(page=_edited(x_page(), lambda d: d["data"][0].update(id="not-a-number", edit_history_tweet_ids="1")))
@given(page=mutated(x_page(), X_FOCUS))
def test_x_mutated_pages(db, page):
    with x_api((200, "application/json; charset=utf-8", to_json(page))):
        run_and_check(db, "x", X_OPTS)


@FUZZ
@example(answer=(400, "application/json", b"null"))  # tweepy fails reading a non-object error body
@given(answer=garbage(x_page()))
def test_x_garbage_answers(db, answer):
    with x_api(answer):
        run_and_check(db, "x", X_OPTS)


# -- Reddit (praw/prawcore over requests, intercepted with `responses`) --------------------------


REDDIT_FOCUS = frozenset({"kind", "data", "children", "after", "name", "id", "created_utc", "title", "selftext", "body",
                          "author", "permalink", "num_comments", "removed_by_category", "link_id", "parent_id",
                          "replies", "subreddit"})
REDDIT_OPTS = {"client_id": "cid-fuzz", "client_secret": "reddit-fuzz-client-secret",
               "user_agent": "server:repmon-fuzz:1.0 (by /u/repmon)"}


def reddit_search_page() -> dict:
    now = time.time()
    return rt.listing([rt.post("p3", now - 10, "Tidewell dropped my calls", "Third time this week.", num_comments=2),
                       rt.post("p2", now - 20, "Tidewell price hike", author="[deleted]"),
                       rt.post("p1", now - 30, "tidewell", selftext="[removed]", removed_by_category="moderator")],
                      after="t3_p1")


def reddit_comments_page() -> list:
    now = time.time()
    return [rt.listing([rt.post("p3", now - 10, "Tidewell dropped my calls", num_comments=2)]),
            rt.listing([rt.comment("c1", now - 5, "Same, Tidewell is down 😤", "p3"),
                        rt.more("c9", "t3_p3", ["c9"])])]


@pytest.fixture
def reddit_quiet(monkeypatch):
    """prawcore sleeps before its retries of a 5xx; not here."""
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


@contextlib.contextmanager
def reddit_api(search: tuple[int, str, bytes], comments: Optional[tuple[int, str, bytes]] = None,
               token: Optional[tuple[int, str, bytes]] = None) -> Iterator[None]:
    answers = {"search": [search], "comments": [comments] if comments else []}
    empty = to_json(rt.listing([]))

    def answer(kind):
        def callback(request):
            status, ctype, body = answers[kind].pop(0) if answers[kind] else (200, "application/json", empty)
            return status, dict(rt.LIMITS, **({"Content-Type": ctype} if ctype else {})), body
        return callback

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        if token:
            rsps.add(responses.POST, rt.TOKEN_URL, status=token[0], body=token[2], content_type=token[1] or None)
        else:
            rsps.post(rt.TOKEN_URL, json={"access_token": "tok-abc", "token_type": "bearer", "expires_in": 86400,
                                          "scope": "*"})
        rsps.add_callback(responses.GET, re.compile(rf"{rt.API}/r/[^/]+/search/.*"), callback=answer("search"))
        rsps.add_callback(responses.GET, re.compile(rf"{rt.API}/comments/.*"), callback=answer("comments"))
        rsps.add_callback(responses.GET, re.compile(rf"{rt.API}/api/info/.*"), callback=answer("info"))
        answers["info"] = []
        yield


@FUZZ
@example(page=_edited(reddit_search_page(), lambda d: d["data"].pop("after")),  # praw: no 'after'
         comments=reddit_comments_page())
@example(page=_edited(reddit_search_page(), lambda d: d["data"]["children"][0]["data"].update(created_utc="soon", num_comments="2")),
         comments=_edited(reddit_comments_page(), lambda d: d[1]["data"]["children"][0].update(kind="t9")))
@given(page=mutated(reddit_search_page(), REDDIT_FOCUS), comments=mutated(reddit_comments_page(), REDDIT_FOCUS))
def test_reddit_mutated_listings(db, reddit_quiet, page, comments):
    with reddit_api((200, "application/json", to_json(page)), (200, "application/json", to_json(comments))):
        run_and_check(db, "reddit", REDDIT_OPTS)


@FUZZ
@given(answer=garbage(reddit_search_page()), where=st.sampled_from(["token", "search", "comments"]))
def test_reddit_garbage_answers(db, reddit_quiet, answer, where):
    good = (200, "application/json", to_json(reddit_search_page()))
    with reddit_api(answer if where == "search" else good, answer if where == "comments" else None,
                    answer if where == "token" else None):
        run_and_check(db, "reddit", REDDIT_OPTS)


# -- Mastodon (httpx, intercepted with respx) ----------------------------------------------------


MASTODON_FOCUS = frozenset({"id", "created_at", "content", "spoiler_text", "account", "acct", "username",
                            "followers_count", "uri", "url", "language", "in_reply_to_id", "reblog", "statuses"})
MASTODON_OPTS = {"instance": mt.BASE, "hashtags": ["acme"], "access_token": "mastodon-fuzz-access-token"}


def mastodon_page() -> list:
    return [mt.recent(903, content="<p>Acme lost my parcel 😡</p>", acct="bob@other.example", reply_to=901),
            mt.recent(902, content="<p>خدمة Acme سيئة جدا</p>", language="ar", spoiler="cw"),
            mt.recent(901, content="<p>I love <b>Acme</b></p>")]


@contextlib.contextmanager
def mastodon_api(tag: httpx.Response, search: Optional[httpx.Response] = None,
                 parent: Optional[httpx.Response] = None) -> Iterator[None]:
    with respx.mock(base_url=mt.BASE, assert_all_called=False) as api:
        api.get(mt.TAG).mock(side_effect=[tag] + [httpx.Response(200, json=[])] * 20)
        api.get("/api/v2/search").mock(side_effect=[search or httpx.Response(200, json={"statuses": []})]
                                       + [httpx.Response(200, json={"statuses": []})] * 20)
        api.get(path__regex=r"^/api/v1/statuses/.*").mock(return_value=parent or httpx.Response(404))
        yield


def http_answer(status: int, ctype: str, body: bytes) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"Content-Type": ctype} if ctype else {})


@FUZZ
@example(page=_edited(mastodon_page(), lambda d: d[0].pop("id")), found={"statuses": []}, parent=mt.recent(901))
@example(page=mastodon_page(), found={"statuses": [dict(mt.recent(905), id="\ud800", in_reply_to_id="\x1f" * 9000)]},
         parent=[None])
@given(page=mutated(mastodon_page(), MASTODON_FOCUS), found=mutated({"statuses": mastodon_page()}, MASTODON_FOCUS),
       parent=mutated(mt.recent(901), MASTODON_FOCUS))
def test_mastodon_mutated_statuses(db, page, found, parent):
    with mastodon_api(httpx.Response(200, content=to_json(page)), httpx.Response(200, content=to_json(found)),
                      httpx.Response(200, content=to_json(parent))):
        run_and_check(db, "mastodon", MASTODON_OPTS)


@FUZZ
@given(tag=garbage(mastodon_page()), search=garbage({"statuses": mastodon_page()}), parent=garbage(mt.recent(901)))
def test_mastodon_garbage_answers(db, tag, search, parent):
    with mastodon_api(http_answer(*tag), http_answer(*search), http_answer(*parent)):
        run_and_check(db, "mastodon", MASTODON_OPTS)


# -- Bluesky (httpx, intercepted with respx) -----------------------------------------------------


BLUESKY_FOCUS = frozenset({"posts", "cursor", "uri", "indexedAt", "record", "createdAt", "text", "langs", "reply",
                           "root", "parent", "author", "handle", "did", "followersCount", "accessJwt"})
BLUESKY_OPTS = {"handle": "acme.bsky.social", "app_password": "fuzz-bsky-app-password", "query": "acme"}


def bluesky_page() -> dict:
    root = bt.post("3kroot001", text="Acme lost my parcel 😡")
    reply = bt.post("3kreply01", text="@acme.bsky.social still waiting", handle="bob.example.com",
                    reply_to=root["uri"], langs=["en-US"])
    reply["author"]["followersCount"] = 42
    return {"posts": [reply, root, bt.post("3kfa00001", text="Acme خیلی بد است", langs=["fa"])],
            "hitsTotal": 3, "cursor": "3"}


@contextlib.contextmanager
def bluesky_api(search: httpx.Response, login: Optional[httpx.Response] = None) -> Iterator[None]:
    bluesky_mod._SESSIONS.clear()  # signed-in sessions live for the process; each example signs in
    with respx.mock(base_url=bt.SERVICE, assert_all_called=False) as api:
        api.post(bt.LOGIN).mock(return_value=login or httpx.Response(200, json=bt.session()))
        api.post(bt.REFRESH).mock(return_value=httpx.Response(400, json={"error": "ExpiredToken"}))
        api.get(bt.SEARCH).mock(side_effect=[search] + [httpx.Response(200, json={"posts": []})] * 20)
        yield
    bluesky_mod._SESSIONS.clear()


@FUZZ
@example(page=_edited(bluesky_page(), lambda d: d["posts"].insert(0, list(d["posts"][0].values()))))
@example(page=_edited(bluesky_page(), lambda d: d.update(cursor={"x": 1}) or d["posts"][0]["record"].update(langs="en")))
@given(page=mutated(bluesky_page(), BLUESKY_FOCUS))
def test_bluesky_mutated_posts(db, page):
    with bluesky_api(httpx.Response(200, content=to_json(page))):
        run_and_check(db, "bluesky", BLUESKY_OPTS)


@FUZZ
@example(answer=(400, "application/json", b"null"), login=False, session=bt.session())
@example(answer=(200, "", b""), login=True, session=dict(bt.session(), accessJwt="jwt-\u0436" * 40))
@given(answer=garbage(bluesky_page()), login=st.booleans(), session=mutated(bt.session(), BLUESKY_FOCUS))
def test_bluesky_garbage_answers(db, answer, login, session):
    good = httpx.Response(200, content=to_json(bluesky_page()))
    if login:  # garbage from the sign-in, or a session object with junk in it
        with bluesky_api(good, http_answer(*answer) if session.get("did") is None else httpx.Response(200, content=to_json(session))):
            run_and_check(db, "bluesky", BLUESKY_OPTS)
    else:
        with bluesky_api(http_answer(*answer)):
            run_and_check(db, "bluesky", BLUESKY_OPTS)


# -- Hacker News (httpx, intercepted with respx) -------------------------------------------------


HN_FOCUS = frozenset({"hits", "objectID", "_tags", "comment_text", "story_text", "title", "created_at_i", "story_id",
                      "parent_id", "author", "url", "nbHits", "nbPages"})


def hn_page() -> dict:
    now = int(time.time())
    hits = [ht.comment(41000002, now - 60), ht.story(41000001, now - 120, text="<p>Tidewell &amp; me</p>"),
            ht.comment(41000003, now - 30, html="سرویس Tidewell افتضاح است 😡", parent=41000002)]
    return {"exhaustive": {"nbHits": True, "typo": True}, "hits": hits, "hitsPerPage": 100, "nbHits": 3,
            "nbPages": 1, "page": 0, "params": "query=tidewell", "processingTimeMS": 1, "query": "tidewell"}


EMPTY_HN = {"hits": [], "nbHits": 0, "nbPages": 0, "page": 0}


@contextlib.contextmanager
def hn_api(first: httpx.Response) -> Iterator[None]:
    with respx.mock(assert_all_called=False) as api:
        api.get(ht.SEARCH).mock(side_effect=[first] + [httpx.Response(200, json=EMPTY_HN)] * 100)
        yield


@FUZZ
@example(page=_edited(hn_page(), lambda d: d["hits"][0].pop("created_at_i") and d.update(nbHits="many")))
@given(page=mutated(hn_page(), HN_FOCUS))
def test_hackernews_mutated_hits(db, page):
    with hn_api(httpx.Response(200, content=to_json(page))):
        run_and_check(db, "hackernews", {"queries": ["tidewell"]})


@FUZZ
@given(reply=garbage(hn_page()))
def test_hackernews_garbage_answers(db, reply):
    with hn_api(http_answer(*reply)):
        run_and_check(db, "hackernews", {"queries": ["tidewell"]})


# -- RSS / Atom (httpx + feedparser, intercepted with respx) -------------------------------------


XML_TEXT = st.one_of(ODD_TEXT, st.sampled_from(["Tidewell outage", "Tidewell & co", "<b>Tidewell</b>", "]]>", "&bogus;",
                                                "Tidewell \x0b vertical tab", "Tidewell" + "\u0000"]))
PUB_DATES = st.one_of(BAD_TIMES, st.sampled_from(["Fri, 20 Nov 2026 13:00:00 GMT", "Mon, 99 Foo 2026 99:99:99 XYZ",
                                                  "Sun, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", None]))


@st.composite
def rss_feed(draw: Any) -> bytes:
    """An RSS 2.0 or Atom document whose entries carry hypothesis' values, escaped or (sometimes) not."""
    esc = escape if draw(st.integers(0, 3)) else (lambda text, entities=None: text)
    entries = draw(st.lists(st.tuples(XML_TEXT, XML_TEXT, PUB_DATES, XML_TEXT), min_size=1, max_size=3))
    if draw(st.booleans()):
        items = "".join(rsst.rss_item(esc(guid), esc(title), pub and esc(pub), esc(source))
                        for guid, title, pub, source in entries)
        body = rsst.rss("\x00items\x00").replace(b"\x00items\x00", items.encode("utf-8", "surrogatepass"))
    else:
        items = "".join(f"<entry><title>{esc(title)}</title><id>{esc(guid)}</id>"
                        f"<link rel=\"alternate\" href=\"{esc(source, {chr(34): '&quot;'})}\"/>"
                        f"{f'<updated>{esc(pub)}</updated>' if pub else ''}<summary type=\"html\">{esc(title)}</summary></entry>"
                        for guid, title, pub, source in entries)
        body = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>Tidewell news</title><id>tag:x,2026:f</id>{items}</feed>").encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        body = body[:draw(st.integers(0, len(body)))]
    note(f"feed: {body[:1500]!r}")
    return body


@contextlib.contextmanager
def rss_api(*answers: httpx.Response) -> Iterator[None]:
    with respx.mock(assert_all_called=False) as api:
        api.get(rsst.NEWS).mock(return_value=answers[0])
        api.get(rsst.BLOG).mock(return_value=answers[-1])
        yield


RSS_OPTS = {"feeds": [rsst.NEWS, rsst.BLOG]}


@FUZZ
@example(feed=rsst.ATOM.replace(b"<published>2026-11-20T10:00:00+03:30</published>",
                                 b"<published>0000-00-00T00:00:00Z</published>"),  # year 0: no calendar has it
         ctype="application/atom+xml", match_brand=False)
@example(feed=rsst.rss(rsst.rss_item("g1", "Tidewell &#XD800; outage")), ctype="application/rss+xml", match_brand=True)
@given(feed=rss_feed(), ctype=st.sampled_from(CONTENT_TYPES[:5] + ["application/rss+xml; charset=iso-8859-1"]),
       match_brand=st.booleans())
def test_rss_fuzzed_feeds(db, feed, ctype, match_brand):
    with rss_api(httpx.Response(200, content=feed, headers={"Content-Type": ctype}),
                 httpx.Response(200, content=rsst.ATOM, headers={"Content-Type": "application/atom+xml"})):
        run_and_check(db, "rss", dict(RSS_OPTS, match_brand=match_brand))


@FUZZ
@given(reply=garbage({"rss": "not a feed"}), truncated=st.integers(0, len(rsst.ATOM)))
def test_rss_garbage_answers(db, reply, truncated):
    with rss_api(http_answer(*reply), httpx.Response(200, content=rsst.ATOM[:truncated])):
        run_and_check(db, "rss", RSS_OPTS)


# -- YouTube (google-api-python-client; its HttpMockSequence transport seam) ---------------------


YOUTUBE_FOCUS = frozenset({"items", "id", "snippet", "topLevelComment", "publishedAt", "textOriginal", "textDisplay",
                           "authorDisplayName", "videoId", "replies", "comments", "parentId", "nextPageToken"})
YOUTUBE_OPTS = {"api_key": "AIzaSy-fuzz-api-key", "channel_ids": [yt.CHANNEL], "video_ids": [yt.VIDEO]}


def youtube_page() -> dict:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    top = yt.thread("UgzTop1", "Acme ate my order 😡", now - timedelta(hours=1), replies=[
        yt.comment("UgzTop1.9xReply1", "same here", now - timedelta(minutes=30), author="@viewer2", parent="UgzTop1")])
    return json.loads(yt.listing([top, yt.thread("UgzTop2", "خدمة Acme سيئة", now - timedelta(hours=2))], "TOKEN")[1])


@pytest.fixture
def youtube_http(monkeypatch) -> list:
    """The answers the next examples' transport gives, in order."""
    answers: list = []
    monkeypatch.setattr(YouTubeCollector, "_http", lambda self: yt.Transport(answers))
    return answers


def youtube_answers(answers: list, first: tuple) -> None:
    answers[:] = [first] + [yt.listing([])] * 10


@FUZZ
@example(page=_edited(youtube_page(), lambda d: d["items"][0].pop("id") and d.update(nextPageToken="\ud83d")))
@given(page=mutated(youtube_page(), YOUTUBE_FOCUS))
def test_youtube_mutated_threads(db, youtube_http, page):
    youtube_answers(youtube_http, ({"status": "200", "content-type": "application/json; charset=UTF-8"},
                                   to_json(page)))
    run_and_check(db, "youtube", YOUTUBE_OPTS)


@FUZZ
@example(reply=(403, "application/json", b"[null]"))  # googleapiclient fails reading this error body
@given(reply=garbage(youtube_page()))
def test_youtube_garbage_answers(db, youtube_http, reply):
    status, ctype, body = reply
    youtube_answers(youtube_http, ({"status": str(status), **({"content-type": ctype} if ctype else {})}, body))
    run_and_check(db, "youtube", YOUTUBE_OPTS)


# -- App Store (httpx, intercepted with respx): the reviews RSS feed and the Connect API ----------


APP_STORE_FOCUS = frozenset({"feed", "entry", "label", "id", "updated", "im:rating", "title", "content", "author",
                             "name", "link", "attributes", "href", "rel", "data", "included", "attributes",
                             "createdDate", "rating", "body", "reviewerNickname", "relationships", "response",
                             "links", "next", "type", "territory"})
CONNECT_OPTS = {"issuer_id": "69a6de70-03db-47e3-e053-5b8c7c11a4d1", "key_id": "2X9R4HXF34", "private_key": ast.PEM}


def app_store_page() -> dict:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return ast.feed_page("us", 1, [ast.APP_ENTRY, ast.entry(803, now), ast.entry(802, now - timedelta(minutes=5),
                                   title="خدمة سيئة", content="😡", rating=5), ast.entry(801, now - timedelta(hours=1))], 3)


def connect_page() -> dict:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return {"data": [ast.review_resource("r2", now, response="resp-1"), ast.review_resource("r1", now - timedelta(hours=1))],
            "included": [{"type": "customerReviewResponses", "id": "resp-1",
                          "attributes": {"responseBody": "Sorry!", "state": "PUBLISHED"}}],
            "links": {"self": ast.CONNECT, "next": f"{ast.CONNECT}?cursor=2"}, "meta": {"paging": {"total": 3}}}


@contextlib.contextmanager
def app_store_api(first: httpx.Response) -> Iterator[None]:
    empty_feed = ast.feed_page("us", 2, [], 3)
    with respx.mock(assert_all_called=False) as api:
        api.get(ast.FEED).mock(side_effect=[first] + [httpx.Response(200, json=empty_feed)] * 20)
        api.get(url__startswith=ast.CONNECT).mock(side_effect=[first] + [httpx.Response(200, json={"data": []})] * 20)
        yield


@FUZZ
@example(page=_edited(app_store_page(), lambda d: d["feed"]["link"].insert(1, None)), reviews=connect_page(),
         connect=False)
@example(page=app_store_page(), reviews=_edited(connect_page(), lambda d: d.update(included="x", links={"next": 5})),
         connect=True)
@given(page=mutated(app_store_page(), APP_STORE_FOCUS), reviews=mutated(connect_page(), APP_STORE_FOCUS),
       connect=st.booleans())
def test_app_store_mutated_reviews(db, page, reviews, connect):
    with app_store_api(httpx.Response(200, content=to_json(reviews if connect else page))):
        run_and_check(db, "app_store", {"app_id": ast.APP, **(CONNECT_OPTS if connect else {})})


@FUZZ
@given(reply=garbage(app_store_page()), connect=st.booleans())
def test_app_store_garbage_answers(db, reply, connect):
    with app_store_api(http_answer(*reply)):
        run_and_check(db, "app_store", {"app_id": ast.APP, **(CONNECT_OPTS if connect else {})})


# -- Google Play (httpx to a local server answering batchexecute; the Developer API's reviews.list) --


class PlayServer:
    """A local server for both Google Play paths; each path answers from its queue, then 'nothing more'."""

    def __init__(self) -> None:
        self.rpc: list[tuple[int, str, bytes]] = []
        self.api: list[tuple[int, str, bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.path == "/token":
                    status, ctype, data = 200, "application/json", json.dumps(
                        {"access_token": "ya29.c.fuzz", "expires_in": 3599, "token_type": "Bearer"}).encode()
                elif self.path.startswith("/androidpublisher/"):
                    status, ctype, data = fake.api.pop(0) if fake.api else (200, "application/json", b"{}")
                else:
                    status, ctype, data = fake.rpc.pop(0) if fake.rpc else (200, "application/json",
                                                                            gpt.envelope([]).encode())
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture(scope="module")
def play_server(tmp_path_factory) -> Iterator[PlayServer]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    server = PlayServer()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    server.sa_file = str(tmp_path_factory.mktemp("play") / "sa.json")
    with open(server.sa_file, "w") as fh:
        json.dump({"type": "service_account", "project_id": "fuzz", "private_key_id": "k1", "private_key": pem,
                   "client_email": "repmon@fuzz.iam.gserviceaccount.com", "client_id": "1",
                   "token_uri": f"{server.base}/token"}, fh)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Formats.Reviews, "URL_FORMAT", server.base + "/_/PlayStoreUi/data/batchexecute?hl={lang}&gl={country}")
        mp.setattr(GooglePlayCollector, "api_endpoint", server.base + "/")
        yield server
    server.server.shutdown()
    server.server.server_close()


def play_payload() -> list:
    now = int(time.time())
    return [[gpt.review("C3", now - 60), gpt.review("C2", now - 120, "اپلیکیشن عالیه 📶", score=5, reply="Thanks!"),
             gpt.review("C1", now - 180, score=1)], [None, "CsIBCr8B3"], [None]]


def play_api_page() -> dict:
    now = int(time.time())
    return {"reviews": [gpt.api_review("D2", now - 60, reply="Sorry, fixed"), gpt.api_review("D1", now - 120, lang="fa_IR")],
            "tokenPagination": {"nextPageToken": "2"}}


@FUZZ
@example(payload=[1, [None, "CsIBCr8B3"], [None]], envelope_junk=1,
         api={"reviews": {"0": play_api_page()["reviews"][0]}, "tokenPagination": {"nextPageToken": "2"}})
@example(payload=play_payload(), envelope_junk=1, api={"reviews": None, "tokenPagination": {"nextPageToken": "T \ud83d"}})
@example(payload=_edited(play_payload(), lambda d: d.__setitem__(1, {"1": "CsIBCr8B3"})), envelope_junk=1, api={})
@given(payload=mutated(play_payload()), envelope_junk=st.integers(0, 4), api=mutated(play_api_page(), frozenset(
    {"reviews", "reviewId", "comments", "userComment", "text", "lastModified", "seconds", "starRating",
     "reviewerLanguage", "developerComment", "authorName", "tokenPagination", "nextPageToken"})))
def test_google_play_mutated_reviews(db, play_server, payload, envelope_junk, api):
    body = gpt.envelope(payload)
    if envelope_junk == 0:  # the envelope itself mutated: batchexecute's outer array
        body = ")]}'\n\n" + json.dumps(json.loads(body[6:])[0][:envelope_junk + 3])
    play_server.rpc[:] = [(200, "application/json; charset=utf-8", body.encode("utf-8", "surrogatepass"))]
    play_server.api[:] = [(200, "application/json; charset=UTF-8", to_json(api))]
    run_and_check(db, "google_play", {"app_id": gpt.APP})
    run_and_check(db, "google_play", {"app_id": gpt.APP, "service_account_file": play_server.sa_file})


@FUZZ
@example(reply=(200, "application/json", b""), developer_api=True)
@given(reply=garbage(play_payload()), developer_api=st.booleans())
def test_google_play_garbage_answers(db, play_server, reply, developer_api):
    (play_server.api if developer_api else play_server.rpc)[:] = [reply]
    run_and_check(db, "google_play", {"app_id": gpt.APP,
                                      **({"service_account_file": play_server.sa_file} if developer_api else {})})
