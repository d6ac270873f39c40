"""The scorer interface: a batch of posts in, one Assessment per post out.

Scorers are pure (no database, no network), so history can be re-scored and
`repmon score` runs anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence


@dataclass(frozen=True)
class Post:
    id: str
    text: str
    lang: Optional[str] = None  # ISO 639-1 when the source knows it; detected otherwise
    author: Optional[str] = None
    author_reach: int = 0
    rating: Optional[int] = None  # 1-5 stars for reviews
    platform: Optional[str] = None
    is_own: bool = False  # written by the brand's own account
    brand_terms: tuple[str, ...] = ()  # brand name, keywords and handles
    competitor_terms: tuple[str, ...] = ()


@dataclass
class Assessment:
    id: str
    lang: str
    sentiment: float  # -1 .. 1
    label: str  # negative | neutral | positive
    needs_response: bool
    priority: str  # critical | high | medium | low
    category: str  # one of repmon.models.CATEGORIES
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "id": self.id, "lang": self.lang, "sentiment": round(self.sentiment, 4),
            "label": self.label, "needs_response": self.needs_response,
            "priority": self.priority, "category": self.category, "reasons": self.reasons,
        }


class Scorer(Protocol):
    name: str

    def score(self, posts: Sequence[Post]) -> list[Assessment]: ...
