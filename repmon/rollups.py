"""Hourly rollups of scored mentions, so the dashboard and the reports read a few thousand rows
instead of a million.

- `mentionhour`: per brand, hour (UTC), source, platform and language: volume, the sentiment mix,
  how many needed a response, and the sums the reputation index is made of.
- `voicehour`: per brand, hour and name (the brand, or one of its competitors): how many posts
  name it and how many of those were negative, for share of voice.

Hours rather than days so that a day can be cut in the dashboard's time zone. The brand's own
posts are left out, as every reader leaves them out.

The rollups change in the same transaction as what they count: `add` where scores are written
(repmon.pipeline.score_pending), `remove` before mentions are deleted. `rebuild` recomputes
them from mention and score (the migration that created them, `repmon db rollups`, and after a
brand's names change, since share of voice depends on them).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from repmon.models import Brand, Mention, MentionHour, Score, VoiceHour

MENTION_KEY = ("brand_id", "hour", "source", "platform", "lang")
MENTION_SUMS = ("volume", "negative", "neutral", "positive", "needs_response",
                "sentiment_sum", "weighted_sentiment", "weight")
VOICE_KEY = ("brand_id", "hour", "name")
VOICE_SUMS = ("volume", "negative")


def weight(reach: int) -> float:
    """A post's weight in the reputation index: a large account counts more, not a thousand times more."""
    return 1 + math.log10(1 + max(reach, 0))


def voice_names(brand: Optional[Brand]) -> dict[str, list[str]]:
    """Share-of-voice names of a brand: its own name (with keywords and handles) and each competitor."""
    if brand is None:
        return {}
    own = [brand.name, *(brand.keywords or []), *(brand.handles or [])]
    return {brand.name: own, **{c: [c] for c in brand.competitors or []}}


def _terms(names: dict[str, list[str]]) -> dict[str, list[str]]:
    # The same test as the dashboard's live query: the lowercased term, without @ or #, anywhere in the text.
    return {label: [t.lower().lstrip("@#") for t in terms if t.strip("@# ")] for label, terms in names.items()}


def hour_of(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _deltas(pairs: Iterable[tuple[Mention, Score]], brands: dict[int, Brand], sign: int) -> tuple[list, list]:
    mention_rows: dict[tuple, list[float]] = defaultdict(lambda: [0.0] * len(MENTION_SUMS))
    voice_rows: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    names_of = {bid: _terms(voice_names(b)) for bid, b in brands.items()}
    for m, sc in pairs:
        if m.is_own:
            continue
        brand_id, hour = m.brand_id or 0, hour_of(m.created_at)
        w, negative = weight(m.author_reach), sc.label == "negative"
        row = mention_rows[(brand_id, hour, m.source, m.platform, sc.lang or "")]
        for i, v in enumerate((1, negative, sc.label == "neutral", sc.label == "positive", bool(sc.needs_response),
                               sc.sentiment, sc.sentiment * w, w)):
            row[i] += sign * v
        text = m.text.lower()
        for label, terms in names_of.get(m.brand_id or 0, {}).items():
            if any(t in text for t in terms):
                v = voice_rows[(brand_id, hour, label)]
                v[0] += sign
                v[1] += sign * negative
    as_dicts = [
        [dict(zip(keys + sums, (*k, *vals))) for k, vals in rows.items()]
        for rows, keys, sums in ((mention_rows, MENTION_KEY, MENTION_SUMS), (voice_rows, VOICE_KEY, VOICE_SUMS))
    ]
    return as_dicts[0], as_dicts[1]


def _bump(s: Session, table: sa.Table, key: tuple[str, ...], sums: tuple[str, ...], rows: list[dict]) -> None:
    """Add `rows` to the counters, creating the rows that are new. Atomic per row on both stores,
    so two workers scoring at once both count."""
    if not rows:
        return
    dialect = s.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    stmt = insert.on_conflict_do_update(
        index_elements=list(key), set_={c: table.c[c] + insert.excluded[c] for c in sums})
    for row in rows:  # integer counters must stay integers in the row: the sums of floats are floats
        for c in sums:
            if isinstance(table.c[c].type, sa.Integer):
                row[c] = int(round(row[c]))
    s.execute(stmt, rows)


def _brands(s: Session) -> dict[int, Brand]:
    return {b.id: b for b in s.exec(select(Brand)).all()}


def add(s: Session, pairs: list[tuple[Mention, Score]]) -> None:
    """Count newly scored mentions."""
    mention_rows, voice_rows = _deltas(pairs, _brands(s), +1)
    _bump(s, MentionHour.__table__, MENTION_KEY, MENTION_SUMS, mention_rows)
    _bump(s, VoiceHour.__table__, VOICE_KEY, VOICE_SUMS, voice_rows)


def remove(s: Session, mention_ids: list[int]) -> None:
    """Uncount mentions about to be deleted (call before deleting them, in the same transaction)."""
    for chunk in (mention_ids[i:i + 5000] for i in range(0, len(mention_ids), 5000)):
        pairs = s.exec(select(Mention, Score).join(Score, Score.mention_id == Mention.id)
                       .where(Mention.id.in_(chunk))).all()
        mention_rows, voice_rows = _deltas(pairs, _brands(s), -1)
        _bump(s, MentionHour.__table__, MENTION_KEY, MENTION_SUMS, mention_rows)
        _bump(s, VoiceHour.__table__, VOICE_KEY, VOICE_SUMS, voice_rows)
    s.execute(sa.delete(MentionHour.__table__).where(MentionHour.volume <= 0))
    s.execute(sa.delete(VoiceHour.__table__).where(VoiceHour.volume <= 0))


def _hour_sql(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return sa.func.date_trunc("hour", Mention.created_at, "UTC")
    # SQLite keeps the fixed text form UTCDateTime writes; keep the same form for the hour.
    return sa.func.strftime("%Y-%m-%d %H:00:00.000000", Mention.created_at)


def _weight_sql(conn: Connection) -> Any:
    # PostgreSQL's log(base, x) is arbitrary-precision numeric and ~30x slower; log(float) is base 10.
    if conn.dialect.name == "postgresql":
        return 1 + sa.func.log(sa.cast(1 + sa.func.greatest(Mention.author_reach, 0), sa.Float))
    return 1 + sa.func.log10(1 + sa.func.max(Mention.author_reach, 0))


def rebuild(conn: Connection, brand_id: Optional[int] = None, voice_only: bool = False) -> None:
    """Recompute the rollups (of one brand, or all) from mention and score, in SQL."""
    hour, w = _hour_sql(conn), _weight_sql(conn)
    brand_col = sa.func.coalesce(Mention.brand_id, 0)
    scored = select().select_from(Mention).join(Score, Score.mention_id == Mention.id).where(Mention.is_own.is_(False))
    if brand_id is not None:
        scored = scored.where(Mention.brand_id == brand_id)
    targets = [VoiceHour.__table__] if voice_only else [MentionHour.__table__, VoiceHour.__table__]
    for table in targets:
        conn.execute(sa.delete(table).where(table.c.brand_id == brand_id) if brand_id is not None else sa.delete(table))
    if not voice_only:
        def count(cond: Any) -> Any:
            return sa.func.sum(sa.case((cond, 1), else_=0))

        lang = sa.func.coalesce(Score.lang, "")
        q = scored.add_columns(
            brand_col, hour, Mention.source, Mention.platform, lang, sa.func.count(),
            count(Score.label == "negative"), count(Score.label == "neutral"), count(Score.label == "positive"),
            count(Score.needs_response.is_(True)), sa.func.sum(Score.sentiment),
            sa.func.sum(Score.sentiment * w), sa.func.sum(w),
        ).group_by(brand_col, hour, Mention.source, Mention.platform, lang)
        conn.execute(sa.insert(MentionHour.__table__).from_select(list(MENTION_KEY + MENTION_SUMS), q))
    brands = conn.execute(select(Brand.id, Brand.name, Brand.keywords, Brand.handles, Brand.competitors)).all()
    for b in brands:
        if brand_id is not None and b.id != brand_id:
            continue
        for label, terms in _terms(voice_names(Brand(**b._asdict()))).items():
            low = sa.func.lower(Mention.text)
            hit = sa.or_(*[low.contains(t, autoescape=True) for t in terms])
            q = (scored.where(Mention.brand_id == b.id, hit)
                 .add_columns(brand_col, hour, sa.literal(label), sa.func.count(),
                              sa.func.sum(sa.case((Score.label == "negative", 1), else_=0)))
                 .group_by(brand_col, hour))
            conn.execute(sa.insert(VoiceHour.__table__).from_select(list(VOICE_KEY + VOICE_SUMS), q))
