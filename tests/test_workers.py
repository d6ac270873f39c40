"""Several `repmon run` workers on one PostgreSQL schema, and kill -9 in the middle of each stage.

Real processes, real HTTP (tests/slack_server.py as a bot-token Slack channel), real PostgreSQL.
Workers replay the built-in demo source in small pages; afterwards (`check_invariants`):

- every demo post about the brand is stored, once; every mention has one score, counted once
  in the hourly rollups;
- every flagged mention sits in one case; every case was opened once, and no case was opened
  while an open case of the same author should have taken the post (replayed from the case
  history: same thread, or a post within `cases.join_window_hours`);
- every alert row was sent, and Slack holds each alert's message exactly once.

A worker to kill is found through the database: each worker connects with its own
`application_name`, and PostgreSQL says which session holds which job lock (repmon.locks.holders)
or is scoring a claimed batch (pg_stat_activity). The PostgreSQL-only tests skip with a message
where no server answers at REPMON_TEST_PG_URL; the SQLite single-worker test always runs.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional

import pytest
import sqlalchemy as sa

from collectors import collector_class
from collectors.base import Batch
from repmon import config, demo, locks, pipeline, store
from repmon.matching import BrandMatcher
from tests.slack_server import TOKEN, SlackLike

CHANNEL = "C0ALERTS1"
POSTING_KINDS = ("case_opened", "digest", "sla_at_risk", "sla_breached", "source_down", "spike")


# --- the harness (test_faults.py uses it too) ---------------------------------------------------

@pytest.fixture
def slack():
    with SlackLike() as server:
        yield server


def worker_toml(url: str, app: str, slack: Optional[SlackLike] = None, page_size: int = 50, pages: int = 0,
                extra: str = "") -> str:
    """A worker's config: the demo source in small pages, every job every second, and alerts to a
    bot channel of `slack`: one message per new case of the last three days, no digests.

    With `pages`, each worker collects that many pages when it starts and no more (a slice of the
    oldest posts, to keep a test short); alerts are then for cases up to 60 days old, and a flood
    of them (more than 5 in 15 minutes) goes out as one digest message per channel."""
    sep = "&" if "?" in url else "?"
    text = (f'[database]\nurl = "{url}{sep}application_name={app}"\n'
            f'[sources.demo]\nkind = "demo"\npage_size = {page_size}\npages_per_run = {pages}\n'
            f'[scheduler]\ncollect_seconds = {3600 if pages else 1}\nscore_seconds = 1\ncases_seconds = 1\n'
            'dispatch_seconds = 1\n')
    if slack is not None:
        text += (f'[alerts]\nmin_priority = "{"high" if pages else "medium"}"\nmax_age_hours = {1440 if pages else 72}\n'
                 f'digest_after = {5 if pages else 0}\nsend_timeout_seconds = 1\n'
                 f'[[alerts.slack]]\nname = "pr"\nbot_token = "{TOKEN}"\nchannel = "{CHANNEL}"\napi_url = "{slack.api_url}"\n'
                 # new-case alerts only: SLA clocks turning "breached" while the test runs would add rows late
                 '[[alerts.routes]]\nkinds = ["case_opened"]\nchannels = ["pr"]\n')
    return text + extra


class Worker:
    """One `repmon run` process; its log (stderr) goes to a file, so a chatty worker never blocks."""

    def __init__(self, tmp_path: Path, name: str, toml: str):
        self.name = name
        self.config = tmp_path / f"{name}.toml"
        self.config.write_text(toml)
        self.logfile = tmp_path / f"{name}.log"
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    def start(self) -> "Worker":
        self.starts += 1
        with open(self.logfile, "a") as log:
            log.write(f"--- start {self.starts}\n")
            self.proc = subprocess.Popen([sys.executable, "-m", "repmon.cli", "--config", str(self.config), "run"],
                                         stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ))
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(30) == -signal.SIGKILL

    def stop(self) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"{self.name} did not stop within 60 s of SIGTERM")
        return self.proc.returncode if self.proc else 0

    @property
    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""


def wait_for(predicate: Callable[[], object], seconds: float, what: str, every: float = 0.05,
             workers: tuple[Worker, ...] = ()) -> object:
    end = time.monotonic() + seconds
    while True:
        got = predicate()
        if got:
            return got
        dead = [w.name for w in workers if not w.alive]
        if dead:
            raise AssertionError(f"while waiting for {what}: worker(s) {dead} exited:\n"
                                 + "\n".join(w.log[-3000:] for w in workers if w.name in dead))
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(every)


def scalar(url: str, sql: str, **params) -> object:
    with store.get_engine(url).connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def demo_position(url: str) -> int:
    """How far the demo replay has committed (0 before its first page)."""
    value = scalar(url, "SELECT value FROM collectorcursor WHERE source = 'demo'")
    return int(json.loads(value)["next"]) if value else 0


def demo_progress(url: str) -> tuple[int, int]:
    """(position, total) of the demo replay as committed; (0, 0) before its first page."""
    value = scalar(url, "SELECT value FROM collectorcursor WHERE source = 'demo'")
    if value is None:
        return 0, 0
    state = json.loads(value)
    return int(state["next"]), _demo_total(state["anchor"])


@functools.lru_cache(maxsize=4)
def _demo_total(anchor: str) -> int:
    return len(demo.generate(datetime.fromisoformat(anchor)))


def warm_demo_total() -> None:
    """Work out the replay's length now, for the anchor a collector starting now will pick, so
    that polling demo_progress stays quick while the workers run."""
    _demo_total(datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0).isoformat())


def backlog(url: str, whole: bool = True) -> dict[str, int]:
    """What is left to do at each stage (`whole`: the whole demo is to be collected)."""
    position, total = demo_progress(url)
    collecting = "collect:demo" in locks.holders(url, ["collect:demo"])
    with store.get_engine(url).connect() as conn:
        q = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
        return {
            "collect": (total - position if whole else 0) + (not position) + collecting,
            "score": q("SELECT count(*) FROM mention m LEFT JOIN score s ON s.mention_id = m.id WHERE s.id IS NULL"),
            "cases": q("SELECT count(*) FROM score s LEFT JOIN casemention cm ON cm.mention_id = s.mention_id "
                       "WHERE s.needs_response AND cm.case_id IS NULL"),
            "dispatch": q("SELECT count(*) FROM alertoutbox WHERE status IN ('pending', 'sending')"),
        }


def settle(url: str, workers: tuple[Worker, ...], seconds: float = 150, whole: bool = True) -> None:
    """Wait until every stage is done, and stays done for two seconds."""
    def done() -> bool:
        if any(backlog(url, whole).values()):
            return False
        time.sleep(2)
        return not any(backlog(url, whole).values())

    wait_for(done, seconds, "the workers to finish the demo data", every=0.5, workers=workers)


def expected_mentions(url: str, cfg: config.Config) -> set[tuple[str, str]]:
    """The demo posts a correct run keeps: the replay up to its committed position (the whole of
    it, once settled without `pages`), through the collector's own filter."""
    state = json.loads(scalar(url, "SELECT value FROM collectorcursor WHERE source = 'demo'"))
    items = demo.generate(datetime.fromisoformat(state["anchor"]))[:int(state["next"])]
    src = cfg.sources["demo"]
    collector = collector_class("demo").from_config("demo", src.model_dump(), cfg.brand(src.brand))
    rows = pipeline._prepare(Batch(mentions=items, cursor=None), collector, BrandMatcher(collector.brand), 1)
    return {(r["platform"], str(r["native_id"])) for r in rows}


def check_invariants(url: str, cfg: config.Config, slack: Optional[SlackLike] = None) -> dict[str, int]:
    with store.get_engine(url).connect() as conn:
        rows = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
        # Mentions: all of them, once.
        stored = rows("SELECT platform, native_id FROM mention")
        assert len(stored) == len(set(stored))
        want = expected_mentions(url, cfg)
        got = {(p, n) for p, n in stored}
        assert got == want, f"{len(want - got)} demo posts missing, {len(got - want)} unexpected"
        # Scores: one each, each counted once in the rollups.
        assert rows("SELECT count(*) FROM mention m LEFT JOIN score s ON s.mention_id = m.id WHERE s.id IS NULL")[0][0] == 0
        assert rows("SELECT count(*) FROM score")[0][0] == len(stored)
        counted = rows("SELECT coalesce(sum(volume), 0) FROM mentionhour")[0][0]
        assert counted == rows("SELECT count(*) FROM mention WHERE NOT is_own")[0][0], "rollups miscounted"
        # Cases: every flagged post in one case, every case opened once and only when it had to be.
        flagged = rows("SELECT count(*) FROM score WHERE needs_response")[0][0]
        placed = rows("SELECT count(*) FROM casemention")[0][0]
        assert placed == flagged and flagged > 0
        n_cases = check_cases(conn, cfg.cases.join_window_hours)
        # Alerts: all settled, none failed; a folded one is in a digest that was sent.
        statuses = Counter(dict(rows("SELECT status, count(*) FROM alertoutbox GROUP BY status")))
        assert set(statuses) <= {"sent", "skipped", "digested"}, statuses
        assert rows("SELECT count(*) FROM alertoutbox a LEFT JOIN alertoutbox d ON d.id = a.digest_id "
                    "WHERE a.status = 'digested' AND (d.status IS NULL OR d.status != 'sent')")[0][0] == 0
        sent_keys = {k for (k,) in rows(f"SELECT key FROM alertoutbox WHERE status = 'sent' AND kind IN {POSTING_KINDS}")}
    if slack is not None:
        posted = Counter((m.get("metadata") or {}).get("event_payload", {}).get("key") for m in slack.posted(CHANNEL))
        twice = {k: n for k, n in posted.items() if n > 1}
        assert not twice, f"posted more than once: {twice}"
        assert set(posted) == sent_keys, (f"{len(sent_keys - set(posted))} sent rows not in Slack, "
                                          f"{len(set(posted) - sent_keys)} Slack messages without a sent row")
        assert sent_keys, "no alert was sent: the test exercised nothing"
    return {"mentions": len(stored), "cases": n_cases, "alerts": len(sent_keys)}


CLOSING = ("respond", "gone", "resolve", "dismiss")


def check_cases(conn: sa.Connection, window_hours: float) -> int:
    """Replay placement from the case history (event ids give the order): each case has one
    "opened" event and one opening post; when it opened, no open case of the same brand, platform
    and author had the same thread or a post within the join window of the new one."""
    cases = {r.id: r for r in conn.execute(sa.text(
        'SELECT id, brand_id, platform, author, thread_key FROM "case"')).all()}
    created = dict(conn.execute(sa.text("SELECT id, created_at FROM mention")).all())
    members: dict[int, set[int]] = {}
    for case_id, mention_id in conn.execute(sa.text("SELECT case_id, mention_id FROM casemention")).all():
        members.setdefault(case_id, set()).add(mention_id)
    opened: dict[int, int] = {}
    closed: dict[int, int] = {}
    placed_at: dict[int, int] = {}  # mention -> event id of its joining
    for eid, case_id, action, detail in conn.execute(sa.text(
            "SELECT id, case_id, action, detail FROM caseevent ORDER BY id")).all():
        if action == "opened":
            assert case_id not in opened, f"case {case_id} opened twice"
            opened[case_id] = eid
        elif action == "joined":
            placed_at[int(detail.split()[-1])] = eid
        elif action in CLOSING:
            closed.setdefault(case_id, eid)
    assert set(opened) == set(cases), "cases without an opened event, or events of unknown cases"
    opening: dict[int, int] = {}
    for case_id, ms in members.items():
        first = [m for m in ms if m not in placed_at]
        assert len(first) == 1, f"case {case_id}: {len(first)} posts without a joined event"
        opening[case_id] = first[0]
        placed_at[first[0]] = opened[case_id]
    by_author: dict[tuple, list[int]] = {}
    for c in sorted(cases.values(), key=lambda c: opened[c.id]):
        if c.author:
            by_author.setdefault((c.brand_id, c.platform, c.author), []).append(c.id)
    join = timedelta(hours=window_hours)
    for ids in by_author.values():
        for i, later in enumerate(ids):
            when, post = opened[later], created[opening[later]]
            for earlier in ids[:i]:
                if closed.get(earlier, when + 1) < when:
                    continue  # closed before the later one opened
                last = max(created[m] for m in members[earlier] if placed_at[m] < when)
                assert cases[earlier].thread_key != cases[later].thread_key and last < post - join, (
                    f"case {later} was opened while open case {earlier} of {cases[later].author} should have "
                    f"taken its post (thread {cases[later].thread_key}, last post {last}, new post {post})")
    return len(cases)


def start_workers(tmp_path: Path, url: str, slack: Optional[SlackLike], n: int, tag: str, **kw) -> tuple[Worker, ...]:
    return tuple(Worker(tmp_path, f"{tag}{i}", worker_toml(url, f"{tag}{i}", slack, **kw)).start()
                 for i in range(1, n + 1))


def stop_all(workers: tuple[Worker, ...]) -> dict[str, int]:
    """SIGTERM each (a stopped one is woken first); their exit codes."""
    for w in workers:
        if w.alive:
            os.kill(w.proc.pid, signal.SIGCONT)
    return {w.name: w.stop() for w in workers}


def app_tag(url: str) -> str:
    """A per-test application_name prefix: other tests' workers share the server."""
    return url.rsplit("repmon_test_", 1)[-1][:10]


def by_app(workers: tuple[Worker, ...], app: Optional[str]) -> Optional[Worker]:
    return next((w for w in workers if w.name == app), None)


def job_holder(url: str, workers: tuple[Worker, ...], job: str) -> Optional[Worker]:
    held = locks.holders(url, [job]).get(job)
    return by_app(workers, held["application_name"]) if held else None


def scoring_worker(url: str, workers: tuple[Worker, ...]) -> Optional[Worker]:
    """A worker in the middle of scoring a claimed batch: its transaction locked rows (so it has a
    transaction id) with the claiming query, and is busy in Python scoring them."""
    app = scalar(url, "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
                      "AND application_name = ANY(:apps) AND state = 'idle in transaction' "
                      "AND backend_xid IS NOT NULL AND query LIKE '%SKIP LOCKED%' LIMIT 1",
                 apps=[w.name for w in workers])
    return by_app(workers, app)


# --- tests ----------------------------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.slow
def test_three_workers_do_every_job_once(pg_url, slack, tmp_path):
    store.migrate(pg_url)
    workers = start_workers(tmp_path, pg_url, slack, 3, f"w{app_tag(pg_url)}-")
    try:
        settle(pg_url, workers)
    finally:
        codes = stop_all(workers)
    assert set(codes.values()) == {0}, codes
    cfg = config.load(str(workers[0].config))
    totals = check_invariants(pg_url, cfg, slack)
    assert totals["mentions"] > 2000 and totals["cases"] > 500 and totals["alerts"] > 20, totals
    logs = [w.log for w in workers]
    assert all("Traceback" not in log for log in logs), next(log for log in logs if "Traceback" in log)[-3000:]
    assert sum("scheduler started" in log for log in logs) == 3


def busy_session(url: str, worker: Worker) -> bool:
    """The worker's database session is inside a transaction that has written or locked rows."""
    return bool(scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                            "AND backend_xid IS NOT NULL", app=worker.name))


def mid_stage(stage: str, url: str, workers: tuple[Worker, ...], slack: SlackLike, pages: int
              ) -> tuple[Callable[[], Optional[Worker]], Callable[[Worker], bool]]:
    """(a probe for a worker that looks busy with `stage`, a check that it is, run while it is
    frozen with SIGSTOP, so that what the database shows cannot change under the check)."""
    if stage == "collect":  # holds the source's lock, part of its run committed, not all
        return (lambda: demo_position(url) and job_holder(url, workers, "collect:demo"),
                lambda w: job_holder(url, workers, "collect:demo") is w and demo_position(url) < pages)
    if stage == "score":  # its open transaction holds a claimed batch
        return (lambda: scoring_worker(url, workers), lambda w: scoring_worker(url, (w,)) is w)
    if stage == "cases":  # holds the cases lock, its placements written but not committed
        return (lambda: backlog(url, False)["cases"] and job_holder(url, workers, "cases"),
                lambda w: job_holder(url, workers, "cases") is w and busy_session(url, w)
                and backlog(url, False)["cases"] > 0)
    # holds the dispatch lock while Slack sits on the answer to the 5th post
    return (lambda: len(slack.calls("chat.postMessage")) >= 5 and job_holder(url, workers, "dispatch"),
            lambda w: job_holder(url, workers, "dispatch") is w
            and scalar(url, "SELECT count(*) FROM alertoutbox WHERE status = 'sending'") == 1)


def freeze_mid(stage: str, url: str, workers: tuple[Worker, ...], slack: SlackLike, pages: int) -> Worker:
    """Find the worker in the middle of `stage` and stop it (SIGSTOP) there."""
    probe, check = mid_stage(stage, url, workers, slack, pages)

    def frozen() -> Optional[Worker]:
        w = probe()
        if not w:
            return None
        os.kill(w.proc.pid, signal.SIGSTOP)
        if check(w):
            return w
        os.kill(w.proc.pid, signal.SIGCONT)  # caught it at the very end: let it go on, look again
        return None

    return wait_for(frozen, 90, f"a worker in the middle of {stage}", every=0.02, workers=workers)


# Two kills per run, in pipeline order, to keep the time down.
KILLS = [("collect", "cases"), ("score", "dispatch")]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("stages", KILLS, ids=["-then-".join(k) for k in KILLS])
def test_kill_9_mid_stage_then_restart(pg_url, slack, tmp_path, stages):
    """Two workers; the one in the middle of a stage (as the database shows, checked while it is
    frozen) is killed with SIGKILL and started again, then the one in a later stage. Score, cases
    and dispatch are taken over by the other worker, collect by the restarted one (each worker
    collects a slice of 30 pages when it starts, to keep this short), all from what was committed;
    in the end everything holds as without a kill."""
    store.migrate(pg_url)
    if "dispatch" in stages:
        # The 5th post is held by Slack (which does post it), so the worker dies waiting for the answer.
        slack.delay("chat.postMessage", 30, deliver=True, call=5)
    page_size, pages = 10, 30
    workers = start_workers(tmp_path, pg_url, slack, 2, f"k{app_tag(pg_url)}-", page_size=page_size, pages=pages)
    try:
        for stage in stages:
            target = freeze_mid(stage, pg_url, workers, slack, pages * page_size)
            target.kill9()
            target.start()
        settle(pg_url, workers, whole=False)
    finally:
        codes = stop_all(workers)
    assert set(codes.values()) == {0}, codes
    check_invariants(pg_url, config.load(str(workers[0].config)), slack)
    if "dispatch" in stages:
        # the held post had reached Slack: it was found there, not posted again
        assert "was delivered before an interruption" in "".join(w.log for w in workers)
    assert sum(w.starts for w in workers) == 2 + len(stages)


@pytest.mark.postgres
def test_two_dispatchers_never_send_one_row_twice(pg_url, slack, tmp_path):
    """`repmon alerts dispatch` twice at once, without the scheduler's job lock: the conditional
    claim alone keeps each row to one sender."""
    from tests.test_alerts_bot import make_cfg, seed

    store.migrate(pg_url)
    cfg = make_cfg(pg_url, [{"name": "pr", "bot_token": TOKEN, "channel": CHANNEL, "api_url": slack.api_url}],
                   digest_after=0)
    seed(cfg, 40)
    path = tmp_path / "repmon.toml"
    path.write_text(f'[database]\nurl = "{pg_url}"\n[alerts]\ndigest_after = 0\n[[alerts.slack]]\nname = "pr"\n'
                    f'bot_token = "{TOKEN}"\nchannel = "{CHANNEL}"\napi_url = "{slack.api_url}"\n')
    procs = [subprocess.Popen([sys.executable, "-m", "repmon.cli", "--config", str(path), "alerts", "dispatch"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    sent = [int(out.split()[0]) for out, _ in outs]
    assert sum(sent) == 40, outs
    keys = Counter(m["metadata"]["event_payload"]["key"] for m in slack.posted(CHANNEL))
    assert len(keys) == 40 and set(keys.values()) == {1}
    assert len(slack.calls("chat.postMessage")) == 40


@pytest.mark.postgres
def test_the_cases_lock_stops_two_cases_for_one_author(pg_url):
    """The race the lock exists for, played out by hand: two placements in flight at once, each
    with one post of the same author. Without the lock both open a case (and check_cases says
    so); with `locks.xact` the second waits, sees the first's case and joins it."""
    import threading

    from repmon import cases
    from repmon.models import Case, Mention, Score, utcnow
    from sqlmodel import select
    from tests.test_alerts_bot import THREAT

    store.migrate(pg_url)
    cfg = config.parse({"database": {"url": pg_url}}, "test")
    with store.session(pg_url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        store.upsert_mentions(s, [dict(source="test", platform="x", native_id=f"p{i}", author="@same", text=THREAT,
                                       lang="en", created_at=utcnow() - timedelta(hours=3 - i), brand_id=brand_id)
                                  for i in range(2)])
    pipeline.score_pending(cfg)
    with store.session(pg_url) as s:
        pairs = s.exec(select(Score, Mention).join(Mention, Mention.id == Score.mention_id).order_by(Mention.id)).all()
    assert len(pairs) == 2 and all(sc.needs_response for sc, _ in pairs)

    def place(i: int, lock: bool, placed: Optional[threading.Event] = None,
              hold: Optional[threading.Event] = None) -> None:
        with store.session(pg_url) as s:
            if lock:
                locks.xact(s, "cases")
            cases._place(s, cfg, *pairs[i], cfg.brands[0].name)
            s.flush()
            if placed is not None:
                placed.set()
                assert hold.wait(30)  # in flight: flushed, not committed

    def run_both(lock: bool) -> int:
        placed, release = threading.Event(), threading.Event()
        a = threading.Thread(target=place, args=(0, lock, placed, release))
        a.start()
        assert placed.wait(30)
        b = threading.Thread(target=place, args=(1, lock))
        b.start()
        b.join(1)  # without the lock it places at once; with it, it waits for the first to commit
        assert b.is_alive() is lock
        release.set()
        a.join(30)
        b.join(30)
        with store.session(pg_url) as s:
            return len(s.exec(select(Case)).all())

    assert run_both(lock=False) == 2
    with store.get_engine(pg_url).connect() as conn, pytest.raises(AssertionError, match="should have taken its post"):
        check_cases(conn, cfg.cases.join_window_hours)
    with store.get_engine(pg_url).begin() as conn:
        for table in ("alertoutbox", "caseevent", "casemention", '"case"'):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    assert run_both(lock=True) == 1
    with store.get_engine(pg_url).connect() as conn:
        assert check_cases(conn, cfg.cases.join_window_hours) == 1


def test_sqlite_is_single_worker(sqlite_url, tmp_path):
    """A second `repmon run` on the same SQLite file stops at once with one line; the lock goes
    with the first worker, however it ends."""
    store.migrate(sqlite_url)
    path = tmp_path / "repmon.toml"
    path.write_text(f'[database]\nurl = "{sqlite_url}"\n[sources.demo]\nkind = "demo"\nenabled = false\n'
                    '[scheduler]\ncollect_seconds = 3600\n')
    first = Worker(tmp_path, "solo", path.read_text()).start()
    try:
        wait_for(lambda: "scheduler started" in first.log, 60, "the first worker to start", workers=(first,))
        second = subprocess.run([sys.executable, "-m", "repmon.cli", "--config", str(path), "run"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith("Error: another `repmon run`")
        assert f"(pid {first.proc.pid})" in lines[0] and "SQLite is single-worker" in lines[0] and "PostgreSQL" in lines[0]
        first.kill9()
        # kill -9 released it: the next one runs
        again = subprocess.run([sys.executable, "-m", "repmon.cli", "--config", str(path), "run", "--once"],
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
    finally:
        if first.alive:
            first.stop()
