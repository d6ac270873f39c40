"""The baseline: plain VADER, compound <= -0.05 is negative and needs a response.

Benchmarks compare every other scorer against this one. It knows English only,
and it ignores brand terms, ratings and everything else on a Post on purpose.
"""

from __future__ import annotations

from typing import Sequence

from scoring.base import Assessment, Post


def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


class VaderScorer:
    name = "vader"

    def __init__(self, negative_threshold: float = -0.05, positive_threshold: float = 0.05):
        self.negative_threshold = negative_threshold
        self.positive_threshold = positive_threshold
        self._vader = _analyzer()

    def score(self, posts: Sequence[Post]) -> list[Assessment]:
        out = []
        polarity = self._vader.polarity_scores
        for post in posts:
            s = polarity(post.text or "")["compound"]
            if s <= self.negative_threshold:
                label = "negative"
            elif s >= self.positive_threshold:
                label = "positive"
            else:
                label = "neutral"
            needs = label == "negative"
            out.append(Assessment(
                id=post.id, lang=post.lang or "und", sentiment=s, label=label, needs_response=needs,
                priority="medium" if needs else "low", category="other",
                reasons=[f"negative:{s:.2f}"] if needs else [],
            ))
        return out
