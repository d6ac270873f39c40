"""The domain model: every table repmon stores, in one place.

Stages write their own tables and read the previous stage's:
collectors -> Mention (+ CollectorCursor, Source health), scorer -> Score,
cases -> Case / CaseMention / CaseEvent (+ AlertOutbox rows), dispatcher -> AlertOutbox.
Times are stored as aware UTC datetimes (`UTCDateTime` brings SQLite's naive values back as UTC).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

PRIORITIES = ("critical", "high", "medium", "low")
LABELS = ("negative", "neutral", "positive")
KINDS = ("post", "comment", "review")
CASE_STATUSES = ("new", "acknowledged", "waiting", "responded", "resolved", "dismissed", "gone")
OPEN_STATUSES = ("new", "acknowledged", "waiting")
CATEGORIES = (
    "delivery", "billing", "defect", "service", "account", "outage",
    "abuse", "question", "praise", "other",
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def priority_rank(priority: str) -> int:
    """0 is the most urgent; unknown priorities sort last."""
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


class UTCDateTime(TypeDecorator):
    """Timezone-aware on the way in and out, on SQLite (which has no tz) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: repmon stores aware UTC datetimes only")
        value = value.astimezone(timezone.utc)
        # SQLite compares timestamps as text, so store one fixed form without an offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _time(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json(**kw: Any) -> Any:
    return Field(sa_type=sa.JSON, **kw)


class Brand(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    keywords: list = _json(default_factory=list)
    handles: list = _json(default_factory=list)
    languages: list = _json(default_factory=list)
    competitors: list = _json(default_factory=list)


class Source(SQLModel, table=True):
    """One configured collector and its health, as `repmon sources` shows it."""

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    kind: str = Field(max_length=50)
    enabled: bool = True
    last_run_at: Optional[datetime] = _time(default=None)
    last_success_at: Optional[datetime] = _time(default=None)
    last_error_at: Optional[datetime] = _time(default=None)
    last_error: Optional[str] = None
    items_total: int = 0
    last_items: int = 0
    failing_since: Optional[datetime] = _time(default=None)  # first failure after the last success
    rate_limited_until: Optional[datetime] = _time(default=None)
    budget_used: Optional[int] = None  # reads or quota units this period, for paid APIs
    budget_limit: Optional[int] = None


class Mention(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("platform", "native_id", name="uq_mention_platform_native_id"),
        sa.Index("ix_mention_created_at", "created_at"),
        sa.Index("ix_mention_brand_created", "brand_id", "created_at"),
        # the brand's replies in a case's thread (repmon.cases.mark_brand_replies), thread context
        sa.Index("ix_mention_thread", "platform", "thread_id"),
        sa.Index("ix_mention_parent", "platform", "parent_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    brand_id: Optional[int] = Field(default=None, foreign_key="brand.id")
    source: str = Field(max_length=100)
    platform: str = Field(max_length=50)
    native_id: str = Field(max_length=200)
    url: Optional[str] = None
    author: str = Field(default="", max_length=200)
    author_reach: int = 0
    text: str
    lang: Optional[str] = Field(default=None, max_length=16)
    created_at: datetime = _time()
    collected_at: datetime = _time(default_factory=utcnow)
    thread_id: Optional[str] = Field(default=None, max_length=200)
    parent_id: Optional[str] = Field(default=None, max_length=200)
    kind: str = Field(default="post", max_length=20)
    rating: Optional[int] = None
    is_own: bool = False  # written by one of the brand's own accounts
    deleted_at: Optional[datetime] = _time(default=None)  # seen removed at the source; kept, not lost
    raw: Optional[dict] = _json(default=None)


class MentionRevision(SQLModel, table=True):
    """An edited post's earlier text, kept when a collector brings back a new version."""

    id: Optional[int] = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", index=True)
    text: str
    replaced_at: datetime = _time(default_factory=utcnow)


class Score(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", unique=True)
    scorer: str = Field(max_length=50)
    lang: str = Field(default="und", max_length=16)
    sentiment: float = 0.0
    label: str = Field(max_length=10)
    needs_response: bool = Field(default=False, index=True)
    priority: str = Field(default="low", max_length=10)
    category: str = Field(default="other", max_length=20)
    reasons: list = _json(default_factory=list)
    scored_at: datetime = _time(default_factory=utcnow)


class MentionHour(SQLModel, table=True):
    """Scored mentions counted per brand, hour, source, platform and language (repmon.rollups)."""

    __table_args__ = (sa.UniqueConstraint("brand_id", "hour", "source", "platform", "lang",
                                          name="uq_mentionhour_key"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    brand_id: int = 0  # 0: no brand (a NULL would never conflict in the unique key)
    hour: datetime = _time()
    source: str = Field(max_length=100)
    platform: str = Field(max_length=50)
    lang: str = Field(default="", max_length=16)
    volume: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    needs_response: int = 0
    sentiment_sum: float = 0.0
    weighted_sentiment: float = 0.0  # sum of sentiment x reach weight: the reputation index's numerator
    weight: float = 0.0


class VoiceHour(SQLModel, table=True):
    """Per brand, hour and name (the brand or a competitor): posts naming it, and the negative ones."""

    __table_args__ = (sa.UniqueConstraint("brand_id", "hour", "name", name="uq_voicehour_key"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    brand_id: int = 0
    hour: datetime = _time()
    name: str = Field(max_length=200)
    volume: int = 0
    negative: int = 0


class ThemeWeek(SQLModel, table=True):
    """A finished week's complaints as theme grouping needs them (category, time into the week,
    key phrases; no text, no author), so earlier weeks are not re-read on every Themes view.
    `fingerprint` says which data and settings it was made from (repmon.themes)."""

    __table_args__ = (sa.UniqueConstraint("brand_id", "week", name="uq_themeweek_key"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    brand_id: int = 0  # 0: every brand
    week: str = Field(max_length=10)
    fingerprint: str = Field(max_length=64)
    computed_at: datetime = _time(default_factory=utcnow)
    posts: list = _json(default_factory=list)


class Case(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_case_status_priority", "status", "priority"),
        # a post joins its author's open case; with status in it, the planner never prefers ix_case_queue
        # (all of a brand's open cases), which made opening cases quadratic in a crisis
        sa.Index("ix_case_platform_author", "platform", "author", "status"),
        sa.Index("ix_case_brand_first_response", "brand_id", "first_response_at"),  # response-time KPIs
        # the queue: one index range per status and priority, in deadline order (dashboard.queries)
        sa.Index("ix_case_queue", "brand_id", "status", "priority", "first_response_due"),
        sa.Index("ix_case_owner", "owner"),  # the queue's owner filter and its list of owners
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    brand_id: Optional[int] = Field(default=None, foreign_key="brand.id")
    platform: str = Field(max_length=50)
    author: str = Field(max_length=200)
    thread_key: str = Field(max_length=300)
    status: str = Field(default="new", max_length=20)
    priority: str = Field(default="medium", max_length=10)
    category: str = Field(default="other", max_length=20)
    lang: str = Field(default="und", max_length=16)
    owner: Optional[str] = Field(default=None, max_length=100)
    opened_at: datetime = _time(default_factory=utcnow)
    last_post_at: datetime = _time(default_factory=utcnow)
    first_post_at: Optional[datetime] = _time(default=None)  # response times count from here
    first_response_due: Optional[datetime] = _time(default=None)
    first_response_at: Optional[datetime] = _time(default=None)
    resolution_due: Optional[datetime] = _time(default=None)
    resolved_at: Optional[datetime] = _time(default=None)
    suggested_reply: str = ""
    suggestion_source: Optional[str] = Field(default=None, max_length=40)  # template id, or "generator"
    final_reply: Optional[str] = None
    dismiss_reason: Optional[str] = None


class CaseMention(SQLModel, table=True):
    case_id: int = Field(foreign_key="case.id", primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", primary_key=True, unique=True)


class CaseEvent(SQLModel, table=True):
    """Who did what to a case, when: the case's history."""

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    at: datetime = _time(default_factory=utcnow)
    actor: str = Field(default="repmon", max_length=100)
    action: str = Field(max_length=50)
    detail: Optional[str] = None


class CollectorCursor(SQLModel, table=True):
    """Where a source stopped; advanced in the same transaction as the mentions it covers."""

    source: str = Field(primary_key=True, max_length=100)
    value: str
    updated_at: datetime = _time(default_factory=utcnow)


class AlertOutbox(SQLModel, table=True):
    """Alerts to deliver. Written with the event that causes them; `key` makes a resend impossible.

    status: pending -> sending -> sent | failed; "digested" rows were folded into the digest
    row `digest_id` during a flood; "skipped" rows became moot (e.g. a superseded update).
    """

    # flood checks count a channel's recent alerts of one kind: one index range, however big the flood
    __table_args__ = (sa.Index("ix_alertoutbox_channel_kind_created", "channel", "kind", "created_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    kind: str = Field(max_length=30)
    channel: str = Field(max_length=100)
    case_id: Optional[int] = Field(default=None, foreign_key="case.id")
    payload: dict = _json(default_factory=dict)
    status: str = Field(default="pending", max_length=10, index=True)
    attempts: int = 0
    last_error: Optional[str] = None
    created_at: datetime = _time(default_factory=utcnow)
    next_attempt_at: datetime = _time(default_factory=utcnow)  # while "sending": when the send is presumed dead
    sent_at: Optional[datetime] = _time(default=None)
    slack_channel: Optional[str] = Field(default=None, max_length=50)  # where it landed (bot channels)
    slack_ts: Optional[str] = Field(default=None, max_length=40)
    digest_id: Optional[int] = None


class SlackThread(SQLModel, table=True):
    """The Slack parent message of a case in a bot-token channel: later alerts reply under it."""

    case_id: int = Field(foreign_key="case.id", primary_key=True)
    channel: str = Field(primary_key=True, max_length=100)  # the [[alerts.slack]] name
    slack_channel: str = Field(max_length=50)  # Slack's channel id, as chat.update needs it
    ts: str = Field(max_length=40)
    created_at: datetime = _time(default_factory=utcnow)


class FeedbackLabel(SQLModel, table=True):
    """A team member's verdict on a score, for training the per-deployment model."""

    id: Optional[int] = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", index=True)
    verdict: str = Field(max_length=30)  # needs_response | no_response | wrong_category
    category: Optional[str] = Field(default=None, max_length=20)
    actor: str = Field(default="", max_length=100)
    created_at: datetime = _time(default_factory=utcnow)


class ScorerModel(SQLModel, table=True):
    """A per-deployment scoring model fitted by `repmon train`. The active one is used by the
    scorer; earlier ones stay for `repmon train --rollback`."""

    id: Optional[int] = Field(default=None, primary_key=True)
    created_at: datetime = _time(default_factory=utcnow)
    active: bool = Field(default=False, index=True)
    n_labels: int = 0
    metrics: dict = _json(default_factory=dict)
    actor: str = Field(default="", max_length=100)
    weights: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))

