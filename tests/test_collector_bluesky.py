"""The Bluesky collector against the XRPC shapes of com.atproto.server.createSession and
app.bsky.feed.searchPosts (postView), intercepted under httpx with respx."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx

from collectors import bluesky
from collectors.base import Batch
from collectors.bluesky import BlueskyCollector, parse_time
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, ConfigError, RateLimited, TransientError

SERVICE = "https://bsky.social"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
LOGIN = "/xrpc/com.atproto.server.createSession"
REFRESH = "/xrpc/com.atproto.server.refreshSession"
BRAND = BrandConfig(name="Acme", keywords=["acme"], handles=["@acme.bsky.social"])
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def session(n: int = 1) -> dict:
    return {"did": DID, "handle": "acme.bsky.social", "email": "ops@acme.example", "emailConfirmed": True,
            "accessJwt": f"access-{n}", "refreshJwt": f"refresh-{n}", "active": True}


def post(rkey: str, text: str = "Acme lost my parcel", at: datetime | None = None, handle: str = "alice.bsky.social",
         langs: list[str] | None = None, reply_to: str | None = None, root: str | None = None) -> dict:
    at = at or datetime.now(timezone.utc) - timedelta(minutes=1)
    did = f"did:plc:{handle.split('.')[0]:0<24}"
    record = {"$type": "app.bsky.feed.post", "createdAt": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
              "langs": langs if langs is not None else ["en"], "text": text}
    if reply_to:
        record["reply"] = {"parent": {"cid": "bafyreiparent", "uri": reply_to},
                           "root": {"cid": "bafyreiroot", "uri": root or reply_to}}
    return {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": f"bafyrei{rkey}",
        "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0].title(),
                   "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkrei@jpeg",
                   "associated": {"chat": {"allowIncoming": "following"}}, "labels": [],
                   "createdAt": "2023-08-01T12:00:00.000Z"},
        "record": record,
        "embed": None,
        "replyCount": 0, "repostCount": 0, "likeCount": 2, "quoteCount": 0,
        "indexedAt": (at + timedelta(seconds=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "viewer": {"threadMuted": False, "embeddingDisabled": False}, "labels": [],
    }


def page(posts: list[dict], cursor: str | None = None) -> httpx.Response:
    body: dict = {"posts": posts, "hitsTotal": len(posts)}
    if cursor:
        body["cursor"] = cursor
    return httpx.Response(200, json=body)


def collector(**opts) -> BlueskyCollector:
    raw = {"handle": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop", "query": "acme", **opts}
    return BlueskyCollector.from_config("b", raw, BRAND)  # type: ignore[return-value]


def run(c: BlueskyCollector, cursor: str | None = None) -> list[Batch]:
    return list(c.fetch(cursor))


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setattr(bluesky, "_SESSIONS", {})
    with respx.mock(base_url=SERVICE, assert_all_called=False) as mock:
        mock.post(LOGIN).mock(return_value=httpx.Response(200, json=session()))
        yield mock


def test_parse_time_takes_z_offsets_and_nanoseconds():
    utc = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_time("2024-05-01T10:00:00.123456789Z") == utc
    assert parse_time("2024-05-01T12:00:00.123456+02:00") == utc
    assert parse_time("2024-05-01T10:00:00.123456") == utc


def test_normal_page_maps_fields_and_signs_in(api):
    root = post("3kroot001")
    reply = post("3kreply01", text="@acme.bsky.social still waiting", handle="bob.example.com",
                 langs=["pt-BR"], reply_to=root["uri"])
    search = api.get(SEARCH).mock(return_value=page([reply, root]))
    [batch] = run(collector())
    login = api.routes[0].calls[0].request
    assert json.loads(login.content) == {"identifier": "acme.bsky.social", "password": "abcd-efgh-ijkl-mnop"}
    req = search.calls[0].request
    assert req.headers["Authorization"] == "Bearer access-1"
    assert req.url.params["q"] == "acme" and req.url.params["sort"] == "latest" and req.url.params["limit"] == "100"
    assert "since" in req.url.params  # the first run reads back backfill_days
    r, p = batch.mentions
    assert p["platform"] == "bluesky" and p["native_id"] == root["uri"]
    assert p["url"] == "https://bsky.app/profile/alice.bsky.social/post/3kroot001"
    assert p["author"] == "@alice.bsky.social" and p["author_reach"] == 0
    assert p["kind"] == "post" and p["thread_id"] == root["uri"] and p["parent_id"] is None
    assert p["lang"] == "en" and p["created_at"].tzinfo is not None
    assert r["kind"] == "comment" and r["parent_id"] == root["uri"] and r["thread_id"] == root["uri"]
    assert r["lang"] == "pt" and r["author"] == "@bob.example.com"
    assert r["raw"]["item"] == reply and r["raw"]["query"] == "acme" and r["raw"]["collector"] == "bluesky"
    assert "abcd-efgh" not in batch.cursor and "access-1" not in batch.cursor


def test_paging_uses_the_api_cursor_and_resume_reads_only_newer(api):
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    first = [post(f"3k{i:07d}", at=t0 - timedelta(minutes=i)) for i in range(3)]
    second = [post(f"3k{i:07d}", at=t0 - timedelta(minutes=i)) for i in range(3, 5)]
    search = api.get(SEARCH).mock(side_effect=[page(first, "3"), page(second)])
    batches = run(collector())
    assert [len(b.mentions) for b in batches] == [3, 2]
    assert search.calls[1].request.url.params["cursor"] == "3"
    state = json.loads(batches[-1].cursor)["queries"]["acme"]
    assert parse_time(state["since"]) == t0 and state["uris"] == [first[0]["uri"]] and "walk" not in state

    newer = post("3knewer01", at=t0 + timedelta(minutes=30))
    search.side_effect = [page([newer, first[0]])]  # the lag window re-reads the boundary post
    again = run(collector(lag_seconds=0), batches[-1].cursor)
    assert [m["native_id"] for b in again for m in b.mentions] == [newer["uri"]]
    assert parse_time(search.calls[2].request.url.params["since"]) == t0


def test_crash_or_page_cap_resumes_the_walk_with_until(api):
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    first = [post(f"3k{i:07d}", at=t0 - timedelta(minutes=i)) for i in range(3)]
    search = api.get(SEARCH).mock(side_effect=[page(first, "3")])
    start = json.dumps({"queries": {"acme": {"since": "2024-01-01T00:00:00.000Z", "uris": []}}})
    [batch] = run(collector(max_pages=1), start)
    walk = json.loads(batch.cursor)["queries"]["acme"]["walk"]
    assert parse_time(walk["until"]) == t0 - timedelta(minutes=2) + timedelta(milliseconds=1)
    search.side_effect = [page([post("3kolder01", at=t0 - timedelta(minutes=9))])]
    [batch] = run(collector(), batch.cursor)
    params = search.calls[1].request.url.params
    assert params["until"] == walk["until"] and "cursor" not in params
    state = json.loads(batch.cursor)["queries"]["acme"]
    assert parse_time(state["since"]) == t0  # the newest of the whole walk


def test_empty_result(api):
    api.get(SEARCH).mock(return_value=page([]))
    [batch] = run(collector())
    assert batch.mentions == [] and json.loads(batch.cursor)["queries"]["acme"] == {}


def test_each_brand_term_is_its_own_query_without_query_option(api):
    search = api.get(SEARCH).mock(return_value=page([]))
    run(BlueskyCollector.from_config("b", {"handle": "@acme.bsky.social", "app_password": "x"}, BRAND))
    assert [c.request.url.params["q"] for c in search.calls] == ["Acme", "acme.bsky.social"]


def test_the_session_is_reused_across_runs(api):
    api.get(SEARCH).mock(return_value=page([]))
    run(collector())
    run(collector())
    assert api.routes[0].call_count == 1  # one createSession for both runs


def test_expired_token_refreshes_the_session_once(api):
    refresh = api.post(REFRESH).mock(return_value=httpx.Response(200, json=session(2)))
    search = api.get(SEARCH).mock(side_effect=[
        httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has expired"}), page([post("3kafter01")])])
    [batch] = run(collector())
    assert len(batch.mentions) == 1
    assert refresh.calls[0].request.headers["Authorization"] == "Bearer refresh-1"
    assert search.calls[1].request.headers["Authorization"] == "Bearer access-2"


def test_bad_app_password_is_an_auth_error(api):
    api.post(LOGIN).mock(return_value=httpx.Response(
        401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"}))
    with pytest.raises(AuthError, match="app_password"):
        run(collector())


def test_429_reads_the_epoch_reset_header(api):
    reset = 1_900_000_000
    api.get(SEARCH).mock(return_value=httpx.Response(
        429, json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": str(reset),
                 "ratelimit-policy": "3000;w=300"}))
    with pytest.raises(RateLimited) as err:
        run(collector())
    assert err.value.reset_at == datetime.fromtimestamp(reset, timezone.utc)


@pytest.mark.parametrize("response, error", [
    (httpx.Response(502, text="Bad Gateway"), TransientError),
    (httpx.Response(500, json={"error": "UpstreamFailure", "message": "Upstream Failure"}), TransientError),
    (httpx.Response(200, text="{not json"), TransientError),
    (httpx.Response(200, json={"cursor": "1"}), TransientError),
])
def test_http_failures_are_translated(api, response, error):
    api.get(SEARCH).mock(return_value=response)
    with pytest.raises(error):
        run(collector())


def test_timeout_is_transient(api):
    api.get(SEARCH).mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(TransientError):
        run(collector())


def test_emoji_and_rtl_text_survive(api):
    text = "پشتیبانی Acme افتضاح است 😡 \u200fخدمة سيئة 👎🏽"
    api.get(SEARCH).mock(return_value=page([post("3krtl0001", text=text, langs=["fa"])]))
    [m] = run(collector())[0].mentions
    assert m["text"] == text and m["lang"] == "fa"


def test_exists_uses_get_posts(api):
    gone, alive = "at://did:plc:x/app.bsky.feed.post/3kgone", post("3kalive")
    route = api.get("/xrpc/app.bsky.feed.getPosts").mock(side_effect=[
        httpx.Response(200, json={"posts": []}), httpx.Response(200, json={"posts": [alive]})])
    assert collector().exists(gone) is False
    assert collector().exists(alive["uri"]) is True
    assert route.calls[0].request.url.params["uris"] == gone


def test_options_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"sources\.b\.app_password"):
        BlueskyCollector.from_config("b", {"handle": "acme.bsky.social"}, BRAND)
    with pytest.raises(ConfigError, match=r"sources\.b\.limit"):
        BlueskyCollector.from_config("b", {"handle": "a", "app_password": "x", "limit": 500}, BRAND)


def test_runner_stores_pages_once_and_survives_a_crash(api, tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    cfg = config.parse({"database": {"url": url},
                        "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acme.bsky.social"]}],
                        "sources": {"mysrc": {"kind": "bluesky", "handle": "acme.bsky.social",
                                              "app_password": "x", "query": "acme"}}}, "test")
    store.migrate(cfg.database.url)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    posts = [post(f"3k{i:07d}", text=f"Acme order {i} is late", at=t0 - timedelta(minutes=i)) for i in range(6)]
    api.get(SEARCH).mock(side_effect=[page(posts[:3], "3"), httpx.Response(503)])
    r = pipeline.collect(cfg, only="mysrc", retries=0)[0]
    assert r.inserted == 3 and "503" in (r.error or "")

    api.get(SEARCH).mock(side_effect=[page(posts[2:])])  # resumes below the stored page
    r = pipeline.collect(cfg, only="mysrc")[0]
    assert (r.inserted, r.error) == (3, None)
    api.get(SEARCH).mock(side_effect=[page(posts[:1])])
    r = pipeline.collect(cfg, only="mysrc")[0]
    assert (r.inserted, r.error) == (0, None)
