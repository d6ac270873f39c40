"""Google Play collector against a local server that answers the Play Store's batchexecute RPC.

The library's URL constant (Formats.Reviews.URL_FORMAT) points at the local server; everything
else runs as live: google-play-scraper builds the f.req body, httpx sends it over a socket, and
the server answers with Google's `)]}'` envelope around the oCPfdb payload. Review arrays are
laid out like recorded answers (id, [name, avatar], score, null, text, [seconds, nanos], thumbs,
reply, ..., app version at 10).
"""

import json
import re
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from google_play_scraper.constants.request import Formats
from sqlmodel import select

from collectors.google_play import GooglePlayCollector
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, CollectorError, ConfigError, RateLimited, TransientError
from repmon.models import Mention

APP = "com.tidewell.mobile"
BRAND = BrandConfig(name="Tidewell", keywords=["tidewell"], languages=["en", "fa", "xx"])
NOW = int(time.time())
AVATAR = "https://play-lh.googleusercontent.com/a-/ALV-UjWm0Kd3xQ"


def review(rid, at, text="App keeps logging me out", score=2, name="Dana K", version="4.12.0", thumbs=3, reply=None):
    """One review array as Google sends it (positions per google-play-scraper's ElementSpecs.Review)."""
    user = [name, [None, 2, None, [None, None, AVATAR]]]
    reply_block = ["Tidewell Mobile", reply, [at + 3600, 512000000]] if reply else None
    return [f"gp:AOqpTO{rid}", user, score, None, text, [at, 316000000], thumbs, reply_block, None,
            ["114313695647212242832", name, None, [[None, 2, None, [None, None, AVATAR]], True]],
            version, None, [[["vaf_phase1_syncing_contacts"]]], None, [True, False]]


def envelope(payload, status=None):
    """Google's answer: `)]}'` and the batchexecute envelope; `status` is the gRPC code of a failed call."""
    outer = [["wrb.fr", "oCPfdb", payload if payload is None else json.dumps(payload), None, None, status, "generic"],
             ["di", 85], ["af.httprm", 84, "-3012837719437294720", 27]]
    return ")]}'\n\n" + json.dumps(outer)


class FakePlay:
    """Serves each language's reviews newest first, `count` a page, like the oCPfdb RPC.

    loop_back: after the last page Google hands out a token that starts again from the top.
    canned: (status, headers, body, delay) answers served before any real page.
    """

    def __init__(self):
        self.reviews: dict[str, list] = {}
        self.loop_back = False
        self.canned: list[tuple] = []
        self.requests: list[dict] = []

    def answer(self, path: str, body: str):
        q = parse_qs(urlparse(path).query)
        freq = json.loads(parse_qs(body)["f.req"][0])
        rpc, inner = freq[0][0][0], json.loads(freq[0][0][1])
        paging = inner[1][2]
        count, token = paging[0], paging[2] if len(paging) > 2 else None
        self.requests.append({"hl": q["hl"][0], "gl": q["gl"][0], "rpc": rpc, "app": inner[2][0],
                              "sort": inner[1][1], "count": count, "token": token})
        if self.canned:
            return self.canned.pop(0)
        items = self.reviews.get(q["hl"][0], [])
        start = int(re.fullmatch(r"CsIBCr8B(\d+)", token).group(1)) if token else 0
        page = items[start:start + count]
        end = start + count
        nxt = f"CsIBCr8B{end}" if end < len(items) else ("CsIBCr8B0" if self.loop_back else None)
        payload = [page, [None, nxt], [None]] if nxt else ([page, None, [None]] if page else [])
        return 200, {"Content-Type": "application/json; charset=utf-8"}, envelope(payload), 0


@pytest.fixture
def play(monkeypatch):
    fake = FakePlay()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            status, headers, text, delay = fake.answer(self.path, body)
            time.sleep(delay)
            data = text.encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(Formats.Reviews, "URL_FORMAT", base + "/_/PlayStoreUi/data/batchexecute?hl={lang}&gl={country}")
    yield fake
    server.shutdown()
    server.server_close()


def make(**opts):
    return GooglePlayCollector.from_config("gp", {"kind": "google_play", "app_id": APP, **opts}, BRAND)


def run(collector, cursor=None):
    batches = list(collector.fetch(cursor))
    return [m for b in batches for m in b.mentions], (batches[-1].cursor if batches else cursor), batches


def test_maps_reviews(play):
    play.reviews["en"] = [
        review("A1", NOW - 60, "Support fixed it in minutes 👍", score=5, thumbs=12, reply="Glad we could help!"),
        review("A2", NOW - 120, "Billing charged me twice", score=1),
    ]
    mentions, cursor, _ = run(make(languages=["en"]))
    first = mentions[0]
    assert first["platform"] == "google_play" and first["kind"] == "review"
    assert first["native_id"] == "gp:AOqpTOA1" and first["rating"] == 5 and first["author"] == "Dana K"
    assert first["text"] == "Support fixed it in minutes 👍"
    assert first["created_at"] == datetime.fromtimestamp(NOW - 60, timezone.utc)
    assert first["created_at"].tzinfo is not None and first["lang"] is None
    assert first["url"] == f"https://play.google.com/store/apps/details?id={APP}&reviewId=gp:AOqpTOA1"
    raw = first["raw"]
    assert raw["replied"] is True and raw["item"]["replyContent"] == "Glad we could help!"
    assert raw["item"]["appVersion"] == "4.12.0" and raw["item"]["thumbsUpCount"] == 12
    assert raw["item"]["repliedAt"] == datetime.fromtimestamp(NOW + 3540, timezone.utc).isoformat()
    assert raw["collector"] == "google_play" and raw["lang_requested"] == "en" and "retrieved_at" in raw
    json.dumps(raw)  # stored as JSON
    assert "replied" not in mentions[1]["raw"]
    req = play.requests[0]
    assert req == {"hl": "en", "gl": "us", "rpc": "oCPfdb", "app": APP, "sort": 2, "count": 200, "token": None}
    assert json.loads(cursor)["langs"]["en"]["ids"] == ["gp:AOqpTOA1"]


def test_time_is_utc_whatever_the_local_zone(play, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tehran")
    time.tzset()
    try:
        play.reviews["en"] = [review("A1", 1_700_000_000)]
        mentions, _, _ = run(make(languages=["en"], backfill_days=0))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert mentions[0]["created_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


def test_languages_default_to_the_brands_that_play_has(play):
    play.reviews["fa"] = [review("F1", NOW - 30, "برنامه خیلی کند است و پشتیبانی جواب نمی‌دهد 😡", score=1)]
    assert make().languages() == ["en", "fa"]
    mentions, cursor, _ = run(make())
    assert [r["hl"] for r in play.requests] == ["en", "fa"]
    assert mentions[0]["text"] == "برنامه خیلی کند است و پشتیبانی جواب نمی‌دهد 😡"
    assert set(json.loads(cursor)["langs"]) == {"en", "fa"}
    no_lang = GooglePlayCollector.from_config("gp", {"app_id": APP}, BrandConfig(name="X", languages=["xx"]))
    assert no_lang.languages() == ["en"]


def test_pages_follow_the_token(play):
    play.reviews["en"] = [review(f"P{i}", NOW - 60 * i) for i in range(1, 6)]
    mentions, cursor, batches = run(make(languages=["en"], count=2))
    assert [m["native_id"] for m in mentions] == [f"gp:AOqpTOP{i}" for i in range(1, 6)]
    assert [r["token"] for r in play.requests] == [None, "CsIBCr8B2", "CsIBCr8B4"]
    assert [r["count"] for r in play.requests] == [2, 2, 2]
    # The mark only moves on the walk's last page: a crash before it re-reads from the top.
    assert [json.loads(b.cursor).get("langs", {}).get("en") for b in batches[:-1]] == [None, None]
    assert json.loads(cursor)["langs"]["en"]["ids"] == ["gp:AOqpTOP1"]


def test_resume_reads_only_newer_reviews(play):
    play.reviews["en"] = [review("R2", NOW - 200), review("R1", NOW - 300)]
    _, cursor, _ = run(make(languages=["en"], count=2))
    play.reviews["en"] = [review("R4", NOW - 10), review("R3", NOW - 100)] + play.reviews["en"]
    play.requests.clear()
    mentions, cursor2, _ = run(make(languages=["en"], count=2), cursor)
    assert [m["native_id"] for m in mentions] == ["gp:AOqpTOR4", "gp:AOqpTOR3"]
    assert len(play.requests) == 2  # page 2 starts with R2: stored, so the walk stops there
    mentions, _, _ = run(make(languages=["en"], count=2), cursor2)
    assert mentions == []


def test_a_review_in_the_same_second_as_the_mark_is_not_lost(play):
    play.reviews["en"] = [review("S1", NOW - 100)]
    _, cursor, _ = run(make(languages=["en"]))
    play.reviews["en"] = [review("S2", NOW - 100), review("S1", NOW - 100)]
    mentions, cursor, _ = run(make(languages=["en"]), cursor)
    assert [m["native_id"] for m in mentions] == ["gp:AOqpTOS2"]
    assert json.loads(cursor)["langs"]["en"]["ids"] == ["gp:AOqpTOS1", "gp:AOqpTOS2"]


def test_paging_that_loops_back_stops(play):
    play.loop_back = True
    play.reviews["en"] = [review(f"L{i}", NOW - 60 * i) for i in range(1, 5)]
    mentions, cursor, _ = run(make(languages=["en"], count=2, max_pages=50))
    assert [m["native_id"] for m in mentions] == [f"gp:AOqpTOL{i}" for i in range(1, 5)]
    assert len(play.requests) == 3  # the third page starts over with L1
    assert json.loads(cursor)["langs"]["en"]["ids"] == ["gp:AOqpTOL1"]


def test_first_run_stops_at_backfill_days(play):
    play.reviews["en"] = [review("N", NOW - 3600), review("O", NOW - 40 * 86400)]
    mentions, _, _ = run(make(languages=["en"], backfill_days=30))
    assert [m["native_id"] for m in mentions] == ["gp:AOqpTON"]


def test_empty_result_still_writes_a_cursor(play):
    mentions, cursor, batches = run(make(languages=["en"]))
    assert mentions == [] and len(batches) == 1
    assert json.loads(cursor) == {"langs": {"en": None}}
    play.reviews["en"] = [review("E1", NOW - 5)]
    mentions, _, _ = run(make(languages=["en"]), cursor)
    assert len(mentions) == 1


def canned(play, status, body="", headers=None, delay=0):
    play.canned.append((status, headers or {}, body, delay))


@pytest.mark.parametrize("headers, seconds", [({"Retry-After": "120"}, 120), ({}, 60)])
def test_429_raises_rate_limited_with_reset(play, headers, seconds):
    canned(play, 429, "Too Many Requests", headers)
    with pytest.raises(RateLimited) as e:
        run(make(languages=["en"]))
    expected = datetime.now(timezone.utc).timestamp() + seconds
    assert abs(e.value.reset_at.timestamp() - expected) < 5


def test_play_gateway_error_is_a_rate_limit(play):
    canned(play, 200, ")]}'\n\n[[\"er\",null,null,null,null,500,null,null,null,3],"
                      "[\"com.google.play.gateway.proto.PlayGatewayError\",[8]]]")
    with pytest.raises(RateLimited):
        run(make(languages=["en"]))


@pytest.mark.parametrize("status, body, error, message", [
    (500, "Internal Server Error", TransientError, "HTTP 500"),
    (503, "Service Unavailable", TransientError, "HTTP 503"),
    (200, "<html>Sorry, we're having trouble</html>", TransientError, "malformed"),
    (200, ")]}'\n\n[[\"wrb.fr\",\"oCPfdb\",\"[[[\\\"gp:", TransientError, "malformed"),
    (200, envelope(None, status=[5]), CollectorError,
     f"app_id {APP} not found on Google Play"),
    (404, "Not Found", CollectorError, f"app_id {APP} not found on Google Play"),
    (401, "Unauthorized", AuthError, "HTTP 401"),
    (403, "Forbidden", AuthError, "HTTP 403"),
])
def test_errors_are_translated(play, status, body, error, message):
    canned(play, status, body)
    with pytest.raises(error, match=re.escape(message)) as e:
        run(make(languages=["en"]))
    assert type(e.value) is error


def test_timeout_is_transient(play):
    canned(play, 200, envelope([]), delay=1.0)
    with pytest.raises(TransientError, match="timed out") as e:
        run(make(languages=["en"], timeout=0.2))
    assert e.value.__cause__ is not None


def test_connection_refused_is_transient(monkeypatch):
    monkeypatch.setattr(Formats.Reviews, "URL_FORMAT", "http://127.0.0.1:9/x?hl={lang}&gl={country}")
    with pytest.raises(TransientError):
        run(make(languages=["en"]))


def test_importing_the_library_keeps_tls_verification():
    import ssl

    assert ssl._create_default_https_context is not ssl._create_unverified_context


@pytest.mark.parametrize("opts, key", [
    ({}, "sources.gp.app_id"),
    ({"app_id": "not a package"}, "sources.gp.app_id"),
    ({"app_id": APP, "count": 500}, "sources.gp.count"),
    ({"app_id": APP, "languages": ["english"]}, "sources.gp.languages"),
    ({"app_id": APP, "country": "USA"}, "sources.gp.country"),
    ({"app_id": APP, "lang": "en"}, "sources.gp.lang"),
])
def test_options_errors_name_the_key(opts, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        GooglePlayCollector.from_config("gp", opts, BRAND)


def test_through_the_runner_twice_and_after_a_crash(play, tmp_path, monkeypatch):
    play.reviews["en"] = [review(f"C{i}", NOW - 60 * i) for i in range(1, 6)]
    play.reviews["fa"] = [review("F1", NOW - 30, "اپلیکیشن عالیه ولی قطع می‌شه 📶", score=3)]
    cfg = config.parse({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
                        "brands": [{"name": "Tidewell", "keywords": ["tidewell"], "languages": ["en", "fa"]}],
                        "sources": {"gp": {"kind": "google_play", "app_id": APP, "count": 2}}}, "test")
    store.migrate(cfg.database.url)

    # Crash while storing the second page: the first page is kept, the cursor has not moved.
    real, calls = store.upsert_mentions, []

    def flaky(s, rows, cursor=None):
        calls.append(cursor)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(s, rows, cursor=cursor)

    monkeypatch.setattr(store, "upsert_mentions", flaky)
    r = pipeline.collect(cfg, only="gp")[0]
    assert r.error and "disk full" in r.error and r.inserted == 2
    monkeypatch.setattr(store, "upsert_mentions", real)

    r = pipeline.collect(cfg, only="gp")[0]
    assert r.error is None and r.inserted == 4
    r = pipeline.collect(cfg, only="gp")[0]
    assert r.error is None and r.inserted == 0 and r.updated == 0
    with store.session(cfg.database.url) as s:
        rows = s.exec(select(Mention).where(Mention.source == "gp")).all()
    assert len(rows) == 6 and {m.kind for m in rows} == {"review"}
    persian = next(m for m in rows if m.native_id == "gp:AOqpTOF1")
    assert persian.text == "اپلیکیشن عالیه ولی قطع می‌شه 📶" and persian.rating == 3
    assert persian.created_at == datetime.fromtimestamp(NOW - 30, timezone.utc)


# --- Play Developer API (reviews.list with a service account) ---

def api_review(rid, at, text="\tApp crashes when I pay", stars=1, lang="en", reply=None):
    """A reviews.list item as documented (the user comment's text starts with a tab)."""
    comments = [{"userComment": {
        "text": text, "lastModified": {"seconds": str(at), "nanos": 713000000}, "starRating": stars,
        "reviewerLanguage": lang, "device": "a52q", "androidOsVersion": 33, "appVersionCode": 41200,
        "appVersionName": "4.12.0", "thumbsUpCount": 1, "thumbsDownCount": 0,
        "deviceMetadata": {"productName": "a52q (Galaxy A52)", "manufacturer": "Samsung", "ramMb": 5650}}}]
    if reply:
        comments.append({"developerComment": {"text": reply, "lastModified": {"seconds": str(at + 60), "nanos": 0}}})
    return {"reviewId": f"gp:AOqpTO{rid}", "authorName": "Sam R", "comments": comments}


class FakePublisher:
    """The OAuth token endpoint and androidpublisher v3 reviews.list, `per_page` a page."""

    def __init__(self):
        self.reviews: list = []
        self.per_page = 100
        self.token_status = 200
        self.canned: list[tuple] = []
        self.requests: list[str] = []

    def answer(self, method, path, body):
        if path == "/token":
            assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in body
            if self.token_status != 200:
                return self.token_status, {}, json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            return 200, {}, json.dumps({"access_token": "ya29.c.test", "expires_in": 3599, "token_type": "Bearer"})
        self.requests.append(path)
        if self.canned:
            return self.canned.pop(0)
        u = urlparse(path)
        assert u.path == f"/androidpublisher/v3/applications/{APP}/reviews"
        q = parse_qs(u.query)
        start = int(q["token"][0]) if "token" in q else 0
        page = self.reviews[start:start + self.per_page]
        body = {"reviews": page} if page else {}
        if start + self.per_page < len(self.reviews):
            body["tokenPagination"] = {"nextPageToken": str(start + self.per_page)}
        return 200, {}, json.dumps(body)


@pytest.fixture
def publisher(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    fake = FakePublisher()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            status, headers, text = fake.answer(self.command, self.path, body)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    sa = tmp_path / "play-sa.json"
    sa.write_text(json.dumps({
        "type": "service_account", "project_id": "tidewell-play", "private_key_id": "3f1c0d9e8b7a",
        "private_key": pem, "client_email": "repmon@tidewell-play.iam.gserviceaccount.com",
        "client_id": "109876543210987654321", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{base}/token", "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/repmon", "universe_domain": "googleapis.com"}))
    fake.sa_file, fake.base = str(sa), base + "/"
    yield fake
    server.shutdown()
    server.server_close()


def make_api(publisher, **opts):
    c = make(service_account_file=publisher.sa_file, **opts)
    c.api_endpoint = publisher.base
    return c


def test_developer_api_maps_pages_and_resumes(publisher):
    publisher.per_page = 2
    publisher.reviews = [api_review("D1", NOW - 60, "\tپرداخت انجام نمی‌شود 💳", 1, "fa", reply="Sorry, fixed in 4.12.1"),
                         api_review("D2", NOW - 120, stars=4), api_review("D3", NOW - 180, stars=5)]
    mentions, cursor, batches = run(make_api(publisher))
    assert [m["native_id"] for m in mentions] == ["gp:AOqpTOD1", "gp:AOqpTOD2", "gp:AOqpTOD3"]
    m = mentions[0]
    assert m["text"] == "پرداخت انجام نمی‌شود 💳" and m["lang"] == "fa" and m["rating"] == 1 and m["author"] == "Sam R"
    assert m["created_at"] == datetime.fromtimestamp(NOW - 60, timezone.utc) and m["raw"]["replied"] is True
    assert "replied" not in mentions[1]["raw"] and len(batches) == 2
    publisher.reviews[:0] = [api_review("D0", NOW - 5)]
    publisher.requests.clear()
    mentions, _, _ = run(make_api(publisher), cursor)
    assert [m["native_id"] for m in mentions] == ["gp:AOqpTOD0"] and len(publisher.requests) == 1


@pytest.mark.parametrize("status, body, error", [
    (429, {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}, RateLimited),
    (403, {"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}}, AuthError),
    (404, {"error": {"code": 404, "message": "No application was found for the given package name.", "status": "NOT_FOUND"}}, CollectorError),
    (503, {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}, TransientError),
])
def test_developer_api_errors(publisher, status, body, error):
    publisher.canned.append((status, {}, json.dumps(body)))
    with pytest.raises(error) as e:
        run(make_api(publisher))
    assert type(e.value) is error


def test_developer_api_refused_key_is_an_auth_error(publisher):
    publisher.token_status = 400
    with pytest.raises(AuthError):
        run(make_api(publisher))


def test_developer_api_missing_key_file_is_an_auth_error(tmp_path):
    with pytest.raises(AuthError, match="service_account_file"):
        run(make(service_account_file=str(tmp_path / "nope.json")))
