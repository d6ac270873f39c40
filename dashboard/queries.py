"""Every read the dashboard, the CLI and the reports make, as DataFrames. No Streamlit here:
pages wrap these in st.cache_data, tests call them directly.

Reputation index (documented in docs/ARCHITECTURE.md): for a period, the reach-weighted mean
sentiment of the brand's mentions, scaled to -100..100, with weight 1 + log10(1 + followers)
so a large account counts more than a small one, but not a thousand times more.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlmodel import select

from repmon import rollups, store
from repmon.models import (
    CASE_STATUSES, OPEN_STATUSES, PRIORITIES, Brand, Case, CaseEvent, CaseMention, Mention, MentionHour, Score, Source,
    VoiceHour, utcnow,
)

_priority_order = sa.case({p: i for i, p in enumerate(PRIORITIES)}, value=Case.priority, else_=len(PRIORITIES))


def _frame(url: str, query: Any) -> pd.DataFrame:
    with store.get_engine(url).connect() as conn:
        return pd.read_sql(query, conn)


def _filters(q: Any, brand_id: Optional[int], start: Optional[datetime], end: Optional[datetime],
             brand_col: Any = Mention.brand_id, time_col: Any = Mention.created_at) -> Any:
    if brand_id is not None:
        q = q.where(brand_col == brand_id)
    if start is not None:
        q = q.where(time_col >= start)
    if end is not None:
        q = q.where(time_col < end)
    return q


def brands(url: str) -> pd.DataFrame:
    return _frame(url, select(Brand.id, Brand.name).order_by(Brand.name))


def data_range(url: str) -> tuple[Optional[datetime], Optional[datetime]]:
    # Two statements: SQLite answers a lone min() or max() from the index, but scans for both at once.
    with store.session(url) as s:
        lo = s.exec(select(sa.func.min(Mention.created_at))).one()
        hi = s.exec(select(sa.func.max(Mention.created_at))).one()
    fix = Mention.__table__.c.created_at.type.process_result_value
    return fix(lo, None), fix(hi, None)


def _hours(q: Any, table: Any, brand_id: Optional[int], start: Optional[datetime], end: Optional[datetime]) -> Any:
    return _filters(q, brand_id, start, end, table.brand_id, table.hour)


def daily(url: str, brand_id: Optional[int] = None, start: Optional[datetime] = None,
          end: Optional[datetime] = None, tz: str = "UTC") -> pd.DataFrame:
    """Per day in time zone `tz`: volume, sentiment mix, and the reputation index. Read from the
    hourly rollup (repmon.rollups), so a day is cut at the zone's midnight, to the hour."""
    h = MentionHour
    q = select(
        h.hour, sa.func.sum(h.volume).label("volume"), sa.func.sum(h.negative).label("negative"),
        sa.func.sum(h.neutral).label("neutral"), sa.func.sum(h.positive).label("positive"),
        sa.func.sum(h.needs_response).label("needs_response"),
        sa.func.sum(h.weighted_sentiment).label("weighted_sentiment"), sa.func.sum(h.weight).label("weight"),
    ).group_by(h.hour)
    hours = _frame(url, _hours(q, h, brand_id, start, end))
    columns = ["day", "volume", "negative", "neutral", "positive", "needs_response", "reputation_index"]
    if hours.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "day" else "float64") for c in columns})
    local = pd.to_datetime(hours["hour"], utc=True).dt.tz_convert(ZoneInfo(tz))
    hours["day"] = pd.to_datetime(local.dt.date)
    df = hours.drop(columns="hour").groupby("day", as_index=False).sum()
    df["reputation_index"] = 100 * df["weighted_sentiment"] / df["weight"]
    for c in ("volume", "negative", "neutral", "positive", "needs_response"):
        df[c] = df[c].astype("int64")
    return df[columns].sort_values("day", ignore_index=True)


def breakdown(url: str, by: str, brand_id: Optional[int] = None, start: Optional[datetime] = None,
              end: Optional[datetime] = None) -> pd.DataFrame:
    """Volume and sentiment mix per source, platform or language."""
    h = MentionHour
    column = {"source": h.source, "platform": h.platform, "lang": h.lang}[by]
    volume = sa.func.sum(h.volume)
    q = (
        select(
            column.label(by), volume.label("volume"), sa.func.sum(h.negative).label("negative"),
            sa.func.sum(h.positive).label("positive"),
            (sa.func.sum(h.sentiment_sum) / volume).label("mean_sentiment"),
        )
        .group_by(column)
        .order_by(volume.desc(), column)
    )
    return _frame(url, _hours(q, h, brand_id, start, end))


def share_of_voice(url: str, names: dict[str, list[str]], brand_id: Optional[int] = None,
                   start: Optional[datetime] = None, end: Optional[datetime] = None) -> pd.DataFrame:
    """Mentions naming each of `names` (the brand and its competitors: label -> terms), their
    share of all those mentions and their negative share. A post naming two counts for both.
    The brand's own configured names come from the hourly rollup; any other set is counted live."""
    with store.session(url) as s:
        brand = s.get(Brand, brand_id) if brand_id is not None else None
    if brand is not None and rollups.voice_names(brand) == names:
        v = VoiceHour
        q = (select(v.name, sa.func.sum(v.volume).label("n"), sa.func.sum(v.negative).label("neg"))
             .where(v.name.in_(list(names))).group_by(v.name))
        got = _frame(url, _hours(q, v, brand_id, start, end)).set_index("name")
        counts = [int(got["n"].get(n, 0)) for n in names]
        negative = [int(got["neg"].get(n, 0)) for n in names]
    else:
        counts, negative = _share_of_voice_live(url, names, brand_id, start, end)
    total = sum(counts) or 1
    return pd.DataFrame({
        "name": list(names), "mentions": counts, "share": [c / total for c in counts],
        "negative_share": [neg / c if c else 0.0 for neg, c in zip(negative, counts)],
    })


def _share_of_voice_live(url: str, names: dict[str, list[str]], brand_id: Optional[int],
                         start: Optional[datetime], end: Optional[datetime]) -> tuple[list[int], list[int]]:
    def names_any(terms: list[str]) -> Any:
        low = sa.func.lower(Mention.text)
        return sa.or_(*[low.contains(t.lower().lstrip("@#"), autoescape=True) for t in terms if t.strip("@# ")])

    cols = []
    for i, terms in enumerate(names.values()):
        hit = names_any(terms)
        cols.append(sa.func.sum(sa.case((hit, 1), else_=0)).label(f"n{i}"))
        cols.append(sa.func.sum(sa.case((sa.and_(hit, Score.label == "negative"), 1), else_=0)).label(f"neg{i}"))
    q = (select(*cols).select_from(Mention).join(Score, Score.mention_id == Mention.id)
         .where(Mention.is_own.is_(False)))
    row = _frame(url, _filters(q, brand_id, start, end)).iloc[0].fillna(0)
    return [int(row[f"n{i}"]) for i in range(len(names))], [int(row[f"neg{i}"]) for i in range(len(names))]


def kpis(url: str, brand_id: Optional[int] = None, start: Optional[datetime] = None,
         end: Optional[datetime] = None) -> dict:
    d = daily(url, brand_id, start, end)
    volume = int(d["volume"].sum()) if not d.empty else 0
    negative = int(d["negative"].sum()) if not d.empty else 0
    with store.session(url) as s:
        open_q = select(sa.func.count()).select_from(Case).where(Case.status.in_(OPEN_STATUSES))
        breach_q = open_q.where(Case.first_response_at.is_(None), Case.first_response_due < utcnow())
        if brand_id is not None:
            open_q, breach_q = open_q.where(Case.brand_id == brand_id), breach_q.where(Case.brand_id == brand_id)
        open_cases, breached = s.exec(open_q).one(), s.exec(breach_q).one()
    median, within = _response_stats(url, brand_id, start, end)
    return {
        "median_first_response_min": median,
        "within_sla": within,
        "volume": volume,
        "negative_share": negative / volume if volume else 0.0,
        "needs_response": int(d["needs_response"].sum()) if not d.empty else 0,
        "open_cases": int(open_cases),
        "breached": int(breached),
    }


def _minutes_to_first_response(url: str) -> Any:
    first_post = sa.func.coalesce(Case.first_post_at, Case.opened_at)
    if store.get_engine(url).dialect.name == "postgresql":
        return sa.func.extract("epoch", Case.first_response_at - first_post) / 60
    return (sa.func.julianday(Case.first_response_at) - sa.func.julianday(first_post)) * 1440


def _response_stats(url: str, brand_id: Optional[int], start: Optional[datetime],
                    end: Optional[datetime]) -> tuple[Optional[float], Optional[float]]:
    """(median minutes to first response, share answered within SLA) of the cases first answered
    in the period, in SQL: the dashboard asks twice per view, over tens of thousands of cases."""
    answered = _filters(select().select_from(Case).where(Case.first_response_at.is_not(None)),
                        brand_id, start, end, Case.brand_id, Case.first_response_at)
    minutes = _minutes_to_first_response(url)
    with store.session(url) as s:
        n, within = s.exec(answered.add_columns(
            sa.func.count(), sa.func.sum(sa.case((Case.first_response_at <= Case.first_response_due, 1), else_=0)))).one()
        if not n:
            return None, None
        middle = [s.exec(answered.add_columns(minutes).order_by(minutes).limit(1).offset(k)).one()[0]
                  for k in sorted({(n - 1) // 2, n // 2})]
    return float(sum(middle) / len(middle)), int(within or 0) / n


def response_times(url: str, brand_id: Optional[int] = None, start: Optional[datetime] = None,
                   end: Optional[datetime] = None) -> pd.DataFrame:
    """Cases first answered in the period: minutes from the first post to the first response."""
    # Cases carry their first post's time, so this reads one table through its (brand, first response) index.
    first_post = sa.func.coalesce(Case.first_post_at, Case.opened_at).label("first_post")
    q = select(Case.id, Case.first_response_at, Case.first_response_due, first_post).where(
        Case.first_response_at.is_not(None))
    df = _frame(url, _filters(q, brand_id, start, end, Case.brand_id, Case.first_response_at))
    for col in ("first_response_at", "first_response_due", "first_post"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["minutes"] = (df["first_response_at"] - df["first_post"]).dt.total_seconds() / 60
    df["within_sla"] = df["first_response_at"] <= df["first_response_due"]
    return df


SLA_FILTERS = ("any", "breached", "due within 1 h", "on track")


def case_queue(url: str, status: str = "open", limit: int = 200, brand_id: Optional[int] = None,
               priority: Optional[list[str]] = None, lang: Optional[list[str]] = None,
               category: Optional[list[str]] = None, platform: Optional[list[str]] = None,
               owner: Optional[str] = None, sla: str = "any", now: Optional[datetime] = None) -> pd.DataFrame:
    """Cases, most urgent first: priority, then the first-response deadline. `sla` narrows to
    cases whose first response is overdue, due within the hour, or comfortably ahead."""
    q = select(
        Case.id, Case.priority, Case.status, Case.category, Case.lang, Case.platform, Case.author,
        Case.owner, Case.first_response_due, Case.first_response_at, Case.opened_at,
    )
    if brand_id is not None:
        q = q.where(Case.brand_id == brand_id)
    if lang:
        q = q.where(Case.lang.in_(lang))
    if category:
        q = q.where(Case.category.in_(category))
    if platform:
        q = q.where(Case.platform.in_(platform))
    if owner == "nobody":
        q = q.where(Case.owner.is_(None))
    elif owner:
        q = q.where(Case.owner == owner)
    if sla != "any":
        now = now or utcnow()
        pending = sa.and_(Case.first_response_at.is_(None), Case.first_response_due.is_not(None))
        hour = now + timedelta(hours=1)
        q = q.where(pending, {"breached": Case.first_response_due < now,
                              "due within 1 h": Case.first_response_due.between(now, hour),
                              "on track": Case.first_response_due > hour}[sla])
    # Each (status, priority) pair is one range of the (brand, status, priority, due) index, read in
    # deadline order and cut at `limit`; the page is the most urgent of those few rows. Sorting
    # every case by a priority expression instead took a second at a million mentions.
    statuses = OPEN_STATUSES if status == "open" else CASE_STATUSES if status == "all" else (status,)
    if sla != "any":  # SLA clocks run on open cases only; a dismissed case never answered is not "breached"
        statuses = tuple(st for st in statuses if st in OPEN_STATUSES)
    parts = [select(q.where(Case.status == st, Case.priority == pr)
                    .order_by(Case.first_response_due, Case.id).limit(limit).subquery())
             for st in statuses for pr in (priority or PRIORITIES)]
    merged = sa.union_all(*parts).subquery()
    page = select(merged).order_by(sa.case({p: i for i, p in enumerate(PRIORITIES)}, value=merged.c.priority),
                                   merged.c.first_response_due, merged.c.id).limit(limit).subquery()
    # Then only the page's first posts: joining every case's first post costs a pass over casemention.
    first_post = select(sa.func.min(CaseMention.mention_id)).where(CaseMention.case_id == page.c.id).scalar_subquery()
    posts = select(sa.func.count()).where(CaseMention.case_id == page.c.id).scalar_subquery()
    df = _frame(url, select(page, Mention.text, Mention.url, Mention.created_at, posts.label("posts"))
                .join(Mention, Mention.id == first_post)
                .order_by(sa.case({p: i for i, p in enumerate(PRIORITIES)}, value=page.c.priority,
                                  else_=len(PRIORITIES)), page.c.first_response_due, page.c.id))
    for col in ("first_response_due", "first_response_at", "opened_at", "created_at"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


def case_detail(url: str, case_id: int) -> Optional[dict]:
    """A case with its posts (and their scores) and its history."""
    with store.session(url) as s:
        case = s.get(Case, case_id)
        if case is None:
            return None
        rows = s.exec(
            select(Mention, Score)
            .join(CaseMention, CaseMention.mention_id == Mention.id)
            .outerjoin(Score, Score.mention_id == Mention.id)
            .where(CaseMention.case_id == case_id)
            .order_by(Mention.created_at)
        ).all()
        events = s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at)).all()
        earlier = s.exec(
            select(Case).where(Case.platform == case.platform, Case.author == case.author, Case.id != case.id,
                               Case.author != "")
            .order_by(Case.opened_at.desc()).limit(10)
        ).all() if case.author else []
        own_ids = [m.id for m, _ in rows]
        threads = {m.thread_id for m, _ in rows if m.thread_id}
        parents = {m.parent_id for m, _ in rows if m.parent_id}
        context = s.exec(
            select(Mention).where(Mention.platform == case.platform, Mention.id.not_in(own_ids),
                                  sa.or_(Mention.thread_id.in_(threads), Mention.native_id.in_(parents)))
            .order_by(Mention.created_at).limit(50)
        ).all() if threads or parents else []
        return {"case": case, "posts": [(m, sc) for m, sc in rows], "events": list(events), "earlier": list(earlier),
                "thread": list(context)}


def case_options(url: str) -> dict[str, list[str]]:
    """The platforms and owners that occur in cases, for the queue's filters."""
    with store.session(url) as s:
        platforms = s.exec(select(Case.platform).distinct().order_by(Case.platform)).all()
        owners = s.exec(select(Case.owner).where(Case.owner.is_not(None)).distinct().order_by(Case.owner)).all()
    return {"platform": list(platforms), "owner": list(owners)}


def sources(url: str) -> pd.DataFrame:
    return _frame(url, select(Source).order_by(Source.name))
