"""The Reddit collector: the real praw/prawcore over HTTP intercepted by `responses`.

Payloads follow Reddit's documented shapes (OAuth token JSON, `Listing` of `t3`/`t1` things,
`/comments/{id}` as [post listing, comment listing] with `more` stubs), as recorded in
praw's own integration cassettes.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import prawcore
import pytest
import requests
import responses
from responses import matchers
from sqlmodel import select

import collectors.reddit as reddit_mod
from collectors import collector_class
from collectors.reddit import RedditCollector, build_query
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, CollectorError, ConfigError, RateLimited, TransientError
from repmon.models import Mention

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
API = "https://oauth.reddit.com"
SEARCH_ALL = f"{API}/r/all/search/"
INFO = f"{API}/api/info/"
LIMITS = {"x-ratelimit-remaining": "95.0", "x-ratelimit-used": "5", "x-ratelimit-reset": "420"}
NOW = float(int(time.time()))
BRAND = BrandConfig(name="Tidewell Mobile", keywords=["tidewell", "tidewell refund*"], handles=["@TidewellCare"],
                    exclude=["tidewell beach"], competitors=["Orbitel"])
OPTS = {"client_id": "cid-123", "client_secret": "sec-456", "user_agent": "server:repmon-test:1.0 (by /u/repmon)"}
PERSIAN = "پشتیبانی Tidewell واقعا افتضاحه 😡 سه روزه اینترنت ندارم"
ARABIC = "خدمة Tidewell سيئة جدا 👎"


# -- Reddit-shaped payloads -------------------------------------------------------------------

def post(pid, created, title, selftext="", author="alice", sub="mobile", num_comments=0, **extra):
    data = {
        "approved_at_utc": None, "subreddit": sub, "selftext": selftext, "author_fullname": "t2_4esadt4t",
        "saved": False, "mod_reason_title": None, "gilded": 0, "clicked": False, "title": title,
        "link_flair_richtext": [], "subreddit_name_prefixed": f"r/{sub}", "hidden": False, "pwls": 6,
        "link_flair_css_class": None, "downs": 0, "hide_score": False, "name": f"t3_{pid}", "quarantine": False,
        "link_flair_text_color": "dark", "upvote_ratio": 0.98, "subreddit_type": "public", "ups": 12,
        "total_awards_received": 0, "media_embed": {}, "is_original_content": False, "user_reports": [],
        "secure_media": None, "is_reddit_media_domain": False, "is_meta": False, "category": None,
        "link_flair_text": None, "can_mod_post": False, "score": 12, "approved_by": None, "edited": False,
        "is_self": bool(selftext), "created": created, "domain": f"self.{sub}", "removed_by_category": None,
        "banned_by": None, "id": pid, "author": author, "num_comments": num_comments,
        "permalink": f"/r/{sub}/comments/{pid}/some_title/",
        "url": f"https://www.reddit.com/r/{sub}/comments/{pid}/some_title/",
        "subreddit_id": "t5_2qh1i", "created_utc": created, "over_18": False, "stickied": False, "locked": False,
        "num_crossposts": 0, "media": None, "is_video": False,
    }
    data.update(extra)
    return {"kind": "t3", "data": data}


def comment(cid, created, body, link, parent=None, author="bob", sub="mobile", replies=""):
    return {"kind": "t1", "data": {
        "subreddit_id": "t5_2qh1i", "approved_at_utc": None, "author_is_blocked": False, "comment_type": None,
        "edited": False, "banned_by": None, "removal_reason": None, "link_id": f"t3_{link}", "likes": None,
        "replies": replies, "user_reports": [], "saved": False, "id": cid, "banned_at_utc": None, "gilded": 0,
        "archived": False, "no_follow": True, "author": author, "can_mod_post": False, "created_utc": created,
        "send_replies": True, "parent_id": parent or f"t3_{link}", "score": 1, "author_fullname": "t2_3goil",
        "approved_by": None, "body": body, "body_html": f"<div class=\"md\"><p>{body}</p></div>",
        "subreddit": sub, "name": f"t1_{cid}", "created": created, "author_flair_text": None,
        "permalink": f"/r/{sub}/comments/{link}/some_title/{cid}/", "subreddit_name_prefixed": f"r/{sub}",
        "controversiality": 0, "depth": 0, "mod_reports": [], "subreddit_type": "public", "ups": 1, "stickied": False,
    }}


def more(mid, parent, children):
    return {"kind": "more", "data": {"count": len(children), "name": f"t1_{mid}", "id": mid,
                                     "parent_id": parent, "depth": 1, "children": children}}


def listing(children, after=None):
    return {"kind": "Listing", "data": {"after": after, "dist": len(children), "modhash": "", "geo_filter": "",
                                        "facets": {}, "children": children, "before": None}}


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch):
    """prawcore retries 5xx/timeouts after 0-4 s sleeps: off here; and nothing else may sleep."""
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    yield
    assert [s for s in slept if s > 0] == []


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        r.post(TOKEN_URL, json={"access_token": "tok-abc", "token_type": "bearer", "expires_in": 86400, "scope": "*"})
        yield r


def make(**opts):
    return collector_class("reddit").from_config("rd", {"kind": "reddit", **OPTS, **opts}, BRAND)


def search(rsps, children, after=None, url=SEARCH_ALL, params=None, status=200, headers=LIMITS):
    match = [matchers.query_param_matcher(params, strict_match=False)] if params else []
    rsps.get(url, json=listing(children, after), headers=headers, status=status, match=match)


def run(collector, cursor=None):
    batches = list(collector.fetch(cursor))
    return [m for b in batches for m in b.mentions], batches


def qs(call):
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


# -- tests ------------------------------------------------------------------------------------

def test_registered_and_query_built_from_the_brand():
    assert collector_class("reddit") is RedditCollector
    assert build_query(BRAND) == ('("Tidewell Mobile" OR tidewell OR "tidewell refund" OR TidewellCare)'
                                  ' NOT "tidewell beach"')
    assert "Orbitel" in build_query(BRAND, competitors=True)


def test_a_page_maps_every_field(rsps):
    search(rsps, [post("p2", NOW - 10, "Tidewell dropped my calls", "Third time this week.", num_comments=0),
                  post("p1", NOW - 20, "Link: Tidewell price hike", author="[deleted]")])
    mentions, batches = run(make(include_comments=False))
    params = qs(rsps.calls[1])
    assert params["q"] == make().query and params["sort"] == "new" and params["t"] == "week"
    assert params["raw_json"] == "1" and rsps.calls[1].request.headers["Authorization"] == "bearer tok-abc"
    a, b = mentions
    assert a["native_id"] == "t3_p2" and a["platform"] == "reddit" and a["kind"] == "post"
    assert a["url"] == "https://www.reddit.com/r/mobile/comments/p2/some_title/"
    assert a["author"] == "u/alice" and a["author_reach"] == 0 and a["lang"] is None and a["rating"] is None
    assert a["text"] == "Tidewell dropped my calls\n\nThird time this week."
    assert a["created_at"] == datetime.fromtimestamp(NOW - 10, timezone.utc) and a["created_at"].tzinfo
    assert (a["thread_id"], a["parent_id"]) == ("t3_p2", None)
    assert set(a["raw"]) == {"item", "collector", "query", "retrieved_at", "api", "client", "deleted"}
    assert a["raw"]["item"]["title"] == "Tidewell dropped my calls" and a["raw"]["item"]["author"] == "alice"
    assert a["raw"]["api"].startswith("reddit GET /r/all/search") and a["raw"]["deleted"] is False
    assert "source" not in a and "brand_id" not in a and "is_own" not in a
    assert b["text"] == "Link: Tidewell price hike" and b["author"] == ""  # account gone, post still up
    state = json.loads(batches[-1].cursor)
    assert state["search"]["all"] == {"last_value": NOW - 10, "unique_hashes": ["t3_p1", "t3_p2"]}


def test_pages_across_two_listings_and_advances_only_when_the_walk_ends(rsps, monkeypatch):
    monkeypatch.setattr(reddit_mod, "PAGE", 2)
    search(rsps, [post("p3", NOW - 1, "tidewell a"), post("p2", NOW - 2, "tidewell b")], after="t3_p2",
           params={"q": make().query})
    search(rsps, [post("p1", NOW - 3, "tidewell c")], params={"after": "t3_p2"})
    mentions, batches = run(make(include_comments=False, lag_seconds=0))
    assert [m["native_id"] for m in mentions] == ["t3_p3", "t3_p2", "t3_p1"]
    assert qs(rsps.calls[2])["after"] == "t3_p2"
    # A crash after the first page is stored must not skip p1 next time: that page's cursor
    # does not move the high-water mark yet.
    assert json.loads(batches[0].cursor)["search"] == {}
    assert json.loads(batches[-1].cursor)["search"]["all"] == {"last_value": NOW - 1, "unique_hashes": ["t3_p3"]}


def test_resume_yields_only_newer_items_and_stops_at_the_boundary(rsps):
    search(rsps, [post("a", NOW - 100, "tidewell one"), post("b", NOW - 200, "tidewell two")])
    _, batches = run(make(include_comments=False, lag_seconds=0))
    cursor = batches[-1].cursor
    rsps.replace(responses.GET, SEARCH_ALL, json=listing(
        [post("c", NOW - 50, "tidewell new"), post("e", NOW - 100, "tidewell same second"),
         post("a", NOW - 100, "tidewell one"), post("b", NOW - 200, "tidewell two")], after="t3_b"), headers=LIMITS)
    # No second page is registered: walking past the boundary would fail the run.
    mentions, batches = run(make(include_comments=False, lag_seconds=0), cursor)
    assert [m["native_id"] for m in mentions] == ["t3_c", "t3_e"]
    assert qs(rsps.calls[-1])["t"] == "hour"  # narrowed to the time since the cursor
    assert json.loads(batches[-1].cursor)["search"]["all"]["last_value"] == NOW - 50


def test_lag_window_rereads_but_yields_nothing_twice(rsps):
    page = [post("a", NOW - 100, "tidewell one"), post("b", NOW - 200, "tidewell two")]
    search(rsps, page)
    _, batches = run(make(include_comments=False, lag_seconds=600))
    assert json.loads(batches[-1].cursor)["search"]["all"]["unique_hashes"] == ["t3_a", "t3_b"]
    late = post("late", NOW - 150, "tidewell indexed late")  # older than the newest, seen later
    rsps.replace(responses.GET, SEARCH_ALL, json=listing([page[0], late, page[1]]), headers=LIMITS)
    mentions, _ = run(make(include_comments=False, lag_seconds=600), batches[-1].cursor)
    assert [m["native_id"] for m in mentions] == ["t3_late"]


def test_empty_listing_gives_an_empty_page(rsps):
    search(rsps, [])
    mentions, batches = run(make())
    assert mentions == [] and len(batches) == 1 and batches[0].mentions == []
    assert json.loads(batches[0].cursor)["search"] == {"all": {}}


def test_comments_of_matched_posts_and_not_of_others(rsps):
    search(rsps, [post("p1", NOW - 60, "Tidewell support?", "Anyone else?", num_comments=3),
                  post("p2", NOW - 70, "Sunset at tidewell beach", num_comments=40)])  # excluded: no comment fetch
    reply = listing([comment("c2", NOW - 20, "Same here, Tidewell is down 😤", "p1", parent="t1_c1")])
    newest = matchers.query_param_matcher({"sort": "new", "limit": "100"}, strict_match=False)
    rsps.get(f"{API}/comments/p1/", match=[newest], headers=LIMITS, json=[
                 listing([post("p1", NOW - 60, "Tidewell support?", "Anyone else?", num_comments=3)]),
                 listing([comment("c1", NOW - 30, "Call them", "p1", replies=reply), more("c9", "t3_p1", ["c9"])])])
    mentions, batches = run(make())
    assert [m["native_id"] for m in mentions] == ["t3_p1", "t1_c1", "t1_c2", "t3_p2"]
    c2 = mentions[2]
    assert c2["kind"] == "comment" and c2["thread_id"] == "t3_p1" and c2["parent_id"] == "t1_c1"
    assert c2["text"] == "Same here, Tidewell is down 😤" and c2["author"] == "u/bob"
    assert c2["url"] == "https://www.reddit.com/r/mobile/comments/p1/some_title/c2/"
    assert [c.request.url.split("?")[0] for c in rsps.calls].count(f"{API}/comments/p1/") == 1
    urls = [c.request.url for c in rsps.calls]
    assert not any("/comments/p2/" in u or "morechildren" in u for u in urls)
    watched = json.loads(batches[-1].cursor)["threads"]
    assert list(watched) == ["t3_p1"] and watched["t3_p1"]["num_comments"] == 3


def test_comments_under_the_brands_own_posts_and_old_threads_unwatched(rsps):
    search(rsps, [post("own", NOW - 60, "Maintenance tonight 01:00-03:00", author="TidewellCare", num_comments=1),
                  post("old", NOW - 3 * 86400, "tidewell ancient", num_comments=1)])
    for pid, created in (("own", NOW - 60), ("old", NOW - 3 * 86400)):
        rsps.get(f"{API}/comments/{pid}/", headers=LIMITS, json=[
            listing([post(pid, created, "x", num_comments=1)]),
            listing([comment(f"r{pid}", created + 5, "will the app work?", pid)])])
    mentions, batches = run(make(watch_hours=48))
    assert [m["native_id"] for m in mentions] == ["t3_own", "t1_rown", "t3_old", "t1_rold"]
    rsps.get(INFO, match=[matchers.query_param_matcher({"id": "t3_own"}, strict_match=False)], headers=LIMITS,
             json=listing([post("own", NOW - 60, "Maintenance tonight 01:00-03:00", author="TidewellCare",
                                num_comments=1)]))
    _, batches = run(make(watch_hours=48), batches[-1].cursor)  # t3_old is not even asked about
    assert list(json.loads(batches[-1].cursor)["threads"]) == ["t3_own"]  # older than watch_hours: dropped


def test_watched_thread_brings_new_comments_and_removals(rsps):
    search(rsps, [post("p1", NOW - 600, "Tidewell outage", "", num_comments=1)])
    rsps.get(f"{API}/comments/p1/", headers=LIMITS, json=[
        listing([post("p1", NOW - 600, "Tidewell outage", num_comments=1)]),
        listing([comment("c1", NOW - 500, "me too", "p1")])])
    _, batches = run(make(lag_seconds=0))
    cursor = batches[-1].cursor
    # Next run: search has nothing new; /api/info shows two comments now.
    rsps.replace(responses.GET, SEARCH_ALL, json=listing([post("p1", NOW - 600, "Tidewell outage", num_comments=2)]),
                 headers=LIMITS)
    rsps.get(INFO, match=[matchers.query_param_matcher({"id": "t3_p1"}, strict_match=False)], headers=LIMITS,
             json=listing([post("p1", NOW - 600, "Tidewell outage", num_comments=2)]))
    rsps.replace(responses.GET, f"{API}/comments/p1/", headers=LIMITS, json=[
        listing([post("p1", NOW - 600, "Tidewell outage", num_comments=2)]),
        listing([comment("c3", NOW - 100, "fixed now", "p1"), comment("c1", NOW - 500, "me too", "p1")])])
    mentions, batches = run(make(lag_seconds=0), cursor)
    assert [m["native_id"] for m in mentions] == ["t3_p1", "t1_c3"]
    assert batches[-1].notes.get("deleted") is None
    # Then a moderator removes the post: it comes back marked, and is no longer watched.
    rsps.replace(responses.GET, INFO, headers=LIMITS, json=listing([post(
        "p1", NOW - 600, "Tidewell outage", "[removed]", num_comments=2, removed_by_category="moderator")]))
    mentions, batches = run(make(lag_seconds=0), batches[-1].cursor)
    assert [m["native_id"] for m in mentions] == ["t3_p1"] and mentions[0]["raw"]["deleted"] is True
    assert batches[-1].notes["deleted"] == ["t3_p1"]
    assert json.loads(batches[-1].cursor)["threads"] == {}


def test_removed_and_deleted_items_are_kept_and_marked(rsps):
    mobile = f"{API}/r/mobile/search/"
    search(rsps, [post("p1", NOW - 10, "Tidewell refund", "They owe me 40€", num_comments=0)])
    search(rsps, [post("p1", NOW - 10, "Tidewell refund", "[removed]", removed_by_category="moderator"),
                  post("p2", NOW - 20, "[deleted by user]", "[deleted]", author="[deleted]",
                       removed_by_category="deleted"),
                  post("p3", NOW - 30, "tidewell", "[ Removed by Reddit ]")], url=mobile)
    mentions, batches = run(make(subreddits=["all", "r/mobile"]))
    by = {}
    for m in mentions:
        by.setdefault(m["native_id"], []).append(m)
    live, removed = by["t3_p1"]
    assert live["raw"]["deleted"] is False
    assert removed["raw"]["deleted"] is True and removed["text"] == "Tidewell refund\n\nThey owe me 40€"  # last known
    assert by["t3_p2"][0]["text"] == "[deleted by user]\n\n[deleted]" and by["t3_p2"][0]["author"] == ""
    assert by["t3_p3"][0]["raw"]["deleted"] is True
    assert batches[-1].notes["deleted"] == ["t3_p1", "t3_p2", "t3_p3"]


def test_exists(rsps):
    rsps.get(INFO, match=[matchers.query_param_matcher({"id": "t1_c1"}, strict_match=False)], headers=LIMITS,
             json=listing([comment("c1", NOW, "tidewell ok", "p1")]))
    rsps.get(INFO, match=[matchers.query_param_matcher({"id": "t1_c2"}, strict_match=False)], headers=LIMITS,
             json=listing([comment("c2", NOW, "[removed]", "p1", author="[deleted]")]))
    rsps.get(INFO, match=[matchers.query_param_matcher({"id": "t3_zz"}, strict_match=False)], headers=LIMITS,
             json=listing([]))
    c = make()
    assert c.exists("t1_c1") is True
    assert c.exists("t1_c2") is False
    assert c.exists("t3_zz") is False


def test_scan_comments_keeps_only_those_naming_the_brand(rsps):
    search(rsps, [], url=f"{API}/r/mobile/search/")
    rsps.get(f"{API}/r/mobile/comments/", headers=LIMITS, json=listing([
        comment("k3", NOW - 5, ARABIC, "x1"), comment("k2", NOW - 6, "nice weather", "x1"),
        comment("k1", NOW - 7, "I love tidewell beach", "x2")]))
    mentions, batches = run(make(subreddits=["mobile"], scan_comments=True, lag_seconds=0))
    assert [(m["native_id"], m["text"]) for m in mentions] == [("t1_k3", ARABIC)]
    assert json.loads(batches[-1].cursor)["scan"]["mobile"] == {"last_value": NOW - 5, "unique_hashes": ["t1_k3"]}


def test_emoji_and_right_to_left_text_survive(rsps):
    search(rsps, [post("fa", NOW - 1, PERSIAN, "‏لطفا کمک کنید 🙏🏽"), post("ar", NOW - 2, ARABIC)])
    mentions, _ = run(make(include_comments=False))
    assert mentions[0]["text"] == PERSIAN + "\n\n‏لطفا کمک کنید 🙏🏽"
    assert mentions[1]["text"] == ARABIC and mentions[1]["raw"]["item"]["title"] == ARABIC


def test_429_raises_rate_limited_with_the_reset_time(rsps):
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "100", "x-ratelimit-reset": "120"}
    search(rsps, [], status=429, headers=spent)
    with pytest.raises(RateLimited) as err:
        run(make())
    expected = datetime.now(timezone.utc) + timedelta(seconds=120)
    assert abs((err.value.reset_at - expected).total_seconds()) < 5
    assert isinstance(err.value.__cause__, prawcore.exceptions.TooManyRequests)


def test_429_with_retry_after(rsps):
    rsps.get(SEARCH_ALL, status=429, body="Too Many Requests", headers={"retry-after": "30"})
    with pytest.raises(RateLimited) as err:
        run(make())
    assert abs((err.value.reset_at - datetime.now(timezone.utc)).total_seconds() - 30) < 5


def test_spent_allowance_raises_instead_of_sleeping(rsps):
    search(rsps, [post("p2", NOW - 1, "tidewell")], after="t3_p2",
           headers={"x-ratelimit-remaining": "0", "x-ratelimit-used": "100", "x-ratelimit-reset": "300"})
    with pytest.raises(RateLimited) as err:
        run(make(include_comments=False))
    assert abs((err.value.reset_at - datetime.now(timezone.utc)).total_seconds() - 300) < 5
    assert len([c for c in rsps.calls if "search" in c.request.url]) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(rsps, status):
    search(rsps, [], status=status, headers={})
    with pytest.raises(TransientError):
        run(make())
    assert len([c for c in rsps.calls if "search" in c.request.url]) == 3  # prawcore's own two retries


@pytest.mark.parametrize("exc", [requests.exceptions.ReadTimeout("read timed out"),
                                 requests.exceptions.ConnectionError("connection reset")])
def test_timeouts_and_connection_errors_are_transient(rsps, exc):
    rsps.get(SEARCH_ALL, body=exc)
    with pytest.raises(TransientError, match="timed out|reset"):
        run(make())


def test_malformed_json_is_transient(rsps):
    rsps.get(SEARCH_ALL, body="<html><body>upstream hiccup</body></html>", content_type="text/html", headers=LIMITS)
    with pytest.raises(TransientError):
        run(make())


def test_malformed_token_response_is_transient():
    with responses.RequestsMock() as r:
        r.post(TOKEN_URL, body="<html>oops</html>", content_type="text/html")
        with pytest.raises(TransientError, match="malformed"):
            run(make())


def test_401_invalid_token_is_an_auth_error(rsps):
    rsps.get(SEARCH_ALL, status=401, json={"message": "Unauthorized", "error": 401},
             headers={"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'})
    with pytest.raises(AuthError):
        run(make())


def test_wrong_client_secret_is_an_auth_error():
    with responses.RequestsMock() as r:
        r.post(TOKEN_URL, status=401, json={"message": "Unauthorized", "error": 401})
        with pytest.raises(AuthError, match="client_id"):
            run(make())


def test_wrong_password_is_an_auth_error():
    with responses.RequestsMock() as r:
        r.post(TOKEN_URL, json={"error": "invalid_grant"},
               match=[matchers.urlencoded_params_matcher(
                   {"grant_type": "password", "username": "me", "password": "bad"})])
        with pytest.raises(AuthError, match="invalid_grant"):
            run(make(username="me", password="bad"))


def test_forbidden_subreddit_is_an_auth_error(rsps):
    rsps.get(f"{API}/r/secretclub/search/", status=403,
             json={"message": "Forbidden", "error": 403, "reason": "private"})
    with pytest.raises(AuthError, match="private"):
        run(make(subreddits=["secretclub"]))


def test_unknown_subreddit_is_a_collector_error(rsps):
    rsps.get(f"{API}/r/nosuchsub/search/", status=302,
             headers={"location": "https://www.reddit.com/subreddits/search.json?q=nosuchsub"})
    with pytest.raises(CollectorError, match="no such subreddit") as err:
        run(make(subreddits=["nosuchsub"]))
    assert not isinstance(err.value, (AuthError, TransientError))


def test_a_foreign_cursor_is_a_clear_error():
    with pytest.raises(CollectorError, match="reset it"):
        run(make(), "not json")


@pytest.mark.parametrize("raw, key", [
    ({"client_secret": "s", "user_agent": "server:repmon:1.0 (by /u/x)"}, "sources.rd.client_id"),
    ({**OPTS, "subreddits": ["ok", "not a sub!"]}, "sources.rd.subreddits"),
    ({**OPTS, "comments_per_post": 0}, "sources.rd.comments_per_post"),
    ({**OPTS, "user_agent": "bot"}, "sources.rd.user_agent"),
    ({**OPTS, "subreddit": ["x"]}, "sources.rd.subreddit"),
    ({**OPTS, "username": "me"}, "username and password go together"),
])
def test_option_errors_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        collector_class("reddit").from_config("rd", {"kind": "reddit", **raw}, BRAND)


def test_overlong_query_is_a_config_error():
    brand = BRAND.model_copy(update={"keywords": [f"keyword{i}" for i in range(80)]})
    with pytest.raises(ConfigError, match="512"):
        collector_class("reddit").from_config("rd", {"kind": "reddit", **OPTS}, brand)


def test_through_the_runner_into_sqlite(tmp_path, monkeypatch, rsps):
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "sec-456")
    url = f"sqlite:///{tmp_path / 't.db'}"
    cfg = config.parse({
        "database": {"url": url},
        "brands": [BRAND.model_dump()],
        "sources": {"rd": {"kind": "reddit", "client_id": "cid-123", "client_secret": "${REDDIT_CLIENT_SECRET}",
                           "user_agent": OPTS["user_agent"], "include_comments": False}},
    }, "test")
    store.migrate(url)
    search(rsps, [post("p1", NOW - 10, PERSIAN), post("p2", NOW - 20, "Tidewell billing again"),
                  post("p3", NOW - 30, "My tidewell beach photos")])  # excluded by the brand: skipped

    real_upsert = store.upsert_mentions
    monkeypatch.setattr(store, "upsert_mentions", lambda *a, **k: (_ for _ in ()).throw(OSError("disk gone")))
    crashed = pipeline.collect(cfg, only="rd")[0]  # fetched, then died before the commit
    assert crashed.error and crashed.inserted == 0
    monkeypatch.setattr(store, "upsert_mentions", real_upsert)

    first = pipeline.collect(cfg, only="rd")[0]
    assert first.error is None and (first.inserted, first.skipped) == (2, 1)
    again = pipeline.collect(cfg, only="rd")[0]
    assert again.error is None and (again.inserted, again.updated) == (0, 0)
    with store.session(url) as s:
        rows = {m.native_id: m for m in s.exec(select(Mention)).all()}
        cursor = store.load_cursor(s, "rd")
    assert set(rows) == {"t3_p1", "t3_p2"} and rows["t3_p1"].text == PERSIAN
    assert rows["t3_p1"].author == "u/alice" and rows["t3_p1"].source == "rd" and rows["t3_p1"].platform == "reddit"
    assert json.loads(cursor)["search"]["all"]["last_value"] == NOW - 10


def test_a_removal_reaches_the_store_without_losing_the_text(tmp_path, rsps):
    url = f"sqlite:///{tmp_path / 't.db'}"
    cfg = config.parse({"database": {"url": url}, "brands": [BRAND.model_dump()],
                        "sources": {"rd": {"kind": "reddit", **OPTS}}}, "test")
    store.migrate(url)
    live = post("p1", NOW - 10, "Tidewell billing again", "Charged twice 💸")
    search(rsps, [live])
    assert pipeline.collect(cfg, only="rd")[0].inserted == 1
    rsps.get(INFO, headers=LIMITS, json=listing([post(
        "p1", NOW - 10, "Tidewell billing again", "[removed]", removed_by_category="moderator")]))
    second = pipeline.collect(cfg, only="rd")[0]
    assert second.error is None
    with store.session(url) as s:
        row = s.exec(select(Mention)).one()
    assert row.deleted_at is not None and row.text == "Tidewell billing again\n\nCharged twice 💸"
