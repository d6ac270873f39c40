"""Spike and crisis alerts: an hour with far more mentions, or a far larger negative share, than
the usual for that hour of the week.

The usual is the median of the same hour in the `baseline_weeks` weeks before (in the dashboard's
time zone, so a daylight-saving change does not shift it): a median, because last month's one bad
afternoon must not raise the bar for this one. A brand with less history than that is compared
with the same hour on up to 14 days before; with fewer than MIN_DAYS days there is no usual yet
and nothing is raised (the log says so).

Checked: the last complete hour, and the current hour so far. The hour so far is compared, as it
stands, with whole earlier hours: it can only be under-counted, so an early alert is never an
extrapolation, and a real burst is still caught ten minutes in rather than an hour later.
Both windows of an hour share its outbox key, so one spike raises one alert per hour and signal.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from alerts import outbox
from alerts.messages import escape  # moved from alerts.slack; the same function
from repmon import store
from repmon.config import Config
from repmon.matching import _compile  # the brand's terms, as matching reads them
from repmon.models import Brand, Mention, Score, utcnow
from repmon.themes import key_phrases

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAILY_DAYS = 14
MIN_DAYS = 3  # fewer earlier days than this is not a usual, it is an anecdote
TOP_POSTS = 3
TOP_THEMES = 3
PHRASE_POSTS = 1000  # posts read for key phrases: the hour's widest-reaching ones
SIGNALS = ("volume", "negative_share")


@dataclass
class Post:
    mention_id: int
    platform: str
    author: str
    author_reach: int
    text: str  # untrusted: escape before it goes anywhere Slack renders
    url: Optional[str]
    label: Optional[str]
    category: Optional[str]


@dataclass
class Spike:
    brand_id: int
    brand: str
    signal: str  # "volume" | "negative_share"
    hour: datetime  # start of the hour, UTC
    until: datetime  # end of the counted window: the hour's end, or now while it runs
    partial: bool
    value: float  # mentions in the window, or the negative share 0..1
    usual: float  # the median of the same measure in the earlier windows
    earlier: list[float]  # the earlier windows' values, oldest first
    baseline: str  # which earlier windows, in words
    mentions: int
    negative: int
    scored: int
    posts: list[Post] = field(default_factory=list)
    categories: list[tuple[str, int]] = field(default_factory=list)
    phrases: list[tuple[str, int]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"spike:{self.brand_id}:{self.signal}:{self.hour.isoformat()}"

    @property
    def ratio(self) -> Optional[float]:
        return self.value / self.usual if self.usual else None

    def summary(self) -> str:
        """What rose, from what to what, by how much, in which hour: one line."""
        span = f"{self.hour:%Y-%m-%d %H:%M}–{self.until:%H:%M} UTC" + (" so far" if self.partial else "")
        if self.signal == "volume":
            by = f"×{self.ratio:.1f}" if self.ratio else "usually none"
            return (f"{self.brand}: mention volume spike, {int(self.value)} mentions in {span}, "
                    f"usually {self.usual:g} ({by}); {self.negative} negative.")
        points = (self.value - self.usual) * 100
        return (f"{self.brand}: negative share spike, {self.value:.0%} negative in {span} "
                f"({self.negative} of {self.scored} scored mentions), usually {self.usual:.0%} (+{points:.0f} points).")


def detect(session_or_url: Union[Session, str], cfg: Config, brand_id: int,
           now: Optional[datetime] = None) -> list[Spike]:
    """The brand's spikes in the last complete hour and the hour so far; each one's alert is
    queued once (the outbox key is per brand, signal and hour). Returns every spike found."""
    if isinstance(session_or_url, str):
        with store.session(session_or_url) as s:
            return detect(s, cfg, brand_id, now)
    s = session_or_url
    settings = cfg.alerts.spikes
    now = (now or utcnow()).astimezone(timezone.utc)
    current = now.replace(minute=0, second=0, microsecond=0)
    brand = s.get(Brand, brand_id)
    if brand is None:
        raise ValueError(f"no brand with id {brand_id}")
    first = s.exec(select(sa.func.min(Mention.created_at))
                   .where(Mention.brand_id == brand_id, Mention.is_own.is_(False))).one()
    spikes = []
    for start, end in ((current - HOUR, current), (current, now)):
        if end <= start:
            continue
        earlier, how = _baseline_windows(start, first, settings.baseline_weeks, cfg.dashboard.timezone)
        if not earlier:
            log.info("brand=%s no spike check for %s: %s", brand_id, start.isoformat(), how)
            continue
        found = _check(s, cfg, brand, start, end, end < start + HOUR, earlier, how)
        for spike in found:
            _enrich(s, brand, spike)
            queued = outbox.enqueue(s, cfg, "spike", spike.key, spike_message(spike, cfg.alerts.dashboard_url),
                                    brand_id=brand_id, priority="high")
            log.info("brand=%s spike=%s hour=%s value=%.3f usual=%.3f queued=%s",
                     brand_id, spike.signal, start.isoformat(), spike.value, spike.usual, queued)
        spikes.extend(found)
    return spikes


def check(cfg: Config, now: Optional[datetime] = None) -> int:
    """Every brand's spikes, for the scheduler; returns how many were found."""
    if not cfg.alerts.spikes.enabled:
        return 0
    with store.session(cfg.database.url) as s:
        brand_ids = s.exec(select(Brand.id).order_by(Brand.id)).all()
    found = 0
    for brand_id in brand_ids:
        # One transaction per brand: a spike's alert is committed with the check that found it.
        found += len(detect(cfg.database.url, cfg, brand_id, now))
    return found


def _baseline_windows(start: datetime, first: Optional[datetime], weeks: int,
                      zone: str) -> tuple[list[datetime], str]:
    """Starts of the earlier hours to compare with, and which they are in words (or why none)."""
    if first is None:
        return [], "no mentions stored yet"
    local = start.astimezone(ZoneInfo(zone))

    def back(**delta: int) -> datetime:
        # Wall-clock arithmetic in the local zone: 14:00 on a Monday stays 14:00 across a DST change.
        return (local - timedelta(**delta)).astimezone(timezone.utc)

    if back(weeks=weeks) >= first:
        return [back(weeks=w) for w in range(weeks, 0, -1)], f"the same hour of the week in the {weeks} weeks before"
    days = [d for d in range(DAILY_DAYS, 0, -1) if back(days=d) >= first]
    if len(days) < MIN_DAYS:
        return [], f"only {len(days)} earlier day(s) of mentions; a usual needs {MIN_DAYS}"
    return [back(days=d) for d in days], f"the same hour on the {len(days)} days before"


def _counts(s: Session, brand_id: int, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(mentions, scored, negative) of the brand in [start, end), the brand's own posts left out."""
    q = (select(sa.func.count(Mention.id), sa.func.count(Score.id),
                sa.func.coalesce(sa.func.sum(sa.case((Score.label == "negative", 1), else_=0)), 0))
         .select_from(Mention).outerjoin(Score, Score.mention_id == Mention.id)
         .where(Mention.brand_id == brand_id, Mention.is_own.is_(False),
                Mention.created_at >= start, Mention.created_at < end))
    total, scored, negative = s.exec(q).one()
    return int(total), int(scored), int(negative)


def _check(s: Session, cfg: Config, brand: Brand, start: datetime, end: datetime, partial: bool,
           earlier: list[datetime], how: str) -> list[Spike]:
    settings = cfg.alerts.spikes
    total, scored, negative = _counts(s, brand.id, start, end)
    before = [_counts(s, brand.id, b, b + HOUR) for b in earlier]
    volumes = [float(t) for t, _, _ in before]
    # Hours without a scored post have no share; if none has one, the usual share is none at all.
    shares = [n / sc for _, sc, n in before if sc]
    base = dict(brand_id=brand.id, brand=brand.name, hour=start, until=end, partial=partial, baseline=how,
                mentions=total, negative=negative, scored=scored)
    spikes = []
    usual = statistics.median(volumes)
    if total >= settings.min_volume and total >= settings.volume_ratio * usual:
        spikes.append(Spike(signal="volume", value=float(total), usual=usual, earlier=volumes, **base))
    if scored and negative >= settings.min_negative:
        share, usual_share = negative / scored, statistics.median(shares) if shares else 0.0
        if share >= usual_share + settings.negative_share_points / 100:
            spikes.append(Spike(signal="negative_share", value=share, usual=usual_share, earlier=shares, **base))
    return spikes


def _enrich(s: Session, brand: Brand, spike: Spike) -> None:
    """The hour's top posts (negative first, then widest reach) and what they are about: the
    categories and key phrases of the negative posts for a negative spike, of all for volume."""
    window = (Mention.brand_id == brand.id, Mention.is_own.is_(False),
              Mention.created_at >= spike.hour, Mention.created_at < spike.until)
    if spike.signal == "negative_share":
        window += (Score.label == "negative",)
    negative_first = sa.case((Score.label == "negative", 0), else_=1)
    rows = s.exec(
        select(Mention.id, Mention.platform, Mention.author, Mention.author_reach, Mention.text, Mention.url,
               Score.label, Score.category, Score.lang)
        .select_from(Mention).outerjoin(Score, Score.mention_id == Mention.id).where(*window)
        .order_by(negative_first, Mention.author_reach.desc(), Mention.id).limit(PHRASE_POSTS)
    ).all()
    spike.posts = [Post(*r[:8]) for r in rows[:TOP_POSTS]]
    spike.categories = Counter(r.category for r in rows if r.category).most_common(TOP_THEMES)
    removed = _compile([f'"{brand.name}"', *(brand.keywords or [])])
    per_post = Counter(p for r in rows for p in key_phrases(r.text, r.lang or "und", removed))
    spike.phrases = _top_phrases(per_post)


def _top_phrases(counts: Counter) -> list[tuple[str, int]]:
    """Phrases shared by at least two posts; a longer phrase first when as common, and no phrase
    that only repeats part of one already chosen ("charged" after "charged twice")."""
    ranked = sorted(((p, n) for p, n in counts.items() if n >= 2), key=lambda pn: (-pn[1], -pn[0].count(" "), pn[0]))
    chosen: list[tuple[str, int]] = []
    for phrase, n in ranked:
        if any(f" {phrase} " in f" {c} " or f" {c} " in f" {phrase} " for c, _ in chosen):
            continue
        chosen.append((phrase, n))
        if len(chosen) == TOP_THEMES:
            break
    return chosen


def _quote(text: str, limit: int = 300) -> str:
    text = escape(text if len(text) <= limit else text[: limit - 1] + "…")
    return "\n".join("> " + line for line in text.splitlines() or [""])


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def spike_message(spike: Spike, dashboard_url: str) -> dict[str, Any]:
    """Block Kit: what rose and by how much, the usual it is compared with, what the hour is
    about, its top posts; `text` is the plain fallback. Every post, name and phrase is escaped."""
    what = "Negative share spike" if spike.signal == "negative_share" else "Mention volume spike"
    usual = ", ".join(f"{v:.0%}" if spike.signal == "negative_share" else f"{v:g}" for v in spike.earlier)
    about = []
    if spike.categories:
        about.append("categories: " + ", ".join(f"{c} {n}" for c, n in spike.categories))
    if spike.phrases:
        about.append("phrases: " + ", ".join(f"“{p}” {n}" for p, n in spike.phrases))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{what}: {spike.brand}"[:150]}},
        _section(escape(spike.summary())),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
            f"usual = median of {spike.baseline}: {usual}")}]},
    ]
    if about:
        blocks.append(_section("*What it is about*\n" + escape("; ".join(about))))
    for p in spike.posts:
        who = f"{p.author or 'someone'} on {p.platform} ({p.author_reach:,} followers, {p.label or 'not scored yet'})"
        link = f"\n{escape(p.url)}" if p.url else ""
        blocks.append(_section(f"*{escape(who)}*\n{_quote(p.text)}{link}"))
    blocks.append({"type": "actions", "elements": [{
        "type": "button", "text": {"type": "plain_text", "text": "Open dashboard"},
        "url": dashboard_url, "action_id": "open_dashboard"}]})
    fallback = spike.summary() + (" " + "; ".join(about) if about else "")
    return {"text": escape(fallback), "blocks": blocks}
