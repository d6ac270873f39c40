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

import gc
import math
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

from scoring.base import Assessment, Post
from scoring.lexicon import load_lexicon, vader_valences
from scoring.model import Model, features
from scoring.rules import Facts, RulesScorer

BASE_MODEL = Path(__file__).with_name("models") / "base.npz"
_LINKED = ("url",)  # a post with a link: news, promos and shares are mostly neutral


@lru_cache(maxsize=1)
def base_model() -> Model:
    if not BASE_MODEL.is_file():
        raise FileNotFoundError(f"{BASE_MODEL} is missing; rebuild it with: python -m scoring.train_base")
    return Model.from_bytes(BASE_MODEL.read_bytes())


class TriageScorer(RulesScorer):
    name = "triage"
    full_vader = False

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
        valences = vader_valences()
        for post, f in zip(posts, facts):
            lex = load_lexicon(f.code) or load_lexicon("en")
            rows.append(features(f.low, lex.negator_words, f.kinds, f.vader, f.valence, f.sarcasm, f.qmark,
                                 post.rating, valences if f.english else None,
                                 _LINKED if f.n_urls else ()))
        return facts, rows

    def score(self, posts: Sequence[Post]) -> list[Assessment]:
        if not posts:
            return []
        # A batch allocates a few hundred thousand small strings and no reference cycles;
        # the cyclic collector's passes over them cost ~20% of the time and free nothing.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._score(posts)
        finally:
            if enabled:
                gc.enable()

    def _score(self, posts: Sequence[Post]) -> list[Assessment]:
        facts, rows = self.analyse(posts)
        probs = self.model.predict(rows)
        p = probs["label"]
        labels = self.model.heads["label"]
        neg, pos = labels.index("negative"), labels.index("positive")
        odds = p.copy()
        if self.negative_bias:
            odds[:, neg] *= math.exp(self.negative_bias)
        chosen = [labels[i] for i in odds.argmax(axis=1).tolist()]
        sentiments = (p[:, pos] - p[:, neg]).tolist()
        p_neg = p[:, neg].tolist()
        categories = self.model.heads.get("category")
        learned = [categories[i] for i in probs["category"].argmax(axis=1).tolist()] if categories else [None] * len(posts)
        out = []
        tag = f"model:{self.model_name}:"
        for i, (post, f) in enumerate(zip(posts, facts)):
            a = self._decide(post, f, sentiments[i], chosen[i], learned[i])
            a.reasons.append(f"{tag}{p_neg[i]:.2f}")
            out.append(a)
        return out
