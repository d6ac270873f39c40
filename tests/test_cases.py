"""Case lifecycle and SLA clocks: business hours, due times, round robin, notes, posts removed
at the source, and SLA alerts through the outbox; on SQLite and PostgreSQL."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from repmon import cases, config, pipeline, sla, store
from repmon.errors import ConfigError, RepmonError
from repmon.models import AlertOutbox, Case, CaseEvent, CaseMention, Mention, utcnow

UTC = timezone.utc
FRI_1750_BUCHAREST = datetime(2026, 11, 20, 15, 50, tzinfo=UTC)  # 17:50 in Europe/Bucharest (UTC+2)


def hours(**kw) -> config.BusinessHoursConfig:
    return config.BusinessHoursConfig(enabled=True, **kw)


# --- the clock arithmetic ------------------------------------------------------------------

def test_without_business_hours_minutes_are_minutes():
    start = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert sla.add_working_minutes(start, 90, config.BusinessHoursConfig()) == start + timedelta(minutes=90)


def test_friday_evening_post_is_due_monday_morning():
    due = sla.add_working_minutes(FRI_1750_BUCHAREST, 30, hours(timezone="Europe/Bucharest"))
    assert due == datetime(2026, 11, 23, 7, 20, tzinfo=UTC)  # Monday 09:20 in Bucharest
    assert due.tzinfo is not None


def test_before_opening_and_across_several_days():
    bh = hours(start="09:00", end="17:00", days=["mon", "wed"])
    mon_0700 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert sla.add_working_minutes(mon_0700, 60, bh) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    # 8 h on Monday, Tuesday is off, then 2 h on Wednesday
    assert sla.add_working_minutes(mon_0700, 600, bh) == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


def test_open_until_midnight():
    bh = hours(start="20:00", end="24:00", days=["sat"])
    sat_2330 = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert sla.add_working_minutes(sat_2330, 60, bh) == datetime(2026, 11, 28, 20, 30, tzinfo=UTC)


@pytest.mark.parametrize("section,message", [
    ({"business_hours": {"enabled": True, "start": "18:00", "end": "09:00"}}, "start (18:00) must be before end"),
    ({"business_hours": {"enabled": True, "timezone": "Mars/Olympus"}}, "IANA time zone"),
    ({"business_hours": {"start": "9am"}}, "cases.business_hours.start"),
    ({"round_robin": True}, "round_robin needs at least one name in assignees"),
])
def test_bad_case_settings_name_the_key(section, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.parse({"cases": section}, "test")


def test_due_times_follow_priority():
    cfg = config.parse({"cases": {"first_response_minutes": {"critical": 15},
                                  "resolution_minutes": {"critical": 120}}}, "test")
    t = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert sla.due_times(cfg, t, "critical") == (t + timedelta(minutes=15), t + timedelta(minutes=120))
    assert sla.due_times(cfg, t, "medium") == (t + timedelta(minutes=240), t + timedelta(minutes=1440))


@pytest.mark.parametrize("minutes_left,done,state", [
    (200, None, "on_track"), (40, None, "at_risk"), (10, None, "at_risk"), (-5, None, "breached"),
    (None, -30, "met"), (None, 30, "missed"),
])
def test_clock_states(minutes_left, done, state):
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    opened = now - timedelta(minutes=240)
    due = opened + timedelta(minutes=240 + (minutes_left or 0))
    done_at = due + timedelta(minutes=done) if done is not None else None
    c = sla.clock("first response", due, done_at, opened, now)
    assert c.state == state
    if state == "breached":
        assert str(c) == "first response overdue by 5 min"


def test_dismissed_cases_stop_the_clocks():
    now = utcnow()
    case = Case(platform="x", author="a", thread_key="x:1", status="dismissed", opened_at=now - timedelta(hours=5),
                first_response_due=now - timedelta(hours=1), resolution_due=now + timedelta(hours=1))
    assert [c.state for c in sla.clocks(case, now)] == ["stopped", "stopped"]


# --- cases in the store ------------------------------------------------------------------

def add(url, *posts, minutes_ago=5):
    rows = [dict(platform="x", native_id=nid, text=text, author=author, source="test", lang="en",
                 created_at=utcnow() - timedelta(minutes=minutes_ago)) for nid, author, text in posts]
    with store.session(url) as s:
        store.upsert_mentions(s, rows)


def process(cfg):
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(cfg.database.url) as s:
        return s.exec(select(Case).order_by(Case.id)).all()


def test_new_case_gets_both_due_times_in_business_hours(db_url):
    cfg = config.parse({"database": {"url": db_url}, "cases": {
        "business_hours": {"enabled": True, "start": "00:00", "end": "24:00", "days": ["mon"]}}}, "test")
    add(db_url, ("n1", "dora", "@acme my order never arrived and nobody answers, this is unacceptable"))
    (case,) = process(cfg)
    assert case.first_response_due is not None and case.resolution_due is not None
    assert case.first_response_due.weekday() == 0 and case.resolution_due >= case.first_response_due


def test_round_robin_assigns_in_turn(db_url):
    cfg = config.parse({"database": {"url": db_url}, "cases": {"assignees": ["ana", "radu"], "round_robin": True}},
                       "test")
    add(db_url, *[(f"r{i}", f"user{i}", f"@acme my parcel {i} never arrived, still waiting") for i in range(3)])
    assert [c.owner for c in process(cfg)] == ["ana", "radu", "ana"]
    add(db_url, ("r9", "user9", "@acme charged twice and no refund, terrible"))
    assert process(cfg)[-1].owner == "radu"


def test_notes_are_history_only(cfg):
    add(cfg.database.url, ("o1", "otto", "@acme the app keeps crashing, useless"))
    (case,) = process(cfg)
    cases.act(cfg.database.url, case.id, "note", "ana", text="called the customer, waiting for logs")
    with pytest.raises(RepmonError, match="a note needs text"):
        cases.act(cfg.database.url, case.id, "note", "ana", text=" ")
    with store.session(cfg.database.url) as s:
        after = s.get(Case, case.id)
        last = s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())).first()
    assert after.status == case.status and (last.action, last.actor) == ("note", "ana")
    cases.act(cfg.database.url, case.id, "wait", "ana", text="asked for the order number by DM")
    with store.session(cfg.database.url) as s:
        assert s.get(Case, case.id).status == "waiting"


def test_a_removed_post_closes_its_case_as_gone(cfg):
    url = cfg.database.url
    add(url, ("g1", "gina", "@acme worst service ever, never again"),
        ("g2", "hugo", "@acme my refund never came, still waiting"))
    process(cfg)
    with store.session(url) as s:
        store.upsert_mentions(s, [dict(platform="x", native_id="g1", text="[deleted]", created_at=utcnow(),
                                       source="test", deleted=True)])
    assert cases.close_gone(url) == 1
    with store.session(url) as s:
        by_author = {c.author: c.status for c in s.exec(select(Case)).all()}
        gone = s.exec(select(CaseEvent).where(CaseEvent.action == "gone")).all()
    assert by_author == {"gina": "gone", "hugo": "new"} and len(gone) == 1
    assert cases.close_gone(url) == 0


def test_a_case_with_one_live_post_stays_open(cfg):
    url = cfg.database.url
    add(url, ("k1", "kim", "@acme my order never arrived"), ("k2", "kim", "@acme still nothing, terrible service"))
    (case,) = process(cfg)
    with store.session(url) as s:
        assert len(s.exec(select(CaseMention).where(CaseMention.case_id == case.id)).all()) == 2
        store.upsert_mentions(s, [dict(platform="x", native_id="k1", text="[removed]", created_at=utcnow(), source="test",
                                       deleted=True)])
    assert cases.close_gone(url) == 0


def test_sla_alerts_are_queued_once_per_state(db_url):
    cfg = config.parse({"database": {"url": db_url},
                        "alerts": {"min_priority": "medium",
                                   "slack": [{"name": "oncall", "webhook_url": "http://127.0.0.1:9/hook"}]},
                        "cases": {"first_response_minutes": {"medium": 60, "high": 60}}}, "test")
    add(db_url, ("s1", "sam", "@acme my order never arrived, nobody answers"), minutes_ago=55)
    (case,) = process(cfg)

    def sla_rows():
        with store.session(db_url) as s:
            return sorted(a.kind for a in s.exec(select(AlertOutbox).where(AlertOutbox.kind.like("sla%"))).all())

    assert sla_rows() == ["sla_at_risk"]  # 5 minutes left of 60
    cases.check_slas(cfg)
    assert sla_rows() == ["sla_at_risk"]  # no repeat
    with store.session(db_url) as s:
        c = s.get(Case, case.id)
        c.first_response_due = utcnow() - timedelta(minutes=1)
        s.add(c)
    cases.check_slas(cfg)
    assert sla_rows() == ["sla_at_risk", "sla_breached"]
    with store.session(db_url) as s:
        payload = s.exec(select(AlertOutbox).where(AlertOutbox.kind == "sla_breached")).one().payload
    assert "SLA breached" in payload["text"] and f"case #{case.id}" in payload["text"]
    cases.act(db_url, case.id, "respond", "ana", text="Sorry about this, we're on it — please DM us.")
    c2 = cases.check_slas(cfg)
    assert c2 == 0


def test_removed_mentions_keep_their_text(cfg):
    url = cfg.database.url
    add(url, ("t1", "tia", "@acme the router is broken again"))
    process(cfg)
    with store.session(url) as s:
        store.upsert_mentions(s, [dict(platform="x", native_id="t1", text="[removed]", created_at=utcnow(), source="test",
                                       deleted=True)])
    cases.close_gone(url)
    with store.session(url) as s:
        m = s.exec(select(Mention).where(Mention.native_id == "t1")).one()
    assert m.deleted_at is not None and m.text == "@acme the router is broken again"


def test_abuse_and_critical_cases_are_escalated(db_url):
    cfg = config.parse({"database": {"url": db_url}, "cases": {"escalate_to": "lead", "assignees": ["ana"],
                                                               "round_robin": True}}, "test")
    add(db_url, ("e1", "eve", "@acme refund me now or I will find you and make you pay"),
        ("e2", "fay", "@acme my parcel never arrived, still waiting"))
    threat, plain = process(cfg)
    with store.session(db_url) as s:
        escalated = s.exec(select(CaseEvent.case_id).where(CaseEvent.action == "escalate")).all()
    assert (threat.priority, threat.owner, plain.owner) == ("critical", "lead", "ana")
    assert escalated == [threat.id]
    assert threat.suggestion_source and threat.suggestion_source.startswith("en/")


def test_same_thread_joins_the_case_even_after_the_window(db_url):
    cfg = config.parse({"database": {"url": db_url}, "cases": {"join_window_hours": 1}}, "test")
    rows = [dict(platform="x", native_id="th1", thread_id="th1", text="@acme my order never arrived", author="lee",
                 source="test", lang="en", created_at=utcnow() - timedelta(hours=30)),
            dict(platform="x", native_id="th2", thread_id="th1", parent_id="th1", author="lee", source="test",
                 lang="en", text="@acme still nothing, a day later. terrible", created_at=utcnow() - timedelta(hours=2)),
            dict(platform="x", native_id="other", thread_id="other", author="lee", source="test", lang="en",
                 text="@acme and now the app crashes too, useless", created_at=utcnow())]
    with store.session(db_url) as s:
        store.upsert_mentions(s, rows)
    found = process(cfg)
    with store.session(db_url) as s:
        sizes = sorted(len(s.exec(select(CaseMention).where(CaseMention.case_id == c.id)).all()) for c in found)
    assert sizes == [1, 2]  # the thread's two posts together; the unrelated post 2 h later on its own


def test_resolution_clock_alerts_after_the_first_response(db_url):
    cfg = config.parse({"database": {"url": db_url},
                        "alerts": {"min_priority": "medium",
                                   "slack": [{"name": "oncall", "webhook_url": "http://127.0.0.1:9/hook"}]}}, "test")
    add(db_url, ("v1", "val", "@acme my order never arrived, nobody answers"))
    (case,) = process(cfg)
    cases.act(db_url, case.id, "respond", "ana", text="Sorry! Please DM us the details and we'll sort it today.")
    with store.session(db_url) as s:
        c = s.get(Case, case.id)
        c.resolution_due = utcnow() - timedelta(minutes=5)
        s.add(c)
    assert cases.check_slas(cfg) == 1
    with store.session(db_url) as s:
        (alert,) = s.exec(select(AlertOutbox).where(AlertOutbox.kind == "sla_breached")).all()
    assert alert.key.startswith(f"sla_breached:resolution:{case.id}:") and "resolution overdue" in alert.payload["text"]
    cases.act(db_url, case.id, "resolve", "ana")
    assert cases.check_slas(cfg) == 0
