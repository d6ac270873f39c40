"""TriageScorer, the default: the rules scorer's lexicon facts read by a learned model.

The rules scorer finds the cues (complaint phrases, questions, threats, sarcasm, VADER's
valence...) and decides with fixed thresholds. This scorer turns the same facts plus
the post's words into features (scoring.model.features), and a linear model trained on
labelled posts chooses the sentiment label and suggests a category. Everything after
the label (needs_response, critical triggers, spam, competitors, own posts, priority,
reasons) is the rules scorer's `_decide`, so the rules of "needs a response" stay
explicit and testable.

The model is the shipped one (scoring/models/base.npz, trained on the project's own
posts in scoring/training/), or a per-deployment one that `repmon train` fitted on the
team's feedback.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

from scoring.base import Assessment, Post
from scoring.lexicon import load_lexicon
from scoring.model import Model, features
from scoring.rules import Facts, RulesScorer

BASE_MODEL = Path(__file__).with_name("models") / "base.npz"


@lru_cache(maxsize=1)
def base_model() -> Model:
    if not BASE_MODEL.is_file():
        raise FileNotFoundError(f"{BASE_MODEL} is missing; rebuild it with: python -m scoring.train_base")
    return Model.from_bytes(BASE_MODEL.read_bytes())


class TriageScorer(RulesScorer):
    name = "triage"

    def __init__(self, model: Optional[Model] = None, negative_bias: float = 0.0, **options):
        """`negative_bias` is added to the negative class's log-odds: above 0 flags more
        posts (more recall, less precision), below 0 fewer."""
        super().__init__(**options)
        self.model = model if model is not None else base_model()
        self.negative_bias = negative_bias
        self.model_name = self.model.meta.get("name", "base")

    def analyse(self, posts: Sequence[Post]) -> tuple[list[Facts], list[list[str]]]:
        """The lexicon facts and the model's feature strings for each post."""
        facts = [self._facts(post, *p) for post, p in zip(posts, self._prepare_all(posts))]
        rows = []
        for post, f in zip(posts, facts):
            lex = load_lexicon(f.code) or load_lexicon("en")
            rows.append(features(f.low, lex.negator_words, f.kinds, f.vader, f.valence, f.sarcasm, f.qmark,
                                 post.rating))
        return facts, rows

    def score(self, posts: Sequence[Post]) -> list[Assessment]:
        if not posts:
            return []
        facts, rows = self.analyse(posts)
        probs = self.model.predict(rows)
        labels = self.model.heads["label"]
        neg, pos = labels.index("negative"), labels.index("positive")
        categories = self.model.heads.get("category")
        out = []
        for i, (post, f) in enumerate(zip(posts, facts)):
            p = probs["label"][i]
            odds = p.copy()
            if self.negative_bias:
                odds[neg] *= 2.718281828 ** self.negative_bias
            label = labels[int(odds.argmax())]
            sentiment = float(p[pos] - p[neg])
            learned = categories[int(probs["category"][i].argmax())] if categories else None
            a = self._decide(post, f, sentiment, label, learned)
            a.reasons.append(f"model:{self.model_name}:{p[neg]:.2f}")
            out.append(a)
        return out
