"""Learning from the team: feedback labels in, a per-deployment scoring model out.

An agent tells the dashboard that a post "didn't need a response", "needed one", or has
the wrong category (FeedbackLabel rows). `train` turns the latest verdict per post into
training targets, fits the triage model on the project's own training posts plus those
targets (weighted so a few hundred labels count), and stores the model in the database.
It becomes active only when it does at least as well as the current one on feedback it
was not trained on; earlier models are kept, and `rollback` goes back one step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from sqlmodel import Session, select

from repmon import store
from repmon.models import CATEGORIES, FeedbackLabel, Mention, Score, ScorerModel
from scoring.model import Model, fit
from scoring.train_base import EPOCHS, examples, label_scores, training_rows
from scoring.triage import TriageScorer, base_model

VERDICTS = ("needs_response", "no_response", "wrong_category")
MIN_LABELS = 20
HOLDOUT_SHARE = 0.2
TOLERANCE = 0.01  # a new model may be this much worse on the holdout and still win (noise)


class TrainingError(Exception):
    pass


@dataclass
class TrainResult:
    model: Optional[ScorerModel]  # None when the new model lost against the active one
    n_labels: int
    holdout: dict  # {"current": scores, "new": scores}
    activated: bool


def record_feedback(s: Session, mention_id: int, verdict: str, category: Optional[str] = None,
                    actor: str = "") -> FeedbackLabel:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if category is not None and category not in CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    if verdict == "wrong_category" and category is None:
        raise ValueError("a wrong_category verdict needs the right category")
    if s.get(Mention, mention_id) is None:
        raise ValueError(f"no mention with id {mention_id}")
    label = FeedbackLabel(mention_id=mention_id, verdict=verdict, category=category, actor=actor)
    s.add(label)
    return label


def targets(verdict: str, category: Optional[str], scored_label: Optional[str],
            scored_category: Optional[str]) -> dict[str, str]:
    """Training targets for the model's heads from one verdict on one scored post.

    "needed one" means a negative post, unless it was a plain question (those need an
    answer without being negative); "didn't need one" means not negative, and keeps
    "positive" when the scorer said so; "wrong category" teaches the category only."""
    out: dict[str, str] = {}
    if verdict == "needs_response":
        cat = category or scored_category
        if cat != "question":
            out["label"] = "negative"
        if cat and cat != "praise":
            out["category"] = cat
    elif verdict == "no_response":
        out["label"] = "positive" if scored_label == "positive" else "neutral"
        if category:
            out["category"] = category
    elif verdict == "wrong_category" and category:
        out["category"] = category
    return out


def feedback_rows(s: Session) -> list[dict]:
    """One training row per post with feedback: its text and language, and the targets of
    its latest needs/no-response verdict and its latest category correction."""
    q = (select(FeedbackLabel, Mention, Score)
         .join(Mention, Mention.id == FeedbackLabel.mention_id)
         .outerjoin(Score, Score.mention_id == Mention.id)
         .order_by(FeedbackLabel.id))
    rows: dict[int, dict] = {}
    for fb, m, sc in s.exec(q).all():
        row = rows.setdefault(m.id, {"text": m.text, "lang": m.lang, "rating": m.rating})
        t = targets(fb.verdict, fb.category, sc.label if sc else None, sc.category if sc else None)
        if fb.verdict != "wrong_category":
            row.pop("label", None)
        row.update(t)
    return [r for r in rows.values() if "label" in r or "category" in r]


def feedback_weight(n_base: int, n_feedback: int) -> float:
    """How much one team label counts against one of the shipped training posts: enough
    that a few dozen labels move the model, never more than 20 each."""
    return max(1.0, min(20.0, n_base / (1.5 * max(1, n_feedback))))


def fit_with_feedback(feedback: Sequence[dict], base: Optional[list[dict]] = None,
                      progress: Optional[Callable] = None) -> Model:
    base = training_rows() if base is None else base
    w = feedback_weight(len(base), len(feedback))
    exs = examples(base) + examples(list(feedback), weight=w)
    return fit(exs, epochs=EPOCHS, meta={"name": "team", "n_labels": len(feedback)}, progress=progress)


def evaluate(model: Model, rows: Sequence[dict]) -> dict:
    """Label scores of `model` on feedback rows that have a label target."""
    rows = [r for r in rows if "label" in r]
    if not rows:
        return {"negative_f1": None, "macro_f1": None, "n": 0}
    exs = examples(list(rows))
    probs = model.predict([e.feats for e in exs])["label"].argmax(axis=1)
    return label_scores([r["label"] for r in rows], [model.heads["label"][i] for i in probs])


def train(url: str, actor: str = "", min_labels: int = MIN_LABELS, force: bool = False,
          say: Callable[[str], None] = lambda _m: None, base: Optional[list[dict]] = None) -> TrainResult:
    """Fit on the shipped training posts (or `base`) plus every post with feedback."""
    with store.session(url) as s:
        rows = feedback_rows(s)
    if len(rows) < min_labels:
        raise TrainingError(f"{len(rows)} posts have feedback; at least {min_labels} are needed. "
                            "Mark cases in the dashboard as 'needed a response' / 'didn't need one' first.")
    current = active_model(url) or base_model()
    shuffled = list(rows)
    random.Random(len(rows)).shuffle(shuffled)
    n_hold = max(1, int(len(shuffled) * HOLDOUT_SHARE))
    held, kept = shuffled[:n_hold], shuffled[n_hold:]
    base = training_rows() if base is None else base
    say(f"checking on {n_hold} held-out labels: fitting on {len(kept)} labels + {len(base)} shipped posts")
    trial = fit_with_feedback(kept, base)
    scores = {"current": evaluate(current, held), "new": evaluate(trial, held)}
    say(f"held-out macro-F1: current {scores['current']['macro_f1']}, new {scores['new']['macro_f1']}")
    if not (force or wins(scores["current"], scores["new"])):
        return TrainResult(None, len(rows), scores, False)
    say(f"fitting the final model on all {len(rows)} labels")
    model = fit_with_feedback(rows, base)
    with store.session(url) as s:
        for old in s.exec(select(ScorerModel).where(ScorerModel.active)).all():
            old.active = False
            s.add(old)
        row = ScorerModel(active=True, n_labels=len(rows), metrics={"holdout": scores}, actor=actor,
                          weights=model.to_bytes())
        s.add(row)
        s.flush()
        s.refresh(row)
        s.expunge(row)
    return TrainResult(row, len(rows), scores, True)


def wins(current: dict, new: dict) -> bool:
    """Whether a new model may replace the current one, judged on the same held-out labels."""
    if current["macro_f1"] is None or new["macro_f1"] is None:  # no label targets held out: trust the fit
        return True
    return new["macro_f1"] >= current["macro_f1"] - TOLERANCE


def active_model(url: str) -> Optional[Model]:
    with store.session(url) as s:
        row = s.exec(select(ScorerModel).where(ScorerModel.active).order_by(ScorerModel.id.desc())).first()
        if row is None:
            return None
        model = Model.from_bytes(row.weights)
    model.meta["name"] = f"team-{row.id}"
    return model


def rollback(url: str) -> Optional[int]:
    """Deactivate the active model and activate the one trained before it; returns its id,
    or None when the shipped base model is in use again."""
    with store.session(url) as s:
        cur = s.exec(select(ScorerModel).where(ScorerModel.active).order_by(ScorerModel.id.desc())).first()
        if cur is None:
            raise TrainingError("no trained model is active; the shipped model is already in use")
        cur.active = False
        s.add(cur)
        prev = s.exec(select(ScorerModel).where(ScorerModel.id < cur.id).order_by(ScorerModel.id.desc())).first()
        if prev is None:
            return None
        prev.active = True
        s.add(prev)
        return prev.id


def models(url: str) -> list[ScorerModel]:
    with store.session(url) as s:
        rows = s.exec(select(ScorerModel).order_by(ScorerModel.id.desc())).all()
        for r in rows:
            s.expunge(r)
        return rows


def scorer_for(cfg) -> TriageScorer:
    """The configured triage scorer with the deployment's active model, if any."""
    return TriageScorer(model=active_model(cfg.database.url), negative_bias=cfg.scoring.negative_bias,
                        high_reach=cfg.scoring.high_reach)
