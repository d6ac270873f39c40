"""Right to erasure and retention, on both stores. The erasure check reads every text and JSON
column of every table from the schema itself, so a table added later is checked too."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel, func, select

from repmon import cases, config, learning, pipeline, privacy, store
from repmon.cli import main
from repmon.models import (
    AlertOutbox, Case, CaseEvent, CaseMention, FeedbackLabel, Mention, MentionHour, Score, ThemeWeek, utcnow,
)

HANDLE = "leaky_lucy99"
ANGRY = "@tidewell charged twice for my plan, refund me now or I go to the press. Worst service ever."


@pytest.fixture
def cfg(db_url):
    return config.parse({
        "database": {"url": db_url},
        "alerts": {"slack": [{"name": "oncall", "webhook_url": "http://127.0.0.1:9/services/T/B/x"}]},
    }, "test")


def post(native_id, author, text, minutes_ago=30, platform="x", raw=None, **kw):
    return dict(source="test", platform=platform, native_id=native_id, author=author, author_reach=50, text=text,
                lang="en", created_at=utcnow() - timedelta(minutes=minutes_ago), raw=raw, **kw)


def seed(cfg):
    """Lucy on X and Reddit with cases, an edit, feedback, a note, sent and pending alerts; other
    people quoting and replying to her; and Olga, whose data must survive untouched."""
    url = cfg.database.url
    with store.session(url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        store.upsert_mentions(s, [dict(p, brand_id=brand_id) for p in [
            post("l1", f"@{HANDLE}", ANGRY, raw={"user": {"screen_name": HANDLE}, "id": "l1"}),
            post("l2", f"@{HANDLE}", "@tidewell still no refund, my bill is wrong again", minutes_ago=20),
            post("l3", f"u/{HANDLE}", "Tidewell charged me twice and support ignores me", platform="reddit"),
            post("o1", "@olga", ANGRY.replace("plan", "phone"), minutes_ago=25),
            post("o2", "@bystander", f"@{HANDLE} same here, tidewell is a mess", minutes_ago=10,
                 raw={"in_reply_to_screen_name": HANDLE.upper(), "entities": [f"@{HANDLE}"]}, parent_id="l1"),
            post("o3", "u/someone", f"see https://reddit.com/u/{HANDLE}/ about tidewell", platform="reddit"),
        ]])
        # An edit: Lucy's earlier text is kept as a revision.
        store.upsert_mentions(s, [dict(post("l2", f"@{HANDLE}", f"@tidewell still no refund (edited by {HANDLE})",
                                            minutes_ago=20), brand_id=brand_id)])
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(url) as s:
        lucy_case = s.exec(select(Case).where(Case.author == f"@{HANDLE}")).first()
        olga_case = s.exec(select(Case).where(Case.author == "@olga")).first()
        l1 = s.exec(select(Mention).where(Mention.native_id == "l1")).one()
        o1 = s.exec(select(Mention).where(Mention.native_id == "o1")).one()
        learning.record_feedback(s, l1.id, "needs_response", actor="ana")
        learning.record_feedback(s, o1.id, "needs_response", actor="ana")
        # Olga's case note names Lucy: the note stays, the handle goes.
        s.add(CaseEvent(case_id=olga_case.id, actor="ana", action="note", detail=f"same billing bug as @{HANDLE}"))
        s.add(AlertOutbox(key="sent-lucy", kind="case_opened", channel="oncall", case_id=lucy_case.id, status="sent",
                          payload={"text": f"@{HANDLE} wrote: {ANGRY}", "blocks": []}, sent_at=utcnow()))
        s.add(AlertOutbox(key="spike-naming-lucy", kind="spike", channel="oncall", status="pending",
                          payload={"text": "spike", "blocks": [{"text": f"*@{HANDLE}* on x"}]}))
        s.add(AlertOutbox(key="olga-sent", kind="case_opened", channel="oncall", case_id=olga_case.id, status="sent",
                          payload={"text": "@olga wrote: about her phone", "blocks": []}, sent_at=utcnow()))
    assert lucy_case is not None and olga_case is not None, "the scorer should flag the angry posts"
    cases.act(url, lucy_case.id, "note", "ana", text=f"called {HANDLE} back")
    return lucy_case.id, olga_case.id


def text_columns():
    """Every column holding text or JSON, by its type in the DDL (not by privacy's own rule)."""
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            ddl = column.type.compile(dialect=postgresql.dialect()).upper()
            if any(word in ddl for word in ("CHAR", "TEXT", "JSON")):
                yield table, column


def rows_naming(url, needle):
    """(table.column, value) of every row anywhere whose text contains `needle`."""
    found = []
    with store.get_engine(url).connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        for table, column in text_columns():
            if table.name in present:
                q = sa.select(column).where(sa.func.lower(sa.cast(column, sa.Text)).contains(needle.lower()))
                found += [(f"{table.name}.{column.name}", v) for v in conn.execute(q).scalars()]
    return found


def snapshot(url):
    with store.get_engine(url).connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        return {t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
                for t in SQLModel.metadata.sorted_tables if t.name in present}


def count(url, model, *where):
    with store.session(url) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def test_the_schema_check_sees_every_table_with_text():
    # If a model's text columns were invisible to it, the erasure test below would prove nothing.
    names = {f"{t.name}.{c.name}" for t, c in text_columns()}
    assert {"mention.text", "mention.author", "mention.raw", "mentionrevision.text", "case.suggested_reply",
            "caseevent.detail", "alertoutbox.payload", "feedbacklabel.actor", "score.reasons"} <= names
    assert names == {f"{t.name}.{c.name}" for t in SQLModel.metadata.sorted_tables for c in t.columns
                     if privacy._is_text(c)}


def test_forget_removes_the_person_everywhere_and_keeps_everyone_else(cfg):
    url = cfg.database.url
    lucy_case, olga_case = seed(cfg)
    assert len(rows_naming(url, HANDLE)) >= 10  # the seed really spread her handle around
    olga_before = count(url, Mention, Mention.author.in_(["@olga", "@bystander", "u/someone"]))
    volume_before = _volume(url)
    with store.session(url) as s:
        her_cases = s.exec(select(Case.id).where(Case.author.in_([f"@{HANDLE}", f"u/{HANDLE}"]))).all()

    with store.session(url) as s:  # a cached theme week holding her posts' ids and phrases
        s.add(ThemeWeek(brand_id=0, week="2026-W40", fingerprint="x", posts=[[1, "billing", 0, "en", 0, False, "x"]]))

    counts = privacy.forget(cfg, HANDLE.upper())  # any case, with or without @

    assert rows_naming(url, HANDLE) == []
    assert count(url, ThemeWeek) == 0 and counts["themeweek"]["deleted"] == 1
    assert counts["mention"]["deleted"] == 3 and counts["score"]["deleted"] == 3
    assert counts["mentionrevision"]["deleted"] == 1 and counts["feedbacklabel"]["deleted"] == 1
    assert counts["case"]["deleted"] == len(her_cases) and counts["caseevent"]["deleted"] >= 2
    # the pending spike alert (and any pending alert of her cases) goes; the sent one is kept, emptied
    assert counts["alertoutbox"]["deleted"] >= 1 and counts["alertoutbox"]["scrubbed"] == 1
    with store.session(url) as s:
        assert lucy_case in her_cases and s.exec(select(Case).where(Case.id.in_(her_cases))).all() == []
        assert s.exec(select(AlertOutbox).where(AlertOutbox.key == "spike-naming-lucy")).first() is None
        sent = s.exec(select(AlertOutbox).where(AlertOutbox.key == "sent-lucy")).one()
        assert sent.status == "sent" and sent.case_id is None and sent.payload == privacy.REDACTED_ALERT
        bystander = s.exec(select(Mention).where(Mention.native_id == "o2")).one()
        assert bystander.text == "@[removed] same here, tidewell is a mess"
        assert bystander.raw == {"in_reply_to_screen_name": "[removed]", "entities": ["[removed]"]}
        assert "u/[removed]/" in s.exec(select(Mention.text).where(Mention.native_id == "o3")).one()
        note = s.exec(select(CaseEvent.detail).where(CaseEvent.case_id == olga_case, CaseEvent.action == "note")).one()
        assert note == "same billing bug as @[removed]"
        olga = s.get(Case, olga_case)
        assert olga.author == "@olga" and olga.suggested_reply
        assert s.exec(select(AlertOutbox.payload).where(AlertOutbox.key == "olga-sent")).one()["text"].startswith("@olga")
    assert count(url, Mention, Mention.author.in_(["@olga", "@bystander", "u/someone"])) == olga_before == 3
    assert count(url, Score) == 3 and count(url, FeedbackLabel) == 1
    assert count(url, CaseMention, CaseMention.case_id == olga_case) == 1
    assert _volume(url) == volume_before - 3  # the hourly rollups no longer count her posts


def _volume(url):
    with store.session(url) as s:
        return s.exec(select(func.coalesce(func.sum(MentionHour.volume), 0))).one()


def test_a_case_with_other_peoples_posts_stays_without_her(cfg):
    url = cfg.database.url
    lucy_case, _ = seed(cfg)
    with store.session(url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        store.upsert_mentions(s, [dict(post("h1", "@helper", "my partner has the same tidewell bill"), brand_id=brand_id)])
        helper = s.exec(select(Mention).where(Mention.native_id == "h1")).one()
        s.add(CaseMention(case_id=lucy_case, mention_id=helper.id))
        case = s.get(Case, lucy_case)
        case.suggested_reply = f"Hi {HANDLE}, sorry about the bill."
        s.add(case)
    counts = privacy.forget(cfg, f"@{HANDLE}")
    assert rows_naming(url, HANDLE) == []
    with store.session(url) as s:
        case = s.get(Case, lucy_case)
        notes = s.exec(select(CaseEvent.detail).where(CaseEvent.case_id == lucy_case, CaseEvent.action == "note")).all()
        linked = s.exec(select(CaseMention.mention_id).where(CaseMention.case_id == lucy_case)).all()
    assert case.author == "@helper" and case.suggested_reply == "Hi [removed], sorry about the bill."
    assert notes == ["called [removed] back"] and linked == [helper.id]
    assert counts["case"]["scrubbed"] == 1 and counts["caseevent"]["scrubbed"] >= 1


def test_a_dry_run_changes_nothing_and_counts_what_a_real_run_does(cfg):
    url = cfg.database.url
    seed(cfg)
    before = snapshot(url)
    planned = privacy.forget(cfg, f"@{HANDLE}", dry_run=True)
    assert snapshot(url) == before
    assert privacy.forget(cfg, f"@{HANDLE}") == planned
    assert snapshot(url) != before


def test_a_platform_limits_the_erasure_to_it(cfg):
    url = cfg.database.url
    seed(cfg)
    privacy.forget(cfg, HANDLE, platform="x")
    with store.session(url) as s:
        left = s.exec(select(Mention.author, Mention.platform).where(Mention.native_id.in_(["l1", "l2", "l3"]))).all()
        reddit_other = s.exec(select(Mention.text).where(Mention.native_id == "o3")).one()
    assert left == [(f"u/{HANDLE}", "reddit")]
    assert HANDLE in reddit_other  # a Reddit post, so not part of an erasure limited to X


def test_only_the_handle_is_scrubbed_from_other_peoples_words(cfg):
    url = cfg.database.url
    with store.session(url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        store.upsert_mentions(s, [dict(post("a", "@sam", "tidewell is fine"), brand_id=brand_id),
                                  dict(post("b", "@kim", "sam said @sam and @sam_b like tidewell"), brand_id=brand_id)])
    assert privacy.matches(cfg, "SAM") == [("@sam", "x", 1)]
    privacy.forget(cfg, "@sam")
    with store.session(url) as s:
        assert s.exec(select(Mention.text)).all() == ["sam said @[removed] and @sam_b like tidewell"]


def test_prune_clears_raw_past_the_cutoff_in_batches_and_keeps_open_cases(cfg):
    url = cfg.database.url
    with store.session(url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        days = {"new": 10, "edge": 89, "old1": 91, "old2": 120, "old3": 400, "none": 200}
        store.upsert_mentions(s, [dict(post(n, f"@{n}", "tidewell ok", minutes_ago=d * 1440,
                                            raw=None if n == "none" else {"payload": n}), brand_id=brand_id)
                                  for n, d in days.items()])
        in_open_case = s.exec(select(Mention).where(Mention.native_id == "old3")).one()
        case = Case(brand_id=brand_id, platform="x", author="@old3", thread_key="x:old3", status="waiting")
        s.add(case)
        s.flush()
        s.add(CaseMention(case_id=case.id, mention_id=in_open_case.id))

    def raws():
        with store.session(url) as s:
            return dict(s.exec(select(Mention.native_id, Mention.raw)).all())

    assert privacy.prune(cfg, dry_run=True) == {"mention": {"raw cleared": 2}}
    assert raws()["old1"] == {"payload": "old1"}
    assert privacy.prune(cfg, batch=1) == {"mention": {"raw cleared": 2}}
    after = raws()
    assert after["old1"] is None and after["old2"] is None and after["none"] is None
    assert after["new"] == {"payload": "new"} and after["edge"] == {"payload": "edge"}
    assert after["old3"] == {"payload": "old3"}  # its case is still open
    assert privacy.prune(cfg) == {}  # nothing left to do


def test_prune_deletes_whole_mentions_with_their_rows_and_empty_cases(cfg):
    url = cfg.database.url
    with store.session(url) as s:
        brand_id = store.sync_brands(s, cfg.brands)[cfg.brands[0].name]
        store.upsert_mentions(s, [dict(post(f"m{i}", f"@a{i}", ANGRY, minutes_ago=(i * 100 + 5) * 1440),
                                       brand_id=brand_id) for i in range(4)])
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(url) as s:
        for c in s.exec(select(Case)).all():
            c.status = "resolved"
            s.add(c)
    assert count(url, Case) == 4
    keep_year = cfg.model_copy(deep=True)
    keep_year.database.retention_days = 250  # m3 (305 days) goes; m0, m1, m2 stay
    assert privacy.prune(keep_year, dry_run=True)["mention"] == {"deleted": 1}
    done = privacy.prune(keep_year, batch=1)
    assert done["mention"]["deleted"] == 1 and done["score"]["deleted"] == 1 and done["case"]["deleted"] == 1
    assert count(url, Mention) == 3 and count(url, Score) == 3 and count(url, Case) == 3
    assert count(url, Mention, Mention.native_id == "m3") == 0


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_cli_forget_asks_first_and_prune_reports(cfg, tmp_path):
    seed(cfg)
    path = tmp_path / "repmon.toml"
    path.write_text(f'[database]\nurl = "{cfg.database.url}"\nretention_days_raw = 30\n')
    r = invoke("--config", str(path), "forget", "--author", f"@{HANDLE}", "--dry-run")
    assert r.exit_code == 0 and f"@{HANDLE} on x: 2 post(s)" in r.output and f"u/{HANDLE} on reddit: 1" in r.output
    assert "would erase:" in r.output and "mention" in r.output
    r = invoke("--config", str(path), "forget", "--author", f"@{HANDLE}", input="n\n")
    assert r.exit_code == 1 and "Aborted" in r.output
    assert count(cfg.database.url, Mention, Mention.native_id == "l1") == 1
    r = invoke("--config", str(path), "forget", "--author", f"@{HANDLE}", "--yes")
    assert r.exit_code == 0 and "erased:" in r.output and "3 deleted" in r.output
    assert rows_naming(cfg.database.url, HANDLE) == []
    r = invoke("--config", str(path), "prune", "--dry-run")
    assert r.exit_code == 0 and "raw payloads 30 days, mentions kept forever" in r.output
    help_text = invoke("forget", "--help").output
    assert "Examples:" in help_text and "--dry-run" in help_text
