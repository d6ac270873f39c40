"""Google Play reviews of one app: the Play Store web app's review RPC (no credentials), or the
Play Developer API's reviews.list when a service account is configured.

The web RPC's request body, URL and field positions come from google-play-scraper, so a change
on Google's side is fixed by upgrading that library. Its HTTP layer is not used: `reviews()`
swallows every exception (a block, a 404 or a 5xx all look like "no reviews", so the source
would never show as failing), and its `post()` has no timeout, retries blindly and sleeps up
to 15 s on its own. Requests go through httpx instead, to the URL the library formats.

Reviews come newest first, one walk per language. Like collectors.app_store, the cursor keeps a
high-water mark per language (newest review time and the ids at that time) that moves only on
a walk's last page. Google's paging is known to loop back to the start after a few thousand
reviews, so a walk also stops at a review id it already saw in this run.
"""

from __future__ import annotations

import json
import logging
import ssl
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

import httpx
from google_play_scraper import Sort
from google_play_scraper.constants.element import ElementSpecs
from google_play_scraper.constants.regex import Regex
from google_play_scraper.constants.request import Formats
from pydantic import Field, field_validator

from collectors.app_store import Mark, check_status, send
from collectors.base import MALFORMED, Batch, Collector, Options, item_ref, lang_code, page_token, raised_in
from repmon.errors import AuthError, CollectorError, RateLimited, TransientError

# Importing google_play_scraper switches off TLS certificate checks for every urllib request in
# the process (its utils/request.py swaps ssl's default context; slack_sdk sends through urllib):
# put the check back.
if ssl._create_default_https_context is ssl._create_unverified_context:
    ssl._create_default_https_context = ssl.create_default_context

log = logging.getLogger(__name__)

USER_AGENT = "Mozilla/5.0 (compatible; repmon/0.1)"  # the Play web endpoint expects a browser-like agent
# Languages the Play Store shows reviews in; a brand language outside it falls back to "en".
PLAY_LANGUAGES = frozenset(
    "af am ar az be bg bn ca cs da de el en es et eu fa fi fil fr gl gu hi hr hu hy id is it iw he ja ka "
    "kk km kn ko ky lo lt lv mk ml mn mr ms my ne nl no pa pl pt ro ru si sk sl sq sr sv sw ta te th tr "
    "uk ur uz vi zh zu".split()
)
# gRPC status codes batchexecute puts in an answer that carries no data.
_GRPC_NOT_FOUND, _GRPC_EXHAUSTED = 5, 8
_GRPC_TRANSIENT = {1, 4, 10, 13, 14}


class GooglePlayOptions(Options):
    app_id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$",
                        description="the package name, as in play.google.com/store/apps/details?id=<app_id>")
    languages: list[str] = Field(default_factory=list,
                                 description="review languages to read; default: the brand's languages the Play Store has, else ['en']")
    country: str = Field("us", pattern=r"^[a-zA-Z]{2}$", description="storefront country (gl)")
    count: int = Field(200, ge=1, le=200, description="reviews per request (Google serves at most 200)")
    max_pages: int = Field(10, ge=1, le=1000, description="requests per language per run")
    backfill_days: float = Field(30, ge=0, description="how far back the first run reads; 0 = as far as max_pages goes")
    timeout: float = Field(30, gt=0, description="seconds per request")
    service_account_file: Optional[str] = Field(
        None, description="Play Developer API service-account JSON; set, reviews come from reviews.list instead")

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, v: list[str]) -> list[str]:
        out = [x.strip().lower() for x in v]
        bad = [x for x in out if not (2 <= len(x) <= 3 and x.isalpha())]
        if bad:
            raise ValueError(f"expected ISO 639-1 codes such as 'en' or 'fa', got {bad}")
        return list(dict.fromkeys(out))


class GooglePlayCollector(Collector):
    kind = "google_play"
    options_model = GooglePlayOptions
    prefiltered = True  # every review is about the app

    @property
    def opts(self) -> GooglePlayOptions:
        return self.options  # type: ignore[return-value]

    def languages(self) -> list[str]:
        if self.opts.languages:
            return self.opts.languages
        brand = [x.lower() for x in getattr(self.brand, "languages", None) or []]
        return [x for x in dict.fromkeys(brand) if x in PLAY_LANGUAGES] or ["en"]

    def fetch(self, cursor: Optional[str]) -> Iterator[Batch]:
        state: dict = json.loads(cursor) if cursor else {}
        if self.opts.service_account_file:
            yield from self._developer_api(state)
            return
        with httpx.Client(timeout=self.opts.timeout, headers={"User-Agent": USER_AGENT}) as client:
            for lang in self.languages():
                yield from self._walk(client, lang, state)

    def _walk(self, client: httpx.Client, lang: str, state: dict) -> Iterator[Batch]:
        marks = state.setdefault("langs", {})
        mark = Mark.load(marks.get(lang))
        floor = None
        if mark.at is None and self.opts.backfill_days:
            floor = datetime.now(timezone.utc) - timedelta(days=self.opts.backfill_days)
        seen: list[tuple[datetime, str]] = []
        ids: set[str] = set()
        token: Optional[str] = None
        for page in range(1, self.opts.max_pages + 1):
            items, token = self._page(client, lang, token)
            retrieved = datetime.now(timezone.utc).isoformat()
            mentions, reached = [], False
            for number, review in enumerate(items, 1):
                try:
                    m = to_mention(review, self.opts.app_id, lang, self.opts.country, retrieved)
                except MALFORMED as exc:
                    log.warning("source=%s lang=%s: skipped review %d of page %d: malformed (%s: %s)", self.name,
                                lang, number, page, type(exc).__name__, str(exc)[:200])
                    continue
                if m is None:
                    continue
                nid, at = m["native_id"], m["created_at"]
                if nid in ids:  # paging looped back to reviews this walk already read
                    log.info("source=%s lang=%s: paging looped back at page %d; stopping", self.name, lang, page)
                    reached = True
                    break
                if mark.covers(at, nid) or (floor is not None and at < floor):
                    reached = True
                    break
                ids.add(nid)
                seen.append((at, nid))
                mentions.append(m)
            last = reached or not token or page == self.opts.max_pages
            if last:
                if not reached and token and mark.at is not None:
                    log.warning("source=%s lang=%s: more than %d pages of new reviews; older ones are skipped",
                                self.name, lang, self.opts.max_pages)
                marks[lang] = mark.advanced(seen).dump()
            if mentions or last:
                yield Batch(mentions, json.dumps(state), {"lang": lang, "page": page})
            if last:
                return

    def _page(self, client: httpx.Client, lang: str, token: Optional[str]) -> tuple[list, Optional[str]]:
        """One batchexecute call: (review arrays, next-page token or None)."""
        app_id, country = self.opts.app_id, self.opts.country.lower()
        what = f"google_play reviews {app_id} ({lang}-{country})"
        url = Formats.Reviews.build(lang=lang, country=country)
        body = Formats.Reviews.build_body(app_id, Sort.NEWEST.value, self.opts.count, "null", "null", token)
        resp = send(client, "POST", url, what, content=body,
                    headers={"content-type": "application/x-www-form-urlencoded"})
        check_status(resp, what, f"app_id {app_id} not found on Google Play")
        return parse_page(resp.text, what, app_id, country)

    # -- Play Developer API (the app's own service account) --

    def _developer_api(self, state: dict) -> Iterator[Batch]:
        """reviews.list: the last week's reviews with text, most recently changed first."""
        service = developer_service(self.opts.service_account_file or "", self.opts.timeout, self.api_endpoint)
        mark = Mark.load(state.get("api"))
        seen: list[tuple[datetime, str]] = []
        ids: set[str] = set()
        token: Optional[str] = None
        what = f"google_play reviews.list {self.opts.app_id}"
        for page in range(1, self.opts.max_pages + 1):
            kw = {"packageName": self.opts.app_id, "maxResults": 100, **({"token": token} if token else {})}
            body = _execute(service.reviews().list(**kw), what, self.opts.app_id)
            retrieved = datetime.now(timezone.utc).isoformat()
            mentions, reached = [], False
            reviews = body.get("reviews") or []
            if not isinstance(reviews, list):
                raise TransientError(f"{what}: unexpected response shape ('reviews' is not a list)")
            for item in reviews:
                try:
                    m = api_mention(item, self.opts.app_id, retrieved)
                except MALFORMED as exc:
                    log.warning("source=%s: skipped %s: malformed (%s: %s)", self.name, item_ref(item, "reviewId"),
                                type(exc).__name__, str(exc)[:200])
                    continue
                if m is None:
                    continue
                if mark.covers(m["created_at"], m["native_id"]) or m["native_id"] in ids:
                    reached = True
                    break
                ids.add(m["native_id"])
                seen.append((m["created_at"], m["native_id"]))
                mentions.append(m)
            paging = body.get("tokenPagination")
            token = page_token(paging.get("nextPageToken") if isinstance(paging, dict) else None)
            last = reached or not token or page == self.opts.max_pages
            if last:
                state["api"] = mark.advanced(seen).dump()
            if mentions or last:
                yield Batch(mentions, json.dumps(state), {"page": page})
            if last:
                return

    api_endpoint: Optional[str] = None  # tests point the API client at a local server


def developer_service(path: str, timeout: float, endpoint: Optional[str]) -> Any:
    import google_auth_httplib2
    import httplib2
    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    try:
        creds = service_account.Credentials.from_service_account_file(
            path, scopes=["https://www.googleapis.com/auth/androidpublisher"])
    except (OSError, ValueError, KeyError) as exc:
        raise AuthError(f"google_play service_account_file {path}: not a readable service-account JSON key "
                        f"({type(exc).__name__})") from None
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=timeout))
    options = {"api_endpoint": endpoint} if endpoint else None
    return build("androidpublisher", "v3", http=http, cache_discovery=False, static_discovery=True,
                 client_options=options)


def _execute(request: Any, what: str, app_id: str) -> dict:
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    try:
        body = request.execute(num_retries=0)
    except HttpError as exc:
        code = int(exc.resp.status)
        if code == 429:
            reset = datetime.now(timezone.utc) + timedelta(seconds=int(exc.resp.get("retry-after", "0") or 0) or 3600)
            raise RateLimited(f"{what}: quota exceeded (HTTP 429)", reset_at=reset) from exc
        if code in (401, 403):
            raise AuthError(f"{what}: access refused (HTTP {code}); is the service account invited in "
                            "Play Console with 'Reply to reviews' permission?") from exc
        if code == 404:
            raise CollectorError(f"app_id {app_id} not found in the Play Developer API") from exc
        if code >= 500:
            raise TransientError(f"{what}: server error (HTTP {code})") from exc
        raise CollectorError(f"{what}: HTTP {code}: {exc.reason}") from exc
    except RefreshError as exc:
        raise AuthError(f"{what}: the service account key was refused ({exc.args[0] if exc.args else ''})") from exc
    except (TransportError, OSError) as exc:  # timeouts and refused connections are OSErrors under httplib2
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:
        raise TransientError(f"{what}: malformed answer") from exc
    except MALFORMED as exc:  # the client reads an error answer that is JSON but not Google's error shape
        if not raised_in(exc, "googleapiclient"):
            raise
        raise TransientError(f"{what}: malformed answer") from exc
    if not isinstance(body, dict):
        raise TransientError(f"{what}: unexpected response shape (not an object)")
    return body


def api_mention(item: dict, app_id: str, retrieved_at: str) -> Optional[dict]:
    comments = item.get("comments") or []
    user = next((c["userComment"] for c in comments if "userComment" in c), None)
    reply = next((c["developerComment"] for c in comments if "developerComment" in c), None)
    if not item.get("reviewId") or user is None:
        return None
    # The API gives only the last change's time; a review edited today is today's review.
    at = datetime.fromtimestamp(int((user.get("lastModified") or {}).get("seconds", 0)), timezone.utc)
    lang = lang_code(user.get("reviewerLanguage"))
    raw: dict[str, Any] = {"item": item, "collector": "google_play", "query": app_id, "retrieved_at": retrieved_at,
                           "api": "androidpublisher/v3/reviews.list"}
    if reply is not None:
        raw["replied"] = True
    rating = user.get("starRating")
    return {
        "platform": "google_play",
        "native_id": str(item["reviewId"]),
        "url": f"https://play.google.com/store/apps/details?id={app_id}&reviewId={item['reviewId']}",
        "author": item.get("authorName") or "",
        "author_reach": 0,
        "text": (user.get("text") or "").strip(),  # the API prefixes the text with a tab
        "lang": lang,
        "created_at": at,
        "thread_id": str(item["reviewId"]),
        "parent_id": None,
        "kind": "review",
        "rating": int(rating) if rating else None,
        "raw": raw,
    }


def parse_page(text: str, what: str, app_id: str, country: str) -> tuple[list, Optional[str]]:
    if "com.google.play.gateway.proto.PlayGatewayError" in text:
        # Google's throttle answer (HTTP 200); google-play-scraper backs off 5-15 s on it.
        reset = datetime.now(timezone.utc) + timedelta(minutes=5)
        raise RateLimited(f"{what}: Google Play is throttling requests (PlayGatewayError)", reset_at=reset)
    found = Regex.REVIEWS.findall(text)
    try:
        envelope = json.loads(found[0])
        answer = next(e for e in envelope if isinstance(e, list) and e[:1] == ["wrb.fr"] and len(e) > 2)
    except (IndexError, TypeError, ValueError, StopIteration) as exc:
        raise TransientError(f"{what}: malformed answer (not a batchexecute envelope)") from exc
    if answer[2] is None:
        status = answer[5] if len(answer) > 5 and isinstance(answer[5], list) and answer[5] else [None]
        code = status[0]
        if code == _GRPC_NOT_FOUND:
            raise CollectorError(f"app_id {app_id} not found on Google Play")
        if code == _GRPC_EXHAUSTED:
            raise RateLimited(f"{what}: quota exhausted", reset_at=datetime.now(timezone.utc) + timedelta(minutes=5))
        if code in _GRPC_TRANSIENT:
            raise TransientError(f"{what}: Google Play answered status {code}")
        raise CollectorError(f"{what}: Google Play answered no data (status {code}); "
                             f"is the app available in country '{country}'?")
    try:
        data = json.loads(answer[2])
    except (TypeError, ValueError) as exc:
        raise TransientError(f"{what}: malformed review payload") from exc
    if not data or not isinstance(data, list) or not data[0]:
        return [], None
    if not isinstance(data[0], list):
        raise TransientError(f"{what}: malformed review payload (no list of reviews)")
    # Same place the library reads it from: the next-page token is the last item of data[-2].
    try:
        token = data[-2][-1]
    except (IndexError, KeyError, TypeError):
        token = None
    return list(data[0]), page_token(token)


def _epoch(value: Any) -> Optional[datetime]:
    # The library's `at` is datetime.fromtimestamp(): naive *local* time. Read the epoch seconds instead.
    return datetime.fromtimestamp(int(value), timezone.utc) if isinstance(value, (int, float)) else None


def to_mention(review: list, app_id: str, lang: str, country: str, retrieved_at: str) -> Optional[dict]:
    """One review array as a mention dict; None for an entry without id or time."""
    item = {k: spec.extract_content(review) for k, spec in ElementSpecs.Review.items()}
    at = _epoch(_get(review, ElementSpecs.Review["at"].data_map))
    if not item.get("reviewId") or at is None:
        return None
    replied_at = _epoch(_get(review, ElementSpecs.Review["repliedAt"].data_map))
    item.update(at=at.isoformat(), repliedAt=replied_at.isoformat() if replied_at else None)
    raw: dict[str, Any] = {"item": item, "collector": "google_play", "query": app_id, "lang_requested": lang,
                           "country": country, "retrieved_at": retrieved_at,
                           "api": "play.google.com/_/PlayStoreUi/data/batchexecute#oCPfdb"}
    if item.get("replyContent"):
        raw["replied"] = True
    score = item.get("score")
    return {
        "platform": "google_play",
        "native_id": str(item["reviewId"]),
        "url": f"https://play.google.com/store/apps/details?id={app_id}&reviewId={item['reviewId']}",
        "author": item.get("userName") or "",
        "author_reach": 0,
        "text": item.get("content") or "",
        "lang": None,  # the requested language is a filter hint, not the review's stated language
        "created_at": at,
        "thread_id": str(item["reviewId"]),
        "parent_id": None,
        "kind": "review",
        "rating": int(score) if isinstance(score, int) and 1 <= score <= 5 else None,
        "raw": raw,
    }


def _get(source: Any, path: list[int]) -> Any:
    try:
        for i in path:
            source = source[i]
        return source
    except (IndexError, KeyError, TypeError):
        return None
