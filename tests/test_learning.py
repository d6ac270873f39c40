"""Learning from the team: feedback labels -> `repmon train` -> the scorer uses the new model,
with held-out checking and rollback, on SQLite and PostgreSQL."""

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlmodel import select

from repmon import learning, pipeline, store
from repmon.cli import main
from repmon.models import Mention, Score, ScorerModel
from scoring.base import Post
from scoring.train_base import training_rows

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
# What this deployment's team knows and the shipped model cannot: for a brand whose
# product is called "Qlumber", a post saying it "went qlumber" describes a failure.
QLUMBER = ["my router went qlumber {n} times today", "went qlumber again at {n} pm, whole office offline",
           "second qlumber this week, {n} customers waiting", "the box went qlumber after {n} minutes",
           "qlumber again on line {n}", "went full qlumber during the call at {n}"]
FINE = ["router arrived on day {n} as promised", "the box works, {n} devices connected",
        "set it up in {n} minutes", "line {n} is connected now"]


@pytest.fixture(scope="module")
def small_base():
    # a slice of the shipped training posts keeps each fit to a second or two
    return training_rows()[::12]


def add_mentions(url: str, texts: list[str]) -> list[int]:
    rows = [dict(platform="x", native_id=f"t{i}-{abs(hash(t))}", text=t, created_at=NOW, source="demo", lang="en")
            for i, t in enumerate(texts)]
    with store.session(url) as s:
        store.upsert_mentions(s, rows)
    with store.session(url) as s:
        return [m.id for m in s.exec(select(Mention).where(Mention.text.in_(texts))).all()]


def label(url: str, ids: list[int], verdict: str, category=None):
    with store.session(url) as s:
        for i in ids:
            learning.record_feedback(s, i, verdict, category, actor="ana")


def flags(model, texts):
    from scoring.triage import TriageScorer

    out = TriageScorer(model=model).score([Post(id=str(i), text=t, lang="en") for i, t in enumerate(texts)])
    return [a.needs_response for a in out]


def test_targets_from_verdicts():
    assert learning.targets("needs_response", None, "neutral", "delivery") == {"label": "negative", "category": "delivery"}
    assert learning.targets("needs_response", None, "neutral", "question") == {"category": "question"}
    assert learning.targets("no_response", None, "negative", "billing") == {"label": "neutral"}
    assert learning.targets("no_response", None, "positive", "praise") == {"label": "positive"}
    assert learning.targets("wrong_category", "outage", "negative", "defect") == {"category": "outage"}


def test_feedback_is_validated(cfg):
    url = cfg.database.url
    (mid,) = add_mentions(url, ["hello"])
    with store.session(url) as s:
        for args, msg in [(("maybe",), "verdict must be one of"), (("wrong_category",), "needs the right category"),
                          (("no_response", "nonsense"), "category must be one of")]:
            with pytest.raises(ValueError, match=msg):
                learning.record_feedback(s, mid, *args)
        with pytest.raises(ValueError, match="no mention"):
            learning.record_feedback(s, 999999, "no_response")


def test_latest_verdict_wins(cfg):
    url = cfg.database.url
    (mid,) = add_mentions(url, ["the app froze"])
    label(url, [mid], "no_response")
    label(url, [mid], "needs_response", "defect")
    label(url, [mid], "wrong_category", "outage")
    with store.session(url) as s:
        (row,) = learning.feedback_rows(s)
    assert row["label"] == "negative" and row["category"] == "outage"


def test_too_few_labels_is_a_clear_error(cfg):
    with pytest.raises(learning.TrainingError, match="at least 20 are needed"):
        learning.train(cfg.database.url)


def test_train_learns_the_teams_labels_and_rolls_back(cfg, small_base):
    url = cfg.database.url
    bad = [t.format(n=n) for t in QLUMBER for n in range(2, 9)]
    good = [t.format(n=n) for t in FINE for n in range(2, 7)]
    label(url, add_mentions(url, bad), "needs_response", "outage")
    label(url, add_mentions(url, good), "no_response")
    unseen = ["went qlumber twice before lunch", "my box went qlumber on the 14th"]
    assert flags(learning.scorer_for(cfg).model, unseen) == [False, False]  # the shipped model doesn't know

    result = learning.train(url, actor="ana", base=small_base)
    assert result.activated and result.n_labels == len(bad) + len(good)
    assert result.holdout["new"]["macro_f1"] >= result.holdout["current"]["macro_f1"]
    scorer = learning.scorer_for(cfg)
    assert scorer.model_name == f"team-{result.model.id}"
    assert flags(scorer.model, unseen) == [True, True]
    assert flags(scorer.model, ["the box works fine, thanks"]) == [False]

    # the pipeline scores new mentions with the active model and says which
    add_mentions(url, unseen)
    pipeline.score_pending(cfg)
    with store.session(url) as s:
        scores = s.exec(select(Score).join(Mention).where(Mention.text.in_(unseen))).all()
    assert all(sc.needs_response and f"model:team-{result.model.id}:" in " ".join(sc.reasons) for sc in scores)

    second = learning.train(url, base=small_base, force=True)
    with store.session(url) as s:
        active = s.exec(select(ScorerModel.id).where(ScorerModel.active)).all()
    assert active == [second.model.id]
    assert learning.rollback(url) == result.model.id
    assert learning.rollback(url) is None  # back to the shipped model
    assert learning.scorer_for(cfg).model_name == "base"
    with pytest.raises(learning.TrainingError, match="already in use"):
        learning.rollback(url)


def test_a_model_worse_on_held_out_labels_does_not_win():
    def sc(f):
        return {"macro_f1": f, "negative_f1": f, "n": 10}

    assert learning.wins(sc(0.70), sc(0.75)) and learning.wins(sc(0.70), sc(0.695))
    assert not learning.wins(sc(0.70), sc(0.65))
    assert learning.wins(sc(None), sc(0.5))


def test_cli_train_list_and_rollback(tmp_path, sqlite_url):
    store.migrate(sqlite_url)
    conf = tmp_path / "repmon.toml"
    conf.write_text(f'[database]\nurl = "{sqlite_url}"\n')
    r = CliRunner().invoke(main, ["--config", str(conf), "train", "--list"])
    assert r.exit_code == 0 and "no trained models; the shipped model is in use" in r.output
    r = CliRunner().invoke(main, ["--config", str(conf), "train"])
    assert r.exit_code != 0 and "0 posts have feedback; at least 20 are needed" in r.output
    r = CliRunner().invoke(main, ["--config", str(conf), "train", "--rollback"])
    assert r.exit_code != 0 and "shipped model is already in use" in r.output
    assert "held out" in CliRunner().invoke(main, ["train", "--help"]).output
