"""Scorers: a batch of Posts in, one Assessment each out (see scoring.base).

    from scoring import get_scorer
    scorer = get_scorer("triage", high_reach=5000)
    assessments = scorer.score(posts)

"triage" is the default: the rules scorer's lexicon facts read by a learned linear model
(scoring/triage.py). "rules" is VADER + per-language cue lexicons with fixed thresholds;
"vader" is the plain English baseline that benchmarks compare against.
"""

from __future__ import annotations

from scoring.base import Assessment, Post, Scorer
from scoring.rules import RulesScorer
from scoring.triage import TriageScorer
from scoring.vader import VaderScorer

SCORERS: dict[str, type] = {"triage": TriageScorer, "rules": RulesScorer, "vader": VaderScorer}


def scorer_names() -> list[str]:
    return list(SCORERS)


def get_scorer(name: str = "triage", **options) -> Scorer:
    """A new scorer by registry name; options go to its constructor."""
    try:
        cls = SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown scorer {name!r}; choose one of: {', '.join(SCORERS)}") from None
    return cls(**options)


__all__ = ["Assessment", "Post", "Scorer", "RulesScorer", "TriageScorer", "VaderScorer", "SCORERS", "get_scorer", "scorer_names"]
