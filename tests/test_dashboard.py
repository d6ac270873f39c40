"""Every dashboard page and case action through Streamlit's AppTest; queries on both stores."""

from pathlib import Path

import pytest
import streamlit as st
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from dashboard import queries
from repmon import cases, config, demo_team, pipeline, store
from repmon.models import Case, CaseEvent, CaseMention, FeedbackLabel, utcnow

VIEWS = Path(__file__).resolve().parents[1] / "dashboard" / "views"
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def load_demo(url: str) -> config.Config:
    cfg = config.parse({"database": {"url": url}}, "test")
    store.migrate(url)
    pipeline.collect(cfg, only="demo")
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    demo_team.work_backlog(url)
    return cfg


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'demo.db'}"
    load_demo(url)
    return url


@pytest.fixture
def app_env(monkeypatch, demo_db):
    monkeypatch.setenv("REPMON_DATABASE_URL", demo_db)
    st.cache_data.clear()
    st.cache_resource.clear()
    return demo_db


def run(page: str, **params) -> AppTest:
    at = AppTest.from_file(str(VIEWS / page), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_app_entry_renders_overview(app_env):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Reputation overview"
    assert any("Demo mode" in i.value for i in at.info)


def test_overview_has_kpis_and_charts(app_env):
    at = run("overview.py")
    labels = [m.label for m in at.metric]
    assert labels == ["Mentions", "Negative share", "Needed a response", "Open cases", "Past first-response SLA",
                      "Median first response", "Answered within SLA"]
    assert int(at.metric[0].value.replace(",", "")) > 0
    assert len(at.get("vega_lite_chart")) == 3  # index, sentiment mix, share of voice
    at.radio(key="breakdown_by").set_value("lang").run()
    langs = set(at.dataframe[0].value["lang"])
    assert {"en", "es", "ro", "fa"} <= langs


def test_queue_lists_cases_most_urgent_first_and_filters(app_env):
    at = run("queue.py")
    assert 0 < len(at.dataframe[0].value) < 100  # recent cases; the demo team answered the older ones
    at.selectbox(key="status").set_value("all").run()
    df = at.dataframe[0].value
    assert len(df) > 100
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    ranks = [order[p] for p in df["priority"]]
    assert ranks == sorted(ranks)
    at.multiselect(key="lang").set_value(["fa"]).run()
    assert set(at.dataframe[0].value["lang"]) == {"fa"}


def test_case_page_shows_post_reasons_and_reply(app_env):
    with store.session(app_env) as s:
        case = s.exec(select(Case).where(Case.priority == "critical")).first()
    at = run("case.py", id=str(case.id))
    assert at.subheader[0].value.startswith(f"#{case.id} · critical")
    assert any("Flagged because" in c.value for c in at.caption)
    assert at.text_area(key=f"reply_{case.id}").value == case.suggested_reply
    assert any(t.value for t in at.text)  # the post, as plain text


def test_case_actions_from_the_page(app_env):
    with store.session(app_env) as s:
        case = s.exec(select(Case).where(Case.status == "new").order_by(Case.id.desc())).first()
    at = run("case.py", id=str(case.id))
    at.text_input(key="actor").set_value("ana")
    at.text_area(key=f"reply_{case.id}").set_value("Hi, we're sorry about this. Please DM us and we'll fix it today.")
    at.button(key="respond").click().run()
    assert not at.exception
    with store.session(app_env) as s:
        after = s.get(Case, case.id)
        events = s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert after.status == "responded" and after.final_reply.startswith("Hi, we're sorry")
    assert events[-1].actor == "ana" and events[-1].action == "respond"


def test_feedback_buttons_store_verdicts_for_training(app_env):
    with store.session(app_env) as s:
        case = s.exec(select(Case).where(Case.category != "billing").order_by(Case.id)).first()
        mention_ids = {cm.mention_id for cm in s.exec(select(CaseMention).where(CaseMention.case_id == case.id))}
    at = run("case.py", id=str(case.id))
    at.text_input(key="actor").set_value("ana")
    at.button(key="fb_not_needed").click().run()
    at.selectbox(key="fb_category").set_value("billing").run()
    at.button(key="fb_category_btn").click().run()
    assert not at.exception
    with store.session(app_env) as s:
        labels = s.exec(select(FeedbackLabel).where(FeedbackLabel.mention_id.in_(mention_ids))).all()
    assert {(fb.verdict, fb.category, fb.actor) for fb in labels} == {
        ("no_response", None, "ana"), ("wrong_category", "billing", "ana")}


def test_queue_filters_by_sla_category_source_and_owner(app_env):
    at = run("queue.py")
    at.selectbox(key="status").set_value("all").run()
    at.selectbox(key="sla").set_value("breached").run()
    breached = at.dataframe[0].value if at.dataframe else None
    with store.session(app_env) as s:
        n_breached = len(s.exec(select(Case).where(Case.first_response_at.is_(None),
                                                   Case.first_response_due < utcnow())).all())
    assert (0 if breached is None else len(breached)) == min(n_breached, 200)
    at.selectbox(key="sla").set_value("any").run()
    at.multiselect(key="category").set_value(["billing"]).run()
    assert set(at.dataframe[0].value["category"]) == {"billing"}
    at.multiselect(key="platform").set_value(["x"]).run()
    assert set(at.dataframe[0].value["platform"]) == {"x"}
    at.selectbox(key="owner").set_value("nobody").run()
    assert set(at.dataframe[0].value["owner"]) == {""}
    at.multiselect(key="category").set_value(["abuse"]).run()
    at.selectbox(key="sla").set_value("on track").run()
    at.multiselect(key="lang").set_value(["tr"]).run()
    assert any("No cases match these filters" in i.value for i in at.info)


def test_case_page_shows_sla_clocks_notes_and_waiting(app_env):
    with store.session(app_env) as s:
        case = s.exec(select(Case).where(Case.status == "new").order_by(Case.id)).first()
    at = run("case.py", id=str(case.id))
    shown = [m.value for m in [*at.info, *at.warning, *at.error]]
    assert any(v.startswith("First response") for v in shown) and any(v.startswith("Resolution") for v in shown)
    at.text_input(key="actor").set_value("ana")
    at.text_input(key="note_text").set_value("customer called the shop too")
    at.button[[b.label for b in at.button].index("Add note")].click().run()
    at.button(key="wait").click().run()
    assert not at.exception
    with store.session(app_env) as s:
        events = s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
        assert s.get(Case, case.id).status == "waiting"
    assert [(e.action, e.detail) for e in events[-2:]] == [("note", "customer called the shop too"), ("wait", None)]


def test_case_page_links_the_authors_earlier_cases(app_env):
    with store.session(app_env) as s:
        c1, c2 = s.exec(select(Case).order_by(Case.id).limit(2)).all()
        c2.platform, c2.author = c1.platform, c1.author
        s.add(c2)
    at = run("case.py", id=str(c1.id))
    assert any(f"earlier case(s) from {c1.author}" in e.label for e in at.expander)


def test_case_page_without_id_says_what_to_do(app_env):
    at = run("case.py")
    assert "Open a case from the Case queue" in at.info[0].value


def test_empty_store_pages_say_what_to_do_next(monkeypatch, sqlite_url):
    monkeypatch.setenv("REPMON_DATABASE_URL", sqlite_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    assert "repmon demo" in run("overview.py").info[-1].value
    assert "repmon demo" in run("queue.py").info[-1].value
    assert "repmon collect" in run("sources.py").info[-1].value


def test_sources_page(app_env):
    at = run("sources.py")
    assert "demo" in list(at.dataframe[0].value["name"])


def test_queries_agree_on_both_stores(db_url):
    load_demo(db_url)
    d = queries.daily(db_url)
    assert len(d) >= 50 and d["volume"].sum() >= 2000
    assert d["reputation_index"].between(-100, 100).all()
    peak = d.loc[d["volume"].idxmax()]
    assert peak["volume"] >= 5 * d["volume"].median()  # the demo's crisis spike
    b = queries.breakdown(db_url, "lang")
    assert {"en", "es", "ro", "fa", "de", "fr"} <= set(b["lang"])
    q = queries.case_queue(db_url, status="all", limit=10)
    assert q.iloc[0]["priority"] == "critical"
    k = queries.kpis(db_url)
    assert k["open_cases"] > 0 and 0 < k["negative_share"] < 1
    assert 0 < k["within_sla"] < 1 and k["median_first_response_min"] > 0  # the demo team's work
    assert k["breached"] < k["open_cases"] * 0.9


def test_case_recheck_button_says_what_the_source_can_tell(app_env):
    at = run("case.py", id="1")
    at.button(key="recheck").click().run()
    assert not at.exception
    assert "cannot be re-checked" in at.info[-1].value  # the demo source has no exists()


def test_post_reply_publishes_through_the_x_api_and_marks_responded(tmp_path, monkeypatch):
    import json

    import responses


    url = f"sqlite:///{tmp_path / 'post.db'}"
    creds = {"consumer_key": "ck-XK8a2Lq9", "consumer_secret": "cs-8d7f6e5d4c3b2a19",
             "access_token": "783214-Tk9Qw2Er4Ty6Ui8Op0", "access_token_secret": "ats-Zx1Cv3Bn5Ml7Kj9H"}
    conf = tmp_path / "repmon.toml"
    conf.write_text(f'[database]\nurl = "{url}"\n[[brands]]\nname = "Tidewell"\nkeywords = ["tidewell"]\n'
                    '[replies]\npost_to_platforms = true\n[sources.xs]\nkind = "x"\nbearer_token = "AAAAbearer"\n'
                    + "".join(f'{k} = "{v}"\n' for k, v in creds.items()))
    monkeypatch.setenv("REPMON_CONFIG", str(conf))
    monkeypatch.delenv("REPMON_DATABASE_URL", raising=False)
    cfg = config.load()
    store.migrate(url)
    with store.session(url) as s:
        store.sync_brands(s, cfg.brands)
        store.upsert_mentions(s, [dict(platform="x", native_id="1790012345678901249", source="xs", lang="en",
                                       text="@tidewell my calls keep dropping, third day in a row", author="@anapop",
                                       created_at=utcnow(), url="https://x.com/anapop/status/1790012345678901249",
                                       raw={"item": {"id": "1790012345678901249"}})])
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(url) as s:
        case = s.exec(select(Case)).one()
    st.cache_data.clear()
    st.cache_resource.clear()
    with responses.RequestsMock() as rsps:
        rsps.post("https://api.twitter.com/2/tweets", status=201,
                  json={"data": {"id": "1790099999999999999", "text": "…",
                                 "edit_history_tweet_ids": ["1790099999999999999"]}})
        at = run("case.py", id=str(case.id))
        at.button(key="publish").click().run()
        assert not at.exception
        body = json.loads(rsps.calls[0].request.body)
    assert body["reply"] == {"in_reply_to_tweet_id": "1790012345678901249"} and body["text"] == case.suggested_reply
    with store.session(url) as s:
        after = s.get(Case, case.id)
        notes = s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "note")).all()
    assert after.status == "responded" and after.final_reply == case.suggested_reply
    assert "1790099999999999999" in notes[-1].detail


def test_share_of_voice_against_the_configured_competitors(app_env):
    at = run("overview.py")
    assert "Share of voice" in [h.value for h in at.subheader]
    sov = at.dataframe[1].value
    assert list(sov["name"]) == ["Tidewell Mobile", "Orbitel", "Skyfern"]
    assert abs(sov["share"].sum() - 1) < 1e-9 and sov["mentions"].iloc[0] > sov["mentions"].iloc[1] > 0


def test_share_of_voice_counts_names_in_the_database(db_url):
    from repmon.models import utcnow as now

    rows = [dict(platform="x", native_id=str(i), text=t, source="t", created_at=now(), lang="en")
            for i, t in enumerate(["Acme is great", "acme vs Rival: rival wins", "Rival outage again", "nothing"])]
    with store.session(db_url) as s:
        store.upsert_mentions(s, rows)
    pipeline.score_pending(config.parse({"database": {"url": db_url}}, "t"))
    sov = queries.share_of_voice(db_url, {"Acme": ["Acme", "@acme"], "Rival": ["rival"]})
    assert list(sov["mentions"]) == [2, 2] and list(sov["share"]) == [0.5, 0.5]


@pytest.mark.parametrize("page,key", [("overview.py", "breakdown_csv"), ("overview.py", "sov_csv"),
                                      ("queue.py", "queue_csv"), ("sources.py", "sources_csv")])
def test_tables_download_as_csv(app_env, page, key):
    at = run(page)
    assert at.get("download_button") and any(getattr(b, "proto", None) and b.proto.id and key in b.proto.id
                                             for b in at.get("download_button"))


def test_case_page_shows_the_thread_around_the_post(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'thread.db'}"
    monkeypatch.setenv("REPMON_DATABASE_URL", url)
    cfg = config.parse({"database": {"url": url}}, "test")
    store.migrate(url)
    t0 = utcnow()
    rows = [dict(platform="reddit", native_id="t3_a", thread_id="t3_a", author="op", source="t", lang="en",
                 text="Anyone else with Tidewell roaming issues in Spain?", created_at=t0),
            dict(platform="reddit", native_id="t1_b", thread_id="t3_a", parent_id="t3_a", author="mia", source="t",
                 lang="en", text="@tidewell my roaming never worked, charged twice and no refund. Terrible.",
                 created_at=t0),
            dict(platform="reddit", native_id="t1_c", thread_id="t3_a", parent_id="t1_b", author="TidewellCare",
                 source="t", lang="en", is_own=True, text="Sorry Mia, we've sent you a DM.", created_at=t0)]
    with store.session(url) as s:
        store.upsert_mentions(s, rows)
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    with store.session(url) as s:
        case = s.exec(select(Case).where(Case.author == "mia")).one()
    st.cache_data.clear()
    st.cache_resource.clear()
    at = run("case.py", id=str(case.id))
    (exp,) = [e for e in at.expander if e.label.startswith("Thread context")]
    shown = [t.value for t in exp.text]
    assert "Anyone else with Tidewell roaming issues in Spain?" in shown
    assert "Sorry Mia, we've sent you a DM." in shown and any("the brand" in v for v in shown)


def test_reputation_index_weights_reach_the_same_on_both_stores(db_url):
    import math

    from repmon.models import Mention, Score

    rows = [dict(platform="x", native_id="r1", text="Acme is wonderful, thank you!", author_reach=0, source="t",
                 created_at=utcnow(), lang="en"),
            dict(platform="x", native_id="r2", text="Acme is awful, worst service ever", author_reach=99_999,
                 source="t", created_at=utcnow(), lang="en")]
    with store.session(db_url) as s:
        store.upsert_mentions(s, rows)
    pipeline.score_pending(config.parse({"database": {"url": db_url}}, "t"))
    with store.session(db_url) as s:
        pairs = [(m.author_reach, sc.sentiment) for m, sc in
                 s.exec(select(Mention, Score).join(Score, Score.mention_id == Mention.id)).all()]
    weights = [(1 + math.log10(1 + reach), sentiment) for reach, sentiment in pairs]
    expected = 100 * sum(w * x for w, x in weights) / sum(w for w, _ in weights)
    got = queries.daily(db_url)["reputation_index"].iloc[0]
    assert abs(got - expected) < 1e-6
