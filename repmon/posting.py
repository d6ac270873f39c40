"""Publishing a reply through the platform's API: an X reply, a Reddit comment, a Google Play
developer reply. Only on an explicit action (the caller's) and only when
`replies.post_to_platforms` is true and the mention's own source has credentials that can
write; otherwise `can_post` says why, and the case links to the post instead.

    can_post(cfg, mention) -> (bool, reason)
    post_reply(cfg, mention, text) -> PostedReply   # raises repmon.errors.PostingError

Nothing here retries a send: a timeout or 5xx may still have published the reply, so a second
try is the user's call (the error says so). Tokens and reply texts are never logged at INFO.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from collectors import collector_class
from collectors.base import Collector
from repmon.config import Config
from repmon.errors import AuthError, ConfigError, PostingError
from repmon.models import Mention

log = logging.getLogger(__name__)

NAMES = {"x": "X", "reddit": "Reddit", "google_play": "Google Play"}
# The source kind that may post for each platform: the collector that read the post from it.
KIND_FOR = {"x": "x", "reddit": "reddit", "google_play": "google_play"}
MAX_LENGTH = {"x": 280, "reddit": 10_000, "google_play": 350}
_REDDIT_ID = re.compile(r"^t[13]_[a-z0-9]+$")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
X_URL_LENGTH = 23  # every link counts as a t.co link
X_CREDENTIALS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


@dataclass(frozen=True)
class PostedReply:
    platform: str
    native_id: str  # the reply's own id; for Google Play (one reply per review) the review's id
    url: Optional[str]


def can_post(cfg: Config, mention: Mention) -> tuple[bool, str]:
    """Whether a reply to `mention` can be published; when not, the reason to show."""
    try:
        _collector(cfg, mention)
    except PostingError as exc:
        return False, str(exc)
    return True, f"posts through source {mention.source!r} ({NAMES[mention.platform]})"


def post_reply(cfg: Config, mention: Mention, text: str) -> PostedReply:
    """Publish `text` as a reply to `mention`; raises PostingError (with `kind`) when it is not."""
    collector = _collector(cfg, mention)
    text = (text or "").strip()
    if not text:
        raise PostingError("the reply is empty", kind="invalid")
    name = NAMES[mention.platform]
    limit = MAX_LENGTH[mention.platform]
    length = x_length(text) if mention.platform == "x" else len(text)
    if length > limit:
        extra = " (X counts most non-Latin characters and emoji as 2, links as 23)" if mention.platform == "x" else ""
        raise PostingError(f"the reply is {length} characters; {name} allows {limit}{extra}", kind="too_long")
    log.debug("posting reply platform=%s source=%s to=%s chars=%d", mention.platform, mention.source,
              mention.native_id, len(text))
    posted = {"x": _post_x, "reddit": _post_reddit, "google_play": _post_play}[mention.platform](
        collector, mention, text)
    log.info("posted reply platform=%s source=%s to=%s reply_id=%s", mention.platform, mention.source,
             mention.native_id, posted.native_id)
    return posted


def x_length(text: str) -> int:
    """X's weighted length (twitter-text v3): Latin and general punctuation 1, other characters
    2, each link 23. Emoji sequences count per code point here, so this errs on the long side."""
    text = unicodedata.normalize("NFC", text)
    n = X_URL_LENGTH * len(_URL.findall(text))
    for ch in _URL.sub("", text):
        cp = ord(ch)
        light = cp <= 4351 or 8192 <= cp <= 8205 or 8208 <= cp <= 8223 or 8242 <= cp <= 8247
        n += 1 if light else 2
    return n


# -- who may post ---------------------------------------------------------------------------

def _collector(cfg: Config, mention: Mention) -> Collector:
    """The mention's source as a configured collector with write credentials, or PostingError."""
    if not cfg.replies.post_to_platforms:
        raise PostingError("posting is off: set replies.post_to_platforms = true", kind="off")
    platform = mention.platform
    if platform not in KIND_FOR:
        raise PostingError(f"posting to {platform} is not supported; reply on {platform} and mark the case responded",
                           kind="unsupported")
    name = NAMES[platform]
    if mention.deleted_at is not None:
        raise PostingError(f"the post was removed from {name}; there is nothing to reply to", kind="not_found")
    src = cfg.sources.get(mention.source)
    if src is None:
        raise PostingError(f"the source {mention.source!r} that collected this post is no longer configured",
                           kind="unsupported")
    kind = src.kind or mention.source
    if kind != KIND_FOR[platform]:
        raise PostingError(f"source {mention.source!r} ({kind}) did not read this post from the {name} API, "
                           f"so it cannot reply to it; reply on {name}", kind="unsupported")
    try:
        collector = collector_class(kind).from_config(mention.source, src.model_dump(), cfg.brand(src.brand))
    except ConfigError as exc:
        raise PostingError(f"source {mention.source!r} is misconfigured: {exc}", kind="unsupported") from None
    o: Any = collector.options
    where = f"sources.{mention.source}"
    if platform == "x":
        missing = [k for k in X_CREDENTIALS if not getattr(o, k, None)]
        if missing:
            raise PostingError(f"the X source has no user-context credentials (OAuth 1.0a access token) to post "
                               f"with: set {', '.join(f'{where}.{k}' for k in missing)}", kind="unsupported")
        if not _x_target(mention).isdigit():
            raise PostingError(f"{mention.native_id!r} is not an X post id", kind="unsupported")
    elif platform == "reddit":
        if not (o.username and o.password):
            raise PostingError(f"the Reddit source reads without logging in; to post, set {where}.username and "
                               f"{where}.password of the brand's account (a script app)", kind="unsupported")
        if not _REDDIT_ID.match(mention.native_id):
            raise PostingError(f"{mention.native_id!r} is not a Reddit post (t3_) or comment (t1_)", kind="unsupported")
    elif platform == "google_play":
        if not o.service_account_file:
            raise PostingError(f"the Google Play source reads the public store; to post, set "
                               f"{where}.service_account_file (a service account with 'Reply to reviews' "
                               "permission in Play Console)", kind="unsupported")
    return collector


def _x_target(mention: Mention) -> str:
    """The id to reply to: the post's latest version (an edit has a new id; native_id is its first)."""
    item = (mention.raw or {}).get("item") if isinstance(mention.raw, dict) else None
    latest = item.get("id") if isinstance(item, dict) else None
    return str(latest or mention.native_id)


def _wait_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return "try again later"
    at = datetime.fromtimestamp(time.time() + seconds, timezone.utc)
    return f"try again after {at:%H:%M} UTC (in {max(1, round(seconds / 60))} min)"


MAYBE_POSTED = "the reply may or may not have been published: check the post before trying again"


# -- X --------------------------------------------------------------------------------------

def _post_x(collector: Collector, mention: Mention, text: str) -> PostedReply:
    import requests
    import tweepy

    from collectors.x import _TimeoutSession

    o: Any = collector.options
    client = tweepy.Client(consumer_key=o.consumer_key, consumer_secret=o.consumer_secret,
                           access_token=o.access_token, access_token_secret=o.access_token_secret,
                           return_type=dict, wait_on_rate_limit=False)
    client.session = _TimeoutSession(o.timeout)
    target = _x_target(mention)
    try:
        body = client.create_tweet(text=text, in_reply_to_tweet_id=target, user_auth=True)
    except tweepy.TooManyRequests as exc:
        wait = _x_retry_after(exc.response)
        raise PostingError(f"X: rate limited (HTTP 429); {_wait_text(wait)}", kind="rate_limited",
                           retry_after=wait) from exc
    except tweepy.Unauthorized as exc:
        raise PostingError("X refused the credentials (HTTP 401): check consumer_key, consumer_secret, "
                           "access_token and access_token_secret", kind="auth") from exc
    except tweepy.Forbidden as exc:
        detail = _x_detail(exc)
        if "deleted or not visible" in detail.lower():
            raise PostingError(f"X: the post was deleted or is not visible to the brand's account ({detail})",
                               kind="not_found") from exc
        if "permission" in detail.lower() or "authentication" in detail.lower():
            raise PostingError(f"X refused to post ({detail}); give the app 'Read and write' permission and "
                               "regenerate the access token", kind="auth") from exc
        raise PostingError(f"X refused the reply: {detail}", kind="rejected") from exc
    except tweepy.NotFound as exc:
        raise PostingError(f"X: the post was not found ({_x_detail(exc)})", kind="not_found") from exc
    except tweepy.TwitterServerError as exc:
        raise PostingError(f"X server error ({_x_detail(exc)}); {MAYBE_POSTED}", kind="transient") from exc
    except tweepy.HTTPException as exc:
        if exc.response is not None and exc.response.status_code == 402:
            raise PostingError("X: the API credits are used up (HTTP 402); add credits in the X Developer Console",
                               kind="rejected") from exc
        raise PostingError(f"X refused the reply: {_x_detail(exc)}", kind="rejected") from exc
    except requests.RequestException as exc:
        raise PostingError(f"X: {type(exc).__name__}; {MAYBE_POSTED}", kind="transient") from exc
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not data.get("id"):
        raise PostingError(f"X answered without the new post's id; {MAYBE_POSTED}", kind="transient")
    rid = str(data["id"])
    return PostedReply("x", rid, f"https://x.com/i/web/status/{rid}")


def _x_detail(exc: Any) -> str:
    messages = [m for m in getattr(exc, "api_messages", []) if m]
    return "; ".join(messages)[:300] or str(exc).replace("\n", "; ")[:300]


def _x_retry_after(response: Any) -> Optional[float]:
    """Seconds until the limit that was hit resets: the account's 24-hour posting limit when
    that is the one spent, else the 15-minute window."""
    h = response.headers if response is not None else {}
    reset = h.get("x-rate-limit-reset")
    for scope in ("user", "app"):
        if h.get(f"x-{scope}-limit-24hour-remaining") == "0":
            reset = h.get(f"x-{scope}-limit-24hour-reset") or reset
            break
    if not (reset or "").isdigit():
        return None
    return max(1.0, float(reset) - time.time())


# -- Reddit ---------------------------------------------------------------------------------

def _post_reddit(collector: Collector, mention: Mention, text: str) -> PostedReply:
    import praw
    import prawcore
    from prawcore.sessions import RetryStrategy

    class _Once(RetryStrategy):
        """prawcore retries a POST after a timeout or 5xx, which could publish the reply twice."""

        def _sleep_seconds(self) -> None:
            return None

        def consume_available_retry(self) -> "_Once":
            return self

        def should_retry_on_failure(self) -> bool:
            return False

    reddit = collector._client()  # type: ignore[attr-defined]
    reddit.config.ratelimit_seconds = 0  # a RATELIMIT answer is reported, not slept through
    kind, _, short = mention.native_id.partition("_")
    thing = reddit.comment(short) if kind == "t1" else reddit.submission(short)
    E = prawcore.exceptions
    try:
        core = reddit._core
        if hasattr(core, "_retry_strategy_class"):
            core._retry_strategy_class = _Once
        comment = thing.reply(text)
    except praw.exceptions.RedditAPIException as exc:
        raise _reddit_api_error(exc) from exc
    except E.TooManyRequests as exc:
        wait = _reddit_wait(exc.response)
        raise PostingError(f"Reddit: rate limited (HTTP 429); {_wait_text(wait)}", kind="rate_limited",
                           retry_after=wait) from exc
    except (E.OAuthException, E.InvalidToken, E.InsufficientScope) as exc:
        raise PostingError(f"Reddit refused the login ({exc}); check client_id, client_secret, username and "
                           "password", kind="auth") from exc
    except E.Forbidden as exc:
        raise PostingError("Reddit refused the reply (HTTP 403): the account may be banned from the subreddit, "
                           "or the thread is locked", kind="rejected") from exc
    except E.NotFound as exc:
        raise PostingError("Reddit: the post or comment was not found", kind="not_found") from exc
    except (E.ServerError, E.BadJSON, E.RequestException) as exc:
        raise PostingError(f"Reddit: {exc}; {MAYBE_POSTED}", kind="transient") from exc
    except E.ResponseException as exc:
        status = exc.response.status_code
        if status in (401, 403):  # the token endpoint answers 401 to a wrong client id/secret
            raise PostingError(f"Reddit answered {status}; check client_id and client_secret", kind="auth") from exc
        raise PostingError(f"Reddit answered {status}", kind="transient" if status >= 500 else "rejected") from exc
    except (E.PrawcoreException, praw.exceptions.PRAWException) as exc:
        raise PostingError(f"Reddit: {exc}", kind="rejected") from exc
    except ValueError as exc:  # a response that was not JSON
        raise PostingError(f"Reddit sent a malformed answer; {MAYBE_POSTED}", kind="transient") from exc
    if comment is None:  # quarantined subreddits: created, but Reddit does not return it
        raise PostingError("Reddit accepted the reply but did not return it (quarantined subreddit?); "
                           "check the thread before trying again", kind="transient")
    d = vars(comment)
    permalink = d.get("permalink")
    if not permalink:
        link = str(d.get("link_id") or "").removeprefix("t3_")
        permalink = f"/comments/{link}/_/{comment.id}/" if link else None
    return PostedReply("reddit", f"t1_{comment.id}", f"https://www.reddit.com{permalink}" if permalink else None)


_REDDIT_WAIT = re.compile(r"(\d+) (millisecond|second|minute)")
_REDDIT_GONE = {"DELETED_COMMENT", "DELETED_LINK", "NO_LINK", "NO_THING_ID"}


def _reddit_api_error(exc: Any) -> PostingError:
    item = exc.items[0]
    said = f"{item.error_type}: {item.message}"
    if item.error_type == "RATELIMIT":
        m = _REDDIT_WAIT.search(item.message or "")
        wait = None
        if m:
            wait = float(m.group(1)) * {"millisecond": 0.001, "second": 1, "minute": 60}[m.group(2)]
        return PostingError(f"Reddit: posting too often ({item.message}); {_wait_text(wait)}",
                            kind="rate_limited", retry_after=wait)
    if item.error_type in _REDDIT_GONE:
        return PostingError(f"Reddit: the post or comment was deleted ({said})", kind="not_found")
    if item.error_type == "TOO_LONG":
        return PostingError(f"Reddit: the reply is too long ({said})", kind="too_long")
    return PostingError(f"Reddit refused the reply ({said})", kind="rejected")  # TOO_OLD, THREAD_LOCKED, ...


def _reddit_wait(response: Any) -> Optional[float]:
    h = response.headers if response is not None else {}
    for key in ("retry-after", "x-ratelimit-reset"):  # both seconds from now
        try:
            return float(h[key])
        except (KeyError, TypeError, ValueError):
            continue
    return None


# -- Google Play ----------------------------------------------------------------------------

def _post_play(collector: Collector, mention: Mention, text: str) -> PostedReply:
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    from collectors.google_play import developer_service

    o: Any = collector.options
    try:
        service = developer_service(o.service_account_file, o.timeout, collector.api_endpoint)  # type: ignore[attr-defined]
    except AuthError as exc:  # an unreadable key file
        raise PostingError(str(exc), kind="auth") from exc
    request = service.reviews().reply(packageName=o.app_id, reviewId=mention.native_id, body={"replyText": text})
    try:
        body = request.execute(num_retries=0)
    except HttpError as exc:
        code = int(exc.resp.status)
        if code == 429:
            wait = exc.resp.get("retry-after")
            wait = float(wait) if wait and str(wait).isdigit() else None
            raise PostingError(f"Google Play: quota exceeded (HTTP 429); {_wait_text(wait)}", kind="rate_limited",
                               retry_after=wait) from exc
        if code in (401, 403):
            raise PostingError(f"Google Play refused access (HTTP {code}); is the service account invited in "
                               "Play Console with 'Reply to reviews' permission for this app?", kind="auth") from exc
        if code == 404:
            raise PostingError(f"Google Play: review {mention.native_id} of {o.app_id} was not found "
                               "(deleted, or not this app's)", kind="not_found") from exc
        if code >= 500:
            raise PostingError(f"Google Play server error (HTTP {code}); {MAYBE_POSTED}", kind="transient") from exc
        raise PostingError(f"Google Play refused the reply (HTTP {code}): {exc.reason}", kind="rejected") from exc
    except RefreshError as exc:
        raise PostingError(f"Google Play: the service account key was refused "
                           f"({exc.args[0] if exc.args else ''})", kind="auth") from exc
    except (TransportError, OSError) as exc:  # timeouts and refused connections under httplib2
        raise PostingError(f"Google Play: {type(exc).__name__}; {MAYBE_POSTED}", kind="transient") from exc
    except ValueError as exc:
        raise PostingError(f"Google Play sent a malformed answer; {MAYBE_POSTED}", kind="transient") from exc
    if not isinstance(body, dict) or "result" not in body:
        raise PostingError(f"Google Play answered without the reply; {MAYBE_POSTED}", kind="transient")
    return PostedReply("google_play", mention.native_id, mention.url)
