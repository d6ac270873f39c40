"""Faults: PostgreSQL going away under a running worker, an API misbehaving during a run, and a
Slack outage of an hour. After each: every mention stored once, every case once, every alert
sent once, nothing lost.

- PostgreSQL "restarts" for one worker only, through a TCP proxy (tests/pg_proxy.py): the shared
  test server keeps running for everyone else.
- The API is a local Mastodon instance over real HTTP, answering 5xx, timeouts, garbage and 429
  with a reset time on cue, to a real `repmon run` process.
- Slack (tests/slack_server.py) answers 500, then refuses connections, while an hour passes on
  the dispatcher's clock: due times are moved instead of sleeping.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from alerts import outbox
from repmon import config, store
from repmon.models import AlertOutbox, Mention, Source, utcnow
from tests.pg_proxy import PgProxy
from tests.slack_server import TOKEN, SlackLike
from tests.test_alerts_bot import make_cfg, seed
from tests.test_workers import (
    Worker, backlog, check_invariants, demo_progress, scalar, settle, wait_for, warm_demo_total, worker_toml,
)


@pytest.fixture
def slack():
    with SlackLike() as server:
        yield server


# --- PostgreSQL restarts mid-run -------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.slow
def test_worker_rides_out_postgres_restarts(pg_url, slack, tmp_path):
    """The worker's database goes away twice (mid-collect, mid-cases): every connection cut, new
    ones refused for a while. It logs the failures, reconnects when the server is back and carries
    on; the result is the same as without the outages."""
    store.migrate(pg_url)
    warm_demo_total()
    with PgProxy.to(pg_url) as proxy:
        worker = Worker(tmp_path, "pgr", worker_toml(proxy.url(pg_url), "pgr", slack)).start()
        try:
            outages = []
            for stage, busy in (
                    ("collect", lambda: 0 < demo_progress(pg_url)[0] < demo_progress(pg_url)[1]),
                    ("cases", lambda: backlog(pg_url)["cases"] and scalar(pg_url, 'SELECT count(*) FROM "case"'))):
                wait_for(busy, 90, f"the worker in the middle of {stage}", every=0.02, workers=(worker,))
                outages.append((stage, proxy.down()))
                time.sleep(2)  # "restarting": connections refused
                proxy.up()
            settle(pg_url, (worker,))
            assert worker.alive
        finally:
            code = worker.stop()
    assert code == 0
    assert all(cut > 0 for _, cut in outages), outages  # the worker had connections open to lose
    check_invariants(pg_url, config.load(str(worker.config)), slack)
    log = worker.log
    failures = [line for line in log.splitlines() if re.search(r"job=\w+ failed", line)]
    assert failures and all("OperationalError" in line for line in failures), log[-3000:]
    assert "Traceback" not in log  # one line per failed run
    # ...and after the last failure it went on doing its work
    after = log[log.rindex(failures[-1]):]
    assert "job=dispatch result=" in after and "job=cases result=" in after


# --- an API misbehaving during a run ------------------------------------------------------------

def status(n: int, at: datetime) -> dict:
    return {
        "id": str(1000 + n), "created_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "in_reply_to_id": None,
        "sensitive": False, "spoiler_text": "", "visibility": "public", "language": "en",
        "uri": f"https://masto.test/users/u{n}/statuses/{1000 + n}", "url": f"https://masto.test/@u{n}/{1000 + n}",
        "content": f"<p>Acme lost my parcel again, order {n}. #acme</p>", "reblog": None,
        "account": {"id": str(n), "username": f"u{n}", "acct": f"u{n}", "followers_count": n},
        "media_attachments": [], "mentions": [], "tags": [{"name": "acme"}], "emojis": [],
    }


class FakeMastodon:
    """One hashtag timeline (GET /api/v1/timelines/tag/acme, since_id/max_id/limit, newest first,
    a Link header to the next page). `script(*faults)` makes the next timeline requests fail:
    "500"/"503", "timeout" (answers after `slow` seconds), "garbage" (HTML with status 200),
    "shape" (JSON that is not a list), "429" (X-RateLimit-Reset `reset_in` seconds ahead); None
    answers normally."""

    def __init__(self, slow: float = 2.5, reset_in: float = 3.0):
        self.statuses: list[dict] = []
        self.requests: list[tuple[float, str, dict]] = []  # (time, what it answered, params)
        self.slow, self.reset_in = slow, reset_in
        self._faults: list[Optional[str]] = []
        self._lock = threading.Lock()
        self.closing = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner._handle(self)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeMastodon":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def add(self, n: int) -> None:
        with self._lock:
            start = len(self.statuses)
            now = datetime.now(timezone.utc)
            self.statuses += [status(start + i, now - timedelta(minutes=n - i)) for i in range(n)]

    def script(self, *faults: Optional[str]) -> None:
        with self._lock:
            self._faults.extend(faults)

    def answered(self, what: str) -> list[float]:
        with self._lock:
            return [t for t, w, _ in self.requests if w == what]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path != "/api/v1/timelines/tag/acme":
            return self._send(h, 404, {"error": "Record not found"})
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            self.requests.append((time.time(), fault or "ok", params))
            since, before = params.get("since_id"), params.get("max_id")
            page = [s for s in reversed(self.statuses)
                    if (not since or int(s["id"]) > int(since)) and (not before or int(s["id"]) < int(before))]
            page = page[:int(params.get("limit", 20))]
        if fault in ("500", "503"):
            return self._send(h, int(fault), {"error": "We're sorry, but something went wrong"})
        if fault == "timeout":
            self.closing.wait(self.slow)
        if fault == "garbage":
            return self._send(h, 200, "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>", "text/html")
        if fault == "shape":
            return self._send(h, 200, {"error": "This action is not allowed"})
        if fault == "429":
            reset = datetime.now(timezone.utc) + timedelta(seconds=self.reset_in)
            return self._send(h, 429, {"error": "Too many requests"},
                              headers={"X-RateLimit-Reset": reset.isoformat(), "X-RateLimit-Remaining": "0"})
        headers = {}
        if page:
            headers["Link"] = f'<{self.url}{parts.path}?max_id={page[-1]["id"]}>; rel="next"'
        self._send(h, 200, page, headers=headers)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, body, ctype: str = "application/json",
              headers: Optional[dict] = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        try:
            h.send_response(code)
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the client gave up (the timeout fault)


def _source(url: str) -> Optional[Source]:
    with store.session(url) as s:
        return s.exec(select(Source).where(Source.name == "masto")).first()


def _stored(url: str) -> list[str]:
    with store.session(url) as s:
        return list(s.exec(select(Mention.native_id).where(Mention.platform == "mastodon")).all())


@pytest.mark.slow
def test_api_faults_during_a_run(sqlite_url, tmp_path):
    """A `repmon run` worker reads a Mastodon timeline that fails mid-walk (500, a timeout, an HTML
    page, then 503: one run's retries used up), answers JSON of the wrong shape once, recovers,
    then rate-limits with a reset time.
    The source's health says so at each step; afterwards every status is stored once.
    (On SQLite only, for time: the runner's handling of a failing API is the same on both stores.)"""
    db_url = sqlite_url
    store.migrate(db_url)
    with FakeMastodon(slow=2.5, reset_in=3.0) as api:
        api.add(100)  # three pages of 40
        # page 1, then every attempt of the run fails; the next run's first answer is no list either
        api.script(None, "500", "timeout", "garbage", "503", "shape")
        toml = (f'[database]\nurl = "{db_url}"\n[[brands]]\nname = "Acme"\nkeywords = ["acme"]\n'
                f'[sources.masto]\nkind = "mastodon"\ninstance = "{api.url}"\nhashtags = ["acme"]\ntimeout = 1\n'
                '[scheduler]\ncollect_seconds = 1\nscore_seconds = 1\ncases_seconds = 1\ndispatch_seconds = 1\n')
        worker = Worker(tmp_path, "api", toml).start()
        seen: list[tuple] = []  # distinct health states, in order

        def health(until) -> bool:
            src = _source(db_url)
            if src is not None:
                state = (src.last_error, src.failing_since is not None, src.rate_limited_until, src.last_success_at)
                if not seen or seen[-1] != state:
                    seen.append(state)
            return until()

        try:
            # The failed run is recorded, then the next run finishes the walk.
            wait_for(lambda: health(lambda: any(f and "HTTP 503" in (e or "") for e, f, _, _ in seen)), 60,
                     "the failed run to be recorded", workers=(worker,))
            assert len(_stored(db_url)) == 40  # page 1 was committed before the failures
            wait_for(lambda: health(lambda: len(_stored(db_url)) == 100 and not seen[-1][1]), 60,
                     "the source to recover", workers=(worker,))
            # New posts, and the API says: not before the reset time.
            api.script("429")
            api.add(30)
            wait_for(lambda: health(lambda: seen[-1][2] is not None), 30, "the rate limit to be recorded",
                     workers=(worker,))
            reset_at = seen[-1][2]
            wait_for(lambda: health(lambda: len(_stored(db_url)) == 130), 60, "the rest after the reset",
                     workers=(worker,))
        finally:
            assert worker.stop() == 0
    # Health: failing (with the error) during the outage, rate limited until the API's reset, fine now.
    failing = [s for s in seen if s[1]]
    assert any("server error (HTTP 503)" in s[0] for s in failing), seen
    assert any(s[2] is not None and "rate limited (HTTP 429)" in s[0] for s in seen), seen
    assert abs((reset_at - datetime.fromtimestamp(api.answered("429")[0], timezone.utc)).total_seconds() - 3) < 1.5
    src = _source(db_url)
    assert src.failing_since is None and src.rate_limited_until is None and src.last_success_at > src.last_error_at
    # It did not ask again before the reset time.
    asked = [t for t, _, _ in api.requests]
    limited = api.answered("429")[0]
    assert not [t for t in asked if limited < t < reset_at.timestamp() - 0.05]
    # Each fault was met and retried (logged), and every status is stored exactly once.
    assert [w for _, w, _ in api.requests if w != "ok"] == ["500", "timeout", "garbage", "503", "shape", "429"]
    log = worker.log
    for said in ("server error (HTTP 500)", "timed out", "malformed JSON", "failed: mastodon", "no list of statuses"):
        assert said in log, said
    stored = _stored(db_url)
    assert len(stored) == len(set(stored)) == 130
    assert set(stored) == {s["uri"] for s in api.statuses}


# --- Slack down for an hour --------------------------------------------------------------------

class SlackDown(SlackLike):
    """The Slack-like server, with an outage switch: while `down`, every request (Web API and
    webhooks) gets HTTP 500 and nothing reaches a channel."""

    down = False

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        if not self.down:
            return super()._handle(h)
        h.rfile.read(int(h.headers.get("Content-Length", 0) or 0))
        with self._lock:
            self.received.append({"path": h.path, "method": "outage", "json": {}})
        self._reply(h, 500, json.dumps({"ok": False, "error": "internal_error"}), {}, "application/json")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket is closed: "connection refused"


def _advance(url: str) -> float:
    """Let time pass until the next pending alert is due (at least the 30 s between dispatcher
    runs): every pending row's due time moves back by that much. Returns the seconds passed."""
    now = utcnow()
    with store.session(url) as s:
        rows = s.exec(select(AlertOutbox).where(AlertOutbox.status == "pending")).all()
        if not rows:
            return 0.0
        step = max(30.0, (min(r.next_attempt_at for r in rows) - now).total_seconds())
        for r in rows:
            r.next_attempt_at -= timedelta(seconds=step)
            s.add(r)
    return step


def test_an_hour_long_slack_outage_loses_nothing(db_url, caplog):
    """Slack fails every request (500 for half an hour, then connection refused) for an hour of
    the dispatcher's time, with the default backoff and max_attempts; then it is back. Every
    alert arrives exactly once, none is given up."""
    with SlackDown() as slack:
        hook = f"{slack.url}/services/T1/B1/x"
        channels = [{"name": "pr", "bot_token": TOKEN, "channel": "C0ALERTS1", "api_url": slack.api_url},
                    {"name": "oncall", "webhook_url": hook}]
        cfg = make_cfg(db_url, channels, digest_after=0)
        dead = f"http://127.0.0.1:{_closed_port()}"
        refused = make_cfg(db_url, [dict(channels[0], api_url=f"{dead}/api/"),
                                    {"name": "oncall", "webhook_url": f"{dead}/services/T1/B1/x"}], digest_after=0)
        assert cfg.alerts.max_attempts == config.AlertsConfig().max_attempts  # the shipped default
        slack.down = True
        ids = seed(cfg, 10)
        caplog.set_level(logging.WARNING, logger="alerts.dispatcher")
        clock, runs, result = 0.0, 0, Counter()
        while True:
            outage = clock < 3600
            slack.down = outage
            r = outbox.dispatch(refused if 1800 <= clock < 3600 else cfg)
            result.update({k: v for k, v in vars(r).items()})
            runs += 1
            if outage:
                assert r.sent == 0
            passed = _advance(db_url)
            if not passed:
                break
            clock += passed
            assert runs < 1000
        with store.session(db_url) as s:
            rows = s.exec(select(AlertOutbox)).all()
    assert result["failed"] == 0 and result["retrying"] > 0, result
    assert {r.status for r in rows} == {"sent"} and len(rows) == 20
    assert max(r.attempts for r in rows) >= 7  # the hour was felt: backoff got to long pauses
    assert all(r.attempts <= cfg.alerts.max_attempts for r in rows)
    # both kinds of outage were met, by both kinds of channel
    retried = [r.getMessage() for r in caplog.records if " retry in " in r.getMessage()]
    for channel in ("channel=pr ", "channel=oncall "):
        assert any(channel in m and "500" in m for m in retried), channel
        assert any(channel in m and "Connection refused" in m for m in retried), channel
    # exactly once in each channel
    keys = Counter(m["metadata"]["event_payload"]["key"] for m in slack.posted("C0ALERTS1"))
    assert set(keys.values()) == {1} and len(keys) == 10
    seen = Counter(next(i for i in ids if f"case #{i} " in m["text"]) for m in slack.delivered)
    assert set(seen) == set(ids) and set(seen.values()) == {1}
    assert 3600 <= clock < 3 * 3600
