"""The dispatcher: sends due outbox rows, retries with backoff, and survives being killed.

A row is marked "sending" (with a lease of 3x the request timeout) in its own transaction
before the Slack call, and "sent" in another after it. A process killed in between leaves
the row "sending"; once the lease runs out the next run resolves it:

- bot channels: every post carries the row's key as message metadata, so the dispatcher
  looks for it (conversations.history, and the case's thread) and marks the row sent if it
  landed, or sends it if it did not: exactly once. A row with an earlier error on record is
  looked up the same way before any re-post, since a timeout may hide a delivered message.
- webhooks cannot be asked, so the row is sent again: at least once, a repeat possible only
  when the process died between Slack accepting the message and the "sent" commit.

chat.update rows (case and digest updates) rewrite a message to its current state, so
repeating one is harmless.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa
from sqlmodel import Session, select

from alerts.messages import CLOSED, case_closed_message, digest_message, with_state
from alerts.slack import SlackBotNotifier, notifier
from repmon import store
from repmon.config import Config
from repmon.errors import NotifierError
from repmon.models import AlertOutbox, Case, SlackThread, utcnow

log = logging.getLogger(__name__)

NOT_DISPATCHED = ("report",)  # reports.deliver sends its own rows
UPDATES = ("case_updated", "digest_update")  # chat.update: safe to repeat
LOOKBACK = timedelta(minutes=5)  # clock skew between this host and Slack when searching for a post


@dataclass
class DispatchResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    recovered: int = 0  # interrupted sends found already delivered


@dataclass
class Outcome:
    status: str = "sent"  # sent | skipped | postponed
    slack_channel: Optional[str] = None
    slack_ts: Optional[str] = None
    note: Optional[str] = None
    starts_thread: bool = False


def notifiers(cfg: Config) -> dict[str, Any]:
    return {ch.name: notifier(ch, cfg.alerts.send_timeout_seconds) for ch in cfg.alerts.slack}


def _lease(cfg: Config) -> timedelta:
    # One post, a short 429 wait and its retry fit in it; the clients round timeouts below 1 s up.
    return timedelta(seconds=3 * max(1.0, cfg.alerts.send_timeout_seconds))


def _renew(cfg: Config, alert_id: int) -> None:
    """A fresh lease for the post itself, after a lookup that may have taken a while."""
    with store.session(cfg.database.url) as s:
        s.execute(sa.update(AlertOutbox).where(AlertOutbox.id == alert_id, AlertOutbox.status == "sending")
                  .values(next_attempt_at=utcnow() + _lease(cfg)))


def dispatch(cfg: Config, limit: int = 100) -> DispatchResult:
    """Resolve interrupted sends, then send the alerts that are due, each in its own transactions."""
    result = DispatchResult()
    sinks = notifiers(cfg)
    _recover(cfg, sinks, result)
    with store.session(cfg.database.url) as s:
        due = s.exec(
            select(AlertOutbox.id)
            .where(AlertOutbox.status == "pending", AlertOutbox.next_attempt_at <= utcnow(),
                   AlertOutbox.kind.not_in(NOT_DISPATCHED))
            .order_by(AlertOutbox.id).limit(limit)
        ).all()
    for alert_id in due:
        row = _claim(cfg, alert_id)
        if row is None:
            continue
        sink = sinks.get(row.channel)
        try:
            if sink is None:
                raise NotifierError(f"channel {row.channel!r} is no longer configured", permanent=True)
            outcome = _send_bot(cfg, sink, row) if isinstance(sink, SlackBotNotifier) else _send_webhook(cfg, sink, row)
        except NotifierError as exc:
            _finish_error(cfg, row.id, exc, result)
        else:
            _finish(cfg, row.id, outcome, result)
    return result


def _claim(cfg: Config, alert_id: int) -> Optional[AlertOutbox]:
    """Mark the row "sending" if it is still due and nobody else took it."""
    now = utcnow()
    with store.session(cfg.database.url) as s:
        row = s.get(AlertOutbox, alert_id)
        if row is None or row.status != "pending":
            return None
        if row.case_id is not None and _in_flight(s, row):
            return None  # another send about this case may be starting its thread: wait for it
        claimed = s.execute(
            sa.update(AlertOutbox)
            .where(AlertOutbox.id == alert_id, AlertOutbox.status == "pending", AlertOutbox.next_attempt_at <= now)
            .values(status="sending", attempts=AlertOutbox.attempts + 1, next_attempt_at=now + _lease(cfg))
        ).rowcount
        if claimed != 1:
            return None
        s.expire(row)
        s.refresh(row)
        return row


def _in_flight(s: Session, row: AlertOutbox) -> bool:
    return s.exec(select(AlertOutbox.id).where(
        AlertOutbox.case_id == row.case_id, AlertOutbox.channel == row.channel,
        AlertOutbox.status == "sending", AlertOutbox.id != row.id)).first() is not None


def _context(cfg: Config, row: AlertOutbox) -> tuple[Optional[Case], Optional[SlackThread], Optional[AlertOutbox]]:
    """The row's case, the case's thread in this channel, and the row whose post began it."""
    with store.session(cfg.database.url) as s:
        case = s.get(Case, row.case_id) if row.case_id else None
        thread = s.get(SlackThread, (row.case_id, row.channel)) if row.case_id else None
        parent = s.exec(select(AlertOutbox).where(AlertOutbox.channel == row.channel,
                                                  AlertOutbox.slack_ts == thread.ts)).first() if thread else None
    return case, thread, parent


def _superseded(cfg: Config, row: AlertOutbox) -> bool:
    """A later update of the same message is queued: it will show the same state, or newer."""
    with store.session(cfg.database.url) as s:
        return s.exec(select(AlertOutbox.id).where(
            AlertOutbox.kind == row.kind, AlertOutbox.channel == row.channel, AlertOutbox.status == "pending",
            AlertOutbox.id > row.id,
            (AlertOutbox.case_id == row.case_id) if row.kind == "case_updated" else (AlertOutbox.digest_id == row.digest_id),
        )).first() is not None


def _digest(cfg: Config, digest: AlertOutbox) -> dict:
    with store.session(cfg.database.url) as s:
        folded = s.exec(select(AlertOutbox).where(AlertOutbox.digest_id == digest.id, AlertOutbox.kind == "case_opened")
                        .order_by(AlertOutbox.id)).all()
    since = datetime.fromisoformat(digest.payload["since"]) if digest.payload.get("since") else digest.created_at
    return digest_message([(r.case_id, r.payload) for r in folded], since, cfg.alerts.dashboard_url)


def _send_bot(cfg: Config, sink: SlackBotNotifier, row: AlertOutbox) -> Outcome:
    if row.kind in UPDATES and _superseded(cfg, row):
        return Outcome("skipped", note="superseded by a later update of the same message")
    if row.kind == "case_updated":
        case, thread, parent = _context(cfg, row)
        if thread is None or parent is None or case is None:
            return Outcome("skipped", note="no Slack message about this case to update; the first one shows its state")
        sink.update(thread.slack_channel, thread.ts, with_state(parent.payload, case))
        return Outcome(slack_channel=thread.slack_channel, slack_ts=thread.ts)
    if row.kind == "digest_update":
        with store.session(cfg.database.url) as s:
            digest = s.get(AlertOutbox, row.digest_id)
        if digest is None or digest.status == "failed":
            return Outcome("skipped", note="its digest was not delivered")
        if digest.slack_ts is None:
            return Outcome("postponed")  # the digest is not posted yet; it will be updated once it is
        sink.update(digest.slack_channel, digest.slack_ts, _digest(cfg, digest))
        return Outcome(slack_channel=digest.slack_channel, slack_ts=digest.slack_ts)

    case, thread, _ = _context(cfg, row)
    payload = _digest(cfg, row) if row.kind == "digest" else row.payload
    if case is not None and thread is None:
        payload = with_state(payload, case)  # this post becomes the case's parent message
    thread_ts = thread.ts if thread else None
    if row.last_error is not None:
        # An earlier attempt failed or was cut off, perhaps after Slack had taken the message.
        found = sink.find(row.key, row.created_at - LOOKBACK, thread_ts)
        if found:
            return Outcome(slack_channel=sink.channel, slack_ts=found, starts_thread=case is not None and thread is None,
                           note="an earlier attempt had been delivered; not posted again")
        _renew(cfg, row.id)
    channel_id, ts = sink.post(payload, key=row.key, thread_ts=thread_ts)
    return Outcome(slack_channel=channel_id, slack_ts=ts, starts_thread=case is not None and thread is None)


def _send_webhook(cfg: Config, sink: Any, row: AlertOutbox) -> Outcome:
    if row.kind == "case_updated":
        # A webhook message cannot be edited; only a case closing is worth a new message.
        case, _, _ = _context(cfg, row)
        if case is None or row.payload.get("status") not in CLOSED:
            return Outcome("skipped", note="webhook channels only hear when a case closes")
        sink.send(case_closed_message(case, row.payload, cfg.alerts.dashboard_url))
        return Outcome()
    if row.kind == "digest_update":
        return Outcome("skipped", note="webhook digests are sent once, when their window closes")
    sink.send(_digest(cfg, row) if row.kind == "digest" else row.payload)
    if (row.last_error or "").startswith("interrupted"):
        return Outcome(note="sent again after an interrupted send; a webhook cannot confirm, so it may repeat")
    return Outcome()


def _finish(cfg: Config, alert_id: int, outcome: Outcome, result: DispatchResult) -> None:
    now = utcnow()
    with store.session(cfg.database.url) as s:
        row = s.get(AlertOutbox, alert_id)
        if outcome.status == "postponed":
            row.status, row.attempts, row.next_attempt_at = "pending", row.attempts - 1, now + timedelta(seconds=10)
            s.add(row)
            return
        row.status, row.last_error = outcome.status, outcome.note
        row.slack_channel, row.slack_ts = outcome.slack_channel, outcome.slack_ts
        if outcome.status == "sent":
            row.sent_at = now
            result.sent += 1
        else:
            result.skipped += 1
        if outcome.starts_thread and s.get(SlackThread, (row.case_id, row.channel)) is None:
            s.add(SlackThread(case_id=row.case_id, channel=row.channel, slack_channel=outcome.slack_channel,
                              ts=outcome.slack_ts))
        s.add(row)


def _finish_error(cfg: Config, alert_id: int, exc: NotifierError, result: DispatchResult) -> None:
    with store.session(cfg.database.url) as s:
        row = s.get(AlertOutbox, alert_id)
        row.last_error = str(exc)[:2000]
        if exc.permanent or row.attempts >= cfg.alerts.max_attempts:
            row.status = "failed"
            result.failed += 1
            log.error("alert=%s channel=%s failed for good: %s", row.key, row.channel, exc)
        else:
            delay = exc.retry_after or min(3600.0, 30 * 2 ** (row.attempts - 1)) * random.uniform(0.8, 1.2)
            row.status, row.next_attempt_at = "pending", utcnow() + timedelta(seconds=delay)
            result.retrying += 1
            log.warning("alert=%s channel=%s retry in %.0fs: %s", row.key, row.channel, delay, exc)
        s.add(row)


def _recover(cfg: Config, sinks: dict[str, Any], result: DispatchResult) -> None:
    """Settle rows left "sending" by a process that died (its lease ran out)."""
    now = utcnow()
    with store.session(cfg.database.url) as s:
        stuck = s.exec(select(AlertOutbox.id, AlertOutbox.next_attempt_at).where(
            AlertOutbox.status == "sending", AlertOutbox.next_attempt_at <= now,
            AlertOutbox.kind.not_in(NOT_DISPATCHED))).all()
    for alert_id, lease_end in stuck:
        with store.session(cfg.database.url) as s:
            # take the row over by extending its lease, unless another dispatcher just did
            taken = s.execute(sa.update(AlertOutbox).where(
                AlertOutbox.id == alert_id, AlertOutbox.status == "sending", AlertOutbox.next_attempt_at == lease_end,
            ).values(next_attempt_at=utcnow() + _lease(cfg))).rowcount
            row = s.get(AlertOutbox, alert_id) if taken == 1 else None
        if row is None:
            continue
        sink = sinks.get(row.channel)
        if isinstance(sink, SlackBotNotifier) and row.kind not in UPDATES:
            _, thread, _ = _context(cfg, row)
            try:
                found = sink.find(row.key, row.created_at - LOOKBACK, thread.ts if thread else None)
            except NotifierError as exc:
                if exc.permanent:
                    _settle(cfg, row.id, "failed", f"interrupted mid-send, and Slack could not be checked for it "
                            f"({exc}); look in the channel, then `repmon alerts retry {row.id}` if it is missing")
                    result.failed += 1
                else:
                    log.warning("alert=%s: cannot check Slack for an interrupted send yet: %s", row.key, exc)
                continue
            if found:
                outcome = Outcome(slack_channel=sink.channel, slack_ts=found, starts_thread=row.case_id is not None
                                  and thread is None, note="interrupted after Slack took it; found there, not resent")
                _finish(cfg, row.id, outcome, result)
                result.sent -= 1
                result.recovered += 1
                log.info("alert=%s was delivered before an interruption: marked sent", row.key)
                continue
            note = "interrupted mid-send; not found in Slack, sending again"
        elif sink is None or row.kind in UPDATES:
            note = "interrupted mid-send; sending again"
        else:
            note = "interrupted mid-send; a webhook cannot confirm delivery, so it is sent again (may repeat)"
        _settle(cfg, row.id, "pending", note)
        log.warning("alert=%s: %s", row.key, note)


def _settle(cfg: Config, alert_id: int, status: str, note: str) -> None:
    with store.session(cfg.database.url) as s:
        row = s.get(AlertOutbox, alert_id)
        row.status, row.last_error, row.next_attempt_at = status, note, utcnow()
        s.add(row)
