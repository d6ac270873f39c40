"""Which collected posts are about the brand, and which are the brand's own.

Boolean-style terms, per brand:
- `keywords` (and the brand name and handles): any-of. A term in double quotes is an exact
  phrase; a trailing `*` matches any ending ("refund*" matches "refunded").
- `all_of`: every term must appear as well.
- `exclude`: none of these may appear ("tidewell beach" is not the phone company).
Competitor names also keep a post (share of voice needs them; the scorer knows a post that
only names a competitor needs no answer). Matching is case-insensitive and script-agnostic.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional


def _pattern(term: str) -> Optional[str]:
    term = term.strip()
    if len(term) >= 2 and term[0] == term[-1] == '"':
        term = term[1:-1]
    if not term:
        return None
    prefix = term.endswith("*")
    body = r"\s+".join(re.escape(w) for w in term.rstrip("*").split())
    return rf"(?<!\w){body}" + ("" if prefix else r"(?!\w)")


def _compile(terms: Iterable[str]) -> Optional[re.Pattern]:
    parts = [p for p in map(_pattern, terms) if p]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def handle_key(author: str) -> str:
    """'@TideWell', 'tidewell', 'u/tidewell' and '@tidewell@mastodon.social' all compare as 'tidewell'."""
    a = author.strip().lower()
    a = a[2:] if a.startswith(("u/", "r/")) else a
    return a.lstrip("@").split("@")[0]


class BrandMatcher:
    def __init__(self, brand: Any):
        handles = [h if h.startswith("@") else f"@{h}" for h in brand.handles]
        self._any = _compile([f'"{brand.name}"', *brand.keywords, *handles, *brand.competitors])
        self._all = [c for c in (_compile([t]) for t in getattr(brand, "all_of", [])) if c]
        self._none = _compile(brand.exclude)
        self._own = {handle_key(h) for h in brand.handles}

    def matches(self, text: str) -> bool:
        if self._none is not None and self._none.search(text):
            return False
        if self._any is not None and not self._any.search(text):
            return False
        return all(c.search(text) for c in self._all)

    def is_own(self, author: str) -> bool:
        return bool(author) and handle_key(author) in self._own
