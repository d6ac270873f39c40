"""The weekly reputation report: build() gathers the figures, render_html() lays them out.
Issue #8 adds charts, PDF and delivery; the figures come from the same queries as the dashboard."""

from __future__ import annotations

import html
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


@dataclass
class WeeklyData:
    week: str
    start: datetime
    end: datetime
    brand: str
    kpis: dict
    previous: dict
    index: Optional[float]
    previous_index: Optional[float]
    by_source: pd.DataFrame
    by_lang: pd.DataFrame
    cases: dict = field(default_factory=dict)
    top_negative: list = field(default_factory=list)
    themes: list = field(default_factory=list)  # repmon.themes.Theme, most posts first


def week_bounds(week: Optional[str], today: Optional[date] = None) -> tuple[str, datetime, datetime]:
    """ISO week 'YYYY-Www' -> (label, Monday 00:00 UTC, next Monday); default: the last full week."""
    if week is None:
        a_week_ago = datetime.combine(today or utcnow().date(), time.min, tzinfo=timezone.utc) - timedelta(days=7)
        return themes.week_bounds(None, a_week_ago)
    return themes.week_bounds(week)


def _index(daily: pd.DataFrame) -> Optional[float]:
    if daily.empty:
        return None
    return float((daily["reputation_index"] * daily["volume"]).sum() / daily["volume"].sum())


def build(cfg: Config, week: Optional[str] = None, brand: Optional[str] = None) -> WeeklyData:
    label, start, end = week_bounds(week)
    url = cfg.database.url
    name = cfg.brand(brand).name
    ids = queries.brands(url)
    brand_id = int(ids[ids["name"] == name]["id"].iloc[0]) if (ids["name"] == name).any() else None
    prev_start = start - timedelta(days=7)
    this_daily, prev_daily = queries.daily(url, brand_id, start, end), queries.daily(url, brand_id, prev_start, start)
    with store.session(url) as s:
        def count(*where):
            return s.exec(select(sa.func.count()).select_from(Case).where(Case.brand_id == brand_id, *where)).one()

        case_counts = {
            "opened": count(Case.opened_at >= start, Case.opened_at < end),
            "responded": count(Case.first_response_at >= start, Case.first_response_at < end),
            "resolved": count(Case.resolved_at >= start, Case.resolved_at < end),
        }
        top = s.exec(
            select(Mention, Score).join(Score, Score.mention_id == Mention.id)
            .where(Mention.brand_id == brand_id, Mention.created_at >= start, Mention.created_at < end,
                   Score.label == "negative")
            .order_by(Mention.author_reach.desc()).limit(5)
        ).all()
    return WeeklyData(
        week=label, start=start, end=end, brand=name,
        kpis=queries.kpis(url, brand_id, start, end), previous=queries.kpis(url, brand_id, prev_start, start),
        index=_index(this_daily), previous_index=_index(prev_daily),
        by_source=queries.breakdown(url, "source", brand_id, start, end),
        by_lang=queries.breakdown(url, "lang", brand_id, start, end),
        cases=case_counts, top_negative=[(m.author, m.author_reach, m.platform, m.text) for m, _ in top],
        themes=themes.weekly_themes(url, label, brand_id, limit=8),
    )


def _fmt(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:+.1f}"


def render_html(d: WeeklyData) -> str:
    e = html.escape
    change = "—" if d.index is None or d.previous_index is None else f"{d.index - d.previous_index:+.1f}"
    rows = "".join(
        f"<tr><td>{e(a)}</td><td>{r:,}</td><td>{e(p)}</td><td>{e(t)}</td></tr>" for a, r, p, t in d.top_negative
    ) or "<tr><td colspan=4>No negative posts this week.</td></tr>"
    theme_rows = "".join(
        f"<tr><td>{e(t.label)}</td><td>{t.count}</td><td>{' / '.join(map(str, t.previous))}</td><td>{t.trend}</td>"
        f"<td>{e(t.examples[0].text) if t.examples else ''}</td></tr>" for t in d.themes
    ) or "<tr><td colspan=5>No complaints this week.</td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(d.brand)} reputation {d.week}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .6em;text-align:left}}</style>
</head><body>
<h1>{e(d.brand)}: weekly reputation report {d.week}</h1>
<p>{d.start:%Y-%m-%d} to {(d.end - timedelta(days=1)):%Y-%m-%d} (UTC)</p>
<h2>Summary</h2>
<table>
<tr><th>Reputation index</th><td id="index">{_fmt(d.index)}</td><td>change {change}</td></tr>
<tr><th>Mentions</th><td id="volume">{d.kpis['volume']:,}</td><td>previous week {d.previous['volume']:,}</td></tr>
<tr><th>Negative share</th><td>{d.kpis['negative_share']:.0%}</td><td>previous week {d.previous['negative_share']:.0%}</td></tr>
<tr><th>Needed a response</th><td>{d.kpis['needs_response']:,}</td><td></td></tr>
<tr><th>Cases opened / responded / resolved</th>
<td id="cases">{d.cases['opened']} / {d.cases['responded']} / {d.cases['resolved']}</td><td></td></tr>
</table>
<h2>Recurring complaint themes</h2>
<table id="themes"><tr><th>Theme</th><th>Posts</th><th>Previous weeks</th><th>Trend</th><th>Example</th></tr>{theme_rows}</table>
<h2>By source</h2>{d.by_source.to_html(index=False)}
<h2>By language</h2>{d.by_lang.to_html(index=False)}
<h2>Most-reached negative posts</h2>
<table><tr><th>Author</th><th>Followers</th><th>Platform</th><th>Post</th></tr>{rows}</table>
</body></html>
"""
