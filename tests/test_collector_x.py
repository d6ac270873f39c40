"""X collector against an emulated X API v2 (`responses` under the real tweepy + requests).

Payloads are shaped like real v2 answers: `data` / `includes.users` / `includes.tweets` /
`errors` (partial "Not Found Error" problems) / `meta.newest_id, oldest_id, result_count,
next_token`, and `{"meta": {"result_count": 0}}` for an empty page. The fake honours since_id,
until_id, start_time, max_results and next_token (bound to the query it was issued for), so
paging and crash-resume run as they would live. Ids are real snowflakes of recent times.
"""

import dataclasses
import json
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from sqlmodel import select

from collectors import x
from collectors.x import XCollector, build_query, id_time
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, CollectorError, ConfigError, RateLimited, TransientError
from repmon.models import Mention, MentionRevision

BRAND = BrandConfig(name="Tidewell", keywords=["tidewell", "tidewell mobile"], handles=["@TidewellCare"],
                    exclude=["tidewell beach"])
API = "https://api.twitter.com/2"
SEARCH = f"{API}/tweets/search/recent"
NOW = datetime.now(timezone.utc)
HEADERS = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "449",
           "x-rate-limit-reset": str(int(time.time()) + 900), "api-version": "2.52"}


def snowflake(at: datetime, seq: int = 0) -> str:
    return str(((int(at.timestamp() * 1000) - x.SNOWFLAKE_EPOCH_MS) << 22) | seq)


USERS = {
    "2244994945": {"id": "2244994945", "name": "Ana Pop", "username": "anapop",
                   "public_metrics": {"followers_count": 15230, "following_count": 540, "tweet_count": 470,
                                      "listed_count": 16, "like_count": 120}},
    "783214": {"id": "783214", "name": "Tidewell Care", "username": "TidewellCare",
               "public_metrics": {"followers_count": 98000, "following_count": 12, "tweet_count": 9000,
                                  "listed_count": 300, "like_count": 5}},
    "1120633726478823425": {"id": "1120633726478823425", "name": "رضا", "username": "reza_fa",
                            "public_metrics": {"followers_count": 0, "following_count": 3, "tweet_count": 10,
                                               "listed_count": 0, "like_count": 1}},
}


def post(minutes_ago: float, text="Tidewell dropped my calls again 😡", author="2244994945", lang="en",
         reply_to=None, conversation=None, retweet_of=None, seq=0, **extra):
    at = NOW - timedelta(minutes=minutes_ago)
    tid = snowflake(at, seq)
    t = {
        "edit_history_tweet_ids": [tid], "id": tid, "text": text, "author_id": author,
        "created_at": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "conversation_id": conversation or tid, "lang": lang,
        "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 2, "quote_count": 0,
                           "bookmark_count": 0, "impression_count": 31},
    }
    if reply_to:
        t["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
        t["in_reply_to_user_id"] = "783214"
    if retweet_of:
        t["referenced_tweets"] = [{"type": "retweeted", "id": retweet_of}]
    t.update(extra)
    return t


class FakeX:
    """Answers v2 recent search, mentions timeline and tweet lookup from a list of posts."""

    def __init__(self, posts=(), mentions=()):
        self.posts, self.mentions = list(posts), list(mentions)
        self.requests: list[dict] = []
        self.tokens: dict[str, tuple] = {}

    def _params(self, request):
        q = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        self.requests.append(dict(q, _path=urlparse(request.url).path,
                                  _auth=request.headers.get("Authorization")))
        return q

    def _page(self, pool, q, token_param):
        token = q.pop(token_param, None)
        size = int(q.get("max_results", 10))
        bound = tuple(sorted((k, v) for k, v in q.items() if k != "max_results"))
        offset = 0
        if token:
            issued_for, offset = self.tokens[token]
            assert issued_for == bound, "next_token used with a different query than it was issued for"
        sel = [t for t in pool
               if ("since_id" not in q or int(t["id"]) > int(q["since_id"]))
               and ("until_id" not in q or int(t["id"]) < int(q["until_id"]))
               and ("start_time" not in q or t["created_at"] >= q["start_time"])
               and not ("-is:retweet" in q.get("query", "")
                        and any(r["type"] == "retweeted" for r in t.get("referenced_tweets", [])))]
        sel.sort(key=lambda t: -int(t["id"]))
        chunk = sel[offset:offset + size]
        if not chunk:
            return {"meta": {"result_count": 0}}
        body = {"data": chunk,
                "includes": {"users": [USERS[a] for a in dict.fromkeys(t["author_id"] for t in chunk)]},
                "meta": {"newest_id": chunk[0]["id"], "oldest_id": chunk[-1]["id"], "result_count": len(chunk)}}
        known = {t["id"]: t for t in self.posts + self.mentions}
        refs = [r["id"] for t in chunk for r in t.get("referenced_tweets", [])]
        found = [known[r] for r in refs if r in known]
        if found:
            body["includes"]["tweets"] = found
        missing = [r for r in refs if r not in known]
        if missing:
            body["errors"] = [{"value": r, "detail": f"Could not find tweet with referenced_tweets.id: [{r}].",
                               "title": "Not Found Error", "resource_type": "tweet",
                               "parameter": "referenced_tweets.id", "resource_id": r,
                               "type": "https://api.twitter.com/2/problems/resource-not-found"} for r in missing]
        if offset + size < len(sel):
            token = f"b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po{len(self.tokens):09d}"
            self.tokens[token] = (bound, offset + size)
            body["meta"]["next_token"] = token
        return body

    def search(self, request):
        return 200, HEADERS, json.dumps(self._page(self.posts, self._params(request), "next_token"))

    def mentions_timeline(self, request):
        return 200, HEADERS, json.dumps(self._page(self.mentions, self._params(request), "pagination_token"))

    def lookup(self, request):
        self._params(request)
        tid = urlparse(request.url).path.rsplit("/", 1)[1]
        hit = [t for t in self.posts if t["id"] == tid]
        if hit:
            return 200, HEADERS, json.dumps({"data": hit[0]})
        return 200, HEADERS, json.dumps({"errors": [{
            "value": tid, "detail": f"Could not find tweet with id: [{tid}].", "title": "Not Found Error",
            "resource_type": "tweet", "parameter": "id", "resource_id": tid,
            "type": "https://api.twitter.com/2/problems/resource-not-found"}]})

    def searches(self):
        return [r for r in self.requests if r["_path"] == "/2/tweets/search/recent"]


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def serve(api, posts=(), mentions=()):
    fake = FakeX(posts, mentions)
    ct = "application/json; charset=utf-8"
    api.add_callback(responses.GET, SEARCH, callback=fake.search, content_type=ct)
    api.add_callback(responses.GET, re.compile(rf"{API}/users/\d+/mentions.*"), callback=fake.mentions_timeline,
                     content_type=ct)
    api.add_callback(responses.GET, re.compile(rf"{API}/tweets/\d+(\?.*)?$"), callback=fake.lookup, content_type=ct)
    return fake


def make(**opts):
    return XCollector.from_config("x", {"kind": "x", "bearer_token": "AAAA-test-token", **opts}, BRAND)


def run(collector, cursor=None):
    batches = list(collector.fetch(cursor))
    return [m for b in batches for m in b.mentions], batches


def test_maps_posts_replies_and_authors(api):
    root = post(30, text="Tidewell mobile data is down in Cluj 📵", lang="und")
    reply = post(20, text="@anapop same here, tidewell support says 2 hours", author="783214",
                 reply_to=root["id"], conversation=root["id"], lang="en")
    fake = serve(api, [root, reply])
    mentions, batches = run(make())
    assert len(batches) == 1 and len(mentions) == 2
    by_id = {m["native_id"]: m for m in mentions}
    m = by_id[root["id"]]
    assert m["platform"] == "x" and m["url"] == f"https://x.com/anapop/status/{root['id']}"
    assert m["author"] == "@anapop" and m["author_reach"] == 15230
    assert m["lang"] is None  # X's "und"
    assert m["created_at"].tzinfo is not None and abs(m["created_at"] - (NOW - timedelta(minutes=30))) < timedelta(seconds=1)
    assert m["kind"] == "post" and m["parent_id"] is None and m["thread_id"] == root["id"]
    assert m["raw"]["item"] == root and m["raw"]["collector"] == "x"
    assert m["raw"]["api"] == "GET /2/tweets/search/recent" and m["raw"]["query"] == build_query(BRAND)
    assert m["raw"]["retrieved_at"]
    r = by_id[reply["id"]]
    assert r["kind"] == "comment" and r["parent_id"] == root["id"] and r["thread_id"] == root["id"]
    assert r["author"] == "@TidewellCare" and r["lang"] == "en"
    req = fake.requests[0]
    assert req["_auth"] == "Bearer AAAA-test-token"
    assert req["query"] == build_query(BRAND) and req["max_results"] == "100" and req["sort_order"] == "recency"
    assert req["expansions"] == "author_id,referenced_tweets.id"
    assert req["tweet.fields"].split(",")[:7] == ["created_at", "lang", "conversation_id", "in_reply_to_user_id",
                                                 "referenced_tweets", "public_metrics", "author_id"]
    assert req["user.fields"] == "username,public_metrics"
    # The first run reads back backfill_hours, not the whole 7-day window.
    assert "since_id" not in req
    floor = datetime.strptime(req["start_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    # Between the module's NOW (a long suite may have loaded it minutes ago) and this moment.
    day = timedelta(hours=24)
    assert NOW - day - timedelta(seconds=1) <= floor <= datetime.now(timezone.utc) - day + timedelta(seconds=1)


def test_query_is_built_from_the_brand_or_given():
    assert build_query(BRAND) == '(Tidewell OR "tidewell mobile" OR @TidewellCare) -"tidewell beach" -is:retweet'
    b = BrandConfig(name="Acme Bank", keywords=['"acme card"', "acmepay*"], all_of=["refund"], handles=["acme"])
    assert build_query(b, include_retweets=True) == '("Acme Bank" OR "acme card" OR acmepay OR @acme) refund'
    assert make(query="tidewell lang:ro").query() == "tidewell lang:ro"


def test_too_long_query_names_the_key(api):
    serve(api)
    with pytest.raises(CollectorError, match=r"sources\.x\.query"):
        list(make(max_query_length=20).fetch(None))


def test_paging_moves_the_high_water_mark_only_after_the_last_page(api):
    posts = [post(300 - i, text=f"tidewell #{i}", seq=i) for i in range(250)]
    fake = serve(api, posts)
    mentions, batches = run(make())
    assert [len(b.mentions) for b in batches] == [100, 100, 50]
    assert len({m["native_id"] for m in mentions}) == 250
    first, last = json.loads(batches[0].cursor), json.loads(batches[-1].cursor)
    newest = max(int(p["id"]) for p in posts)
    assert first["search"]["since_id"] is None
    assert first["search"]["pending"] == {"newest": str(newest), "until_id": batches[0].mentions[-1]["native_id"]}
    assert last["search"]["since_id"] == str(newest) and last["search"]["pending"] is None
    # Pages after the first carry next_token and the very same query.
    assert "next_token" not in fake.searches()[0] and all("next_token" in r for r in fake.searches()[1:])


def test_resume_fetches_only_newer_posts(api):
    old = [post(60 + i, text=f"tidewell old {i}") for i in range(3)]
    fake = serve(api, old)
    _, batches = run(make())
    fake.posts.append(post(1, text="tidewell fresh"))
    mentions, batches2 = run(make(), batches[-1].cursor)
    assert [m["text"] for m in mentions] == ["tidewell fresh"]
    req = fake.searches()[-1]
    assert req["since_id"] == max(p["id"] for p in old) and "start_time" not in req and "until_id" not in req
    assert json.loads(batches2[-1].cursor)["search"]["since_id"] == fake.posts[-1]["id"]


def test_crash_mid_pagination_loses_nothing_and_repeats_nothing(api):
    posts = [post(300 - i, text=f"tidewell {i}", seq=i) for i in range(230)]
    fake = serve(api, posts)
    gen = make().fetch(None)
    page1 = next(gen)  # stored with its cursor, then the process dies
    gen.close()
    fake.posts += [post(0.5, text="tidewell arrived during the outage", seq=1)]
    rest, batches = run(make(), page1.cursor)
    resumed = fake.searches()[1]
    assert resumed["until_id"] == page1.mentions[-1]["native_id"] and "start_time" in resumed
    seen = [m["native_id"] for m in page1.mentions + rest]
    assert len(seen) == len(set(seen)) == 230 and set(seen) == {p["id"] for p in posts}
    state = json.loads(batches[-1].cursor)["search"]
    assert state["since_id"] == str(max(int(p["id"]) for p in posts)) and state["pending"] is None
    # The next run picks up what arrived while the backlog was being read.
    newer, _ = run(make(), batches[-1].cursor)
    assert [m["text"] for m in newer] == ["tidewell arrived during the outage"]


def test_empty_page(api):
    fake = serve(api, [])
    mentions, batches = run(make())
    assert mentions == [] and len(batches) == 1
    state = json.loads(batches[0].cursor)
    assert state["search"]["since_id"] is None and state["search"]["pending"] is None
    assert state["search"]["start_time"] and state["reads"] == 0
    run(make(), batches[0].cursor)
    assert fake.searches()[1]["start_time"] == fake.searches()[0]["start_time"]  # same floor until a post shows up


def test_retweets_are_left_out_unless_asked(api):
    original = post(50, text="tidewell rocks")
    rt = post(40, text="RT @anapop: tidewell rocks", retweet_of=original["id"], seq=1)
    serve(api, [original, rt])
    assert len(run(make())[0]) == 1
    assert len(run(make(include_retweets=True))[0]) == 2


def test_emoji_and_right_to_left_text_survive(api):
    fa = "اینترنت تایدول از صبح قطع است 😤 لطفاً پاسخ دهید"
    ar = "خدمة Tidewell سيئة جداً 👎🏽"
    serve(api, [post(10, text=fa, lang="fa", author="1120633726478823425"), post(9, text=ar, lang="ar", seq=1),
                post(8, text="Tidewell 👨‍👩‍👧‍👦🏳️‍🌈 family plan", lang="qme", seq=2)])
    mentions = {m["text"]: m for m in run(make())[0]}
    assert mentions[fa]["lang"] == "fa" and mentions[fa]["author"] == "@reza_fa"
    assert mentions[ar]["lang"] == "ar" and "Tidewell 👨‍👩‍👧‍👦🏳️‍🌈 family plan" in mentions
    assert mentions["Tidewell 👨‍👩‍👧‍👦🏳️‍🌈 family plan"]["lang"] is None


def test_long_posts_edits_and_legacy_language_codes(api):
    long = "Tidewell " + "x" * 400
    first_version = snowflake(NOW - timedelta(minutes=40))
    edited = post(35, text="Tidewell fixed it, thanks", lang="in",
                  note_tweet={"text": long}, edit_history_tweet_ids=[first_version])
    edited["edit_history_tweet_ids"].append(edited["id"])
    serve(api, [edited])
    (m,), _ = run(make())
    assert m["text"] == long and m["lang"] == "id"
    assert m["native_id"] == first_version and m["url"].endswith(f"/status/{edited['id']}")


def test_partial_errors_keep_the_data(api):
    # Replying to a post that has since been deleted: X returns the reply plus a Not Found problem.
    gone = snowflake(NOW - timedelta(hours=3))
    serve(api, [post(5, text="@TidewellCare still waiting", reply_to=gone, conversation=gone)])
    mentions, batches = run(make())
    assert len(mentions) == 1 and mentions[0]["parent_id"] == gone and mentions[0]["kind"] == "comment"
    assert batches[0].notes["partial_errors"] == 1


def test_read_budget_caps_requests_and_is_reported(api):
    posts = [post(300 - i, text=f"tidewell {i}", seq=i) for i in range(250)]
    fake = serve(api, posts)
    mentions, batches = run(make(monthly_read_budget=150))
    assert [r["max_results"] for r in fake.searches()] == ["100", "50"]
    assert len(mentions) == 150 and len(fake.searches()) == 2
    assert all(b.notes["budget_limit"] == 150 for b in batches)
    assert batches[-1].notes == {"budget_used": 150, "budget_limit": 150, "stream": "search", "budget_exhausted": True}
    assert batches[-1].mentions == []
    state = json.loads(batches[-1].cursor)
    assert state["reads"] == 150 and state["month"] == NOW.strftime("%Y-%m") and state["search"]["pending"]
    # Exhausted: the next run in the same month asks X nothing at all.
    _, again = run(make(monthly_read_budget=150), batches[-1].cursor)
    assert len(fake.searches()) == 2 and again[0].notes["budget_exhausted"] is True


def test_read_budget_counts_expanded_posts_and_resets_each_month(api, monkeypatch):
    root = post(30, text="tidewell outage")
    reply = post(20, text="@TidewellCare +1", reply_to=root["id"], conversation=root["id"], seq=1)
    serve(api, [root, reply])
    _, batches = run(make())
    assert batches[-1].notes["budget_used"] == 3  # two posts in data, the parent again in includes.tweets
    next_month = (NOW.replace(day=1) + timedelta(days=32)).replace(day=2)
    monkeypatch.setattr(x, "_now", lambda: next_month)
    monkeypatch.setattr(x, "SEARCH", dataclasses.replace(x.SEARCH, window=timedelta(days=365)))  # ids stay "recent"
    _, batches = run(make(), batches[-1].cursor)
    assert batches[-1].notes["budget_used"] == 0 and json.loads(batches[-1].cursor)["month"] == next_month.strftime("%Y-%m")


def test_unlimited_budget(api):
    serve(api, [post(3, text="tidewell")])
    _, batches = run(make(monthly_read_budget=0))
    assert batches[-1].notes["budget_limit"] is None and batches[-1].notes["budget_used"] == 1


def test_mentions_timeline_has_its_own_cursor(api):
    searched = post(30, text="tidewell is fine")
    mention = post(25, text="@TidewellCare where is my refund?", seq=1)
    fake = serve(api, [searched], mentions=[mention])
    mentions, batches = run(make(mentions_user_id="783214"))
    assert {m["native_id"] for m in mentions} == {searched["id"], mention["id"]}
    timeline = [r for r in fake.requests if r["_path"] == "/2/users/783214/mentions"]
    assert len(timeline) == 1 and timeline[0]["expansions"] == "author_id,referenced_tweets.id"
    assert batches[-1].notes["stream"] == "mentions"
    assert [m for m in mentions if m["native_id"] == mention["id"]][0]["raw"]["api"] == "GET /2/users/:id/mentions"
    state = json.loads(batches[-1].cursor)
    assert state["mentions"]["since_id"] == mention["id"] and state["search"]["since_id"] == searched["id"]
    fake.mentions += [post(10 + i, text=f"@TidewellCare {i}", seq=10 + i) for i in range(7)]
    mentions, _ = run(make(mentions_user_id="783214", page_size=10), batches[-1].cursor)
    assert len(mentions) == 7
    assert fake.requests[-1]["since_id"] == mention["id"]


def test_mentions_paging_uses_pagination_token(api):
    fake = serve(api, [], mentions=[post(100 - i, text=f"@TidewellCare {i}", seq=i) for i in range(25)])
    mentions, _ = run(make(mentions_user_id="783214", page_size=10))
    assert len({m["native_id"] for m in mentions}) == 25
    timeline = [r for r in fake.requests if "mentions" in r["_path"]]
    assert len(timeline) == 3 and all("pagination_token" in r for r in timeline[1:])


def test_bounds_older_than_the_search_window_are_left_off(api, caplog):
    fake = serve(api, [post(5, text="tidewell today")])
    week_ago = snowflake(NOW - timedelta(days=8))
    stale = {"month": NOW.strftime("%Y-%m"), "reads": 0,
             "search": {"key": build_query(BRAND), "since_id": week_ago, "start_time": None, "pending": None}}
    mentions, _ = run(make(), json.dumps(stale))
    assert len(mentions) == 1 and "since_id" not in fake.searches()[-1] and "start_time" not in fake.searches()[-1]
    # A half-read backlog that has aged out of the window is given up, with a warning.
    stale["search"]["pending"] = {"newest": snowflake(NOW - timedelta(days=7, hours=1)),
                                  "until_id": snowflake(NOW - timedelta(days=7, hours=2))}
    _, batches = run(make(), json.dumps(stale))
    assert "until_id" not in fake.searches()[-1] and "7-day search window" in caplog.text
    assert json.loads(batches[-1].cursor)["search"]["pending"] is None


def test_a_new_query_starts_over(api):
    fake = serve(api, [post(5, text="tidewell")])
    _, batches = run(make())
    run(make(query="tidewell OR @TidewellCare"), batches[-1].cursor)
    assert "since_id" not in fake.searches()[-1] and "start_time" in fake.searches()[-1]


@pytest.mark.parametrize("reset", [1_900_000_000, 1_900_000_123])
def test_429_raises_rate_limited_with_the_reset_time(api, reset):
    api.add(responses.GET, SEARCH, status=429,
            json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
            headers={"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    with pytest.raises(RateLimited) as exc:
        list(make().fetch(None))
    assert exc.value.reset_at == datetime.fromtimestamp(reset, timezone.utc)


def test_usage_cap_waits_for_a_day_not_the_window(api):
    api.add(responses.GET, SEARCH, status=429, headers={"x-rate-limit-reset": str(int(time.time()) + 900)},
            json={"account_id": "1", "product_name": "standard-basic", "title": "UsageCapExceeded",
                  "period": "Monthly", "scope": "Product", "detail": "Usage cap exceeded: Monthly product cap",
                  "type": "https://api.twitter.com/2/problems/usage-capped"})
    with pytest.raises(RateLimited, match="usage cap") as exc:
        list(make().fetch(None))
    assert exc.value.reset_at > NOW + timedelta(minutes=16)


@pytest.mark.parametrize("kw, error", [
    (dict(status=503, json={"title": "Service Unavailable", "detail": "Service Unavailable",
                            "type": "about:blank", "status": 503}), TransientError),
    (dict(status=500, body="<html>Internal Server Error</html>"), TransientError),
    (dict(body=requests.exceptions.ReadTimeout("read timed out")), TransientError),
    (dict(body=requests.exceptions.ConnectionError("connection reset")), TransientError),
    (dict(status=200, body='{"data": [{"id": "1", "text"', content_type="application/json"), TransientError),
    (dict(status=200, json=["not", "an", "object"]), TransientError),
    (dict(status=401, json={"title": "Unauthorized", "type": "about:blank", "status": 401,
                            "detail": "Unauthorized"}), AuthError),
    (dict(status=403, json={"client_id": "1", "detail": "When authenticating requests to the Twitter API v2 "
                            "endpoints, you must use keys and tokens from a Twitter developer App that is attached "
                            "to a Project.", "registration_url": "https://developer.twitter.com/en/docs/projects/"
                            "overview", "title": "Client Forbidden", "required_enrollment": "Appropriate Level of "
                            "API Access", "reason": "client-not-enrolled",
                            "type": "https://api.twitter.com/2/problems/client-forbidden"}), AuthError),
    (dict(status=402, json={"title": "Payment Required", "detail": "credits depleted",
                            "type": "https://api.x.com/2/problems/credits-depleted"}), CollectorError),
    (dict(status=400, json={"errors": [{"parameters": {"query": ["((("]}, "message": "There were errors processing "
                            "your request: missing EOF at ')' (at position 1)"}], "title": "Invalid Request",
                            "detail": "One or more parameters to your request was invalid.",
                            "type": "https://api.twitter.com/2/problems/invalid-request"}), CollectorError),
])
def test_errors_are_translated(api, kw, error):
    api.add(responses.GET, SEARCH, **kw)
    with pytest.raises(error) as exc:
        list(make().fetch(None))
    assert type(exc.value) is error  # a 402 or a bad query is not worth retrying
    assert "AAAA-test-token" not in str(exc.value)


def test_requests_carry_a_timeout(api):
    serve(api, [])
    list(make(timeout=7).fetch(None))
    assert api.calls[0].request.req_kwargs["timeout"] == 7


def test_exists(api):
    alive = post(5, text="tidewell")
    fake = serve(api, [alive])
    c = make()
    assert c.exists(alive["id"]) is True
    assert c.exists(snowflake(NOW - timedelta(hours=1))) is False
    assert fake.requests[-1]["_path"].startswith("/2/tweets/")


def test_exists_on_404_and_server_errors(api):
    api.add(responses.GET, f"{API}/tweets/111", status=404,
            json={"errors": [{"value": "111", "detail": "Could not find tweet with id: [111].",
                              "title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
                              "resource_id": "111", "type": "https://api.twitter.com/2/problems/resource-not-found"}],
                  "title": "Not Found Error", "detail": "Could not find tweet with id: [111].",
                  "type": "https://api.twitter.com/2/problems/resource-not-found"})
    api.add(responses.GET, f"{API}/tweets/222", status=503, body="upstream connect error")
    api.add(responses.GET, f"{API}/tweets/333", status=200, json={"errors": [{
        "value": "333", "detail": "Sorry, you are not authorized to see the Tweet with id: [333].",
        "title": "Authorization Error", "resource_type": "tweet", "parameter": "id", "resource_id": "333",
        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource"}]})
    c = make()
    assert c.exists("111") is False
    with pytest.raises(TransientError):
        c.exists("222")
    assert c.exists("333") is True


def test_id_time_reads_the_snowflake():
    # From tweepy's recorded search: the post's text is the time the test script wrote it.
    posted = id_time("1578516068309794817")
    assert timedelta(0) < posted - datetime(2022, 10, 7, 22, 42, 12, 637103, tzinfo=timezone.utc) < timedelta(seconds=1)


@pytest.mark.parametrize("opts, key", [
    ({}, "bearer_token"),
    ({"bearer_token": ""}, "bearer_token"),
    ({"bearer_token": "t", "monthly_read_budget": -1}, "monthly_read_budget"),
    ({"bearer_token": "t", "page_size": 5}, "page_size"),
    ({"bearer_token": "t", "mentions_user_id": "@TidewellCare"}, "mentions_user_id"),
    ({"bearer_token": "t", "backfill_hours": 200}, "backfill_hours"),
    ({"bearer_token": "t", "bearer": "t"}, "bearer"),
])
def test_options_errors_name_the_key(opts, key):
    with pytest.raises(ConfigError, match=rf"sources\.x\.{key}"):
        XCollector.from_config("x", {"kind": "x", **opts}, BRAND)


def _cfg(tmp_path, **opts):
    return config.parse({
        "database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
        "brands": [BRAND.model_dump()],
        "sources": {"tw": {"kind": "x", "bearer_token": "AAAA-test-token", "page_size": 10, **opts}},
    }, "test")


def test_through_the_runner_twice_and_after_a_crash(api, tmp_path, monkeypatch):
    posts = [post(100 - i, text=f"Tidewell signal is gone again ({i})", seq=i) for i in range(24)]
    posts.append(post(50, text="@anapop we are on it", author="783214", reply_to=posts[0]["id"],
                      conversation=posts[0]["id"], seq=99))
    fake = serve(api, posts)
    cfg = _cfg(tmp_path, monthly_read_budget=1000)
    store.migrate(cfg.database.url)

    real, calls = store.upsert_mentions, []

    def flaky(s, rows, cursor=None):  # dies while storing the second page
        calls.append(cursor)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(s, rows, cursor=cursor)

    monkeypatch.setattr(store, "upsert_mentions", flaky)
    r = pipeline.collect(cfg, only="tw")[0]
    assert r.error and "disk full" in r.error and r.inserted == 10
    monkeypatch.setattr(store, "upsert_mentions", real)

    r = pipeline.collect(cfg, only="tw")[0]
    assert r.error is None and r.inserted == 15
    assert fake.searches()[2]["until_id"]  # resumed below the stored page, not from the top
    r = pipeline.collect(cfg, only="tw")[0]
    assert r.error is None and r.inserted == 0 and r.updated == 0 and r.budget[1] == 1000
    with store.session(cfg.database.url) as s:
        rows = s.exec(select(Mention).where(Mention.source == "tw")).all()
        cursor = json.loads(store.load_cursor(s, "tw"))
    assert len(rows) == 25 and {m.platform for m in rows} == {"x"}
    own = [m for m in rows if m.author == "@TidewellCare"]
    assert len(own) == 1 and own[0].is_own and own[0].kind == "comment"
    assert cursor["search"]["since_id"] == max(p["id"] for p in posts) and cursor["search"]["pending"] is None


def test_an_edit_through_the_runner_keeps_the_old_text(api, tmp_path):
    original = post(30, text="Tidewell charged me twice")
    fake = serve(api, [original])
    cfg = _cfg(tmp_path)
    store.migrate(cfg.database.url)
    assert pipeline.collect(cfg, only="tw")[0].inserted == 1
    edit = post(20, text="Tidewell charged me twice, refund still pending", seq=5,
                edit_history_tweet_ids=[original["id"]])
    edit["edit_history_tweet_ids"].append(edit["id"])
    fake.posts.append(edit)
    r = pipeline.collect(cfg, only="tw")[0]
    assert r.error is None and (r.inserted, r.updated) == (0, 1)
    with store.session(cfg.database.url) as s:
        (m,) = s.exec(select(Mention).where(Mention.source == "tw")).all()
        (rev,) = s.exec(select(MentionRevision)).all()
    assert m.native_id == original["id"] and m.text.endswith("refund still pending")
    assert rev.text == "Tidewell charged me twice"
