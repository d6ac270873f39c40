"""Every read the dashboard, the CLI and the reports make, as DataFrames. No Streamlit here:
pages wrap these in st.cache_data, tests call them directly.

Reputation index (documented in docs/ARCHITECTURE.md): for a period, the reach-weighted mean
sentiment of the brand's mentions, scaled to -100..100, with weight 1 + log10(1 + followers)
so a large account counts more than a small one, but not a thousand times more.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

import pandas as pd
import sqlalchemy as sa
from sqlmodel import select

from repmon import store
from repmon.models import (
    OPEN_STATUSES, PRIORITIES, Brand, Case, CaseEvent, CaseMention, Mention, Score, Source, utcnow,
)

_priority_order = sa.case({p: i for i, p in enumerate(PRIORITIES)}, value=Case.priority, else_=len(PRIORITIES))


def _frame(url: str, query: Any) -> pd.DataFrame:
    with store.get_engine(url).connect() as conn:
        return pd.read_sql(query, conn)


def _day(url: str, column: Any) -> Any:
    if store.get_engine(url).dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", column)


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
    with store.session(url) as s:
        lo, hi = s.exec(select(sa.func.min(Mention.created_at), sa.func.max(Mention.created_at))).one()
    fix = Mention.__table__.c.created_at.type.process_result_value
    return fix(lo, None), fix(hi, None)


def daily(url: str, brand_id: Optional[int] = None, start: Optional[datetime] = None,
          end: Optional[datetime] = None) -> pd.DataFrame:
    """Per day: volume, sentiment mix, and the reputation index."""
    day = _day(url, Mention.created_at).label("day")
    # PostgreSQL's log(base, x) is arbitrary-precision numeric, ~30x slower than log(float) (base 10)
    weight = 1 + sa.func.log(sa.cast(1 + Mention.author_reach, sa.Float)) \
        if store.get_engine(url).dialect.name == "postgresql" else 1 + sa.func.log10(1 + Mention.author_reach)
    q = (
        select(
            day,
            sa.func.count().label("volume"),
            sa.func.sum(sa.case((Score.label == "negative", 1), else_=0)).label("negative"),
            sa.func.sum(sa.case((Score.label == "neutral", 1), else_=0)).label("neutral"),
            sa.func.sum(sa.case((Score.label == "positive", 1), else_=0)).label("positive"),
            sa.func.sum(sa.case((Score.needs_response.is_(True), 1), else_=0)).label("needs_response"),
            (100 * sa.func.sum(Score.sentiment * weight) / sa.func.sum(weight)).label("reputation_index"),
        )
        .join(Score, Score.mention_id == Mention.id)
        .where(Mention.is_own.is_(False))
        .group_by(day)
        .order_by(day)
    )
    df = _frame(url, _filters(q, brand_id, start, end))
    df["day"] = pd.to_datetime(df["day"])
    return df


def breakdown(url: str, by: str, brand_id: Optional[int] = None, start: Optional[datetime] = None,
              end: Optional[datetime] = None) -> pd.DataFrame:
    """Volume and sentiment mix per source, platform or language."""
    column = {"source": Mention.source, "platform": Mention.platform, "lang": Score.lang}[by]
    q = (
        select(
            column.label(by),
            sa.func.count().label("volume"),
            sa.func.sum(sa.case((Score.label == "negative", 1), else_=0)).label("negative"),
            sa.func.sum(sa.case((Score.label == "positive", 1), else_=0)).label("positive"),
            sa.func.avg(Score.sentiment).label("mean_sentiment"),
        )
        .select_from(Mention)
        .join(Score, Score.mention_id == Mention.id)
        .where(Mention.is_own.is_(False))
        .group_by(column)
        .order_by(sa.func.count().desc())
    )
    return _frame(url, _filters(q, brand_id, start, end))


def share_of_voice(url: str, names: dict[str, list[str]], brand_id: Optional[int] = None,
                   start: Optional[datetime] = None, end: Optional[datetime] = None) -> pd.DataFrame:
    """Mentions naming each of `names` (the brand and its competitors: label -> terms), their
    share of all those mentions and their negative share. A post naming two counts for both."""
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
    counts = [int(row[f"n{i}"]) for i in range(len(names))]
    total = sum(counts) or 1
    return pd.DataFrame({
        "name": list(names), "mentions": counts, "share": [c / total for c in counts],
        "negative_share": [int(row[f"neg{i}"]) / c if c else 0.0 for i, c in enumerate(counts)],
    })


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
    response = response_times(url, brand_id, start, end)
    return {
        "median_first_response_min": float(response["minutes"].median()) if not response.empty else None,
        "within_sla": float(response["within_sla"].mean()) if not response.empty else None,
        "volume": volume,
        "negative_share": negative / volume if volume else 0.0,
        "needs_response": int(d["needs_response"].sum()) if not d.empty else 0,
        "open_cases": int(open_cases),
        "breached": int(breached),
    }


def response_times(url: str, brand_id: Optional[int] = None, start: Optional[datetime] = None,
                   end: Optional[datetime] = None) -> pd.DataFrame:
    """Cases first answered in the period: minutes from the first post to the first response."""
    first_post = sa.func.min(Mention.created_at).label("first_post")
    q = (
        select(Case.id, Case.first_response_at, Case.first_response_due, first_post)
        .join(CaseMention, CaseMention.case_id == Case.id)
        .join(Mention, Mention.id == CaseMention.mention_id)
        .where(Case.first_response_at.is_not(None))
        .group_by(Case.id, Case.first_response_at, Case.first_response_due)
    )
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
    first = (
        select(CaseMention.case_id, sa.func.min(CaseMention.mention_id).label("mention_id"))
        .group_by(CaseMention.case_id).subquery()
    )
    posts = select(sa.func.count()).where(CaseMention.case_id == Case.id).scalar_subquery()
    q = (
        select(
            Case.id, Case.priority, Case.status, Case.category, Case.lang, Case.platform, Case.author,
            Case.owner, Case.first_response_due, Case.first_response_at, Case.opened_at, Mention.text, Mention.url,
            Mention.created_at, posts.label("posts"),
        )
        .join(first, first.c.case_id == Case.id)
        .join(Mention, Mention.id == first.c.mention_id)
        .order_by(_priority_order, Case.first_response_due, Case.id)
        .limit(limit)
    )
    if status == "open":
        q = q.where(Case.status.in_(OPEN_STATUSES))
    elif status != "all":
        q = q.where(Case.status == status)
    if brand_id is not None:
        q = q.where(Case.brand_id == brand_id)
    if priority:
        q = q.where(Case.priority.in_(priority))
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
    df = _frame(url, q)
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
