"""RSS/Atom collector: real httpx + feedparser, HTTP intercepted by respx.

Samples follow a Google News search feed (RSS 2.0) and a typical Atom blog feed.
"""

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx
from sqlmodel import select

from collectors.rss import RssCollector
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, CollectorError, ConfigError, RateLimited, TransientError
from repmon.models import Mention

BRAND = BrandConfig(name="Tidewell", keywords=["tidewell"], handles=["@tidewellhelp"], exclude=["tidewell beach"])
NEWS = "https://news.google.com/rss/search?q=tidewell&hl=en-US&gl=US&ceid=US:en"
BLOG = "https://blog.example.org/feed.atom"


def rss_item(guid, title, pub="Fri, 20 Nov 2026 13:00:00 GMT", source="The Verge"):
    pub_tag = f"<pubDate>{pub}</pubDate>" if pub else ""
    return f"""<item><title>{title} - {source}</title>
<link>https://news.google.com/rss/articles/{guid}?oc=5</link>
<guid isPermaLink="false">{guid}</guid>{pub_tag}
<description>&lt;a href="https://news.google.com/rss/articles/{guid}?oc=5" target="_blank"&gt;{title}&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;{source}&lt;/font&gt;</description>
<source url="https://www.theverge.com">{source}</source></item>"""


def rss(*items):
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><generator>NFE/5.0</generator>
<title>"tidewell" - Google News</title><link>https://news.google.com/search?q=tidewell&amp;hl=en-US</link>
<language>en-US</language><webMaster>news-webmaster@google.com</webMaster>
<lastBuildDate>Fri, 20 Nov 2026 14:03:00 GMT</lastBuildDate><description>Google News</description>
{"".join(items)}</channel></rss>""".encode()


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fa">
  <title>وبلاگ فناوری</title><id>tag:blog.example.org,2026:feed</id>
  <updated>2026-11-20T10:00:00+03:30</updated><link rel="self" href="https://blog.example.org/feed.atom"/>
  <entry>
    <title>قطعی اینترنت Tidewell در تهران 📵</title>
    <id>tag:blog.example.org,2026:post-17</id>
    <link rel="alternate" href="https://blog.example.org/2026/11/tidewell-outage"/>
    <published>2026-11-20T10:00:00+03:30</published><updated>2026-11-20T11:00:00+03:30</updated>
    <author><name>سارا</name></author>
    <summary type="html">&lt;p&gt;مشترکان &lt;b&gt;Tidewell&lt;/b&gt; از صبح اینترنت ندارند.&lt;/p&gt;&lt;p&gt;پشتیبانی پاسخ نمی‌دهد 😡&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>Cooking with saffron</title><id>tag:blog.example.org,2026:post-16</id>
    <link rel="alternate" href="https://blog.example.org/2026/11/saffron"/>
    <updated>2026-11-19T09:00:00Z</updated>
    <content type="html">&lt;p&gt;No phone companies here.&lt;/p&gt;</content>
  </entry>
</feed>""".encode()


def make(feeds=(NEWS,), **opts):
    return RssCollector.from_config("news", {"kind": "rss", "feeds": list(feeds), **opts}, BRAND)


def run(collector, cursor=None):
    return list(collector.fetch(cursor))


@pytest.fixture
def api():
    with respx.mock() as router:
        yield router


def test_rss2_entries(api):
    route = api.get(NEWS).mock(return_value=httpx.Response(200, content=rss(
        rss_item("CBMiA1", "Tidewell Mobile outage hits eSIM users"),
        rss_item("CBMiA2", "Sunset at Tidewell Beach", pub="Fri, 20 Nov 2026 12:00:00 GMT"),
        rss_item("CBMiA3", "Orbitel raises prices", pub="Fri, 20 Nov 2026 11:00:00 GMT")),
        headers={"Content-Type": "application/xml; charset=utf-8"}))
    (batch,) = run(make())
    assert route.calls[0].request.headers["User-Agent"].startswith("repmon/")
    (m,) = batch.mentions
    assert batch.notes["unmatched"] == 2
    assert m["platform"] == "rss" and m["native_id"] == "CBMiA1" and m["kind"] == "post"
    assert m["url"] == "https://news.google.com/rss/articles/CBMiA1?oc=5"
    assert m["text"] == "Tidewell Mobile outage hits eSIM users - The Verge\n\nTidewell Mobile outage hits eSIM users The Verge"
    assert m["author"] == '"tidewell" - Google News'  # no entry author: the feed's title
    assert m["created_at"] == datetime(2026, 11, 20, 13, tzinfo=timezone.utc)
    raw = m["raw"]
    assert raw["collector"] == "rss" and raw["query"] == NEWS and raw["api"].startswith("feedparser")
    assert raw["item"]["published_parsed"] == "2026-11-20T13:00:00+00:00" and json.dumps(raw)


def test_atom_with_right_to_left_text_and_emoji(api):
    api.get(BLOG).mock(return_value=httpx.Response(200, content=ATOM, headers={"Content-Type": "application/atom+xml"}))
    (batch,) = run(make([BLOG], platform="blogs"))
    (m,) = batch.mentions
    assert m["platform"] == "blogs" and m["native_id"] == "tag:blog.example.org,2026:post-17"
    assert m["text"] == "قطعی اینترنت Tidewell در تهران 📵\n\nمشترکان Tidewell از صبح اینترنت ندارند.\n\nپشتیبانی پاسخ نمی‌دهد 😡"
    assert m["author"] == "سارا" and m["url"] == "https://blog.example.org/2026/11/tidewell-outage"
    assert m["created_at"] == datetime(2026, 11, 20, 6, 30, tzinfo=timezone.utc)  # published, in UTC


def test_match_brand_off_keeps_everything_and_tells_the_runner(api):
    api.get(BLOG).mock(return_value=httpx.Response(200, content=ATOM))
    c = make([BLOG], match_brand=False)
    assert c.prefiltered is True and make([BLOG]).prefiltered is False
    (batch,) = run(c)
    saffron = [m for m in batch.mentions if "saffron" in m["text"]][0]
    assert saffron["text"] == "Cooking with saffron\n\nNo phone companies here." and saffron["author"] == "وبلاگ فناوری"


def test_conditional_get_and_304(api):
    route = api.get(NEWS)
    route.side_effect = [
        httpx.Response(200, content=rss(rss_item("CBMiB1", "Tidewell down")),
                       headers={"ETag": '"abc123"', "Last-Modified": "Fri, 20 Nov 2026 14:03:00 GMT"}),
        httpx.Response(304, headers={"ETag": '"abc123"'}),
    ]
    (first,) = run(make())
    state = json.loads(first.cursor)["feeds"][NEWS]
    assert state["etag"] == '"abc123"' and state["modified"] == "Fri, 20 Nov 2026 14:03:00 GMT"
    (second,) = run(make(), first.cursor)
    sent = route.calls[1].request.headers
    assert sent["If-None-Match"] == '"abc123"' and sent["If-Modified-Since"] == "Fri, 20 Nov 2026 14:03:00 GMT"
    assert second.mentions == [] and second.notes["not_modified"] and json.loads(second.cursor) == json.loads(first.cursor)


def test_resume_yields_only_entries_not_listed_before(api):
    old = rss_item("CBMiC1", "Tidewell bill doubled", pub="Fri, 20 Nov 2026 12:00:00 GMT")
    newer = rss_item("CBMiC3", "Tidewell apologises", pub="Fri, 20 Nov 2026 15:00:00 GMT")
    # News search feeds add articles late, with their original (older) date: still new to us.
    late = rss_item("CBMiC2", "Tidewell support slow", pub="Thu, 19 Nov 2026 08:00:00 GMT")
    api.get(NEWS).side_effect = [httpx.Response(200, content=rss(old)),
                                 httpx.Response(200, content=rss(newer, old, late)),
                                 httpx.Response(200, content=rss(newer, old, late))]
    (first,) = run(make())
    assert [m["native_id"] for m in first.mentions] == ["CBMiC1"]
    (second,) = run(make(), first.cursor)
    assert sorted(m["native_id"] for m in second.mentions) == ["CBMiC2", "CBMiC3"]
    assert json.loads(second.cursor)["feeds"][NEWS]["ids"] == ["CBMiC3", "CBMiC1", "CBMiC2"]
    (third,) = run(make(), second.cursor)
    assert third.mentions == []


def test_undated_entries_use_retrieval_time_once(api):
    body = rss(rss_item("CBMiD1", "Tidewell mystery post", pub=None))
    api.get(NEWS).side_effect = [httpx.Response(200, content=body), httpx.Response(200, content=body)]
    before = datetime.now(timezone.utc)
    (first,) = run(make())
    (m,) = first.mentions
    assert m["raw"]["undated"] is True and before <= m["created_at"] <= datetime.now(timezone.utc)
    (second,) = run(make(), first.cursor)
    assert second.mentions == []


@pytest.mark.parametrize("ctype", ["application/rss+xml", "text/html", None])
def test_empty_feed(api, ctype):
    # Plenty of servers send feeds as text/html or with no type at all; an empty feed is still a feed.
    api.get(NEWS).mock(return_value=httpx.Response(200, content=rss(), headers={"Content-Type": ctype} if ctype else {}))
    (batch,) = run(make())
    assert batch.mentions == [] and json.loads(batch.cursor)["feeds"][NEWS]["ids"] == []


def test_malformed_feed_with_entries_is_kept_and_noted(api):
    broken = rss(rss_item("CBMiE1", "Tidewell &nbsp; outage")).replace(b"</channel></rss>", b"<item><title>cut")
    api.get(NEWS).mock(return_value=httpx.Response(200, content=broken, headers={"Content-Type": "application/rss+xml"}))
    (batch,) = run(make())
    assert "SAXParseException" in batch.notes["bozo"] and [m["native_id"] for m in batch.mentions] == ["CBMiE1"]
    assert batch.mentions[0]["raw"]["bozo"]


def test_unreadable_feed_is_transient_and_names_the_url(api):
    api.get(NEWS).mock(return_value=httpx.Response(200, content=b"this is not xml <at all",
                                                   headers={"Content-Type": "application/rss+xml"}))
    with pytest.raises(TransientError, match="feed https://news.google.com/rss/search"):
        run(make())


def test_html_page_instead_of_a_feed(api):
    api.get(NEWS).mock(return_value=httpx.Response(200, content=b"<html><body>Sign in</body></html>",
                                                   headers={"Content-Type": "text/html"}))
    with pytest.raises(CollectorError, match="serves no RSS/Atom feed"):
        run(make())


def test_long_ids_are_hashed(api):
    guid = "https://example.org/" + "x" * 300
    api.get(NEWS).mock(return_value=httpx.Response(200, content=rss(rss_item(guid, "Tidewell long"))))
    (m,) = run(make())[0].mentions
    assert m["native_id"].startswith("sha256:") and len(m["native_id"]) <= 200


@pytest.mark.parametrize("response, error", [
    (httpx.Response(503), TransientError),
    (httpx.Response(401), AuthError),
    (httpx.Response(403), AuthError),
    (httpx.Response(404, text="Not Found"), CollectorError),
    (httpx.ReadTimeout("slow"), TransientError),
    (httpx.ConnectError("refused"), TransientError),
])
def test_http_errors(api, response, error):
    route = api.get(NEWS)
    route.mock(side_effect=response) if isinstance(response, Exception) else route.mock(return_value=response)
    with pytest.raises(error, match="feed https://news.google.com"):
        run(make())


def test_429_sets_reset_and_other_feeds_still_run(api):
    api.get(NEWS).mock(return_value=httpx.Response(429, headers={"Retry-After": "600"}))
    api.get(BLOG).mock(return_value=httpx.Response(200, content=ATOM))
    got = []
    with pytest.raises(RateLimited) as exc:
        for batch in make([NEWS, BLOG]).fetch(None):
            got.append(batch)
    assert len(got) == 1 and BLOG in json.loads(got[0].cursor)["feeds"]
    assert exc.value.reset_at > datetime.now(timezone.utc) + timedelta(seconds=590)


@pytest.mark.parametrize("opts, key", [({"feeds": []}, "sources.news.feeds"),
                                        ({"feeds": ["ftp://x.org/feed"]}, "sources.news.feeds"),
                                        ({"feeds": [NEWS], "match": True}, "sources.news.match")])
def test_options_errors_name_the_key(opts, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        RssCollector.from_config("news", opts, BRAND)
    with pytest.raises(ConfigError, match=r"sources\.news\.feeds"):
        RssCollector.from_config("news", {}, BRAND)


def test_through_the_runner(api, tmp_path, monkeypatch):
    api.get(NEWS).mock(return_value=httpx.Response(200, content=rss(
        rss_item("CBMiF1", "Tidewell outage"), rss_item("CBMiF2", "Tidewell refunds", pub="Fri, 20 Nov 2026 09:00:00 GMT"))))
    api.get(BLOG).mock(return_value=httpx.Response(200, content=ATOM))
    cfg = config.parse({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
                        "brands": [{"name": "Tidewell", "keywords": ["tidewell"]}],
                        "sources": {"news": {"kind": "rss", "feeds": [NEWS, BLOG]}}}, "test")
    store.migrate(cfg.database.url)

    # A crash while storing the second feed's page keeps the first feed's page and cursor.
    real = store.upsert_mentions
    calls = []

    def flaky(s, rows, cursor=None):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(s, rows, cursor=cursor)

    monkeypatch.setattr(store, "upsert_mentions", flaky)
    r = pipeline.collect(cfg, only="news")[0]
    assert r.inserted == 2 and "killed" in r.error
    monkeypatch.setattr(store, "upsert_mentions", real)

    r = pipeline.collect(cfg, only="news")[0]
    assert r.error is None and r.inserted == 1
    r = pipeline.collect(cfg, only="news")[0]
    assert r.error is None and r.inserted == 0
    with store.session(cfg.database.url) as s:
        texts = [m.text for m in s.exec(select(Mention).where(Mention.source == "news")).all()]
    assert len(texts) == 3 and any("قطعی اینترنت Tidewell" in t for t in texts)
