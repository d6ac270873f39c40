"""A simulated support team for the demo: it has worked the demo's older cases, so response
times, SLA figures and case history mean something on a fresh install. Recent cases stay open
for the person trying repmon out. Deterministic, like the demo data."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlmodel import select

from repmon import store
from repmon.models import OPEN_STATUSES, Case, CaseEvent, utcnow

AGENTS = ("ana", "mihai", "sara", "leila")
# Minutes to first response: most within target, a tail that breaches, as in a real team.
_DELAYS = (12, 20, 35, 50, 75, 110, 180, 300, 600)


def work_backlog(url: str, keep_hours: float = 48, now: datetime | None = None) -> int:
    """Respond to (and mostly resolve) open cases whose last post is older than `keep_hours`."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=keep_hours)
    worked = 0
    with store.session(url) as s:
        backlog = s.exec(
            select(Case).where(Case.status.in_(OPEN_STATUSES), Case.last_post_at < cutoff).order_by(Case.id)
        ).all()
        for case in backlog:
            rng = random.Random(case.id)
            agent = AGENTS[case.id % len(AGENTS)]
            responded = min(case.last_post_at + timedelta(minutes=rng.choice(_DELAYS)), cutoff)
            case.owner, case.final_reply, case.first_response_at = agent, case.suggested_reply, responded
            s.add(CaseEvent(case_id=case.id, at=responded, actor=agent, action="respond", detail="demo team"))
            if rng.random() < 0.85:
                case.status, case.resolved_at = "resolved", min(responded + timedelta(hours=rng.uniform(1, 30)), cutoff)
                s.add(CaseEvent(case_id=case.id, at=case.resolved_at, actor=agent, action="resolve", detail="demo team"))
            else:
                case.status = "responded"
            s.add(case)
            worked += 1
    return worked
