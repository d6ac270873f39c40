"""The weekly reputation report's figures: build() gathers them, reports.render lays them out.

Every figure comes from the same queries as the dashboard (dashboard/queries.py), for the ISO week
(Monday 00:00 to Monday 00:00 UTC) and the week before it, so each can show its change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

import pandas as pd
import sqlalchemy as sa
from sqlmodel import select

from dashboard import queries
from repmon import store, themes
from repmon.config import Config
from repmon.models import Case, Mention, Score, utcnow

TOP_POSTS = 5
THEMES = 8
PLATFORMS = {"x": "X", "google_play": "Google Play", "app_store": "App Store", "hackernews": "Hacker News",
             "youtube": "YouTube", "rss": "News (RSS)", "file_import": "Imported"}


@dataclass
class Figures:
    """One week's headline figures."""

    volume: int
    negative_share: float
    needs_response: int
    index: Optional[float]
    median_first_response_min: Optional[float]
    within_sla: Optional[float]  # of the cases first answered in the week
    cases: dict  # opened / responded / resolved in the week
    by_platform: pd.DataFrame  # platform, volume, negative, positive, mean_sentiment
    share_of_voice: pd.DataFrame  # name, mentions, share, negative_share; empty without competitors


@dataclass
class NegativePost:
    author: str
    reach: int
    platform: str
    text: str
    url: Optional[str]
    created_at: datetime
    removed: bool


@dataclass
class WeeklyData:
    week: str
    start: datetime
    end: datetime
    brand: str
    now: Figures
    before: Figures  # the week before
    daily: pd.DataFrame  # one row per day of the week, days without mentions included
    by_lang: pd.DataFrame
    top_negative: list[NegativePost] = field(default_factory=list)
    themes: list = field(default_factory=list)  # repmon.themes.Theme, most posts first
    changes: list[str] = field(default_factory=list)  # "what changed since last week", plain sentences
    generated_at: datetime = field(default_factory=utcnow)


def week_bounds(week: Optional[str], today: Optional[date] = None) -> tuple[str, datetime, datetime]:
    """ISO week 'YYYY-Www' -> (label, Monday 00:00 UTC, next Monday); default: the last full week."""
    if week is None:
        a_week_ago = datetime.combine(today or utcnow().date(), time.min, tzinfo=timezone.utc) - timedelta(days=7)
        return themes.week_bounds(None, a_week_ago)
    return themes.week_bounds(week)


def reputation_index(url: str, brand_id: Optional[int], start: datetime, end: datetime) -> Optional[float]:
    """100 · Σ sentiment·w / Σ w over the whole period (docs/ARCHITECTURE.md). Not a mean of the
    daily figures: a day of large accounts weighs more than a day of the same count of small ones."""
    reach = sa.cast(1 + Mention.author_reach, sa.Float)
    # PostgreSQL's log(float) is base 10; its log10 exists only for numeric, which is far slower.
    log10 = sa.func.log(reach) if store.get_engine(url).dialect.name == "postgresql" else sa.func.log10(reach)
    weight = 1 + log10
    q = (select(100 * sa.func.sum(Score.sentiment * weight) / sa.func.sum(weight)).select_from(Mention)
         .join(Score, Score.mention_id == Mention.id)
         .where(Mention.is_own.is_(False), Mention.created_at >= start, Mention.created_at < end))
    if brand_id is not None:
        q = q.where(Mention.brand_id == brand_id)
    with store.session(url) as s:
        value = s.exec(q).one()
    return None if value is None else float(value)


def _case_counts(url: str, brand_id: Optional[int], start: datetime, end: datetime) -> dict:
    with store.session(url) as s:
        def count(column) -> int:
            q = select(sa.func.count()).select_from(Case).where(column >= start, column < end)
            if brand_id is not None:
                q = q.where(Case.brand_id == brand_id)
            return int(s.exec(q).one())

        # Opened by its first post's time: a backfill opens old cases today, which would say nothing
        # about the week they belong to. Responses and resolutions are stamped when they happen.
        opened = sa.func.coalesce(Case.first_post_at, Case.opened_at)
        return {"opened": count(opened), "responded": count(Case.first_response_at),
                "resolved": count(Case.resolved_at)}


def _figures(url: str, brand_id: Optional[int], names: dict, start: datetime, end: datetime) -> Figures:
    k = queries.kpis(url, brand_id, start, end)
    sov = queries.share_of_voice(url, names, brand_id, start, end) if len(names) > 1 else pd.DataFrame()
    return Figures(
        volume=k["volume"], negative_share=k["negative_share"], needs_response=k["needs_response"],
        index=reputation_index(url, brand_id, start, end),
        median_first_response_min=k["median_first_response_min"], within_sla=k["within_sla"],
        cases=_case_counts(url, brand_id, start, end),
        by_platform=queries.breakdown(url, "platform", brand_id, start, end), share_of_voice=sov,
    )


def _days(url: str, brand_id: Optional[int], start: datetime, end: datetime) -> pd.DataFrame:
    d = queries.daily(url, brand_id, start, end)
    days = pd.DataFrame({"day": pd.date_range(start.date(), (end - timedelta(days=1)).date(), freq="D")})
    d = days.merge(d, on="day", how="left") if not d.empty else days.assign(reputation_index=float("nan"))
    for col in ("volume", "negative", "neutral", "positive", "needs_response"):
        d[col] = d[col].fillna(0).astype(int) if col in d else 0
    return d


def _top_negative(url: str, brand_id: Optional[int], start: datetime, end: datetime) -> list[NegativePost]:
    q = (select(Mention).join(Score, Score.mention_id == Mention.id)
         .where(Mention.created_at >= start, Mention.created_at < end, Mention.is_own.is_(False),
                Score.label == "negative")
         .order_by(Mention.author_reach.desc(), Mention.id).limit(TOP_POSTS))
    if brand_id is not None:
        q = q.where(Mention.brand_id == brand_id)
    with store.session(url) as s:
        rows = s.exec(q).all()
    return [NegativePost(m.author, m.author_reach, m.platform, m.text, m.url, m.created_at, m.deleted_at is not None)
            for m in rows]


def build(cfg: Config, week: Optional[str] = None, brand: Optional[str] = None,
          today: Optional[date] = None) -> WeeklyData:
    label, start, end = week_bounds(week, today)
    url = cfg.database.url
    brand_cfg = cfg.brand(brand)
    ids = queries.brands(url)
    match = ids[ids["name"] == brand_cfg.name]
    # A brand not stored yet has no mentions; None here would count every brand's instead.
    brand_id = int(match["id"].iloc[0]) if not match.empty else -1
    names = {brand_cfg.name: [brand_cfg.name, *brand_cfg.keywords, *brand_cfg.handles],
             **{c: [c] for c in brand_cfg.competitors}}
    prev_start = start - timedelta(days=7)
    data = WeeklyData(
        week=label, start=start, end=end, brand=brand_cfg.name,
        now=_figures(url, brand_id, names, start, end), before=_figures(url, brand_id, names, prev_start, start),
        daily=_days(url, brand_id, start, end),
        by_lang=queries.breakdown(url, "lang", brand_id, start, end),
        top_negative=_top_negative(url, brand_id, start, end),
        themes=themes.weekly_themes(url, label, brand_id, limit=THEMES),
    )
    data.changes = changes(data)
    return data


def _pct(v: float) -> str:
    return f"{v:.0%}"


def changes(d: WeeklyData) -> list[str]:
    """What changed since last week, as short sentences a manager can read aloud."""
    now, before = d.now, d.before
    out = []
    if now.index is not None and before.index is not None:
        diff = now.index - before.index
        if abs(diff) < 0.05:
            out.append(f"The reputation index held at {now.index:+.1f}.")
        else:
            out.append(f"The reputation index {'rose' if diff > 0 else 'fell'} {abs(diff):.1f} points to "
                       f"{now.index:+.1f} (from {before.index:+.1f}).")
    elif now.index is not None:
        out.append(f"The reputation index was {now.index:+.1f}; there were no mentions the week before.")
    if before.volume:
        diff = now.volume - before.volume
        word = "rose" if diff > 0 else "fell" if diff < 0 else "held"
        out.append(f"Mentions {word} {abs(diff) / before.volume:.0%} to {now.volume:,} (from {before.volume:,})."
                   if diff else f"Mentions held at {now.volume:,}.")
    else:
        out.append(f"{now.volume:,} mentions, none the week before.")
    points = (now.negative_share - before.negative_share) * 100
    if now.volume and before.volume and abs(points) >= 1:
        out.append(f"The negative share {'rose' if points > 0 else 'fell'} {abs(points):.0f} points to "
                   f"{_pct(now.negative_share)} (from {_pct(before.negative_share)}).")
    sla_known = now.within_sla is not None and before.within_sla is not None
    if sla_known and round(now.within_sla, 2) != round(before.within_sla, 2):
        out.append(f"Cases answered within the first-response SLA: {_pct(now.within_sla)} "
                   f"(from {_pct(before.within_sla)}).")
    new = [t for t in d.themes if t.trend == "new" and t.phrase]
    rising = [t for t in d.themes if t.trend == "rising" and t.phrase]
    if new:
        out.append("New complaint theme" + ("s" if len(new) > 1 else "") + ": "
                   + "; ".join(f"{_isolated(t.label)} ({t.count} posts)" for t in new[:3]) + ".")
    for t in rising[:3]:
        out.append(f"Rising complaint theme: {_isolated(t.label)}, {t.count} posts against {t.previous[-1]} "
                   "the week before.")
    src = _biggest_platform_change(now.by_platform, before.by_platform)
    if src:
        out.append(src)
    return out


def platform_name(platform: str) -> str:
    return PLATFORMS.get(platform, platform.replace("_", " ").capitalize())


def _isolated(text: str) -> str:
    """Unicode isolates around a phrase that may be Persian or Arabic, so the sentence around it keeps
    its order ("outage · گیگ اینترنت, 4 posts" otherwise shows the 4 inside the Persian run)."""
    return f"\u2068{text}\u2069"


def _biggest_platform_change(now: pd.DataFrame, before: pd.DataFrame) -> Optional[str]:
    a = dict(zip(now["platform"], now["volume"])) if not now.empty else {}
    b = dict(zip(before["platform"], before["volume"])) if not before.empty else {}
    diffs = {p: int(a.get(p, 0)) - int(b.get(p, 0)) for p in set(a) | set(b)}
    if not diffs:
        return None
    platform = max(sorted(diffs), key=lambda p: abs(diffs[p]))
    if diffs[platform] == 0:
        return None
    return (f"Biggest change by platform: {platform_name(platform)}, {diffs[platform]:+,} mentions "
            f"({int(b.get(platform, 0)):,} → {int(a.get(platform, 0)):,}).")
