"""What every collector gets from the runner: brand matching, own posts, language at ingest,
deletions, budgets, rate limits, source-down alerts, brand replies, re-checks."""

from datetime import timedelta

import pytest
from sqlmodel import select

from collectors.base import Batch, Collector
from repmon import cases, config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import RateLimited, TransientError
from repmon.matching import BrandMatcher, handle_key
from repmon.models import AlertOutbox, Case, CaseEvent, Mention, Source, utcnow

BRAND = BrandConfig(name="Tidewell Mobile", keywords=["tidewell", '"tide well"', "refund*"], handles=["@tidewellhelp"],
                    exclude=["tidewell beach"], competitors=["Orbitel"], all_of=[])


@pytest.mark.parametrize("text, expected", [
    ("@tidewellhelp my phone died", True),
    ("TIDEWELL's app is down again", True),
    ("#tidewell outage?", True),
    ("tide   well is down", True),          # exact phrase, any spacing
    ("tidewells are birds", False),         # a keyword is a whole word...
    ("they refunded me in the end", True),  # ...unless it ends in *
    ("sunset at Tidewell Beach tonight", False),
    ("Orbitel dropped my calls", True),     # competitors count for share of voice
    ("nothing to see here", False),
    ("خط tidewell قطع است", True),
])
def test_brand_matching(text, expected):
    assert BrandMatcher(BRAND).matches(text) is expected


def test_all_of_narrows_the_match():
    m = BrandMatcher(BRAND.model_copy(update={"all_of": ["mobile"]}))
    assert m.matches("tidewell mobile is down") and not m.matches("tidewell is down")


def test_own_accounts_in_every_platform_spelling():
    m = BrandMatcher(BRAND)
    for author in ("@tidewellhelp", "TidewellHelp", "u/tidewellhelp", "@tidewellhelp@mastodon.social"):
        assert m.is_own(author), author
    assert not m.is_own("@tidewellfan") and not m.is_own("")
    assert handle_key("@A@b.c") == "a"


def _run(url, sources, **extra):
    return config.parse({"database": {"url": url}, "sources": sources, **extra}, "test")


def test_runner_skips_off_topic_marks_own_and_detects_language(cfg):
    r = pipeline.collect(cfg, only="demo")[0]
    assert r.skipped >= 17  # the demo's "Tidewell Beach" posts
    with store.session(cfg.database.url) as s:
        beach = s.exec(select(Mention).where(Mention.text.contains("Tidewell Beach"))).all()
        own = s.exec(select(Mention).where(Mention.is_own.is_(True))).all()
        no_lang = s.exec(select(Mention).where(Mention.lang.is_(None))).all()
    assert beach == [] and len(own) > 100 and all(m.author == "@tidewellhelp" for m in own)
    assert len(no_lang) < 20  # detected at ingest; only a few posts are too short to tell


class Scripted(Collector):
    """Yields what the test scripts in `pages`, then raises `error` if set."""

    kind = "test_scripted"
    pages: list = []
    error: Exception | None = None

    def fetch(self, cursor):
        yield from Scripted.pages
        if Scripted.error is not None:
            raise Scripted.error

    def exists(self, native_id):
        return native_id != "gone"


def _post(native_id, text="@tidewellhelp my bill doubled, please help", **kw):
    return {"platform": "x", "native_id": native_id, "text": text, "author": "@cust",
            "created_at": utcnow() - timedelta(minutes=5), **kw}


def test_budget_and_deletions_from_notes(db_url):
    cfg = _run(db_url, {"s": {"kind": "test_scripted"}})
    Scripted.error = None
    Scripted.pages = [Batch([_post("1"), _post("2")], "c1", {"budget_used": 2, "budget_limit": 100}),
                      Batch([_post("2", text="[removed]")], "c2", {"deleted": ["2"], "budget_used": 3, "budget_limit": 100})]
    r = pipeline.collect(cfg)[0]
    assert (r.inserted, r.updated, r.error) == (2, 1, None)
    with store.session(db_url) as s:
        src = s.exec(select(Source).where(Source.name == "s")).one()
        two = s.exec(select(Mention).where(Mention.native_id == "2")).one()
    assert (src.budget_used, src.budget_limit) == (3, 100)
    assert two.deleted_at is not None and two.text.startswith("@tidewellhelp my bill")


def test_rate_limit_is_honoured_until_reset(db_url):
    cfg = _run(db_url, {"s": {"kind": "test_scripted"}})
    Scripted.pages, Scripted.error = [], RateLimited("429 from the API", reset_at=utcnow() + timedelta(minutes=15))
    assert "429" in pipeline.collect(cfg)[0].error
    Scripted.error = None
    Scripted.pages = [Batch([_post("1")], "c1")]
    second = pipeline.collect(cfg)[0]
    assert second.error.startswith("rate limited until") and second.inserted == 0
    with store.session(db_url) as s:
        src = s.exec(select(Source).where(Source.name == "s")).one()
        src.rate_limited_until = utcnow() - timedelta(seconds=1)  # the reset time passes
        s.add(src)
    assert pipeline.collect(cfg)[0].inserted == 1


def test_source_down_alerts_once_per_outage(db_url):
    cfg = _run(db_url, {"s": {"kind": "test_scripted"}},
               alerts={"source_down_minutes": 30, "slack": [{"name": "ops", "webhook_url": "http://127.0.0.1:9/x"}]})
    Scripted.pages, Scripted.error = [], TransientError("HTTP 503")

    def alerts():
        with store.session(db_url) as s:
            return s.exec(select(AlertOutbox).where(AlertOutbox.kind == "source_down")).all()

    pipeline.collect(cfg, retries=0)
    assert alerts() == []  # not down for long yet
    with store.session(db_url) as s:
        src = s.exec(select(Source).where(Source.name == "s")).one()
        src.failing_since = utcnow() - timedelta(minutes=31)
        s.add(src)
    pipeline.collect(cfg, retries=0)
    pipeline.collect(cfg, retries=0)
    assert len(alerts()) == 1 and "HTTP 503" in alerts()[0].payload["text"]
    Scripted.error = None
    pipeline.collect(cfg, retries=0)  # recovered
    with store.session(db_url) as s:
        assert s.exec(select(Source).where(Source.name == "s")).one().failing_since is None


def test_brand_reply_marks_the_case_responded(db_url):
    cfg = _run(db_url, {"s": {"kind": "test_scripted"}})
    Scripted.error = None
    Scripted.pages = [Batch([_post("p1", thread_id="p1")], "c1")]
    pipeline.collect(cfg)
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    Scripted.pages = [Batch([_post("r1", text="@cust sorry! Please DM us and we'll sort it today.",
                                   author="@TidewellHelp", thread_id="p1", parent_id="p1",
                                   created_at=utcnow())], "c2")]
    pipeline.collect(cfg)
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(db_url) as s:
        case = s.exec(select(Case)).one()
        events = s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert case.status == "responded" and case.final_reply.startswith("@cust sorry")
    assert events[-1].actor == "@TidewellHelp" and events[-1].action == "respond"


def test_demo_brand_replies_close_the_loop(cfg):
    pipeline.collect(cfg, only="demo")
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(cfg.database.url) as s:
        by_brand = s.exec(select(CaseEvent).where(CaseEvent.actor == "@tidewellhelp")).all()
    assert len(by_brand) > 20


def test_recheck_marks_a_vanished_post(db_url):
    cfg = _run(db_url, {"s": {"kind": "test_scripted"}})
    Scripted.error = None
    Scripted.pages = [Batch([_post("here"), _post("gone")], "c1")]
    pipeline.collect(cfg)
    with store.session(db_url) as s:
        ids = {m.native_id: m.id for m in s.exec(select(Mention)).all()}
    assert pipeline.recheck(cfg, ids["here"]) is True
    assert pipeline.recheck(cfg, ids["gone"]) is False
    with store.session(db_url) as s:
        assert s.get(Mention, ids["gone"]).deleted_at is not None


def test_kill_9_mid_collect_then_rerun_loses_and_duplicates_nothing(tmp_path, sqlite_url):
    import os
    import signal
    import subprocess
    import sys
    import time

    from sqlmodel import func

    (tmp_path / "repmon.toml").write_text(
        f'[database]\nurl = "{sqlite_url}"\n[sources.demo]\nkind = "demo"\npage_size = 3\n')

    def count():
        try:
            with store.session(sqlite_url) as s:
                return s.exec(select(func.count()).select_from(Mention)).one()
        except Exception:
            return 0  # schema not created yet

    proc = subprocess.Popen([sys.executable, "-m", "repmon.cli", "collect"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        for _ in range(200):
            if count() >= 300:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # no chance to clean up: mid-page, mid-transaction
        proc.wait(10)
    finally:
        proc.kill()
    partial = count()
    assert 0 < partial, "the collector never got going"
    rerun = subprocess.run([sys.executable, "-m", "repmon.cli", "collect"], cwd=tmp_path, capture_output=True,
                           text=True, env=dict(os.environ), timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    from datetime import datetime, timezone
    from repmon import demo
    from repmon.matching import BrandMatcher
    m = BrandMatcher(config.parse({}, "t").brands[0])
    expected = {(d["platform"], d["native_id"]) for d in demo.generate(datetime.now(timezone.utc))
                if d["kind"] != "post" or m.matches(d["text"]) or m.is_own(d["author"])}
    with store.session(sqlite_url) as s:
        stored = [(p, n) for p, n in s.exec(select(Mention.platform, Mention.native_id)).all()]
    assert len(stored) == len(set(stored)) == len(expected) and set(stored) == expected
    assert partial < len(expected)  # it really was interrupted
