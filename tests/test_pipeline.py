"""collect -> store -> score -> cases, on SQLite and PostgreSQL."""

import threading
from collections import Counter

import pytest
from sqlmodel import func, select

from collectors.base import Batch, Collector
from repmon import cases, config, pipeline, scheduler, store
from repmon.errors import TransientError
from repmon.models import Case, CaseMention, Mention, Score, Source


def _count(url, model):
    with store.session(url) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_demo_collect_twice_adds_no_duplicate(cfg):
    first = pipeline.collect(cfg, only="demo")[0]
    assert first.error is None and first.inserted >= 2000
    assert pipeline.collect(cfg, only="demo")[0].inserted == 0  # the cursor is at the end
    with store.session(cfg.database.url) as s:
        store.save_cursor(s, "demo", "")  # replay from the start: the upsert still adds nothing
    again = pipeline.collect(cfg, only="demo")[0]
    assert (again.inserted, again.updated) == (0, 0)
    assert _count(cfg.database.url, Mention) == first.inserted


def test_replay_resumes_from_the_cursor(db_url):
    cfg = config.parse({"database": {"url": db_url},
                        "sources": {"demo": {"kind": "demo", "page_size": 100, "pages_per_run": 2}}}, "test")
    assert pipeline.collect(cfg)[0].inserted == 200
    assert pipeline.collect(cfg)[0].inserted == 200
    assert _count(db_url, Mention) == 400


class Flaky(Collector):
    """Delivers one page, then fails like a process killed mid-run would."""

    kind = "test_flaky"
    calls = 0

    def fetch(self, cursor):
        Flaky.calls += 1
        start = int(cursor or 0)
        from repmon.models import utcnow
        page = [dict(platform="x", native_id=f"f{i}", text=f"post {i} @tidewell", created_at=utcnow(), author="a")
                for i in range(start, start + 10)]
        yield Batch(page, str(start + 10))
        if Flaky.calls == 1:
            raise TransientError("connection reset")


def test_a_failing_source_loses_nothing_and_does_not_stop_the_others(db_url):
    cfg = config.parse({"database": {"url": db_url}, "sources": {
        "flaky": {"kind": "test_flaky"}, "demo": {"kind": "demo", "page_size": 50, "pages_per_run": 1}}}, "test")
    Flaky.calls = 0
    results = {r.source: r for r in pipeline.collect(cfg, retries=0)}
    assert results["flaky"].error == "connection reset" and results["flaky"].inserted == 10
    assert results["demo"].inserted == 50
    with store.session(db_url) as s:
        health = s.exec(select(Source).where(Source.name == "flaky")).one()
    assert health.last_error == "connection reset" and health.last_success_at is None
    again = {r.source: r for r in pipeline.collect(cfg, retries=0)}
    assert again["flaky"].error is None and again["flaky"].inserted == 10  # resumed after the stored page
    assert _count(db_url, Mention) == 10 + 10 + 50 + 50


def test_score_and_cases_are_each_done_once(cfg):
    pipeline.collect(cfg, only="demo")
    n = _count(cfg.database.url, Mention)
    assert pipeline.score_pending(cfg) == n
    assert pipeline.score_pending(cfg) == 0
    placed = cases.update_cases(cfg)
    assert cases.update_cases(cfg) == 0
    with store.session(cfg.database.url) as s:
        flagged = s.exec(select(func.count()).select_from(Score).where(Score.needs_response.is_(True))).one()
        linked = s.exec(select(func.count()).select_from(CaseMention)).one()
        all_cases = s.exec(select(Case)).all()
        unscored = s.exec(select(func.count()).select_from(Mention).where(Mention.lang.is_(None))).one()
    assert placed == flagged == linked > 200
    assert unscored == 0
    assert len(all_cases) < linked  # returning authors' posts joined their open case
    assert all(c.suggested_reply for c in all_cases)
    langs = Counter(c.lang for c in all_cases)
    assert {"en", "es", "ro", "fa"} <= set(langs), langs
    assert any(c.priority == "critical" for c in all_cases)


def test_case_actions_keep_history(cfg):
    pipeline.collect(cfg, only="demo")
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(cfg.database.url) as s:
        case_id = s.exec(select(Case.id).order_by(Case.id)).first()
    cases.act(cfg.database.url, case_id, "assign", "ana", owner="ana")
    cases.act(cfg.database.url, case_id, "respond", "ana", text="Hi, sorry about this, DM us please.")
    done = cases.act(cfg.database.url, case_id, "resolve", "ana")
    assert done.status == "resolved" and done.owner == "ana" and done.first_response_at and done.resolved_at
    from dashboard.queries import case_detail
    events = [e.action for e in case_detail(cfg.database.url, case_id)["events"]]
    assert events == ["opened", "assign", "respond", "resolve"]


def test_scheduler_runs_every_stage_and_stops_cleanly(db_url):
    cfg = config.parse({"database": {"url": db_url}, "scheduler": {
        "collect_seconds": 1, "score_seconds": 1, "cases_seconds": 1, "dispatch_seconds": 1}}, "test")
    stop = threading.Event()
    worker = threading.Thread(target=scheduler.serve, args=(cfg, stop))
    worker.start()
    try:
        for _ in range(120):
            if _count(db_url, CaseMention) > 0 and _count(db_url, Score) == _count(db_url, Mention):
                break
            stop.wait(0.5)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert _count(db_url, Mention) >= 2000 and _count(db_url, CaseMention) > 0


def test_demo_team_leaves_recent_cases_open(cfg):
    from datetime import timedelta

    from repmon import demo_team
    from repmon.models import OPEN_STATUSES, utcnow

    pipeline.collect(cfg, only="demo")
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    worked = demo_team.work_backlog(cfg.database.url)
    assert demo_team.work_backlog(cfg.database.url) == 0  # nothing is worked twice
    with store.session(cfg.database.url) as s:
        all_cases = s.exec(select(Case)).all()
    still_open = [c for c in all_cases if c.status in OPEN_STATUSES]
    assert worked > 0 and still_open
    assert all(c.last_post_at >= utcnow() - timedelta(hours=49) for c in still_open)
    answered = [c for c in all_cases if c.first_response_at]
    assert all(c.final_reply for c in answered)  # by the demo team, or by the brand on the platform
