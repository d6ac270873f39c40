"""The YouTube collector through the real google-api-python-client, with the library's own
transport seam (googleapiclient.http.HttpMockSequence in place of httplib2.Http) answering
with Data API v3 shapes (commentThreadListResponse, Google error bodies)."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from googleapiclient.http import HttpMockSequence

from collectors.base import Batch
from collectors.youtube import YouTubeCollector, next_quota_reset, quota_day
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import AuthError, ConfigError, RateLimited, TransientError

BRAND = BrandConfig(name="Acme", keywords=["acme"], handles=["@AcmeOfficial"])
CHANNEL = "UCacmeOfficial0000000000"
VIDEO = "dQw4w9WgXcQ"


def ts(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def comment(cid: str, text: str, at: datetime, author: str = "@viewer1", parent: str | None = None,
            video: str = VIDEO) -> dict:
    snippet = {
        "channelId": CHANNEL, "videoId": video, "textDisplay": text, "textOriginal": text,
        "authorDisplayName": author,
        "authorProfileImageUrl": "https://yt3.ggpht.com/ytc/AIdro_abc=s48-c-k-c0x00ffffff-no-rj",
        "authorChannelUrl": f"http://www.youtube.com/{author}", "authorChannelId": {"value": f"UC{cid[:22]:0<22}"},
        "canRate": True, "viewerRating": "none", "likeCount": 3, "publishedAt": ts(at), "updatedAt": ts(at),
    }
    if parent:
        snippet["parentId"] = parent
    return {"kind": "youtube#comment", "etag": f"etag-{cid}", "id": cid, "snippet": snippet}


def thread(tid: str, text: str, at: datetime, replies: list[dict] | None = None, video: str = VIDEO) -> dict:
    out = {
        "kind": "youtube#commentThread", "etag": f"etag-t-{tid}", "id": tid,
        "snippet": {"channelId": CHANNEL, "videoId": video, "topLevelComment": comment(tid, text, at, video=video),
                    "canReply": True, "totalReplyCount": len(replies or []), "isPublic": True},
    }
    if replies:
        out["replies"] = {"comments": replies}
    return out


def listing(items: list[dict], token: str | None = None) -> tuple[dict, str]:
    body: dict = {"kind": "youtube#commentThreadListResponse", "etag": "etag-list",
                  "pageInfo": {"totalResults": len(items), "resultsPerPage": 100}, "items": items}
    if token:
        body["nextPageToken"] = token
    return {"status": "200", "content-type": "application/json; charset=UTF-8"}, json.dumps(body)


def error(status: int, reason: str, message: str = "error", details: list | None = None) -> tuple[dict, str]:
    err: dict = {"code": status, "message": message,
                 "errors": [{"message": message, "domain": "youtube.quota" if reason == "quotaExceeded" else "global",
                             "reason": reason}]}
    if details:
        err["details"] = details
    return {"status": str(status), "content-type": "application/json; charset=UTF-8"}, json.dumps({"error": err})


class Transport(HttpMockSequence):
    """HttpMockSequence that can also fail the way a socket does."""

    def request(self, uri, method="GET", body=None, headers=None, redirections=1, connection_type=None):
        if self._iterable and self._iterable[0] == "timeout":
            self._iterable.pop(0)
            self.request_sequence.append((uri, method, body, headers))
            raise socket.timeout("timed out")
        return super().request(uri, method, body, headers, redirections, connection_type)


@pytest.fixture
def http(monkeypatch):
    transport = Transport([])
    monkeypatch.setattr(YouTubeCollector, "_http", lambda self: transport)
    return transport


def params(transport: Transport, i: int) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(transport.request_sequence[i][0]).query).items()}


def collector(**opts) -> YouTubeCollector:
    raw = {"api_key": "AIzaSy-test-key", "channel_ids": [CHANNEL], **opts}
    return YouTubeCollector.from_config("yt", raw, BRAND)  # type: ignore[return-value]


def run(c: YouTubeCollector, cursor: str | None = None) -> list[Batch]:
    return list(c.fetch(cursor))


NOW = datetime.now(timezone.utc).replace(microsecond=0)


def test_static_discovery_works_offline(monkeypatch, http):
    def no_network(*a, **kw):
        raise AssertionError("the discovery document must come from the package, not the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    http._iterable.append(listing([]))
    run(collector())
    assert len(http.request_sequence) == 1  # the list call only: no discovery request


def test_normal_page_maps_threads_and_replies(http):
    t = thread("UgzTop1", "Acme ate my order 😡", NOW - timedelta(hours=1), replies=[
        comment("UgzTop1.9xReply1", "same here", NOW - timedelta(minutes=30), author="@viewer2", parent="UgzTop1"),
        comment("UgzTop1.9xReply2", "DM us please", NOW - timedelta(minutes=20), author="@AcmeOfficial", parent="UgzTop1")])
    http._iterable.append(listing([t]))
    [batch] = run(collector())
    p = params(http, 0)
    assert p == {"part": "snippet,replies", "allThreadsRelatedToChannelId": CHANNEL, "order": "time",
                 "maxResults": "100", "textFormat": "plainText", "key": "AIzaSy-test-key", "alt": "json"}
    top, r1, r2 = batch.mentions
    assert top["platform"] == "youtube" and top["native_id"] == "UgzTop1" and top["kind"] == "comment"
    assert top["thread_id"] == "UgzTop1" and top["parent_id"] is None
    assert top["url"] == f"https://www.youtube.com/watch?v={VIDEO}&lc=UgzTop1"
    assert top["text"] == "Acme ate my order 😡" and top["author"] == "@viewer1" and top["author_reach"] == 0
    assert top["created_at"] == NOW - timedelta(hours=1) and top["lang"] is None
    assert "replies" not in top["raw"]["item"] and top["raw"]["query"] == f"channel:{CHANNEL}"
    assert r1["native_id"] == "UgzTop1.9xReply1" and r1["parent_id"] == "UgzTop1" and r1["thread_id"] == "UgzTop1"
    assert r2["author"] == "@AcmeOfficial" and r2["kind"] == "comment"
    assert batch.notes["budget_used"] == 1 and batch.notes["budget_limit"] == 10_000
    assert "AIzaSy" not in batch.cursor


def test_paging_then_resume_reads_only_newer_threads(http):
    page1 = [thread(f"Ugz{i}", f"comment {i}", NOW - timedelta(minutes=i)) for i in range(1, 4)]
    page2 = [thread(f"Ugz{i}", f"comment {i}", NOW - timedelta(minutes=i)) for i in range(4, 6)]
    http._iterable.extend([listing(page1, "QURTSl9pMVNC"), listing(page2)])
    batches = run(collector())
    assert [len(b.mentions) for b in batches] == [3, 2]
    assert params(http, 1)["pageToken"] == "QURTSl9pMVNC"
    first_state = json.loads(batches[0].cursor)["targets"][f"channel:{CHANNEL}"]
    assert first_state == {}  # a crash after page 1 re-reads the walk: page tokens do not keep
    state = json.loads(batches[-1].cursor)
    assert state["targets"][f"channel:{CHANNEL}"] == {"since": ts(NOW - timedelta(minutes=1)), "ids": ["Ugz1"]}
    assert state["quota"] == {"day": quota_day(datetime.now(timezone.utc)), "used": 2}

    newer = thread("UgzNew", "new one", NOW)
    http._iterable.append(listing([newer] + page1 + page2))  # order=time: the old ones follow
    again = run(collector(), batches[-1].cursor)
    assert [m["native_id"] for b in again for m in b.mentions] == ["UgzNew"]
    assert json.loads(again[-1].cursor)["quota"]["used"] == 3


def test_quota_budget_stops_and_reports(http):
    cursor = json.dumps({"quota": {"day": quota_day(datetime.now(timezone.utc)), "used": 9}, "targets": {}})
    http._iterable.extend([listing([thread("Ugz1", "x", NOW)], "tok")])
    batches = run(collector(daily_quota_units=10), cursor)
    assert len(http.request_sequence) == 1
    assert batches[-1].notes["budget_exhausted"] and batches[-1].notes["budget_used"] == 10
    # A new Pacific day starts the count again.
    stale = json.dumps({"quota": {"day": "2001-01-01", "used": 10}, "targets": {}})
    http._iterable.append(listing([]))
    assert run(collector(daily_quota_units=10), stale)[-1].notes["budget_used"] == 1


def test_quota_exceeded_is_rate_limited_until_pacific_midnight(http):
    http._iterable.append(error(403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."))
    with pytest.raises(RateLimited) as err:
        run(collector())
    reset = err.value.reset_at
    assert reset == next_quota_reset(datetime.now(timezone.utc))
    local = reset.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    assert (local.hour, local.minute) == (0, 0) and reset > datetime.now(timezone.utc)


@pytest.mark.parametrize("response, exc", [
    (error(400, "badRequest", "API key not valid. Please pass a valid API key.",
           [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]),
     AuthError),
    (error(400, "keyInvalid", "Bad Request"), AuthError),
    (error(403, "forbidden", "The request is not properly authorized."), AuthError),
    (error(401, "unauthorized", "Unauthorized"), AuthError),
    (error(500, "backendError", "Backend Error"), TransientError),
    (error(503, "backendError", "The service is currently unavailable."), TransientError),
    (({"status": "200"}, "<html>not json</html>"), TransientError),
    (({"status": "200"}, json.dumps({"kind": "youtube#commentThreadListResponse"})), TransientError),
    ("timeout", TransientError),
])
def test_failures_are_translated(http, response, exc):
    http._iterable.append(response)
    with pytest.raises(exc) as err:
        run(collector())
    assert "AIzaSy" not in str(err.value)


def test_comments_disabled_skips_only_that_target(http):
    http._iterable.extend([error(403, "commentsDisabled", "The video identified by the videoId parameter has disabled comments."),
                           listing([thread("UgzV", "Acme review", NOW, video="otherVideo1")])])
    batches = run(collector(video_ids=["noComments1", "otherVideo1"], channel_ids=[]))
    assert [m["native_id"] for b in batches for m in b.mentions] == ["UgzV"]
    state = json.loads(batches[-1].cursor)
    assert state["targets"]["video:noComments1"] == {} and state["quota"]["used"] == 2
    assert params(http, 0)["videoId"] == "noComments1"


def test_match_brand_keeps_threads_that_name_it(http):
    http._iterable.append(listing([
        thread("UgzA", "great video", NOW),
        thread("UgzB", "nice", NOW - timedelta(minutes=1),
               replies=[comment("UgzB.r", "but Acme support ignores me", NOW, parent="UgzB")])]))
    [batch] = run(collector(match_brand=True, video_ids=[VIDEO], channel_ids=[]))
    assert [m["native_id"] for m in batch.mentions] == ["UgzB", "UgzB.r"]


def test_emoji_and_rtl_text_survive(http):
    text = "پشتیبانی Acme جواب نمی‌دهد 😡\nالخدمة سيئة جدا 👎🏽"
    http._iterable.append(listing([thread("UgzRtl", text, NOW)]))
    [batch] = run(collector())
    assert batch.mentions[0]["text"] == text


def test_empty_listing(http):
    http._iterable.append(listing([]))
    [batch] = run(collector())
    assert batch.mentions == [] and batch.notes["budget_used"] == 1


def test_options_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"sources\.yt\.api_key"):
        YouTubeCollector.from_config("yt", {"channel_ids": [CHANNEL]}, BRAND)
    with pytest.raises(ConfigError, match=r"channel_ids or video_ids"):
        YouTubeCollector.from_config("yt", {"api_key": "k"}, BRAND)
    with pytest.raises(ConfigError, match=r"sources\.yt\.daily_quota_units"):
        YouTubeCollector.from_config("yt", {"api_key": "k", "video_ids": ["v"], "daily_quota_units": 0}, BRAND)


def test_runner_stores_pages_once_and_counts_budget(http, tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    cfg = config.parse({"database": {"url": url}, "brands": [{"name": "Acme", "handles": ["@AcmeOfficial"]}],
                        "sources": {"mysrc": {"kind": "youtube", "api_key": "k", "channel_ids": [CHANNEL]}}}, "test")
    store.migrate(cfg.database.url)
    threads = [thread(f"Ugz{i}", f"my order {i} never came", NOW - timedelta(minutes=i)) for i in range(1, 6)]
    http._iterable.extend([listing(threads[:3], "tok"), error(503, "backendError")])
    r = pipeline.collect(cfg, only="mysrc", retries=0)[0]
    assert r.inserted == 3 and r.error  # page 1 is kept; its cursor still holds the old `since`

    http._iterable.extend([listing(threads[:3], "tok"), listing(threads[3:])])
    r = pipeline.collect(cfg, only="mysrc")[0]
    assert (r.inserted, r.error, r.budget) == (2, None, (3, 10_000))
    http._iterable.append(listing(threads))
    r = pipeline.collect(cfg, only="mysrc")[0]
    assert (r.inserted, r.error) == (0, None)
