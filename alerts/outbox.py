"""The alert outbox and its dispatcher.

An alert is written to the outbox in the same transaction as the event that causes it, under a
unique key, so it can be neither lost nor queued twice. The dispatcher sends what is due,
retries failures with backoff (honouring Slack's Retry-After), and gives up after
alerts.max_attempts, leaving the row visible as failed.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from alerts.base import Notifier
from alerts.slack import SlackWebhookNotifier, case_message, sla_message, source_down_message
from repmon import store
from repmon.config import Config
from repmon.errors import NotifierError
from repmon.models import AlertOutbox, Brand, priority_rank, utcnow

log = logging.getLogger(__name__)


def notifiers(cfg: Config) -> dict[str, Notifier]:
    return {ch.name: SlackWebhookNotifier(ch.name, ch.webhook_url) for ch in cfg.alerts.slack}


def enqueue_case_opened(s: Session, cfg: Config, case: Any, mention: Any, score: Any) -> int:
    """Queue a new-case alert for each channel when the case is urgent and the post is recent."""
    if priority_rank(case.priority) > priority_rank(cfg.alerts.min_priority):
        return 0
    # Backfills and demo data open old cases; paging on-call staff for them helps no one.
    if mention.created_at < utcnow() - timedelta(hours=cfg.alerts.max_age_hours):
        return 0
    brand = s.get(Brand, case.brand_id).name if case.brand_id else ""
    payload = case_message(case, mention, score, brand, cfg.alerts.dashboard_url)
    for ch in cfg.alerts.slack:
        s.add(AlertOutbox(key=f"case-opened:{case.id}:{ch.name}", kind="case_opened",
                          channel=ch.name, case_id=case.id, payload=payload))
    return len(cfg.alerts.slack)


def enqueue_sla(s: Session, cfg: Config, case: Any, clock: Any) -> int:
    """One alert per case, clock and state ("at_risk", then "breached"), for urgent cases."""
    if priority_rank(case.priority) > priority_rank(cfg.alerts.min_priority):
        return 0
    queued = 0
    kind = "sla_breached" if clock.state == "breached" else "sla_at_risk"
    for ch in cfg.alerts.slack:
        key = f"{kind}:{clock.name.replace(' ', '_')}:{case.id}:{ch.name}"
        if s.exec(select(AlertOutbox.id).where(AlertOutbox.key == key)).first() is None:
            s.add(AlertOutbox(key=key, kind=kind, channel=ch.name, case_id=case.id,
                              payload=sla_message(case, clock, cfg.alerts.dashboard_url)))
            queued += 1
    return queued


def enqueue_source_down(s: Session, cfg: Config, source: Any) -> int:
    """One alert per outage: the key names the moment the source started failing."""
    if source.failing_since is None or utcnow() - source.failing_since < timedelta(minutes=cfg.alerts.source_down_minutes):
        return 0
    key = f"source-down:{source.name}:{source.failing_since.isoformat()}"
    payload = source_down_message(source, cfg.alerts.dashboard_url)
    for ch in cfg.alerts.slack:
        if s.exec(select(AlertOutbox.id).where(AlertOutbox.key == f"{key}:{ch.name}")).first() is None:
            s.add(AlertOutbox(key=f"{key}:{ch.name}", kind="source_down", channel=ch.name, payload=payload))
    return len(cfg.alerts.slack)


@dataclass
class DispatchResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def dispatch(cfg: Config, limit: int = 100) -> DispatchResult:
    """Send the alerts that are due. Each one is marked in its own transaction."""
    result = DispatchResult()
    sinks = notifiers(cfg)
    with store.session(cfg.database.url) as s:
        due = s.exec(
            select(AlertOutbox.id)
            .where(AlertOutbox.status == "pending", AlertOutbox.next_attempt_at <= utcnow())
            .order_by(AlertOutbox.id).limit(limit)
        ).all()
    for alert_id in due:
        with store.session(cfg.database.url) as s:
            alert = s.get(AlertOutbox, alert_id)
            if alert is None or alert.status != "pending":
                continue
            sink = sinks.get(alert.channel)
            alert.attempts += 1
            try:
                if sink is None:
                    raise NotifierError(f"channel {alert.channel!r} is no longer configured", permanent=True)
                sink.send(alert.payload)
            except NotifierError as exc:
                alert.last_error = str(exc)[:2000]
                if exc.permanent or alert.attempts >= cfg.alerts.max_attempts:
                    alert.status = "failed"
                    result.failed += 1
                    log.error("alert=%s channel=%s failed for good: %s", alert.key, alert.channel, exc)
                else:
                    delay = exc.retry_after or min(3600.0, 30 * 2 ** (alert.attempts - 1)) * random.uniform(0.8, 1.2)
                    alert.next_attempt_at = utcnow() + timedelta(seconds=delay)
                    result.retrying += 1
                    log.warning("alert=%s channel=%s retry in %.0fs: %s", alert.key, alert.channel, delay, exc)
            else:
                alert.status, alert.sent_at, alert.last_error = "sent", utcnow(), None
                result.sent += 1
            s.add(alert)
    return result
