"""YouTube comments on the brand's channels and on chosen videos, via the Data API v3
(commentThreads.list with an API key, through google-api-python-client).

Each target (a channel's videos, or one video) is read newest thread first (order=time) down
to the newest thread the last run saw. Page tokens do not survive a restart, so a target's
`since` only moves up once its walk ends; a crash mid-walk re-reads it and the store's upsert
drops the repeats. Every list call costs 1 quota unit: the units spent are counted in the
cursor per quota day, which Google resets at midnight Pacific time, and the collector stops
before `daily_quota_units` is exceeded.

Threads are ordered by their top-level comment, so a new reply to an old thread is only seen
when that thread is read again; each thread carries at most its 5 newest replies.
"""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, time, timedelta, timezone
from typing import Any, Iterator, Optional
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from collectors.base import MALFORMED, Batch, Collector, Options, item_ref, page_token, raised_in
from repmon.errors import AuthError, CollectorError, RateLimited, TransientError
from repmon.matching import BrandMatcher

log = logging.getLogger(__name__)
PACIFIC = ZoneInfo("America/Los_Angeles")
UNITS_PER_CALL = 1  # commentThreads.list
API = "youtube/v3/commentThreads"


class YouTubeOptions(Options):
    api_key: str = Field(min_length=1, description="a YouTube Data API v3 key")
    channel_ids: list[str] = Field(default_factory=list, description="channels (UC...) whose videos' comments to read")
    video_ids: list[str] = Field(default_factory=list, description="single videos to read")
    daily_quota_units: int = Field(10_000, ge=1, description="stop before spending more units per Pacific day")
    match_brand: bool = Field(False, description="keep only threads that name the brand (off: all comments are about it)")
    max_pages: int = Field(10, ge=1, description="pages of 100 threads per target per run")
    backfill_days: float = Field(7, ge=0, description="how far back the first run reads")
    timeout: float = Field(30, gt=0, description="seconds per request")

    @model_validator(mode="after")
    def _some_target(self) -> "YouTubeOptions":
        if not self.channel_ids and not self.video_ids:
            raise ValueError("set channel_ids or video_ids (or both)")
        return self


def quota_day(now: datetime) -> str:
    return now.astimezone(PACIFIC).date().isoformat()


def next_quota_reset(now: datetime) -> datetime:
    """Midnight Pacific time after `now`, as aware UTC."""
    day = now.astimezone(PACIFIC).date() + timedelta(days=1)
    return datetime.combine(day, time(0), PACIFIC).astimezone(timezone.utc)


def parse_time(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


class Unreadable(CollectorError):
    """This target cannot be read (comments disabled, video or channel gone); the others can."""


def translate(exc: Any, what: str) -> Exception:
    """An API error as repmon's error."""
    status = int(getattr(exc.resp, "status", 0) or 0)
    try:
        body = json.loads(exc.content)["error"]
        # Older keys answer reason "keyInvalid"; newer ones "badRequest" plus an ErrorInfo detail.
        reasons = {e.get("reason") for e in body.get("errors", []) + body.get("details", [])}
    except (ValueError, KeyError, TypeError, AttributeError):
        reasons = set()
    # The message quotes the request URL, which carries the key: never put str(exc) in ours.
    if reasons & {"quotaExceeded", "dailyLimitExceeded"}:
        reset = next_quota_reset(datetime.now(timezone.utc))
        return RateLimited(f"{what}: the project's daily quota is used up until {reset:%Y-%m-%d %H:%M} UTC", reset)
    if status == 429 or reasons & {"rateLimitExceeded", "userRateLimitExceeded"}:
        return RateLimited(f"{what}: too many requests", datetime.now(timezone.utc) + timedelta(minutes=1))
    if reasons & {"commentsDisabled", "videoNotFound", "channelNotFound"}:
        return Unreadable(f"{what}: {sorted(reasons & {'commentsDisabled', 'videoNotFound', 'channelNotFound'})[0]}")
    if status in (401, 403) or reasons & {"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED",
                                          "forbidden", "accessNotConfigured", "SERVICE_DISABLED"}:
        return AuthError(f"{what}: refused (HTTP {status} {', '.join(sorted(filter(None, reasons)))}); "
                         "check sources.*.api_key and that the YouTube Data API v3 is enabled for it")
    if status >= 500:
        return TransientError(f"{what}: server error (HTTP {status})")
    return CollectorError(f"{what}: HTTP {status} {', '.join(sorted(filter(None, reasons)))}")


class YouTubeCollector(Collector):
    kind = "youtube"
    options_model = YouTubeOptions
    prefiltered = True  # comments on the brand's own channel are about it; match_brand filters here

    @property
    def opts(self) -> YouTubeOptions:
        return self.options  # type: ignore[return-value]

    def _http(self) -> Any:
        """The transport; tests put googleapiclient's HttpMockSequence here."""
        import httplib2

        return httplib2.Http(timeout=self.opts.timeout)

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        state = json.loads(cursor) if cursor else {}
        targets: dict[str, dict] = state.setdefault("targets", {})
        now = datetime.now(timezone.utc)
        quota = state.get("quota") or {}
        if quota.get("day") != quota_day(now):
            quota = {"day": quota_day(now), "used": 0}
        state["quota"] = quota
        try:
            # Imported here so that repmon runs without the Google client when no YouTube source is set.
            from googleapiclient.discovery import build
        except ImportError as exc:
            raise CollectorError("youtube sources need google-api-python-client: pip install google-api-python-client") from exc
        # static_discovery: the API description ships inside the package; building needs no network.
        api = build("youtube", "v3", developerKey=self.opts.api_key, static_discovery=True,
                    cache_discovery=False, http=self._http())
        matcher = BrandMatcher(self.brand) if self.opts.match_brand else None
        wanted = [(f"channel:{c}", {"allThreadsRelatedToChannelId": c}) for c in self.opts.channel_ids]
        wanted += [(f"video:{v}", {"videoId": v}) for v in self.opts.video_ids]
        for key, selector in wanted:
            st = targets.setdefault(key, {})
            floor = parse_time(st["since"]) if st.get("since") else now - timedelta(days=self.opts.backfill_days)
            seen = set(st.get("ids", ()))
            newest: Optional[str] = None
            newest_ids: list[str] = []
            token, done = None, False
            for _ in range(self.opts.max_pages):
                if quota["used"] + UNITS_PER_CALL > self.opts.daily_quota_units:
                    log.warning("youtube source=%s daily quota budget of %d units is spent; stopping until %s",
                                self.name, self.opts.daily_quota_units, next_quota_reset(now).isoformat())
                    yield Batch([], json.dumps(state), self._notes(quota, key, budget_exhausted=True))
                    return
                try:
                    body = self._list(api, key, selector, token)
                except Unreadable as exc:
                    quota["used"] += UNITS_PER_CALL
                    log.warning("youtube source=%s skipped %s", self.name, exc)
                    break
                quota["used"] += UNITS_PER_CALL
                retrieved = datetime.now(timezone.utc).isoformat()
                mentions: list[dict] = []
                for thread in body["items"]:
                    at = _thread_time(thread)
                    if at is None:
                        log.warning("youtube source=%s %s: skipped %s: no id or readable publishedAt", self.name, key,
                                    item_ref(thread, "id"))
                        continue
                    top = thread["snippet"]["topLevelComment"]
                    if at < floor:
                        done = True
                        break
                    if newest is None or at > parse_time(newest):
                        newest, newest_ids = top["snippet"]["publishedAt"], [thread["id"]]
                    elif at == parse_time(newest):
                        newest_ids.append(thread["id"])
                    if st.get("since") and at == floor and thread["id"] in seen:
                        continue
                    try:
                        found = to_mentions(thread, key, retrieved)
                    except MALFORMED as exc:
                        log.warning("youtube source=%s %s: skipped thread %r: malformed (%s: %s)", self.name, key,
                                    thread["id"], type(exc).__name__, str(exc)[:200])
                        continue
                    if matcher is None or any(matcher.matches(m["text"]) for m in found):
                        mentions.extend(found)
                token = page_token(body.get("nextPageToken"))
                done = done or not token
                if done:
                    self._advance(st, newest, newest_ids)
                yield Batch(mentions, json.dumps(state), self._notes(quota, key))
                if done:
                    break
            else:
                # The cap cut the walk short: older threads in between are not read. Moving on
                # keeps the next run current instead of re-reading the same newest pages.
                log.warning("youtube source=%s %s: more than %d pages of new threads; older ones skipped",
                            self.name, key, self.opts.max_pages)
                self._advance(st, newest, newest_ids)
                yield Batch([], json.dumps(state), self._notes(quota, key, gap=True))

    @staticmethod
    def _advance(st: dict, newest: Optional[str], ids: list[str]) -> None:
        if newest and (not st.get("since") or parse_time(newest) > parse_time(st["since"])):
            st["since"], st["ids"] = newest, ids
        elif newest and newest == st.get("since"):
            st["ids"] = sorted(set(st.get("ids", [])) | set(ids))

    def _notes(self, quota: dict, key: str, **extra: Any) -> dict:
        return {"budget_used": quota["used"], "budget_limit": self.opts.daily_quota_units, "target": key, **extra}

    def _list(self, api: Any, key: str, selector: dict, token: Optional[str]) -> dict:
        import httplib2
        from googleapiclient.errors import HttpError

        what = f"youtube {key}"
        request = api.commentThreads().list(part="snippet,replies", order="time", maxResults=100,
                                            textFormat="plainText", pageToken=token, **selector)
        try:
            body = request.execute(num_retries=0)  # the runner retries TransientError with backoff
        except HttpError as exc:
            raise translate(exc, what) from exc
        except (socket.timeout, TimeoutError) as exc:
            raise TransientError(f"{what}: timed out") from exc
        except (httplib2.HttpLib2Error, OSError) as exc:
            raise TransientError(f"{what}: {type(exc).__name__}") from exc
        except ValueError as exc:  # json.JSONDecodeError from the client's JSON model
            raise TransientError(f"{what}: the API sent malformed JSON") from exc
        except MALFORMED as exc:  # the client reads an error answer that is JSON but not Google's error shape
            if not raised_in(exc, "googleapiclient"):
                raise
            raise TransientError(f"{what}: the API sent an unreadable answer") from exc
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise TransientError(f"{what}: unexpected response shape (no 'items' list)")
        return body


def to_mentions(thread: dict, query: str, retrieved_at: str) -> list[dict]:
    """A thread's top-level comment and the replies it carries, as mention dicts."""
    top = thread["snippet"]["topLevelComment"]
    replies = thread.get("replies")
    replies = replies.get("comments") if isinstance(replies, dict) else None
    item = {k: v for k, v in thread.items() if k != "replies"}  # each reply is stored on its own
    out = [_mention(top, thread["id"], None, item, query, retrieved_at)]
    for reply in replies if isinstance(replies, list) else []:
        try:
            parent = reply["snippet"].get("parentId") or top["id"]
            out.append(_mention(reply, thread["id"], parent, reply, query, retrieved_at))
        except MALFORMED as exc:
            log.warning("youtube %s: skipped %s in thread %r: malformed (%s: %s)", query, item_ref(reply, "id"),
                        thread["id"], type(exc).__name__, str(exc)[:200])
    return out


def _thread_time(thread: Any) -> Optional[datetime]:
    """When a thread's top-level comment was published; None for a thread without id or time."""
    try:
        if isinstance(thread["id"], str) and thread["id"]:
            return parse_time(thread["snippet"]["topLevelComment"]["snippet"]["publishedAt"])
    except MALFORMED:
        pass
    return None


def _mention(comment: dict, thread_id: str, parent: Optional[str], raw: dict, query: str, retrieved_at: str) -> dict:
    s = comment["snippet"]
    return {
        "platform": "youtube",
        "native_id": comment["id"],
        "url": f"https://www.youtube.com/watch?v={s.get('videoId', '')}&lc={comment['id']}",
        "author": s.get("authorDisplayName") or "",
        "author_reach": 0,
        "text": next((t for t in (s.get("textOriginal"), s.get("textDisplay")) if isinstance(t, str) and t), ""),
        "lang": None,
        "created_at": parse_time(s["publishedAt"]),
        "thread_id": thread_id,
        "parent_id": parent,
        "kind": "comment",
        "rating": None,
        "raw": {"item": raw, "collector": "youtube", "query": query, "retrieved_at": retrieved_at, "api": API},
    }
