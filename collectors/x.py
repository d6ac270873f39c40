"""X (Twitter) posts that name the brand, via the v2 recent search and, optionally, the brand
account's mentions timeline. Reads through tweepy's v2 `Client` with an app-only bearer token.

Cursor (one JSON object, per stream "search" / "mentions"):
    {"month": "2026-11", "reads": 1234,
     "search": {"key": <query>, "since_id": <high-water mark>, "start_time": <first run's floor>,
                "pending": {"newest": <id>, "until_id": <id>} | null}}
Both endpoints answer newest first, so after page 1 of a run the newest id is known but older
pages are still to come. Moving `since_id` to it then would lose pages 2..n if the process died
after page 1. So `since_id` only moves when a run's pagination ends; until then each page's
cursor keeps `pending`: the newest id of the run and the oldest id read so far. A run that finds
`pending` resumes with `since_id` = the old mark and `until_id` = that oldest id (both bounds
are exclusive), which reads exactly the posts not yet stored: nothing lost, nothing twice.
`next_token` is used only inside one run, never stored: tokens expire, ids do not.

Recent search only reaches back 7 days and rejects a since_id/until_id/start_time older than
that, so a bound that has aged out is left off (the window then holds only newer posts anyway)
and a pending range that aged out entirely is given up with a warning.

X bills reads (pay-per-use, per post returned). `monthly_read_budget` caps the posts this source
reads per calendar month (UTC); the count lives in the cursor, so it is committed with the pages.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Optional

import requests
import tweepy
from pydantic import Field

from collectors.base import MALFORMED, Batch, Collector, Options, count, item_ref, page_token, raised_in
from repmon.errors import AuthError, CollectorError, RateLimited, TransientError

log = logging.getLogger(__name__)

SNOWFLAKE_EPOCH_MS = 1288834974657  # X ids carry their creation time in ms since this instant
SEARCH_WINDOW = timedelta(days=7) - timedelta(minutes=5)  # margin for clock skew and request time
EXPANSIONS = ["author_id", "referenced_tweets.id"]
TWEET_FIELDS = ["created_at", "lang", "conversation_id", "in_reply_to_user_id", "referenced_tweets",
                "public_metrics", "author_id", "note_tweet"]  # note_tweet: full text of posts over 280
USER_FIELDS = ["username", "public_metrics"]
# X's pseudo-languages: media only, hashtags only, mentions only, cashtags only, too short, none.
NO_LANGUAGE = {"und", "qme", "qht", "qam", "qct", "qst", "zxx", "art"}
OLD_CODES = {"in": "id", "iw": "he", "ji": "yi"}  # legacy ISO 639-1 codes X still sends


class XOptions(Options):
    bearer_token: str = Field(min_length=1, repr=False, description='app-only bearer token, e.g. "${X_BEARER_TOKEN}"')
    query: Optional[str] = Field(None, min_length=1, description="explicit search query; default: built from the brand")
    include_retweets: bool = Field(False, description="keep retweets (else the query adds -is:retweet)")
    mentions_user_id: Optional[str] = Field(None, pattern=r"^[0-9]{1,20}$",
                                            description="numeric id of the brand's account: also read its mentions timeline")
    monthly_read_budget: int = Field(10_000, ge=0, description="posts read per calendar month (UTC); 0 = unlimited")
    backfill_hours: float = Field(24, gt=0, le=168, description="how far back the first run reads")
    page_size: int = Field(100, ge=10, le=100, description="posts per request")
    max_query_length: int = Field(512, ge=1, description="the query length your X access allows")
    timeout: float = Field(30, gt=0, description="seconds per request")
    # Posting replies (repmon.posting) needs user context: OAuth 1.0a keys of an app with
    # "Read and write" permission and the brand account's access token made after that was set.
    consumer_key: Optional[str] = Field(None, min_length=1, repr=False,
                                        description='to post replies: the app\'s API key, e.g. "${X_CONSUMER_KEY}"')
    consumer_secret: Optional[str] = Field(None, min_length=1, repr=False, description="to post replies: the API key secret")
    access_token: Optional[str] = Field(None, min_length=1, repr=False,
                                        description="to post replies: the brand account's access token (read and write)")
    access_token_secret: Optional[str] = Field(None, min_length=1, repr=False,
                                               description="to post replies: the access token secret")


@dataclass(frozen=True)
class _Stream:
    name: str  # key in the cursor
    api: str  # for provenance
    token_param: str  # next_token (search) / pagination_token (timelines)
    min_results: int  # the endpoint's smallest max_results
    window: Optional[timedelta]  # how far back the endpoint reaches, if limited


SEARCH = _Stream("search", "GET /2/tweets/search/recent", "next_token", 10, SEARCH_WINDOW)
MENTIONS = _Stream("mentions", "GET /2/users/:id/mentions", "pagination_token", 5, None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def id_time(tweet_id: Any) -> datetime:
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, timezone.utc)


def _term(t: str) -> Optional[str]:
    t = t.strip().strip('"').rstrip("*").replace('"', "").strip()  # X search has no prefix wildcard
    if not t:
        return None
    return t if t[0] in "@#$" or t.replace("_", "").isalnum() else f'"{t}"'


def build_query(brand: Any, include_retweets: bool = False) -> str:
    """Brand name, keywords and handles OR'ed; all_of ANDed; exclusions as -"phrase"."""
    seen: dict[str, str] = {}
    for t in [brand.name, *brand.keywords, *(f"@{h.lstrip('@')}" for h in brand.handles)]:
        q = _term(t)
        if q and q.lower() not in seen:
            seen[q.lower()] = q
    terms = list(seen.values())
    parts = [f"({' OR '.join(terms)})" if len(terms) > 1 else terms[0]]
    parts += [q for q in map(_term, getattr(brand, "all_of", [])) if q]
    parts += [f'-"{e.strip().strip(chr(34))}"' for e in brand.exclude if e.strip().strip('"')]
    if not include_retweets:
        parts.append("-is:retweet")
    return " ".join(parts)


def _lang(code: Optional[str]) -> Optional[str]:
    if not isinstance(code, str) or not code or code.lower() in NO_LANGUAGE:
        return None
    primary = code.lower().split("-")[0]
    primary = OLD_CODES.get(primary, primary)
    return primary if len(primary) == 2 else None


def to_mention(tweet: dict, users: dict[str, dict], query: str, api: str, retrieved_at: str) -> dict:
    tid = str(tweet["id"])
    user = users.get(str(tweet.get("author_id")))
    username = (user or {}).get("username")
    refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or []}
    parent = refs.get("replied_to")
    created = tweet.get("created_at")
    # An edit is a new post id; its first id is the post's identity, so the runner keeps the
    # earlier text as a revision instead of storing the edit as a second post.
    history = tweet.get("edit_history_tweet_ids")
    first = str(history[0]) if isinstance(history, list) and history else tid
    return {
        "platform": "x",
        "native_id": first if first.isascii() and first.isdigit() else tid,
        "url": f"https://x.com/{username or 'i/web'}/status/{tid}",
        "author": f"@{username}" if username else str(tweet.get("author_id") or ""),
        "author_reach": count(((user or {}).get("public_metrics") or {}).get("followers_count")),
        "text": (tweet.get("note_tweet") or {}).get("text") or tweet.get("text") or "",
        "lang": _lang(tweet.get("lang")),
        "created_at": datetime.fromisoformat(created).astimezone(timezone.utc) if created else id_time(tid),
        "thread_id": str(tweet["conversation_id"]) if tweet.get("conversation_id") else None,
        "parent_id": parent,
        "kind": "comment" if parent else "post",
        "rating": None,
        "raw": {"item": tweet, "user": user, "collector": "x", "query": query,
                "retrieved_at": retrieved_at, "api": api},
    }


class _TimeoutSession(requests.Session):
    """tweepy sends no timeout; without one a stalled connection hangs the collect job."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kw: Any) -> requests.Response:  # type: ignore[override]
        kw.setdefault("timeout", self.timeout)
        return super().request(*args, **kw)


def _reset_at(exc: tweepy.TooManyRequests) -> tuple[datetime, str]:
    now = _now()
    body = exc.response.text if exc.response is not None else ""
    if "usage-capped" in body or "UsageCapExceeded" in body:
        # The plan's monthly cap, not the 15-minute window: its reset header says nothing useful.
        tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return tomorrow, "the X plan's usage cap is reached"
    reset = exc.reset_time
    if reset is None and exc.response is not None:
        header = exc.response.headers.get("x-rate-limit-reset", "")
        reset = int(header) if header.isdigit() else None
    when = datetime.fromtimestamp(reset, timezone.utc) if reset else now + timedelta(minutes=15)
    return (when if when > now else now + timedelta(seconds=60)), "rate limited (HTTP 429)"


def _request(call: Callable[[], Any], what: str, missing_ok: bool = False) -> Optional[dict]:
    """Run one tweepy call and translate its failures into repmon's error tree."""
    try:
        body = call()
    except tweepy.TooManyRequests as exc:
        when, why = _reset_at(exc)
        raise RateLimited(f"{what}: {why} until {when:%Y-%m-%d %H:%M:%S} UTC", reset_at=when) from exc
    except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
        raise AuthError(f"{what}: X refused the bearer token or this app's access level: {_says(exc)}") from exc
    except tweepy.NotFound as exc:
        if missing_ok:
            return None
        raise CollectorError(f"{what}: not found: {_says(exc)}") from exc
    except tweepy.TwitterServerError as exc:
        raise TransientError(f"{what}: X server error: {_says(exc)}") from exc
    except tweepy.HTTPException as exc:
        if exc.response is not None and exc.response.status_code == 402:
            raise CollectorError(f"{what}: the X API credits are used up (HTTP 402); "
                                 "add credits in the X Developer Console") from exc
        raise CollectorError(f"{what}: {_says(exc)}") from exc
    except requests.JSONDecodeError as exc:
        raise TransientError(f"{what}: X sent malformed JSON") from exc
    except requests.Timeout as exc:
        raise TransientError(f"{what}: timed out") from exc
    except requests.RequestException as exc:
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except (AttributeError, TypeError) as exc:
        # tweepy reads an HTTP error's body as a JSON object; it fails on one that is JSON but not an object
        if not raised_in(exc, "tweepy"):
            raise
        raise TransientError(f"{what}: X answered an error with an unreadable body") from exc
    if not isinstance(body, dict):
        raise TransientError(f"{what}: unexpected response shape ({type(body).__name__}, not an object)")
    return body


def _tweet_id(tweet: Any) -> Optional[int]:
    """A post's id as a number (the cursor's bounds are ids), None when it is not a snowflake."""
    tid = tweet.get("id") if isinstance(tweet, dict) else None
    tid = str(tid) if isinstance(tid, int) and not isinstance(tid, bool) else tid
    if not isinstance(tid, str) or not (tid.isascii() and tid.isdigit()) or not 0 < int(tid) < 2**63:
        return None
    return int(tid)


def _dicts(value: Any) -> list[dict]:
    """The objects of a payload list (anything else in its place counts as none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _load(cursor: Optional[str]) -> dict:
    try:
        state = json.loads(cursor) if cursor else {}
    except ValueError:
        state = None
    if not isinstance(state, dict):
        log.warning("x: the stored cursor is not this collector's; starting over")
        return {}
    return state


def _says(exc: tweepy.HTTPException) -> str:
    return str(exc).replace("\n", "; ")[:300]


class XCollector(Collector):
    kind = "x"
    options_model = XOptions

    def _client(self) -> tweepy.Client:
        opts: XOptions = self.options  # type: ignore[assignment]
        client = tweepy.Client(bearer_token=opts.bearer_token, wait_on_rate_limit=False, return_type=dict)
        client.session = _TimeoutSession(opts.timeout)
        return client

    def query(self) -> str:
        opts: XOptions = self.options  # type: ignore[assignment]
        return opts.query or build_query(self.brand, opts.include_retweets)

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        opts: XOptions = self.options  # type: ignore[assignment]
        query = self.query()
        if len(query) > opts.max_query_length:
            raise CollectorError(
                f"sources.{self.name}: the X query is {len(query)} characters, over max_query_length "
                f"{opts.max_query_length}; shorten the brand's keywords or set sources.{self.name}.query")
        state = _load(cursor)
        month = _now().strftime("%Y-%m")
        if state.get("month") != month or not isinstance(state.get("reads"), int):
            state.update(month=month, reads=0)
        client = self._client()
        streams: list[tuple[_Stream, str, Callable[..., Any]]] = [
            (SEARCH, query, lambda **p: client.search_recent_tweets(query, sort_order="recency", **p))]
        if opts.mentions_user_id:
            uid = opts.mentions_user_id
            streams.append((MENTIONS, uid, lambda **p: client.get_users_mentions(uid, **p)))
        for stream, key, call in streams:
            for batch in self._walk(stream, key, call, state, query):
                yield batch
                if batch.notes.get("budget_exhausted"):
                    return

    def _walk(self, stream: _Stream, key: str, call: Callable[..., Any], state: dict, query: str) -> Iterator[Batch]:
        """Read one stream from its cursor to its newest post, yielding each page."""
        opts: XOptions = self.options  # type: ignore[assignment]
        now = _now()
        st = state.get(stream.name) or {}
        if st.get("key") != key:  # a new query (or account) starts over
            st = {"key": key, "since_id": None,
                  "start_time": (now - timedelta(hours=opts.backfill_hours)).isoformat(), "pending": None}
        state[stream.name] = st
        pending = st.get("pending")
        floor = now - stream.window if stream.window else None
        if pending and floor and id_time(pending["until_id"]) <= floor:
            log.warning("x stream=%s: posts older than %s were never read and are now out of the "
                        "7-day search window", stream.name, id_time(pending["until_id"]).isoformat())
            st.update(since_id=pending["newest"], start_time=None, pending=None)
            pending = None
        params: dict[str, Any] = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
        if st.get("since_id") and not (floor and id_time(st["since_id"]) <= floor):
            params["since_id"] = st["since_id"]
        elif st.get("start_time") and not st.get("since_id") and not (
                floor and datetime.fromisoformat(st["start_time"]) <= floor):
            params["start_time"] = datetime.fromisoformat(st["start_time"])
        if pending:
            params["until_id"] = pending["until_id"]  # fixed for the whole run: next_token needs the same query
        token = None
        what = f"x {stream.name} {key!r}"
        while True:
            limit = opts.monthly_read_budget
            left = None if limit == 0 else max(0, limit - state["reads"])
            notes: dict[str, Any] = {"budget_used": state["reads"], "budget_limit": limit or None, "stream": stream.name}
            if left == 0:
                log.warning("x source=%s: monthly read budget of %d posts used up; reading resumes next month",
                            self.name, limit)
                yield Batch([], json.dumps(state), dict(notes, budget_exhausted=True))
                return
            size = opts.page_size if left is None else max(stream.min_results, min(opts.page_size, left))
            page = dict(params, max_results=size, **({stream.token_param: token} if token else {}))
            body = _request(functools.partial(call, **page), what) or {}
            retrieved = _now().isoformat()
            tweets = body.get("data") or []
            includes = body.get("includes") or {}
            if not isinstance(tweets, list) or not isinstance(includes, dict):
                raise TransientError(f"{what}: unexpected response shape ('data' is not a list)")
            state["reads"] += len(tweets) + len(_dicts(includes.get("tweets")))
            users = {str(u.get("id")): u for u in _dicts(includes.get("users"))}
            errors = _dicts(body.get("errors"))
            if errors:  # partial errors: a deleted parent post, a protected author; the data still stands
                log.info("x %s: %d partial error(s): %s", stream.name, len(errors),
                         "; ".join(str(e.get("detail") or e.get("title")) for e in errors[:3] if isinstance(e, dict)))
            source_query = query if stream is SEARCH else f"mentions of user {key}"
            mentions, ids = [], []
            for t in tweets:
                tid = _tweet_id(t)
                if tid is None:
                    log.warning("x %s: skipped %s: no numeric post id", stream.name, item_ref(t, "id"))
                    continue
                ids.append(tid)
                try:
                    m = to_mention(t, users, source_query, stream.api, retrieved)
                except MALFORMED as exc:
                    log.warning("x %s: skipped post %d: malformed (%s: %s)", stream.name, tid,
                                type(exc).__name__, str(exc)[:200])
                    continue
                if m["text"]:  # X always sends text; the store needs it
                    mentions.append(m)
            if ids:
                newest, oldest = max(ids), min(ids)
                if pending:
                    newest = max(newest, int(pending["newest"]))
                    oldest = min(oldest, int(pending["until_id"]))
                pending = {"newest": str(newest), "until_id": str(oldest)}
            meta = body.get("meta")
            token = page_token(meta.get("next_token") if isinstance(meta, dict) else None)
            if not token:  # the run's pagination is done: only now does the high-water mark move
                if pending:
                    st.update(since_id=pending["newest"], start_time=None)
                pending = None
            st["pending"] = pending
            notes.update(budget_used=state["reads"], partial_errors=len(errors))
            yield Batch(mentions, json.dumps(state), notes)
            if not token:
                return

    def exists(self, native_id: str) -> bool:
        what = f"x post {native_id}"
        client = self._client()
        body = _request(lambda: client.get_tweet(native_id), what, missing_ok=True)
        if body is None:
            return False
        if body.get("data"):
            return True
        errors = _dicts(body.get("errors"))
        if any(e.get("title") == "Not Found Error" or str(e.get("type", "")).endswith("/resource-not-found")
               for e in errors):
            return False
        if errors:  # e.g. an Authorization Error: the post is there but not visible to this app
            return True
        raise TransientError(f"{what}: the answer had neither data nor errors")
