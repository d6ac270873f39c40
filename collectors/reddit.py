"""Reddit: posts that name the brand (search, newest first), the new comments under them,
and optionally a subreddit's comment stream filtered locally. Reads through praw.

Reddit listings re-emit items, so every listing keeps a dlt-style state in the cursor:
`{"last_value": newest created_utc seen, "unique_hashes": [fullnames at or after
last_value - lag_seconds]}`. Items older than that window end the walk (listings are newest
first); items in the window whose fullname is known are skipped. A listing's state only
advances in the batch that finishes its walk: a crash mid-walk re-reads from the top next
run, which loses nothing and duplicates nothing because the runner upserts on
(platform, native_id). Threads whose posts matched stay watched for `watch_hours`: one
/api/info request per 100 of them shows new comments, edits and removals.
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Literal, Optional

import praw
import prawcore
import requests
from praw.models import Comment
from praw.models.base import PRAWBase
from pydantic import Field, field_validator, model_validator

from collectors.base import MALFORMED, Batch, Collector, Options, count, raised_in
from repmon.errors import AuthError, CollectorError, ConfigError, RateLimited, TransientError
from repmon.matching import BrandMatcher

log = logging.getLogger(__name__)
PAGE = 100  # mentions per Batch; also Reddit's most items per listing request
MAX_WAIT = 30  # seconds prawcore may sleep for the rate limit; longer waits raise RateLimited
MARKERS = ("[removed]", "[deleted]")  # what Reddit puts in place of removed text
REDDIT_REMOVAL = "[ removed by reddit"  # "[ Removed by Reddit ]", "... in response to a copyright notice. ]"
_SPANS = (("hour", 3600), ("day", 86400), ("week", 7 * 86400), ("month", 31 * 86400), ("year", 366 * 86400))
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}(\+[A-Za-z0-9_]{2,21})*$")


class RedditOptions(Options):
    client_id: str = Field(min_length=1, description="the script app's id (under its name on reddit.com/prefs/apps)")
    client_secret: str = Field(min_length=1)
    user_agent: str = Field(min_length=10, description="e.g. 'server:repmon:1.0 (by /u/yourname)'")
    username: Optional[str] = None
    password: Optional[str] = None
    subreddits: list[str] = Field(default_factory=lambda: ["all"], min_length=1)
    time_filter: Literal["hour", "day", "week", "month", "year", "all"] = Field(
        "week", description="how far the first run looks back; later runs cover the time since the cursor")
    limit: int = Field(1000, ge=1, le=1000, description="most posts per subreddit per run (Reddit stops at ~1000)")
    include_comments: bool = True
    comments_per_post: int = Field(100, ge=1, le=500)
    watch_hours: float = Field(48, ge=0, description="keep fetching new comments of matched posts this long")
    max_watched: int = Field(100, ge=0, le=1000)
    scan_comments: bool = Field(False, description="also read each subreddit's newest comments, keep the brand's")
    scan_limit: int = Field(100, ge=1, le=1000)
    lag_seconds: int = Field(600, ge=0, description="re-read this far behind the newest item: search indexing lags")
    include_competitors: bool = False
    timeout: int = Field(16, ge=1, le=300)

    @field_validator("subreddits")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        names = [re.sub(r"^/?r/", "", s.strip()) for s in v]
        bad = [s for s in names if not _SUBREDDIT.match(s)]
        if bad:
            raise ValueError(f"not a subreddit name: {bad[0]!r} (write 'python' or 'r/python')")
        return names

    @model_validator(mode="after")
    def _login_pair(self) -> "RedditOptions":
        if bool(self.username) != bool(self.password):
            raise ValueError("username and password go together: set both (script login) or neither (read-only)")
        return self


def build_query(brand: Any, competitors: bool = False) -> str:
    """Reddit (lucene) syntax: any of name/keywords/handles, AND every all_of, NOT each exclusion."""
    def term(t: str) -> str:
        t = t.strip().strip('"').rstrip("*").replace('"', "").lstrip("@")
        return f'"{t}"' if re.search(r"\W", t) else t
    terms = [brand.name, *brand.keywords, *brand.handles, *(brand.competitors if competitors else [])]
    anyof: dict[str, str] = {}
    for t in filter(None, map(term, terms)):
        anyof.setdefault(t.lower(), t)  # Reddit's search ignores case
    query = "(" + " OR ".join(anyof.values()) + ")"
    query += "".join(f" AND {term(t)}" for t in getattr(brand, "all_of", []) if term(t))
    return query + "".join(f" NOT {term(t)}" for t in brand.exclude if term(t))


def is_gone(d: dict) -> bool:
    """Removed by a moderator/Reddit or deleted by its author (an account deletion alone keeps the text)."""
    body = str((d.get("body") if str(d.get("name", "")).startswith("t1_") else d.get("selftext")) or "")
    return bool(d.get("removed_by_category")) or body in MARKERS or body.lower().startswith(REDDIT_REMOVAL)


def _raw(obj: PRAWBase) -> dict:
    """The item's API fields as praw parsed them (author/subreddit objects back to their names)."""
    out = {k: (str(v) if isinstance(v, PRAWBase) else v) for k, v in vars(obj).items()
           if not k.startswith("_") and k not in ("comment_limit", "comment_sort", "replies")}
    return json.loads(json.dumps(out, default=str))


def _is_new(st: dict, name: str, created: float, lag: int) -> bool:
    return "last_value" not in st or (created >= st["last_value"] - lag and name not in st["unique_hashes"])


def _older(st: dict, created: float, lag: int) -> bool:
    return "last_value" in st and created < st["last_value"] - lag


def _advance(st: dict, seen: list[tuple[str, float]], lag: int) -> dict:
    """Every item of the new window was seen in this walk, so its hashes come from `seen` alone."""
    if not seen:
        return st
    last = max(max(c for _, c in seen), st.get("last_value", 0.0))
    return {"last_value": last, "unique_hashes": sorted({n for n, c in seen if c >= last - lag})}


def _reset_at(response: Any, default: float = 60.0) -> datetime:
    h = response.headers if response is not None else {}
    for key in ("retry-after", "x-ratelimit-reset"):  # both in seconds from now
        try:
            return datetime.now(timezone.utc) + timedelta(seconds=float(h[key]))
        except (KeyError, TypeError, ValueError):
            continue
    return datetime.now(timezone.utc) + timedelta(seconds=default)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """prawcore/praw errors -> repmon's error tree, at the collector's boundary."""
    E = prawcore.exceptions
    try:
        yield
    except E.TooManyRequests as exc:
        reset = _reset_at(exc.response)
        raise RateLimited(f"{what}: Reddit answered 429 Too Many Requests", reset_at=reset) from exc
    except (E.InvalidToken, E.InsufficientScope, E.OAuthException) as exc:
        raise AuthError(f"{what}: Reddit rejected the credentials ({exc}); "
                        "check client_id, client_secret, username and password") from exc
    except E.Forbidden as exc:
        raise AuthError(f"{what}: 403 Forbidden: the credentials are refused, "
                        "or the subreddit is private, quarantined or banned") from exc
    except (E.Redirect, E.NotFound) as exc:
        raise CollectorError(f"{what}: no such subreddit (Reddit answered {exc}); check `subreddits`") from exc
    except (E.ServerError, E.BadJSON, E.RequestException) as exc:
        raise TransientError(f"{what}: {exc}") from exc
    except E.ResponseException as exc:
        status = exc.response.status_code
        if status in (401, 403):  # the token endpoint answers 401 to a wrong client id/secret
            raise AuthError(f"{what}: Reddit answered {status}; check client_id and client_secret") from exc
        raise (TransientError if status >= 500 else CollectorError)(f"{what}: {exc}") from exc
    except (E.PrawcoreException, praw.exceptions.PRAWException) as exc:
        raise CollectorError(f"{what}: {exc}") from exc
    except ValueError as exc:  # the token response was not JSON
        raise TransientError(f"{what}: malformed response from Reddit: {exc}") from exc
    except MALFORMED as exc:  # praw could not make things of a listing that is not shaped as documented
        if not (raised_in(exc, "praw") or raised_in(exc, "prawcore")):
            raise
        raise TransientError(f"{what}: malformed response from Reddit ({type(exc).__name__}: {exc})") from exc


class RedditCollector(Collector):
    kind = "reddit"
    options_model = RedditOptions

    def __init__(self, name: str, options: Options, brand: Any):
        super().__init__(name, options, brand)
        self.query = build_query(brand, self.opts.include_competitors)
        if len(self.query) > 512:  # Reddit's documented maximum for `q`
            raise ConfigError(f"sources.{name}: the search built from brand {brand.name!r} is {len(self.query)} "
                              "characters, Reddit allows 512; shorten its keywords/handles/exclude")
        scope = brand if self.opts.include_competitors else brand.model_copy(update={"competitors": []})
        self._matcher = BrandMatcher(scope)
        self._reddit: Optional[praw.Reddit] = None
        self._limits: Optional[tuple[float, float]] = None  # (remaining, reset epoch) from the last response
        self._texts: dict[str, str] = {}  # last known text per fullname in this run

    @property
    def opts(self) -> RedditOptions:
        return self.options  # type: ignore[return-value]

    # -- client --------------------------------------------------------------------------
    def _client(self) -> praw.Reddit:
        if self._reddit is None:
            o = self.opts
            session = requests.Session()
            session.hooks["response"].append(self._note_limits)
            self._reddit = praw.Reddit(
                client_id=o.client_id, client_secret=o.client_secret, user_agent=o.user_agent,
                username=o.username or None, password=o.password or None, refresh_token=None,
                check_for_updates=False, check_for_async=False, timeout=o.timeout,
                requestor_kwargs={"session": session, "timeout": o.timeout},
            )
        return self._reddit

    def _note_limits(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        h = response.headers
        try:
            self._limits = (float(h["x-ratelimit-remaining"]), time.time() + float(h["x-ratelimit-reset"]))
        except (KeyError, ValueError):
            pass

    def _check_budget(self) -> None:
        """prawcore would sleep until the window resets (up to 10 minutes): hand that to the scheduler."""
        if self._limits and self._limits[0] < 1 and self._limits[1] - time.time() > MAX_WAIT:
            reset = datetime.fromtimestamp(self._limits[1], timezone.utc)
            raise RateLimited("Reddit's 100 requests/minute allowance is used up", reset_at=reset)

    def _guarded(self, items: Iterable) -> Iterator:
        it = iter(items)
        while True:
            self._check_budget()
            try:
                yield next(it)
            except StopIteration:
                return

    # -- mapping -------------------------------------------------------------------------
    def _key(self, obj: Any, where: str) -> Optional[tuple[str, float]]:
        """(fullname, created_utc) of a listed thing; None, logged, when it has no usable ones."""
        d = vars(obj) if isinstance(obj, PRAWBase) else {}
        name, created = d.get("name"), d.get("created_utc")
        try:
            created = float(created)
        except (TypeError, ValueError):
            created = -1.0
        if not (isinstance(name, str) and 0 < len(name) <= 100 and 0 <= created < 1e11):  # finite, a real date
            log.warning("source=%s skipped an item of %s without a usable name and created_utc: %r",
                        self.name, where, str(name if isinstance(obj, PRAWBase) else obj)[:100])
            return None
        return name, created

    def _mention(self, obj: PRAWBase, query: str, api: str) -> Optional[dict]:
        """The item as a mention dict; None, logged, when a field it needs is malformed."""
        try:
            return self._mention_of(obj, query, api)
        except MALFORMED as exc:
            log.warning("source=%s skipped %s: malformed (%s: %s)", self.name, vars(obj).get("name"),
                        type(exc).__name__, str(exc)[:200])
            return None

    def _mention_of(self, obj: PRAWBase, query: str, api: str) -> dict:
        d = _raw(obj)
        name, post = d["name"], d["name"].startswith("t3_")
        if post:
            text = (d.get("title") or "") + (f"\n\n{d['selftext']}" if d.get("selftext") else "")
        else:
            text = d.get("body") or ""
        gone = is_gone(d)
        if gone:
            text = self._texts.get(name, text)
        else:
            self._texts[name] = text
        author = d.get("author")
        return {
            "platform": "reddit", "native_id": name, "url": "https://www.reddit.com" + d.get("permalink", ""),
            "author": f"u/{author}" if author and author != "[deleted]" else "", "author_reach": 0,
            "text": text, "lang": None, "created_at": datetime.fromtimestamp(float(d["created_utc"]), timezone.utc),
            "thread_id": name if post else d.get("link_id"), "parent_id": None if post else d.get("parent_id"),
            "kind": "post" if post else "comment", "rating": None,
            "raw": {"item": d, "collector": self.kind, "query": query, "deleted": gone, "api": f"reddit {api}",
                    "retrieved_at": datetime.now(timezone.utc).isoformat(), "client": f"praw {praw.__version__}"},
        }

    # -- fetching ------------------------------------------------------------------------
    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        steps = self._fetch(cursor)
        while True:
            with _translated(f"source {self.name}"):
                try:
                    batch = next(steps)
                except StopIteration:
                    return
            yield batch

    def _fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        o = self.opts
        try:
            state = json.loads(cursor) if cursor else {}
            for key in ("search", "threads", "scan"):
                state.setdefault(key, {})
        except (ValueError, AttributeError):
            raise CollectorError(f"source {self.name}: its cursor is not this collector's JSON; reset it") from None
        self._texts.clear()
        self._prune(state)
        handled: set[str] = set()
        for sub in o.subreddits:
            yield from self._search(sub, state, handled)
        yield from self._refresh(state, handled)
        if o.scan_comments:
            for sub in o.subreddits:
                yield from self._scan(sub, state)

    def _batch(self, mentions: list[dict], state: dict) -> Batch:
        deleted = [m["native_id"] for m in mentions if m["raw"]["deleted"]]
        notes: dict[str, Any] = {"deleted": deleted} if deleted else {}
        if self._limits:
            notes["ratelimit_remaining"] = self._limits[0]
        return Batch(mentions, json.dumps(state, sort_keys=True), notes)

    def _search(self, sub: str, state: dict, handled: set[str]) -> Iterator[Batch]:
        o = self.opts
        st = state["search"].get(sub, {})
        listing = self._client().subreddit(sub).search(
            self.query, sort="new", time_filter=self._time_filter(st), limit=o.limit)
        seen: list[tuple[str, float]] = []
        mentions: list[dict] = []
        for post in self._guarded(listing):
            key = self._key(post, f"r/{sub} search")
            if key is None:
                continue
            name, created = key
            if _older(st, created, o.lag_seconds):
                break  # newest first: the rest is older still
            seen.append(key)
            if not _is_new(st, name, created, o.lag_seconds):
                continue
            m = self._mention(post, self.query, f"GET /r/{sub}/search")
            if m is None:
                continue
            mentions.append(m)  # replies under the brand's own posts matter even when they don't name it
            if o.include_comments and not is_gone(vars(post)) and (self._matcher.matches(m["text"]) or
                                                                   self._matcher.is_own(m["author"])):
                handled.add(name)
                mentions += self._comments(post, state)
            if len(mentions) >= PAGE:
                yield self._batch(mentions, state)  # this subreddit's state is not advanced yet
                mentions = []
        if len(seen) >= o.limit:  # Reddit had more than `limit` new posts: the oldest of them are skipped
            log.warning("source=%s subreddit=%s hit limit=%d before the cursor; raise `limit`", self.name, sub, o.limit)
        state["search"][sub] = _advance(st, seen, o.lag_seconds)
        yield self._batch(mentions, state)

    def _comments(self, post: Any, state: dict) -> list[dict]:
        """New comments of a matched post; its watch entry changes in the batch that carries them."""
        o = self.opts
        d = vars(post)
        name, created = d["name"], float(d["created_utc"])  # checked by _key
        number = count(d.get("num_comments"))
        st = state["threads"].get(name, {})
        entry = {"created": created, "num_comments": number}
        if number == 0 or number == st.get("num_comments"):
            state["threads"][name] = {**st, **entry}
            return []
        self._check_budget()
        post.comment_sort, post.comment_limit = "new", o.comments_per_post
        try:
            listed = post.comments.list()
        except MALFORMED as exc:  # the next run asks again: the thread's entry is left as it was
            log.warning("source=%s skipped the comments of %s: malformed answer (%s: %s)", self.name, name,
                        type(exc).__name__, str(exc)[:200])
            return []
        seen, out = [], []
        for c in listed:  # MoreComments stubs would cost a request each: skipped
            if not isinstance(c, Comment):
                continue
            key = self._key(c, f"comments of {name}")
            if key is None:
                continue
            seen.append(key)
            if _is_new(st, *key, o.lag_seconds):
                m = self._mention(c, f"comments of {name}", f"GET /comments/{d.get('id')}")
                if m is not None:
                    out.append(m)
        state["threads"][name] = {**_advance(st, seen, o.lag_seconds), **entry}
        return out

    def _refresh(self, state: dict, handled: set[str]) -> Iterator[Batch]:
        """Watched threads not seen in this run's search: new comments, edits, removals."""
        names = [n for n in state["threads"] if n not in handled]
        if not names:
            return
        mentions: list[dict] = []
        found: set[str] = set()
        for post in self._guarded(self._client().info(fullnames=names)):
            key = self._key(post, "watched threads")
            m = self._mention(post, "watched thread", "GET /api/info") if key else None
            if m is None:
                continue
            found.add(key[0])
            mentions.append(m)
            if m["raw"]["deleted"]:
                state["threads"].pop(key[0], None)
            else:
                mentions += self._comments(post, state)
            if len(mentions) >= PAGE:
                yield self._batch(mentions, state)
                mentions = []
        for name in set(names) - found:  # gone without a trace (or its subreddit is): stop asking
            state["threads"].pop(name, None)
        yield self._batch(mentions, state)

    def _scan(self, sub: str, state: dict) -> Iterator[Batch]:
        o = self.opts
        st = state["scan"].get(sub, {})
        seen: list[tuple[str, float]] = []
        mentions: list[dict] = []
        for c in self._guarded(self._client().subreddit(sub).comments(limit=o.scan_limit)):
            key = self._key(c, f"r/{sub} comments")
            if key is None:
                continue
            if _older(st, key[1], o.lag_seconds):
                break
            seen.append(key)
            body = vars(c).get("body")
            if _is_new(st, *key, o.lag_seconds) and isinstance(body, str) and self._matcher.matches(body):
                m = self._mention(c, f"r/{sub} comments matched locally", f"GET /r/{sub}/comments")
                if m is not None:
                    mentions.append(m)
        state["scan"][sub] = _advance(st, seen, o.lag_seconds)
        yield self._batch(mentions, state)

    def _time_filter(self, st: dict) -> str:
        """The narrowest `t` covering everything since the cursor, however long repmon was stopped."""
        o = self.opts
        if "last_value" not in st:
            return o.time_filter
        age = time.time() - (st["last_value"] - o.lag_seconds) + 300  # 5 minutes for clock skew
        return next((name for name, span in _SPANS if age <= span), "all")

    def _prune(self, state: dict) -> None:
        """Watch threads for `watch_hours`, the newest `max_watched` of them."""
        o = self.opts
        cutoff = time.time() - o.watch_hours * 3600
        keep = sorted(((n, t) for n, t in state["threads"].items() if t.get("created", 0) >= cutoff),
                      key=lambda nt: nt[1].get("created", 0), reverse=True)[: o.max_watched]
        state["threads"] = dict(keep)

    def exists(self, native_id: str) -> bool:
        """True while the post/comment is up; False once removed, deleted or unknown to Reddit."""
        with _translated(f"source {self.name}: checking {native_id}"):
            items = list(self._client().info(fullnames=[native_id]))
        return bool(items) and not is_gone(_raw(items[0]))
