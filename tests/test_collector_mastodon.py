"""The Mastodon collector against the real REST API shapes (docs.joinmastodon.org, Status and
Account entities), intercepted under httpx with respx."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest
import respx

from collectors.base import Batch
from collectors.mastodon import MastodonCollector
from collectors.web import html_to_text
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, ConfigError, RateLimited, TransientError

BASE = "https://mastodon.example"
TAG = "/api/v1/timelines/tag/acme"
BRAND = BrandConfig(name="Acme", keywords=["acme"], handles=["@acme@mastodon.example"])


def account(acct: str = "alice", followers: int = 120) -> dict:
    user = acct.split("@")[0]
    host = acct.split("@")[1] if "@" in acct else "mastodon.example"
    return {
        "id": str(abs(hash(acct)) % 10**6), "username": user, "acct": acct, "display_name": user.title(),
        "locked": False, "bot": False, "discoverable": True, "group": False,
        "created_at": "2022-11-03T00:00:00.000Z", "note": "<p>hi</p>",
        "url": f"https://{host}/@{user}", "avatar": f"https://{host}/avatars/original/missing.png",
        "avatar_static": f"https://{host}/avatars/original/missing.png", "header": "", "header_static": "",
        "followers_count": followers, "following_count": 10, "statuses_count": 42,
        "last_status_at": "2024-05-01", "emojis": [], "fields": [],
    }


def status(sid: int, content: str = "<p>I love Acme</p>", acct: str = "alice", reply_to: int | None = None,
           spoiler: str = "", language: str | None = "en", created: str = "2024-05-01T10:00:00.000Z") -> dict:
    user = acct.split("@")[0]
    host = acct.split("@")[1] if "@" in acct else "mastodon.example"
    return {
        "id": str(sid), "created_at": created,
        "in_reply_to_id": str(reply_to) if reply_to else None,
        "in_reply_to_account_id": "7" if reply_to else None,
        "sensitive": bool(spoiler), "spoiler_text": spoiler, "visibility": "public", "language": language,
        "uri": f"https://{host}/users/{user}/statuses/{sid}",
        "url": f"https://{host}/@{user}/{sid}",
        "replies_count": 0, "reblogs_count": 0, "favourites_count": 3, "edited_at": None,
        "favourited": False, "reblogged": False, "muted": False, "bookmarked": False,
        "content": content, "filtered": [], "reblog": None,
        "application": {"name": "Web", "website": None},
        "account": account(acct), "media_attachments": [], "mentions": [],
        "tags": [{"name": "acme", "url": f"https://{host}/tags/acme"}], "emojis": [], "card": None, "poll": None,
    }


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def collector(**opts) -> MastodonCollector:
    raw = {"instance": BASE, "hashtags": ["acme"], **opts}
    return MastodonCollector.from_config("m", raw, BRAND)  # type: ignore[return-value]


def run(c: MastodonCollector, cursor: str | None = None) -> list[Batch]:
    return list(c.fetch(cursor))


def recent(sid: int, **kw) -> dict:
    return status(sid, created=now_iso(), **kw)


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def test_html_to_text_keeps_line_breaks_and_full_links():
    html = ('<p>&quot;Acme&quot; lost my parcel<br>twice</p><p><a href="https://x.example/a/b">'
            '<span class="invisible">https://</span><span class="ellipsis">x.example/a</span>'
            '<span class="invisible">/b</span></a></p>')
    assert html_to_text(html) == '"Acme" lost my parcel\ntwice\n\nhttps://x.example/a/b'


def test_normal_page_maps_fields(api):
    page = [recent(105, spoiler="CW: rant", content="<p>Acme &amp; co<br>broke it</p>"),
            recent(104, acct="bob@other.example", language=None)]
    route = api.get(TAG).mock(side_effect=[httpx.Response(200, json=page), httpx.Response(200, json=[])])
    batches = run(collector())
    m = [x for b in batches for x in b.mentions]
    assert [x["native_id"] for x in m] == ["https://mastodon.example/users/alice/statuses/105",
                                           "https://other.example/users/bob/statuses/104"]
    first = m[0]
    assert first["platform"] == "mastodon"
    assert first["url"] == "https://mastodon.example/@alice/105"
    assert first["author"] == "@alice@mastodon.example"  # local accounts made global
    assert m[1]["author"] == "@bob@other.example"
    assert first["author_reach"] == 120
    assert first["text"] == "CW: rant\n\nAcme & co\nbroke it"
    assert first["lang"] == "en" and m[1]["lang"] is None
    assert first["created_at"].tzinfo is not None and first["created_at"].utcoffset().total_seconds() == 0
    assert first["kind"] == "post" and first["parent_id"] is None
    assert first["raw"]["item"]["id"] == "105" and first["raw"]["collector"] == "mastodon"
    assert first["raw"]["query"] == "tag:acme" and first["raw"]["retrieved_at"]
    assert route.calls[0].request.url.params["limit"] == "40"
    assert "Authorization" not in route.calls[0].request.headers  # hashtags need no token
    assert json.loads(batches[-1].cursor)["streams"]["tag:acme"] == {"since": "105"}


def test_paging_follows_link_header_then_resumes_with_since_id(api):
    page1 = [recent(i) for i in range(200, 160, -1)]  # 40, newest first
    page2 = [recent(i) for i in range(160, 150, -1)]
    link = f'<{BASE}{TAG}?max_id=161>; rel="next", <{BASE}{TAG}?min_id=200>; rel="prev"'
    route = api.get(TAG).mock(side_effect=[httpx.Response(200, json=page1, headers={"Link": link}),
                                           httpx.Response(200, json=page2), httpx.Response(200, json=[])])
    batches = run(collector())
    assert sum(len(b.mentions) for b in batches) == 50
    assert route.calls[1].request.url.params["max_id"] == "161"
    assert route.calls[2].request.url.params["max_id"] == "151"
    cursor = batches[-1].cursor
    assert json.loads(cursor)["streams"]["tag:acme"] == {"since": "200"}

    # The next run asks only for what is newer than the newest status seen.
    route.side_effect = [httpx.Response(200, json=[recent(202), recent(201)]), httpx.Response(200, json=[])]
    again = run(collector(), cursor)
    assert [m["native_id"].rsplit("/", 1)[1] for b in again for m in b.mentions] == ["202", "201"]
    assert route.calls[3].request.url.params["since_id"] == "200"
    assert json.loads(again[-1].cursor)["streams"]["tag:acme"] == {"since": "202"}


def test_crash_mid_walk_resumes_below_the_last_stored_page(api):
    api.get(TAG).mock(side_effect=[httpx.Response(200, json=[recent(i) for i in range(300, 260, -1)])])
    gen = collector().fetch(json.dumps({"streams": {"tag:acme": {"since": "100"}}}))
    first = next(gen)  # stored; then the process dies
    state = json.loads(first.cursor)["streams"]["tag:acme"]
    assert state["since"] == "100" and state["walk"]["max_id"] == "261" and state["walk"]["newest"] == "300"
    route = api.get(TAG).mock(side_effect=[httpx.Response(200, json=[recent(150)]), httpx.Response(200, json=[])])
    batches = run(collector(), first.cursor)
    params = route.calls[1].request.url.params  # calls[0] was the first run's
    assert params["max_id"] == "261" and params["since_id"] == "100"
    assert json.loads(batches[-1].cursor)["streams"]["tag:acme"] == {"since": "300"}


def test_max_pages_stops_and_the_walk_continues_next_run(api):
    api.get(TAG).mock(side_effect=[httpx.Response(200, json=[recent(i) for i in range(300, 260, -1)])])
    batches = run(collector(max_pages=1), json.dumps({"streams": {"tag:acme": {"since": "10"}}}))
    assert len(batches) == 1
    assert json.loads(batches[0].cursor)["streams"]["tag:acme"]["walk"]["max_id"] == "261"


def test_first_run_stops_at_the_backfill_floor(api):
    old = status(90, created="2020-01-01T00:00:00.000Z")
    api.get(TAG).mock(side_effect=[httpx.Response(200, json=[recent(91), old])])
    batches = run(collector(backfill_days=7))
    assert [m["native_id"][-2:] for b in batches for m in b.mentions] == ["91"]
    assert json.loads(batches[-1].cursor)["streams"]["tag:acme"] == {"since": "91"}


def test_empty_timeline(api):
    api.get(TAG).mock(return_value=httpx.Response(200, json=[]))
    batches = run(collector())
    assert [b.mentions for b in batches] == [[]]
    assert json.loads(batches[0].cursor)["streams"]["tag:acme"] == {}


def test_reblogs_are_skipped_and_reply_parents_resolved(api):
    boost = recent(400)
    boost["reblog"] = recent(5)
    reply_in_page = recent(402, reply_to=401)
    reply_elsewhere = recent(403, reply_to=77)
    api.get(TAG).mock(side_effect=[httpx.Response(200, json=[reply_elsewhere, reply_in_page, recent(401), boost]),
                                   httpx.Response(200, json=[])])
    parent = api.get("/api/v1/statuses/77").mock(
        return_value=httpx.Response(200, json=status(77, acct="carol@far.example")))
    m = {x["native_id"].rsplit("/", 1)[1]: x for b in run(collector()) for x in b.mentions}
    assert set(m) == {"403", "402", "401"}
    assert m["402"]["kind"] == "comment" and m["402"]["parent_id"] == m["401"]["native_id"]
    assert m["403"]["parent_id"] == "https://far.example/users/carol/statuses/77"
    assert parent.call_count == 1


def test_search_needs_a_token_and_sends_it(api):
    api.get(TAG).mock(return_value=httpx.Response(200, json=[]))
    body = {"accounts": [], "statuses": [recent(500, content="<p>acme support is slow</p>")], "hashtags": []}
    route = api.get("/api/v2/search").mock(
        side_effect=[httpx.Response(200, json=body), httpx.Response(200, json={"accounts": [], "statuses": [], "hashtags": []})])
    assert not run(collector())[1:]  # without a token: the hashtag only
    batches = run(collector(access_token="tok-123", query="acme"))
    req = route.calls[0].request
    assert req.headers["Authorization"] == "Bearer tok-123"
    assert req.url.params["q"] == "acme" and req.url.params["type"] == "statuses" and req.url.params["resolve"] == "false"
    assert [m["text"] for b in batches for m in b.mentions] == ["acme support is slow"]
    assert json.loads(batches[-1].cursor)["streams"]["search:acme"] == {"since": "500"}
    assert "tok-123" not in batches[-1].cursor


def test_emoji_and_rtl_text_survive(api):
    text = "<p>سرویس Acme خیلی کند است 😡🔥</p><p>خدمة عملاء Acme سيئة</p>"
    api.get(TAG).mock(side_effect=[httpx.Response(200, json=[recent(600, content=text, language="fa")]),
                                   httpx.Response(200, json=[])])
    [m] = [x for b in run(collector()) for x in b.mentions]
    assert m["text"] == "سرویس Acme خیلی کند است 😡🔥\n\nخدمة عملاء Acme سيئة"
    assert m["lang"] == "fa"


def test_429_reads_the_iso_reset_header(api):
    api.get(TAG).mock(return_value=httpx.Response(
        429, json={"error": "Too many requests"},
        headers={"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
                 "X-RateLimit-Reset": "2030-01-02T03:05:00.123456Z"}))
    with pytest.raises(RateLimited) as err:
        run(collector())
    assert err.value.reset_at == datetime(2030, 1, 2, 3, 5, 0, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize("response, error", [
    (httpx.Response(503, text="<html>Service Unavailable</html>"), TransientError),
    (httpx.Response(200, text="<html>not json", headers={"Content-Type": "text/html"}), TransientError),
    (httpx.Response(200, json={"error": "unexpected"}), TransientError),
    (httpx.Response(401, json={"error": "The access token is invalid"}), AuthError),
    (httpx.Response(403, json={"error": "This action is not allowed"}), AuthError),
])
def test_http_failures_are_translated(api, response, error):
    api.get(TAG).mock(return_value=response)
    with pytest.raises(error):
        run(collector())


def test_timeout_is_transient(api):
    api.get(TAG).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(TransientError) as err:
        run(collector())
    assert isinstance(err.value.__cause__, httpx.ReadTimeout)


def test_exists_checks_local_ids_and_remote_uris(api):
    api.get("/api/v1/statuses/105").mock(return_value=httpx.Response(404, json={"error": "Record not found"}))
    api.get("/api/v1/statuses/106").mock(return_value=httpx.Response(200, json=status(106)))
    remote = api.get("https://far.example/users/carol/statuses/9").mock(return_value=httpx.Response(410, json={}))
    c = collector(access_token="tok-123")
    assert c.exists("https://mastodon.example/users/alice/statuses/105") is False
    assert c.exists("https://mastodon.example/users/alice/statuses/106") is True
    assert c.exists("https://far.example/users/carol/statuses/9") is False
    assert "Authorization" not in remote.calls[0].request.headers  # the token stays on its instance


def test_options_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"sources\.m\.instance"):
        MastodonCollector.from_config("m", {"hashtags": ["acme"]}, BRAND)
    with pytest.raises(ConfigError, match=r"sources\.m\.hashtag"):
        MastodonCollector.from_config("m", {"instance": BASE, "hashtag": "acme"}, BRAND)
    with pytest.raises(ConfigError, match=r"sources\.m\.max_pages"):
        MastodonCollector.from_config("m", {"instance": BASE, "max_pages": 0}, BRAND)


def test_default_hashtags_come_from_the_brand():
    c = MastodonCollector.from_config("m", {"instance": "mastodon.example"}, BRAND)
    assert c.options.instance == BASE  # type: ignore[attr-defined]
    assert [k for k, _, _ in c.streams()] == ["tag:acme"]  # name, keyword and handle agree


def test_runner_stores_pages_once_and_survives_a_crash(api, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 't.db'}"
    cfg = config.parse({"database": {"url": url},
                        "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acme@mastodon.example"]}],
                        "sources": {"mysrc": {"kind": "mastodon", "instance": BASE, "hashtags": ["acme"]}}}, "test")
    store.migrate(cfg.database.url)
    first = [recent(i, content=f"<p>Acme order {i} is late</p>") for i in range(740, 700, -1)]
    second = [recent(i, content=f"<p>Acme order {i} is late</p>") for i in range(700, 690, -1)]
    api.get(TAG).mock(side_effect=[httpx.Response(200, json=first), httpx.Response(500)])
    r = pipeline.collect(cfg, only="mysrc", retries=0)[0]
    assert r.inserted == 40 and "HTTP 500" in (r.error or "")  # page 1 and its cursor are kept

    api.get(TAG).mock(side_effect=[httpx.Response(200, json=second), httpx.Response(200, json=[])])
    r = pipeline.collect(cfg, only="mysrc")[0]
    assert (r.inserted, r.error) == (10, None)
    api.get(TAG).mock(side_effect=[httpx.Response(200, json=[])])
    r = pipeline.collect(cfg, only="mysrc")[0]
    assert (r.inserted, r.error) == (0, None)
    with store.session(url) as s:
        assert json.loads(store.load_cursor(s, "mysrc"))["streams"]["tag:acme"] == {"since": "740"}
