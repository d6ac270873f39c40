"""Posting replies through the platforms' APIs (repmon.posting), with the real client libraries.

X and Reddit run tweepy / praw+prawcore over `responses`; Google Play runs
google-api-python-client against a local server (OAuth token endpoint + androidpublisher v3
reviews.reply). Answers are shaped like the real APIs': X v2 `POST /2/tweets` 201
`{"data": {"id", "text", "edit_history_tweet_ids"}}` and its problem JSON (`title`, `detail`,
`type`, `status`) with `x-rate-limit-*` / `x-user-limit-24hour-*` headers; Reddit's OAuth
token JSON and `/api/comment` `{"json": {"errors": [[CODE, message, field]], "data": {"things":
[{"kind": "t1", ...}]}}}` as recorded in praw's cassettes; Play's `{"result": {"replyText",
"lastEdited"}}` and google.rpc error bodies.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import prawcore
import pytest
import requests
import responses
from pydantic import ValidationError

from collectors.google_play import GooglePlayCollector
from repmon import config
from repmon.errors import PostingError, RepmonError
from repmon.models import Mention
from repmon.posting import PostedReply, can_post, post_reply, x_length

NOW = datetime.now(timezone.utc)
BRAND = {"name": "Tidewell", "keywords": ["tidewell"]}
X_CREDS = {"consumer_key": "ck-XK8a2Lq9", "consumer_secret": "cs-8d7f6e5d4c3b2a19",
           "access_token": "783214-Tk9Qw2Er4Ty6Ui8Op0", "access_token_secret": "ats-Zx1Cv3Bn5Ml7Kj9H"}
X_SOURCE = {"kind": "x", "bearer_token": "AAAAAAAAAAAAAAAAAAAAAbearer", **X_CREDS}
REDDIT_SOURCE = {"kind": "reddit", "client_id": "cid-123", "client_secret": "sec-456",
                 "user_agent": "server:repmon-test:1.0 (by /u/TidewellCare)",
                 "username": "TidewellCare", "password": "pw-Secret-789"}
APP = "com.tidewell.mobile"
TWEETS = "https://api.twitter.com/2/tweets"
TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
COMMENT_URL = "https://oauth.reddit.com/api/comment/"


def cfg(post=True, **sources):
    data = {"brands": [BRAND], "sources": sources or {"xs": X_SOURCE}}
    if post is not None:
        data["replies"] = {"post_to_platforms": post}
    return config.parse(data)


def mention(platform="x", native_id="1790012345678901249", source="xs", **kw):
    kw.setdefault("url", f"https://x.com/anapop/status/{native_id}")
    kw.setdefault("raw", {"item": {"id": native_id}, "collector": platform})
    return Mention(source=source, platform=platform, native_id=native_id, text="Tidewell dropped my calls again",
                   created_at=NOW, author="@anapop", **kw)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


# -- who may post ---------------------------------------------------------------------------

def test_posting_is_off_by_default_and_refused_without_any_request(rsps):
    c = cfg(post=None)
    assert c.replies.post_to_platforms is False
    ok, why = can_post(c, mention())
    assert not ok and why == "posting is off: set replies.post_to_platforms = true"
    with pytest.raises(PostingError, match="posting is off") as e:
        post_reply(c, mention(), "Sorry about that, please DM us.")
    assert e.value.kind == "off" and isinstance(e.value, RepmonError) and len(rsps.calls) == 0


@pytest.mark.parametrize("sources, m, says", [
    ({"xs": {"kind": "x", "bearer_token": "AAAAbearer"}}, mention(),
     "the X source has no user-context credentials (OAuth 1.0a access token) to post with: set "
     "sources.xs.consumer_key, sources.xs.consumer_secret, sources.xs.access_token, sources.xs.access_token_secret"),
    ({"xs": {"kind": "x", "bearer_token": "AAAAbearer", "consumer_key": "ck", "consumer_secret": "cs"}}, mention(),
     "set sources.xs.access_token, sources.xs.access_token_secret"),
    ({"demo": {"kind": "demo"}}, mention(source="demo"), "source 'demo' (demo) did not read this post from the X API"),
    ({"xs": X_SOURCE}, mention(source="gone"), "the source 'gone' that collected this post is no longer configured"),
    ({"xs": X_SOURCE}, mention(platform="mastodon", url="https://mastodon.social/@a/1"), "posting to mastodon is not supported"),
    ({"xs": X_SOURCE}, mention(deleted_at=NOW), "the post was removed from X"),
    ({"rd": {k: v for k, v in REDDIT_SOURCE.items() if k not in ("username", "password")}},
     mention("reddit", "t3_1cx9a2b", "rd"), "set sources.rd.username and sources.rd.password"),
    ({"rd": REDDIT_SOURCE}, mention("reddit", "t5_2qh1i", "rd"), "is not a Reddit post (t3_) or comment (t1_)"),
    ({"gp": {"kind": "google_play", "app_id": APP}}, mention("google_play", "gp:AOqpTOE1", "gp"),
     "set sources.gp.service_account_file"),
])
def test_can_post_says_why_not(sources, m, says):
    ok, why = can_post(cfg(**sources), m)
    assert not ok and says in why
    with pytest.raises(PostingError) as e:
        post_reply(cfg(**sources), m, "Thanks for telling us")
    assert str(e.value) == why


def test_can_post_when_configured():
    assert can_post(cfg(), mention()) == (True, "posts through source 'xs' (X)")
    assert can_post(cfg(rd=REDDIT_SOURCE), mention("reddit", "t1_kq3z9x1", "rd"))[0]


def test_x_options_are_optional_and_validated():
    from collectors.x import XOptions

    assert XOptions(bearer_token="b").access_token is None
    assert "ats-Zx1" not in repr(XOptions(**{k: v for k, v in X_SOURCE.items() if k != "kind"}))
    with pytest.raises(ValidationError, match="access_token"):
        XOptions(bearer_token="b", access_token="")


# -- X ---------------------------------------------------------------------------------------

def x_created(rid, text):
    return {"data": {"edit_history_tweet_ids": [rid], "id": rid, "text": text}}


def test_x_reply_sends_exactly_the_reply_with_user_context(rsps, caplog):
    caplog.set_level(logging.INFO)
    text = "Sorry Ana, that's not OK. We've sent you a DM to sort it out 🙏"
    rsps.post(TWEETS, status=201, json=x_created("1790019999999999999", text),
              headers={"x-rate-limit-limit": "100", "x-rate-limit-remaining": "99",
                       "x-rate-limit-reset": str(int(time.time()) + 900)})
    posted = post_reply(cfg(), mention(), text)
    assert posted == PostedReply("x", "1790019999999999999", "https://x.com/i/web/status/1790019999999999999")
    (call,) = rsps.calls
    assert call.request.method == "POST" and call.request.url == TWEETS
    assert json.loads(call.request.body) == {"text": text, "reply": {"in_reply_to_tweet_id": "1790012345678901249"}}
    auth = call.request.headers["Authorization"]
    assert auth.startswith("OAuth ") and 'oauth_consumer_key="ck-XK8a2Lq9"' in auth
    assert 'oauth_token="783214-Tk9Qw2Er4Ty6Ui8Op0"' in auth and "Bearer" not in auth
    assert "posted reply platform=x" in caplog.text and "reply_id=1790019999999999999" in caplog.text
    for secret in [text, *X_CREDS.values()]:
        assert secret not in caplog.text


def test_x_reply_goes_to_the_latest_version_of_an_edited_post(rsps):
    rsps.post(TWEETS, status=201, json=x_created("1790020000000000000", "Thanks!"))
    m = mention(raw={"item": {"id": "1790012399999999999",
                              "edit_history_tweet_ids": ["1790012345678901249", "1790012399999999999"]}})
    post_reply(cfg(), m, "Thanks!")
    assert json.loads(rsps.calls[0].request.body)["reply"] == {"in_reply_to_tweet_id": "1790012399999999999"}


def test_x_401_is_an_auth_error(rsps):
    rsps.post(TWEETS, status=401, json={"title": "Unauthorized", "type": "about:blank", "status": 401,
                                        "detail": "Unauthorized"})
    with pytest.raises(PostingError, match="X refused the credentials") as e:
        post_reply(cfg(), mention(), "Hi")
    assert e.value.kind == "auth"


def test_x_429_gives_the_reset_time(rsps):
    reset = int(time.time()) + 600
    rsps.post(TWEETS, status=429, headers={"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0",
                                           "x-rate-limit-reset": str(reset)},
              json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429})
    with pytest.raises(PostingError, match="rate limited") as e:
        post_reply(cfg(), mention(), "Hi")
    assert e.value.kind == "rate_limited" and 590 <= e.value.retry_after <= 600
    assert "in 10 min" in str(e.value)


def test_x_429_on_the_accounts_daily_limit_waits_for_that_reset(rsps):
    now = int(time.time())
    rsps.post(TWEETS, status=429, headers={
        "x-rate-limit-limit": "100", "x-rate-limit-remaining": "97", "x-rate-limit-reset": str(now + 600),
        "x-user-limit-24hour-limit": "17", "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(now + 20_000)},
        json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429})
    with pytest.raises(PostingError) as e:
        post_reply(cfg(), mention(), "Hi")
    assert 19_990 <= e.value.retry_after <= 20_000


@pytest.mark.parametrize("body, kind, says", [
    ({"detail": "You attempted to reply to a Tweet that is deleted or not visible to you.", "type": "about:blank",
      "title": "Forbidden", "status": 403}, "not_found", "deleted or is not visible"),
    ({"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank",
      "title": "Forbidden", "status": 403}, "rejected", "duplicate content"),
    ({"title": "Forbidden", "type": "https://api.twitter.com/2/problems/oauth1-permissions", "status": 403,
      "detail": "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."},
     "auth", "Read and write"),
])
def test_x_403s_say_what_happened(rsps, body, kind, says):
    rsps.post(TWEETS, status=403, json=body)
    with pytest.raises(PostingError, match=says) as e:
        post_reply(cfg(), mention(), "Hi")
    assert e.value.kind == kind


@pytest.mark.parametrize("kw", [{"status": 503, "body": "upstream connect error"},
                                {"body": requests.ReadTimeout("read timed out")}])
def test_x_server_errors_and_timeouts_may_have_posted(rsps, kw):
    rsps.post(TWEETS, **kw)
    with pytest.raises(PostingError, match="may or may not have been published") as e:
        post_reply(cfg(), mention(), "Hi")
    assert e.value.kind == "transient" and len(rsps.calls) == 1  # sent once, never retried


def test_x_length_is_weighted_and_refused_before_any_request(rsps):
    assert x_length("a" * 280) == 280 and x_length("é" * 10) == 10
    assert x_length("你好" * 70) == 280 and x_length("see https://tidewell.example/status?very=long&query=1") == 27
    assert x_length("پشتیبانی") == 8  # Arabic script is below U+1100: weight 1
    for text in ("a" * 281, "你" * 141, "😡" * 141):
        with pytest.raises(PostingError, match="X allows 280") as e:
            post_reply(cfg(), mention(), text)
        assert e.value.kind == "too_long"
    with pytest.raises(PostingError, match="empty") as e:
        post_reply(cfg(), mention(), "   \n ")
    assert e.value.kind == "invalid" and len(rsps.calls) == 0


# -- Reddit ----------------------------------------------------------------------------------

@pytest.fixture
def reddit(rsps, monkeypatch):
    """Reddit's token endpoint; prawcore may not sleep (nor retry) here."""
    slept: list = []
    monkeypatch.setattr(time, "sleep", slept.append)
    rsps.post(TOKEN_URL, json={"access_token": "tok-abc", "token_type": "bearer", "expires_in": 86400, "scope": "*"})
    yield rsps
    assert [s for s in slept if s > 0] == []


def reddit_comment(cid, parent, link, body, permalink=True):
    data = {"subreddit_id": "t5_2qh1i", "approved_at_utc": None, "author_is_blocked": False, "comment_type": None,
            "edited": False, "banned_by": None, "removal_reason": None, "link_id": f"t3_{link}", "likes": True,
            "replies": "", "user_reports": [], "saved": False, "id": cid, "banned_at_utc": None, "gilded": 0,
            "archived": False, "no_follow": False, "author": "TidewellCare", "can_mod_post": False,
            "created_utc": NOW.timestamp(), "send_replies": True, "parent_id": parent, "score": 1,
            "author_fullname": "t2_9xk2m", "approved_by": None, "body": body,
            "body_html": f"<div class=\"md\"><p>{body}</p>\n</div>", "subreddit": "mobile", "name": f"t1_{cid}",
            "created": NOW.timestamp(), "author_flair_text": None, "controversiality": 0, "depth": 1,
            "mod_reports": [], "subreddit_type": "public", "ups": 1, "stickied": False, "distinguished": None}
    if permalink:
        data["permalink"] = f"/r/mobile/comments/{link}/tidewell_dropped_my_calls/{cid}/"
    return {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": data}]}}}


def reddit_error(code, message, field):
    return {"json": {"errors": [[code, message, field]]}}


def rcfg():
    return cfg(rd=REDDIT_SOURCE)


def rmention(native_id="t3_1cx9a2b"):
    return mention("reddit", native_id, "rd", url=f"https://www.reddit.com/r/mobile/comments/{native_id[3:]}/x/",
                   raw={"item": {"name": native_id}, "collector": "reddit"})


def test_reddit_reply_to_a_post(reddit, caplog):
    caplog.set_level(logging.INFO)
    text = "Sorry about the dropped calls. Could you PM us your account number?"
    reddit.post(COMMENT_URL, json=reddit_comment("l2k9d0x", "t3_1cx9a2b", "1cx9a2b", text),
                headers={"x-ratelimit-remaining": "99.0", "x-ratelimit-used": "1", "x-ratelimit-reset": "420"})
    posted = post_reply(rcfg(), rmention(), text)
    assert posted == PostedReply("reddit", "t1_l2k9d0x",
                                 "https://www.reddit.com/r/mobile/comments/1cx9a2b/tidewell_dropped_my_calls/l2k9d0x/")
    token, comment = reddit.calls
    assert parse_qs(token.request.body) == {"grant_type": ["password"], "username": ["TidewellCare"],
                                            "password": ["pw-Secret-789"]}
    assert urlparse(comment.request.url).path == "/api/comment/"
    assert comment.request.headers["Authorization"] == "bearer tok-abc"
    assert parse_qs(comment.request.body) == {"api_type": ["json"], "text": [text], "thing_id": ["t3_1cx9a2b"]}
    assert text not in caplog.text and "pw-Secret-789" not in caplog.text and "tok-abc" not in caplog.text


def test_reddit_reply_to_a_comment_without_a_permalink_in_the_answer(reddit):
    reddit.post(COMMENT_URL, json=reddit_comment("l2kaaaa", "t1_kq3z9x1", "1cx9a2b", "Thanks!", permalink=False))
    posted = post_reply(rcfg(), rmention("t1_kq3z9x1"), "Thanks!")
    assert parse_qs(reddit.calls[1].request.body)["thing_id"] == ["t1_kq3z9x1"]
    assert posted == PostedReply("reddit", "t1_l2kaaaa", "https://www.reddit.com/comments/1cx9a2b/_/l2kaaaa/")


@pytest.mark.parametrize("answer, kind, says, wait", [
    (reddit_error("RATELIMIT", "Looks like you've been doing that a lot. Take a break for 9 minutes before trying "
                  "again.", "ratelimit"), "rate_limited", "posting too often", 540),
    (reddit_error("RATELIMIT", "Looks like you've been doing that a lot. Take a break for 3 seconds before trying "
                  "again.", "ratelimit"), "rate_limited", "posting too often", 3),  # reported, not slept through
    (reddit_error("DELETED_COMMENT", "that comment has been deleted", "parent"), "not_found", "was deleted", None),
    (reddit_error("TOO_OLD", "that's a piece of history now; it's too old to reply to", "parent"), "rejected",
     "too old to reply to", None),
    (reddit_error("THREAD_LOCKED", "Comments are locked.", "parent"), "rejected", "THREAD_LOCKED", None),
])
def test_reddit_api_errors(reddit, answer, kind, says, wait):
    reddit.post(COMMENT_URL, json=answer)
    with pytest.raises(PostingError, match=says) as e:
        post_reply(rcfg(), rmention(), "Hi")
    assert e.value.kind == kind and e.value.retry_after == wait
    assert len([c for c in reddit.calls if "/api/comment" in c.request.url]) == 1


def test_reddit_wrong_password_is_an_auth_error(rsps):
    rsps.post(TOKEN_URL, json={"error": "invalid_grant"})
    with pytest.raises(PostingError, match="refused the login") as e:
        post_reply(rcfg(), rmention(), "Hi")
    assert e.value.kind == "auth" and len(rsps.calls) == 1


def test_reddit_429_and_403(reddit):
    reddit.post(COMMENT_URL, status=429, headers={"retry-after": "30"}, body="")
    with pytest.raises(PostingError) as e:
        post_reply(rcfg(), rmention(), "Hi")
    assert e.value.kind == "rate_limited" and e.value.retry_after == 30
    reddit.replace(responses.POST, COMMENT_URL, status=403, json={"message": "Forbidden", "error": 403})
    with pytest.raises(PostingError, match="403") as e:
        post_reply(rcfg(), rmention(), "Hi")
    assert e.value.kind == "rejected"


def test_reddit_server_error_is_sent_once_not_retried(reddit):
    reddit.post(COMMENT_URL, status=503, body="<html>upstream request timeout</html>")
    with pytest.raises(PostingError, match="may or may not have been published") as e:
        post_reply(rcfg(), rmention(), "Hi")
    assert e.value.kind == "transient"
    assert len([c for c in reddit.calls if "/api/comment" in c.request.url]) == 1


def test_reddit_reply_not_returned_says_check_the_thread(reddit):
    reddit.post(COMMENT_URL, json={"json": {"errors": [], "data": {"things": []}}})
    with pytest.raises(PostingError, match="did not return it"):
        post_reply(rcfg(), rmention(), "Hi")


def test_reddit_overlong_refused_before_any_request(rsps):
    with pytest.raises(PostingError, match="Reddit allows 10000") as e:
        post_reply(rcfg(), rmention(), "x" * 10_001)
    assert e.value.kind == "too_long" and len(rsps.calls) == 0


# -- Google Play -----------------------------------------------------------------------------

class FakePublisher:
    """The service account's OAuth token endpoint and androidpublisher v3 reviews.reply."""

    def __init__(self):
        self.token_status = 200
        self.canned: list[tuple] = []
        self.replies: list[tuple[str, dict]] = []

    def answer(self, method, path, body):
        if path == "/token":
            if self.token_status != 200:
                return self.token_status, {}, json.dumps({"error": "invalid_grant",
                                                          "error_description": "Invalid JWT Signature."})
            return 200, {}, json.dumps({"access_token": "ya29.c.test", "expires_in": 3599, "token_type": "Bearer"})
        u = urlparse(path)
        assert method == "POST"
        self.replies.append((unquote(u.path), json.loads(body)))
        if self.canned:
            return self.canned.pop(0)
        text = json.loads(body)["replyText"]
        return 200, {}, json.dumps({"result": {"replyText": text,
                                               "lastEdited": {"seconds": str(int(time.time())), "nanos": 412000000}}})


@pytest.fixture
def play(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    fake = FakePublisher()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
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
        "token_uri": f"{base}/token", "universe_domain": "googleapis.com"}))
    monkeypatch.setattr(GooglePlayCollector, "api_endpoint", base + "/")
    fake.cfg = cfg(gp={"kind": "google_play", "app_id": APP, "service_account_file": str(sa)})
    yield fake
    server.shutdown()
    server.server_close()


def pmention(review_id="gp:AOqpTOH3vX9k2LmN"):
    return mention("google_play", review_id, "gp", url=f"https://play.google.com/store/apps/details?id={APP}"
                   f"&reviewId={review_id}", raw={"item": {"reviewId": review_id}, "collector": "google_play"})


def test_play_reply(play):
    text = "Sorry the app logs you out. Version 4.12.1 fixes it; please update and tell us at help@tidewell.example."
    posted = post_reply(play.cfg, pmention(), text)
    assert posted == PostedReply("google_play", "gp:AOqpTOH3vX9k2LmN", pmention().url)
    assert play.replies == [(f"/androidpublisher/v3/applications/{APP}/reviews/gp:AOqpTOH3vX9k2LmN:reply",
                             {"replyText": text})]


def test_play_limit_is_350_characters_checked_before_any_request(play):
    post_reply(play.cfg, pmention(), "ب" * 350)
    with pytest.raises(PostingError, match="351 characters; Google Play allows 350") as e:
        post_reply(play.cfg, pmention(), "ب" * 351)
    assert e.value.kind == "too_long" and len(play.replies) == 1


@pytest.mark.parametrize("status, headers, body, kind, wait", [
    (404, {}, {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}},
     "not_found", None),
    (403, {}, {"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}},
     "auth", None),
    (429, {"Retry-After": "30"}, {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
     "rate_limited", 30),
    (503, {}, {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}},
     "transient", None),
])
def test_play_errors(play, status, headers, body, kind, wait):
    play.canned.append((status, headers, json.dumps(body)))
    with pytest.raises(PostingError) as e:
        post_reply(play.cfg, pmention(), "Thanks for the review")
    assert e.value.kind == kind and e.value.retry_after == wait and len(play.replies) == 1


def test_play_refused_key_is_an_auth_error(play):
    play.token_status = 400
    with pytest.raises(PostingError, match="service account key was refused") as e:
        post_reply(play.cfg, pmention(), "Thanks")
    assert e.value.kind == "auth" and play.replies == []


def test_reddit_posting_does_not_change_how_the_collector_retries(reddit, monkeypatch):
    """The no-retry strategy is set on the posting client only."""
    from collectors import collector_class

    reddit.post(COMMENT_URL, json=reddit_comment("l2kbbbb", "t3_1cx9a2b", "1cx9a2b", "Hi"))
    post_reply(rcfg(), rmention(), "Hi")
    c = collector_class("reddit").from_config("rd", REDDIT_SOURCE, config.BrandConfig(**BRAND))
    assert c._client()._core._retry_strategy_class is prawcore.sessions.FiniteRetryStrategy
