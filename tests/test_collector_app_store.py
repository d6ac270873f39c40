"""App Store collector against an emulated customer-reviews RSS feed and App Store Connect API
(respx under the real httpx).

Feed pages are shaped like real `.../rss/customerreviews/page=N/id=X/sortby=mostrecent/json`
answers: a `feed` object with author/link/id, `entry` a list (an object when a page holds one
review, absent when it holds none), and in older feeds the app itself as page 1's first entry.
"""

import json
import re
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select

from collectors.app_store import AppStoreCollector
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, CollectorError, ConfigError, RateLimited, TransientError
from repmon.models import Mention

APP = "1459969523"
BRAND = BrandConfig(name="Tidewell", keywords=["tidewell"])
NOW = datetime.now(timezone.utc).replace(microsecond=0)
FEED = re.compile(r"https://itunes\.apple\.com/(?P<cc>[a-z]{2})/rss/customerreviews/page=(?P<page>\d+)/id=(?P<app>\d+)/sortby=mostrecent/json")


def entry(rid, at, title="Keeps crashing", content="Since the update it crashes on launch.", rating=1,
          author="night_owl_22", version="4.12.0", cc="us"):
    pacific = timezone(timedelta(hours=-7))
    return {
        "author": {"uri": {"label": f"https://itunes.apple.com/{cc}/reviews/id{int(rid) % 10**9}"},
                   "name": {"label": author}, "label": ""},
        "updated": {"label": at.astimezone(pacific).isoformat()},
        "im:rating": {"label": str(rating)},
        "im:version": {"label": version},
        "id": {"label": str(rid)},
        "title": {"label": title},
        "content": {"label": content, "attributes": {"type": "text"}},
        "link": {"attributes": {"rel": "related", "href": f"https://itunes.apple.com/{cc}/review?id={APP}&type=Purple%20Software"}},
        "im:voteSum": {"label": "0"},
        "im:contentType": {"attributes": {"term": "Application", "label": "Application"}},
        "im:voteCount": {"label": "0"},
    }


APP_ENTRY = {  # older feeds list the app itself first on page 1
    "im:name": {"label": "Tidewell Mobile"}, "rights": {"label": "© 2024 Tidewell Inc."},
    "im:price": {"label": "Get", "attributes": {"amount": "0.00000", "currency": "USD"}},
    "id": {"label": f"https://apps.apple.com/us/app/tidewell-mobile/id{APP}?uo=2", "attributes": {"im:id": APP}},
    "title": {"label": "Tidewell Mobile - Tidewell Inc."},
}


def feed_page(cc, page, entries, last_page):
    base = f"https://itunes.apple.com/{cc}/rss/customerreviews"
    links = [{"attributes": {"rel": "alternate", "type": "text/html",
                             "href": f"https://apps.apple.com/WebObjects/MZStore.woa/wa/viewGrouping?cc={cc}&id=29099"}},
             {"attributes": {"rel": "self", "href": f"{base}/page={page}/id={APP}/sortby=mostrecent/json"}},
             {"attributes": {"rel": "first", "href": f"{base}/page=1/id={APP}/sortby=mostrecent/xml?urlDesc=/customerreviews/id={APP}/sortby=mostrecent/json"}},
             {"attributes": {"rel": "last", "href": f"{base}/page={last_page}/id={APP}/sortby=mostrecent/xml?urlDesc=/customerreviews/id={APP}/sortby=mostrecent/json"}},
             {"attributes": {"rel": "previous", "href": f"{base}/page={max(1, page - 1)}/id={APP}/sortby=mostrecent/xml"}},
             {"attributes": {"rel": "next", "href": f"{base}/page={min(last_page, page + 1)}/id={APP}/sortby=mostrecent/xml"}}]
    feed = {"author": {"name": {"label": "iTunes Store"}, "uri": {"label": "http://www.apple.com/itunes/"}},
            "updated": {"label": NOW.isoformat()}, "rights": {"label": "Copyright 2008 Apple Inc."},
            "title": {"label": "iTunes Store: Customer Reviews"}, "icon": {"label": "http://itunes.apple.com/favicon.ico"},
            "link": links, "id": {"label": f"{base}/page={page}/id={APP}/sortby=mostrecent/json"}}
    if len(entries) == 1:
        feed["entry"] = entries[0]
    elif entries:
        feed["entry"] = entries
    return {"feed": feed}


class FakeFeed:
    """Serves each storefront's reviews newest first, `per_page` a page, at most 10 pages."""

    def __init__(self, per_page=50):
        self.reviews: dict[str, list] = {}
        self.per_page = per_page
        self.app_first = False
        self.stale = False  # a CDN copy that serves page 1 again for every page
        self.calls: list[tuple[str, int]] = []

    def __call__(self, request, cc, page, app):  # respx passes the URL pattern's groups
        page = int(page)
        assert app == APP
        self.calls.append((cc, page))
        if page > 10:
            return httpx.Response(400, text="CustomerReviews RSS page depth is limited to 10")
        items = self.reviews.get(cc, [])
        start = 0 if self.stale else (page - 1) * self.per_page
        chunk = items[start: start + self.per_page]
        if page == 1 and self.app_first:
            chunk = [APP_ENTRY] + chunk
        last = max(1, min(10, -(-len(items) // self.per_page)))
        return httpx.Response(200, json=feed_page(cc, page, chunk, last))


@pytest.fixture
def feed():
    fake = FakeFeed()
    with respx.mock(assert_all_called=False) as mock:
        mock.get(FEED).mock(side_effect=fake)
        yield fake


def make(**opts):
    return AppStoreCollector.from_config("as", {"kind": "app_store", "app_id": APP, **opts}, BRAND)


def run(collector, cursor=None):
    batches = list(collector.fetch(cursor))
    return [m for b in batches for m in b.mentions], (batches[-1].cursor if batches else cursor), batches


def test_maps_reviews_and_skips_the_app_entry(feed):
    feed.app_first = True
    feed.reviews["us"] = [entry(11034567801, NOW - timedelta(minutes=5), "Love it 😍", "Best carrier app I have used.", 5),
                          entry(11034567800, NOW - timedelta(hours=1))]
    mentions, cursor, _ = run(make())
    assert [m["native_id"] for m in mentions] == ["11034567801", "11034567800"]
    m = mentions[0]
    assert m["platform"] == "app_store" and m["kind"] == "review" and m["rating"] == 5
    assert m["text"] == "Love it 😍\n\nBest carrier app I have used." and m["author"] == "night_owl_22"
    assert m["created_at"] == NOW - timedelta(minutes=5) and m["created_at"].tzinfo == timezone.utc
    assert m["lang"] is None and m["url"].startswith("https://itunes.apple.com/us/review?id=")
    assert m["raw"]["country"] == "us" and m["raw"]["version"] == "4.12.0" and m["raw"]["item"]["id"]["label"] == "11034567801"
    assert m["raw"]["collector"] == "app_store" and "retrieved_at" in m["raw"]
    assert feed.calls == [("us", 1)]  # the feed's rel="last" says page 1 is all there is
    assert json.loads(cursor)["rss"]["us"] == {"at": (NOW - timedelta(minutes=5)).isoformat(), "ids": ["11034567801"]}


def test_paging_across_pages_and_countries(feed):
    feed.per_page = 2
    feed.reviews["us"] = [entry(100 + i, NOW - timedelta(minutes=i)) for i in range(5)]
    feed.reviews["de"] = [entry(200, NOW, "Stürzt ab", "Seit dem Update stürzt die App ab.", cc="de")]
    mentions, cursor, batches = run(make(countries=["us", "DE"]))
    assert [m["native_id"] for m in mentions] == ["100", "101", "102", "103", "104", "200"]
    assert feed.calls == [("us", 1), ("us", 2), ("us", 3), ("de", 1)]
    assert [json.loads(b.cursor).get("rss", {}).get("us") for b in batches[:2]] == [None, None]
    assert set(json.loads(cursor)["rss"]) == {"us", "de"}
    assert mentions[-1]["raw"]["country"] == "de"


def test_single_review_page_has_an_object_entry(feed):
    feed.reviews["us"] = [entry(300, NOW)]
    mentions, _, _ = run(make())
    assert [m["native_id"] for m in mentions] == ["300"]


def test_resume_reads_only_newer_reviews(feed):
    feed.per_page = 2
    feed.reviews["us"] = [entry(401, NOW - timedelta(hours=1)), entry(400, NOW - timedelta(hours=2))]
    _, cursor, _ = run(make())
    feed.reviews["us"] = [entry(404, NOW), entry(403, NOW - timedelta(minutes=10)),
                          entry(402, NOW - timedelta(minutes=20))] + feed.reviews["us"]
    feed.calls.clear()
    mentions, cursor, _ = run(make(), cursor)
    assert [m["native_id"] for m in mentions] == ["404", "403", "402"]
    assert feed.calls == [("us", 1), ("us", 2)]  # page 2 reaches 401: stored, stop
    mentions, _, _ = run(make(), cursor)
    assert mentions == []


def test_a_page_that_repeats_reviews_ends_the_walk(feed):
    feed.per_page, feed.stale = 2, True
    feed.reviews["us"] = [entry(900 + i, NOW - timedelta(minutes=i)) for i in range(5)]
    mentions, _, _ = run(make())
    assert [m["native_id"] for m in mentions] == ["900", "901"] and len(feed.calls) == 2


def test_max_pages_bounds_a_walk(feed):
    feed.per_page = 2
    feed.reviews["us"] = [entry(500 + i, NOW - timedelta(minutes=i)) for i in range(8)]
    mentions, _, _ = run(make(max_pages=2))
    assert len(mentions) == 4 and feed.calls == [("us", 1), ("us", 2)]


def test_empty_feed_has_no_entry_key(feed):
    mentions, cursor, batches = run(make())
    assert mentions == [] and len(batches) == 1
    assert json.loads(cursor) == {"rss": {"us": None}}


def test_emoji_and_right_to_left_text_survive(feed):
    feed.reviews["ir"] = [entry(600, NOW, "خیلی بد 😡", "برنامه بعد از آپدیت باز نمی‌شود. لطفاً درستش کنید 🙏", 1, "کاربر", cc="ir")]
    mentions, _, _ = run(make(countries=["ir"]))
    assert mentions[0]["text"] == "خیلی بد 😡\n\nبرنامه بعد از آپدیت باز نمی‌شود. لطفاً درستش کنید 🙏"
    assert mentions[0]["author"] == "کاربر"


@pytest.mark.parametrize("headers, seconds", [({"Retry-After": "90"}, 90), ({}, 60)])
def test_429_raises_rate_limited_with_reset(headers, seconds):
    with respx.mock() as mock:
        mock.get(FEED).respond(429, headers=headers, text="Too Many Requests")
        with pytest.raises(RateLimited) as e:
            run(make())
    expected = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    assert abs((e.value.reset_at - expected).total_seconds()) < 5


def test_429_with_http_date():
    when = (datetime.now(timezone.utc) + timedelta(minutes=7)).replace(microsecond=0)
    with respx.mock() as mock:
        mock.get(FEED).respond(429, headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
        with pytest.raises(RateLimited) as e:
            run(make())
    assert e.value.reset_at == when


@pytest.mark.parametrize("response, error, message", [
    (httpx.Response(500, text="Internal Server Error"), TransientError, "HTTP 500"),
    (httpx.Response(503, text="<html>Service Unavailable</html>"), TransientError, "HTTP 503"),
    (httpx.Response(200, text="<html><body>maintenance</body></html>"), TransientError, "malformed JSON"),
    (httpx.Response(200, json={"errors": ["nope"]}), TransientError, "no 'feed' object"),
    (httpx.Response(404, text="Not Found"), CollectorError, f"app_id {APP} not found on the App Store (us storefront)"),
    (httpx.Response(401, text="Unauthorized"), AuthError, "HTTP 401"),
    (httpx.Response(400, text="CustomerReviews RSS page depth is limited to 10"), CollectorError, "HTTP 400"),
    (httpx.ReadTimeout("timed out"), TransientError, "timed out"),
    (httpx.ConnectError("connection refused"), TransientError, "ConnectError"),
])
def test_errors_are_translated(response, error, message):
    with respx.mock() as mock:
        route = mock.get(FEED)
        route.mock(side_effect=response) if isinstance(response, Exception) else route.mock(return_value=response)
        with pytest.raises(error, match=re.escape(message)) as e:
            run(make())
    assert type(e.value) is error


def test_malformed_review_entry_is_transient(feed):
    bad = entry(700, NOW)
    bad["im:rating"] = {"label": "five"}
    feed.reviews["us"] = [bad]
    with pytest.raises(TransientError, match="malformed"):
        run(make())


@pytest.mark.parametrize("opts, key", [
    ({}, "sources.as.app_id"),
    ({"app_id": "com.tidewell.mobile"}, "sources.as.app_id"),
    ({"app_id": APP, "countries": ["usa"]}, "sources.as.countries"),
    ({"app_id": APP, "max_pages": 11}, "sources.as.max_pages"),
    ({"app_id": APP, "country": "us"}, "sources.as.country"),
    ({"app_id": APP, "issuer_id": "x"}, "key_id"),
])
def test_options_errors_name_the_key(opts, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        AppStoreCollector.from_config("as", opts, BRAND)


def test_app_id_accepts_a_number_or_id_prefix():
    assert make(app_id=int(APP)).opts.app_id == APP
    assert make(app_id=f"id{APP}").opts.app_id == APP


# --- App Store Connect API ---

CONNECT = f"https://api.appstoreconnect.apple.com/v1/apps/{APP}/customerReviews"
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
PUBLIC = KEY.public_key()


def review_resource(rid, at, title="Billing issue", body="Charged twice this month.", rating=2,
                    territory="USA", response=None):
    item = {
        "type": "customerReviews", "id": rid,
        "attributes": {"rating": rating, "title": title, "body": body, "reviewerNickname": "jpm1984",
                       "createdDate": at.astimezone(timezone(timedelta(hours=-7))).isoformat(), "territory": territory},
        "relationships": {"response": {"links": {
            "self": f"https://api.appstoreconnect.apple.com/v1/customerReviews/{rid}/relationships/response",
            "related": f"https://api.appstoreconnect.apple.com/v1/customerReviews/{rid}/response"}}},
        "links": {"self": f"https://api.appstoreconnect.apple.com/v1/customerReviews/{rid}"},
    }
    if response:
        item["relationships"]["response"]["data"] = {"type": "customerReviewResponses", "id": response}
    return item


class FakeConnect:
    def __init__(self, per_page=200):
        self.reviews: list[dict] = []
        self.replies: list[dict] = []
        self.per_page = per_page
        self.requests: list[httpx.Request] = []

    def __call__(self, request):
        self.requests.append(request)
        claims = jwt.decode(request.headers["Authorization"].removeprefix("Bearer "), PUBLIC,
                            algorithms=["ES256"], audience="appstoreconnect-v1")
        assert claims["iss"] == "69a6de70-03db-47e3-e053-5b8c7c11a4d1"
        assert jwt.get_unverified_header(request.headers["Authorization"][7:])["kid"] == "2X9R4HXF34"
        p = request.url.params
        assert p["sort"] == "-createdDate" and p["include"] == "response"
        limit, start = int(p["limit"]), int(p.get("cursor", "0"))
        data = self.reviews[start:start + limit]
        body = {"data": data, "links": {"self": str(request.url)}, "meta": {"paging": {"total": len(self.reviews), "limit": limit}}}
        wanted = {d["relationships"]["response"].get("data", {}).get("id") for d in data}
        included = [r for r in self.replies if r["id"] in wanted]
        if included:
            body["included"] = included
        if start + limit < len(self.reviews):
            body["links"]["next"] = f"{CONNECT}?sort=-createdDate&limit={limit}&include=response&cursor={start + limit}"
        return httpx.Response(200, json=body)


@pytest.fixture
def connect():
    fake = FakeConnect()
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith=CONNECT).mock(side_effect=fake)
        yield fake


def make_connect(**opts):
    return make(issuer_id="69a6de70-03db-47e3-e053-5b8c7c11a4d1", key_id="2X9R4HXF34", private_key=PEM, **opts)


def test_connect_maps_pages_and_replies(connect):
    connect.reviews = [review_resource("00000029-0001", NOW, "تحویل دیر 📦", "سفارش من یک هفته دیر رسید", 1, "IRN",
                                       response="00000030-0001"),
                       review_resource("00000029-0002", NOW - timedelta(hours=1)),
                       review_resource("00000029-0003", NOW - timedelta(hours=2), rating=5)]
    connect.replies = [{"type": "customerReviewResponses", "id": "00000030-0001",
                        "attributes": {"responseBody": "Sorry! Please contact support.",
                                       "lastModifiedDate": NOW.isoformat(), "state": "PUBLISHED"}}]
    connect.reviews[0]["attributes"]["reviewerNickname"] = "مریم"
    mentions, cursor, _ = run(make_connect(max_pages=5, countries=["us"]))
    assert [m["native_id"] for m in mentions] == ["00000029-0001", "00000029-0002", "00000029-0003"]
    m = mentions[0]
    assert m["text"] == "تحویل دیر 📦\n\nسفارش من یک هفته دیر رسید" and m["author"] == "مریم" and m["rating"] == 1
    assert m["created_at"] == NOW and m["raw"]["territory"] == "IRN" and m["raw"]["replied"] is True
    assert m["raw"]["reply"]["attributes"]["responseBody"].startswith("Sorry")
    assert "replied" not in mentions[1]["raw"]
    assert json.loads(cursor)["connect"]["ids"] == ["00000029-0001"]


def test_connect_resume_reads_only_newer_reviews(connect):
    connect.reviews = [review_resource(f"r{i}", NOW - timedelta(minutes=i)) for i in range(5)]
    mentions, cursor, _ = run(make_connect())
    assert [m["native_id"] for m in mentions] == [f"r{i}" for i in range(5)]
    connect.reviews[:0] = [review_resource("r-1", NOW + timedelta(minutes=1))]
    connect.requests.clear()
    mentions, _, _ = run(make_connect(), cursor)
    assert [m["native_id"] for m in mentions] == ["r-1"] and len(connect.requests) == 1


def test_connect_follows_next_links():
    fake = FakeConnect()
    fake.reviews = [review_resource(f"n{i}", NOW - timedelta(minutes=i)) for i in range(5)]
    with respx.mock() as mock:
        def small_pages(request):  # the API's own next link carries limit and cursor
            if "cursor" not in request.url.params:
                request = httpx.Request("GET", str(request.url.copy_merge_params({"limit": "2"})), headers=request.headers)
            return fake(request)

        mock.get(url__startswith=CONNECT).mock(side_effect=small_pages)
        mentions, _, batches = run(make_connect())
    assert [m["native_id"] for m in mentions] == [f"n{i}" for i in range(5)]
    assert len(fake.requests) == 3 and len(batches) == 3


@pytest.mark.parametrize("status, body, error", [
    (401, {"errors": [{"status": "401", "code": "NOT_AUTHORIZED", "title": "Authentication credentials are missing or invalid."}]}, AuthError),
    (403, {"errors": [{"status": "403", "code": "FORBIDDEN_ERROR", "title": "This request is forbidden for security reasons"}]}, AuthError),
    (404, {"errors": [{"status": "404", "code": "NOT_FOUND", "title": "The specified resource does not exist"}]}, CollectorError),
    (500, {"errors": [{"status": "500", "code": "UNEXPECTED_ERROR"}]}, TransientError),
])
def test_connect_errors(status, body, error):
    with respx.mock() as mock:
        mock.get(url__startswith=CONNECT).respond(status, json=body)
        with pytest.raises(error) as e:
            run(make_connect())
    assert type(e.value) is error


def test_connect_429_without_retry_after_waits_a_quarter_hour():
    with respx.mock() as mock:
        mock.get(url__startswith=CONNECT).respond(429, headers={"X-Rate-Limit": "user-hour-lim:3600;user-hour-rem:0;"},
                                                  json={"errors": [{"status": "429", "code": "RATE_LIMIT_EXCEEDED"}]})
        with pytest.raises(RateLimited) as e:
            run(make_connect())
    assert abs((e.value.reset_at - datetime.now(timezone.utc)).total_seconds() - 900) < 5


def test_connect_bad_key_is_an_auth_error_without_the_key():
    with pytest.raises(AuthError) as e:
        run(make(issuer_id="i", key_id="k", private_key="-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"))
    assert "nope" not in str(e.value)


def test_connect_key_from_a_p8_file(connect, tmp_path):
    path = tmp_path / "AuthKey_2X9R4HXF34.p8"
    path.write_text(PEM)
    connect.reviews = [review_resource("f1", NOW)]
    mentions, _, _ = run(make(issuer_id="69a6de70-03db-47e3-e053-5b8c7c11a4d1", key_id="2X9R4HXF34", private_key=str(path)))
    assert [m["native_id"] for m in mentions] == ["f1"]


def test_through_the_runner_twice_and_after_a_crash(feed, tmp_path, monkeypatch):
    feed.per_page = 2
    feed.reviews["us"] = [entry(800 + i, NOW - timedelta(minutes=i)) for i in range(5)]
    cfg = config.parse({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
                        "sources": {"as": {"kind": "app_store", "app_id": APP, "countries": ["us"]}}}, "test")
    store.migrate(cfg.database.url)
    real, calls = store.upsert_mentions, []

    def flaky(s, rows, cursor=None):
        calls.append(cursor)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(s, rows, cursor=cursor)

    monkeypatch.setattr(store, "upsert_mentions", flaky)
    r = pipeline.collect(cfg, only="as")[0]
    assert r.error and "disk full" in r.error and r.inserted == 2
    monkeypatch.setattr(store, "upsert_mentions", real)

    r = pipeline.collect(cfg, only="as")[0]
    assert r.error is None and r.inserted == 3
    r = pipeline.collect(cfg, only="as")[0]
    assert r.error is None and r.inserted == 0 and r.updated == 0
    with store.session(cfg.database.url) as s:
        rows = s.exec(select(Mention).where(Mention.source == "as")).all()
    assert len(rows) == 5 and {(m.platform, m.kind, m.rating) for m in rows} == {("app_store", "review", 1)}
