"""Cases: every post that needs a response opens a case or joins its author's open one.

A case carries its SLA due time, a suggested reply that follows the playbook, and a history of
who did what. Opening a case and queueing its alert happen in one transaction, so an alert is
neither lost nor queued twice.
"""

from __future__ import annotations

import logging
import zlib
from datetime import timedelta
from typing import Any, Callable, Optional

import sqlalchemy as sa
from sqlmodel import Session, select

from alerts import outbox
from repmon import generator, locks, sla, store
from repmon.config import Config
from repmon.errors import RepmonError
from repmon.models import (
    OPEN_STATUSES, Brand, Case, CaseEvent, CaseMention, Mention, Score, priority_rank, utcnow,
)

log = logging.getLogger(__name__)


def update_cases(cfg: Config, batch_size: int = 1000, progress: Optional[Callable[[str], None]] = None) -> int:
    """Give every flagged, case-less mention a case; returns how many mentions were placed."""
    placed = 0
    with store.session(cfg.database.url) as s:
        brands = {b.id: b.name for b in s.exec(select(Brand)).all()}
    while True:
        with store.session(cfg.database.url) as s:
            # Several workers (or `repmon process` beside them): one placement at a time, or two
            # could each open a case for the same author's posts.
            locks.xact(s, "cases")
            q = (
                select(Score, Mention)
                .join(Mention, Mention.id == Score.mention_id)
                .outerjoin(CaseMention, CaseMention.mention_id == Mention.id)
                .where(Score.needs_response.is_(True), CaseMention.case_id.is_(None))
                .order_by(Mention.created_at, Mention.id)
                .limit(batch_size)
            )
            rows = s.exec(q).all()
            if not rows:
                break
            for score, mention in rows:
                _place(s, cfg, score, mention, brands.get(mention.brand_id, ""))
                s.flush()
        placed += len(rows)
        if progress:
            progress(f"placed {placed} flagged mentions in cases")
    mark_brand_replies(cfg)
    close_gone(cfg.database.url)
    check_slas(cfg)
    return placed


def mark_brand_replies(cfg: Config) -> int:
    """An open case whose thread has a later reply by the brand's own account is responded:
    the collectors saw the team answer on the platform itself."""
    post, reply = sa.orm.aliased(Mention), sa.orm.aliased(Mention)

    def replies(in_thread: Any) -> Any:
        # One join per way of being in the thread, each an index lookup from the open cases'
        # posts (ix_mention_parent, ix_mention_thread); with an OR the store scanned every
        # mention for every open case, quadratic in a crisis.
        return (
            select(Case, reply)
            .join(CaseMention, CaseMention.case_id == Case.id)
            .join(post, post.id == CaseMention.mention_id)
            .join(reply, sa.and_(reply.platform == post.platform, in_thread))
            .where(Case.status.in_(OPEN_STATUSES), Case.first_response_at.is_(None), reply.is_own.is_(True),
                   reply.created_at > post.created_at)
        )

    marked = 0
    with store.session(cfg.database.url) as s:
        locks.xact(s, "cases")
        found = s.exec(replies(reply.parent_id == post.native_id)).all() + s.exec(replies(
            sa.and_(post.thread_id.is_not(None), reply.thread_id == post.thread_id))).all()
        for case, own in sorted(found, key=lambda pair: (pair[0].id, pair[1].created_at, pair[1].id)):
            if case.first_response_at is not None:
                continue  # already marked by an earlier reply in this pass
            case.status, case.first_response_at, case.final_reply = "responded", own.created_at, own.text
            s.add(case)
            _changed(s, case, CaseEvent(case_id=case.id, at=own.created_at, actor=own.author, action="respond",
                                        detail=f"brand reply seen on {own.platform} (mention {own.id})"))
            marked += 1
    return marked


def _place(s: Session, cfg: Config, score: Score, mention: Mention, brand: str) -> None:
    window = timedelta(hours=cfg.cases.join_window_hours)
    open_case = s.exec(
        select(Case)
        .where(
            # "+ 0" keeps the brand out of the index choice: SQLite, without statistics, would
            # otherwise read all of the brand's open cases (ix_case_queue) instead of the author's
            # few (ix_case_platform_author), which made opening cases quadratic in a crisis.
            Case.brand_id + 0 == mention.brand_id, Case.platform == mention.platform,
            Case.author == mention.author, Case.status.in_(OPEN_STATUSES),
            # the same conversation, however long it ran, or a new post within the window
            sa.or_(Case.last_post_at >= mention.created_at - window,
                   Case.thread_key == f"{mention.platform}:{mention.thread_id or mention.native_id}"),
        )
        .order_by(Case.last_post_at.desc())
    ).first() if mention.author else None
    if open_case is not None:
        s.add(CaseMention(case_id=open_case.id, mention_id=mention.id))
        open_case.last_post_at = max(open_case.last_post_at, mention.created_at)
        open_case.first_post_at = min(filter(None, (open_case.first_post_at, mention.created_at)))
        raised = priority_rank(score.priority) < priority_rank(open_case.priority)
        if raised:
            open_case.priority = score.priority
            open_case.category = score.category
            open_case.suggested_reply = _suggest(cfg, open_case, mention, brand)
            # a more urgent post shortens the clocks; it never gives the team more time
            first, resolve = sla.due_times(cfg, mention.created_at, score.priority)
            open_case.first_response_due = min(filter(None, (open_case.first_response_due, first)))
            open_case.resolution_due = min(filter(None, (open_case.resolution_due, resolve)))
        s.add(open_case)
        joined = CaseEvent(case_id=open_case.id, action="joined", detail=f"mention {mention.id}")
        if raised:
            _changed(s, open_case, joined)  # its Slack message shows the new priority
        else:
            s.add(joined)
        return
    first, resolve = sla.due_times(cfg, mention.created_at, score.priority)
    case = Case(
        brand_id=mention.brand_id, platform=mention.platform, author=mention.author,
        thread_key=f"{mention.platform}:{mention.thread_id or mention.native_id}",
        priority=score.priority, category=score.category, lang=score.lang,
        opened_at=utcnow(), last_post_at=mention.created_at, first_post_at=mention.created_at,
        first_response_due=first, resolution_due=resolve,
    )
    s.add(case)
    s.flush()
    case.suggested_reply = _suggest(cfg, case, mention, brand)
    s.add(CaseMention(case_id=case.id, mention_id=mention.id))
    s.add(CaseEvent(case_id=case.id, action="opened", detail=", ".join(score.reasons)))
    if case.category == "abuse" or case.priority == "critical":
        # Playbook rule 10: abuse, threats and legal/press risk go to a person, and the
        # suggested reply is the calm boundary one (replies.py), conceding nothing.
        case.owner = cfg.cases.escalate_to or case.owner
        s.add(CaseEvent(case_id=case.id, action="escalate",
                        detail=f"{case.category}/{case.priority}" + (f": to {case.owner}" if case.owner else "")))
    if cfg.cases.round_robin and case.owner is None:
        case.owner = _next_assignee(s, cfg.cases.assignees, case.id)
        s.add(CaseEvent(case_id=case.id, action="assign", detail=f"owner={case.owner} (round robin)"))
    outbox.enqueue_case_opened(s, cfg, case, mention, score)


def _next_assignee(s: Session, people: list[str], case_id: int) -> str:
    """The person after whoever got the latest round-robin case (stateless: survives restarts
    and several workers agree on it once the previous case is committed)."""
    last = s.exec(select(Case.owner).where(Case.id < case_id, Case.owner.in_(people))
                  .order_by(Case.id.desc())).first()
    return people[(people.index(last) + 1) % len(people)] if last in people else people[0]


def close_gone(url: str) -> int:
    """Close open cases whose every post was removed by its author: a public reply would go
    nowhere. Collectors and `pipeline.recheck` mark the removals."""
    live = (select(CaseMention.case_id).join(Mention, Mention.id == CaseMention.mention_id)
            .where(Mention.deleted_at.is_(None)))
    closed = 0
    with store.session(url) as s:
        locks.xact(s, "cases")
        for case in s.exec(select(Case).where(Case.status.in_(OPEN_STATUSES), Case.id.not_in(live))).all():
            case.status = "gone"
            s.add(case)
            _changed(s, case, CaseEvent(case_id=case.id, action="gone", detail="the post was removed at the source"))
            closed += 1
    return closed


def check_slas(cfg: Config) -> int:
    """Queue an alert when a clock of an open case is at risk or breached: the first response
    while nobody has answered, the resolution until the case is resolved. One alert per case,
    clock and state: the outbox key makes a repeat impossible."""
    now = utcnow()
    soon = now + timedelta(hours=24)
    recent = Case.last_post_at >= now - timedelta(hours=cfg.alerts.max_age_hours)
    queued = 0
    with store.session(cfg.database.url) as s:
        locks.xact(s, "cases")  # two passes at once would both queue the same alert, and one would fail
        unanswered = select(Case).where(
            Case.status.in_(("new", "acknowledged")), Case.first_response_at.is_(None),
            Case.first_response_due.is_not(None), Case.first_response_due <= soon, recent)
        unresolved = select(Case).where(
            Case.status.in_((*OPEN_STATUSES, "responded")), Case.resolved_at.is_(None),
            Case.resolution_due.is_not(None), Case.resolution_due <= soon, recent)
        for which, q in ((0, unanswered), (1, unresolved)):
            for case in s.exec(q).all():
                clock = sla.clocks(case, now)[which]
                if clock.state in ("at_risk", "breached"):
                    queued += outbox.enqueue_sla(s, cfg, case, clock)
    return queued


def _suggest(cfg: Config, case: Case, mention: Mention, brand: str) -> str:
    """The suggested reply's text; records on the case where it came from."""
    suggestion = generator.suggest_with_generator(
        cfg.replies.generator,  # off by default: then exactly replies.suggest()
        post_text=mention.text, lang=case.lang, category=case.category, platform=case.platform,
        author=mention.author, brand=brand, priority=case.priority,
        policy=cfg.policy.model_dump(), seed=zlib.crc32(mention.native_id.encode()),
        templates_dir=cfg.replies.templates_dir,
    )
    case.suggestion_source = suggestion.template_id
    if suggestion.violations:
        log.warning("case=%s suggested reply breaks the playbook: %s", case.id, suggestion.violations)
    return suggestion.text


# --- actions a person takes (dashboard and CLI share these) ---------------------------------

NOTE = "note"  # an internal note: history only, never posted
ACTIONS = {
    "acknowledge": "acknowledged",
    "wait": "waiting",
    "respond": "responded",
    "resolve": "resolved",
    "dismiss": "dismissed",
    "reopen": "new",
}


def act(url: str, case_id: int, action: str, actor: str, *, text: Optional[str] = None,
        owner: Optional[str] = None) -> Case:
    """Apply one action to a case and record it in the case's history."""
    with store.session(url) as s:
        case = s.get(Case, case_id)
        if case is None:
            raise RepmonError(f"no case #{case_id}")
        now = utcnow()
        if action == "assign":
            case.owner = owner or None
            detail = f"owner={case.owner}"
        elif action == NOTE:
            if not (text or "").strip():
                raise RepmonError("a note needs text")
            detail = text
        elif action in ACTIONS:
            case.status = ACTIONS[action]
            detail = text
            if action == "respond":
                if not (text or "").strip():
                    raise RepmonError("mark responded needs the text that was sent")
                case.final_reply = text
                case.first_response_at = case.first_response_at or now
            elif action == "resolve":
                case.resolved_at = now
            elif action == "dismiss":
                if not (text or "").strip():
                    raise RepmonError("dismiss needs a reason")
                case.dismiss_reason = text
        else:
            raise RepmonError(f"unknown case action {action!r}; expected assign, note or {', '.join(ACTIONS)}")
        s.add(case)
        event = CaseEvent(case_id=case.id, at=now, actor=actor, action=action, detail=detail)
        if action == NOTE:
            s.add(event)
        else:
            _changed(s, case, event)
        return case


def _changed(s: Session, case: Case, event: CaseEvent) -> None:
    """Record a change of status, owner or priority, and queue the update of the case's Slack
    messages in the same transaction."""
    s.add(event)
    s.flush()
    outbox.enqueue_case_updated(s, case, event)
