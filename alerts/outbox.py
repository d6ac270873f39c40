"""The alert outbox: what to tell which Slack channel, written in the event's own transaction.

An alert row is added in the same transaction as the event that causes it, under a unique
key per channel, so it can be neither lost nor queued twice. Routing rules pick the channels.
During a flood (more than alerts.digest_after new-case alerts to one channel within
alerts.cooldown_minutes) further new-case alerts are folded into one digest row per channel
and window instead of being sent one by one; every folded row stays, marked "digested".
Sending is the dispatcher's job (alerts.dispatcher).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Optional

from sqlmodel import Session, func, select

from alerts.messages import case_message, sla_message, source_down_message
from repmon import store
from repmon.config import Config
from repmon.models import AlertOutbox, Brand, priority_rank, utcnow

log = logging.getLogger(__name__)

__all__ = ["enqueue", "enqueue_case_opened", "enqueue_sla", "enqueue_source_down", "enqueue_case_updated",
           "channels_for", "problems", "retry", "dispatch", "DispatchResult", "notifiers"]

CASE_KINDS = ("case_opened", "sla_at_risk", "sla_breached")
# reports.deliver keeps its own delivery rows in this table and sends them itself.
NOT_DISPATCHED = ("report",)
PROBLEM_STATUSES = ("failed", "pending", "sending")


def channels_for(cfg: Config, kind: str, brand: Optional[str], priority: Optional[str]) -> list[str]:
    """The channels an alert goes to: every channel without routes, else those of every
    matching route. An alert no route matches goes nowhere."""
    if not cfg.alerts.routes:
        return [ch.name for ch in cfg.alerts.slack]
    out: list[str] = []
    for route in cfg.alerts.routes:
        if route.kinds and kind not in route.kinds:
            continue
        if route.brands and brand not in route.brands:
            continue
        if route.min_priority and (priority is None or priority_rank(priority) > priority_rank(route.min_priority)):
            continue
        out += [name for name in route.channels if name not in out]
    return out


def enqueue(s: Session, cfg: Config, kind: str, key: str, payload: dict, brand_id: Optional[int] = None,
            priority: Optional[str] = None, case_id: Optional[int] = None) -> int:
    """Queue `payload` ({"text", "blocks"}) for every channel the routes give it; returns how
    many rows were added. `key` names the event: queueing the same key again adds nothing."""
    brand = s.get(Brand, brand_id).name if brand_id else None
    return _enqueue(s, cfg, kind, key, payload, brand, priority, case_id)


def _enqueue(s: Session, cfg: Config, kind: str, key: str, payload: dict, brand: Optional[str],
             priority: Optional[str], case_id: Optional[int]) -> int:
    channels = channels_for(cfg, kind, brand, priority)
    if not channels and cfg.alerts.slack:
        log.info("alert=%s matches no route: not queued", key)
    queued = 0
    for name in channels:
        row_key = f"{key}:{name}"
        if s.exec(select(AlertOutbox.id).where(AlertOutbox.key == row_key)).first() is not None:
            continue
        row = AlertOutbox(key=row_key, kind=kind, channel=name, case_id=case_id, payload=payload)
        if kind == "case_opened":
            _fold_in_flood(s, cfg, row)
        s.add(row)
        queued += 1
    return queued


def _fold_in_flood(s: Session, cfg: Config, row: AlertOutbox) -> None:
    rules = cfg.alerts
    if rules.digest_after <= 0:
        return
    now = utcnow()
    since = now - timedelta(minutes=rules.cooldown_minutes)
    # Whether there are digest_after, not how many: in a flood the window holds thousands.
    window = select(AlertOutbox.id).where(AlertOutbox.channel == row.channel, AlertOutbox.kind == "case_opened",
                                          AlertOutbox.created_at >= since).limit(rules.digest_after).subquery()
    recent = s.exec(select(func.count()).select_from(window)).one()
    if recent < rules.digest_after:
        return
    is_bot = next(ch.is_bot for ch in rules.slack if ch.name == row.channel)
    digest = s.exec(select(AlertOutbox).where(
        AlertOutbox.channel == row.channel, AlertOutbox.kind == "digest", AlertOutbox.created_at >= since,
        AlertOutbox.status != "failed").order_by(AlertOutbox.id.desc())).first()
    if digest is None:
        # A webhook message cannot be edited, so its digest waits for the window to close;
        # a bot channel's digest goes out at once and is edited as it grows.
        due = now if is_bot else now + timedelta(minutes=rules.cooldown_minutes)
        digest = AlertOutbox(key=f"digest:{row.key}", kind="digest", channel=row.channel,
                             payload={"since": now.isoformat()}, created_at=now, next_attempt_at=due)
        s.add(digest)
        s.flush()
    elif is_bot and s.exec(select(AlertOutbox.id).where(
            AlertOutbox.kind == "digest_update", AlertOutbox.digest_id == digest.id,
            AlertOutbox.status == "pending")).first() is None:
        s.add(AlertOutbox(key=f"digest-update:{digest.id}:{row.key}", kind="digest_update", channel=row.channel,
                          digest_id=digest.id))
    row.status, row.digest_id = "digested", digest.id
    row.last_error = f"folded into digest #{digest.id}: more than {rules.digest_after} new cases in " \
                     f"{rules.cooldown_minutes:g} min"


def enqueue_case_opened(s: Session, cfg: Config, case: Any, mention: Any, score: Any) -> int:
    """Queue a new-case alert when the case is urgent and the post is recent."""
    if priority_rank(case.priority) > priority_rank(cfg.alerts.min_priority):
        return 0
    # Backfills and demo data open old cases; paging on-call staff for them helps no one.
    if mention.created_at < utcnow() - timedelta(hours=cfg.alerts.max_age_hours):
        return 0
    with s.no_autoflush:  # the case's new rows flush with the rest of the batch, not once per lookup
        brand = s.get(Brand, case.brand_id).name if case.brand_id else ""
    payload = case_message(case, mention, score, brand, cfg.alerts.dashboard_url)
    return _enqueue(s, cfg, "case_opened", f"case-opened:{case.id}", payload, brand or None, case.priority, case.id)


def enqueue_sla(s: Session, cfg: Config, case: Any, clock: Any) -> int:
    """One alert per case, clock and state ("at_risk", then "breached"), for urgent cases."""
    if priority_rank(case.priority) > priority_rank(cfg.alerts.min_priority):
        return 0
    kind = "sla_breached" if clock.state == "breached" else "sla_at_risk"
    key = f"{kind}:{clock.name.replace(' ', '_')}:{case.id}"
    brand = s.get(Brand, case.brand_id).name if case.brand_id else None
    return _enqueue(s, cfg, kind, key, sla_message(case, clock, cfg.alerts.dashboard_url), brand, case.priority, case.id)


def enqueue_source_down(s: Session, cfg: Config, source: Any) -> int:
    """One alert per outage: the key names the moment the source started failing."""
    if source.failing_since is None or utcnow() - source.failing_since < timedelta(minutes=cfg.alerts.source_down_minutes):
        return 0
    key = f"source-down:{source.name}:{source.failing_since.isoformat()}"
    src = cfg.sources.get(source.name)
    return _enqueue(s, cfg, "source_down", key, source_down_message(source, cfg.alerts.dashboard_url),
                    src.brand if src else None, None, None)


def enqueue_case_updated(s: Session, case: Any, event: Any) -> int:
    """The case changed (status, owner, priority): tell every channel already alerted about it.
    Call after the CaseEvent is flushed, in its transaction. Needs no config, so the
    dashboard and CLI actions can call it; the dispatcher decides per channel what to send."""
    channels = s.exec(select(AlertOutbox.channel).where(
        AlertOutbox.case_id == case.id, AlertOutbox.kind.in_(CASE_KINDS)).distinct()).all()
    payload = {"action": event.action, "actor": event.actor, "status": case.status, "owner": case.owner,
               "priority": case.priority, "detail": (event.detail or "")[:300]}
    for name in channels:
        s.add(AlertOutbox(key=f"case-updated:{case.id}:{event.id}:{name}", kind="case_updated", channel=name,
                          case_id=case.id, payload=payload))
    return len(channels)


def problems(url: str, limit: int = 200) -> list[AlertOutbox]:
    """Alerts not delivered (yet): failed first, then pending and in flight, newest first."""
    with store.session(url) as s:
        rows = s.exec(select(AlertOutbox).where(AlertOutbox.status.in_(PROBLEM_STATUSES))
                      .order_by(AlertOutbox.id.desc()).limit(limit)).all()
    return sorted(rows, key=lambda a: a.status != "failed")


def retry(url: str, ids: Optional[list[int]] = None, failed: bool = False) -> list[int]:
    """Queue failed alerts again (the given ids, or with `failed` every failed one); returns
    the ids requeued. Their last error stays on record, so a bot channel first checks Slack
    for an earlier copy before posting."""
    with store.session(url) as s:
        q = select(AlertOutbox).where(AlertOutbox.status == "failed", AlertOutbox.kind.not_in(NOT_DISPATCHED))
        if ids:
            q = q.where(AlertOutbox.id.in_(ids))
        elif not failed:
            return []
        rows = s.exec(q).all()
        for row in rows:
            row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
            s.add(row)
        return [row.id for row in rows]


# The dispatcher lives in its own module; `outbox.dispatch` stays the entry point callers know.
from alerts.dispatcher import DispatchResult, dispatch, notifiers  # noqa: E402,F401
