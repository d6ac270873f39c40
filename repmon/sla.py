"""SLA clocks: when a case's first response and its resolution are due, and how each stands.

Targets are minutes per priority (cases.first_response_minutes, cases.resolution_minutes).
With cases.business_hours enabled the clocks run only inside the team's working hours, in
the team's time zone: a post at 17:50 on a Friday with a 30-minute target is due at 09:20
on Monday. Due times are stored on the case when it opens (and when its priority rises), so
the queue can sort and filter on them in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from repmon.config import WEEKDAYS, BusinessHoursConfig, Config

AT_RISK_SHARE = 0.2  # a clock is at risk in the last fifth of its target...
AT_RISK_MIN_MINUTES = 15  # ...and never later than 15 minutes before it is due
CLOSED = ("resolved", "dismissed", "gone")


def add_working_minutes(start: datetime, minutes: float, hours: BusinessHoursConfig) -> datetime:
    """`start` plus `minutes` of working time (plain time when business hours are off)."""
    if not hours.enabled:
        return start + timedelta(minutes=minutes)
    tz = ZoneInfo(hours.timezone)
    open_at, close_at = _clock(hours.start), _clock(hours.end)
    days = {WEEKDAYS.index(d) for d in hours.days}
    t = start.astimezone(tz)
    left = timedelta(minutes=minutes)
    for _ in range(400):  # a year and a bit: config validation guarantees a working day per week
        day = t.date()
        if day.weekday() in days:
            begin = datetime.combine(day, open_at, tz)
            end = datetime.combine(day, close_at, tz) if close_at else datetime.combine(day + timedelta(days=1), time(), tz)
            if t < begin:
                t = begin
            if t < end:
                if t + left <= end:
                    return (t + left).astimezone(start.tzinfo)
                left -= end - t
        t = datetime.combine(day + timedelta(days=1), time(), tz)
    raise ValueError("business hours leave no working time")


def _clock(hhmm: str) -> Optional[time]:
    """'09:30' -> 09:30; '24:00' -> None (the end of the day)."""
    if hhmm == "24:00":
        return None
    h, m = hhmm.split(":")
    return time(int(h), int(m))


def due_times(cfg: Config, posted_at: datetime, priority: str) -> tuple[datetime, datetime]:
    """(first response due, resolution due) for a post of this priority."""
    hours = cfg.cases.business_hours
    first = getattr(cfg.cases.first_response_minutes, priority, cfg.cases.first_response_minutes.medium)
    resolve = getattr(cfg.cases.resolution_minutes, priority, cfg.cases.resolution_minutes.medium)
    return add_working_minutes(posted_at, first, hours), add_working_minutes(posted_at, resolve, hours)


@dataclass
class Clock:
    name: str  # "first response" | "resolution"
    due: Optional[datetime]
    done_at: Optional[datetime]
    state: str  # met | missed | breached | at_risk | on_track | stopped | none
    minutes_left: Optional[float]  # negative once overdue; None when done or without a target

    def __str__(self) -> str:
        if self.state in ("met", "missed"):
            return f"{self.name} {self.state}"
        if self.minutes_left is None:
            return f"{self.name}: {self.state}"
        m = abs(self.minutes_left)
        span = f"{m / 60:.0f} h" if m >= 120 else f"{m:.0f} min"
        return f"{self.name} overdue by {span}" if self.minutes_left < 0 else f"{self.name} due in {span}"


def clock(name: str, due: Optional[datetime], done_at: Optional[datetime], opened_at: datetime,
          now: datetime, stopped: bool = False) -> Clock:
    if due is None:
        return Clock(name, None, done_at, "none", None)
    if done_at is not None:
        return Clock(name, due, done_at, "met" if done_at <= due else "missed", None)
    if stopped:
        return Clock(name, due, None, "stopped", None)
    left = (due - now).total_seconds() / 60
    target = max(1.0, (due - opened_at).total_seconds() / 60)
    if left < 0:
        state = "breached"
    elif left <= max(AT_RISK_MIN_MINUTES, AT_RISK_SHARE * target):
        state = "at_risk"
    else:
        state = "on_track"
    return Clock(name, due, None, state, left)


def clocks(case, now: datetime, posted_at: Optional[datetime] = None) -> tuple[Clock, Clock]:
    """The first-response and resolution clocks of a case. Dismissed and gone cases stop
    both; a case waiting on the customer keeps running (the team still owes the fix)."""
    start = posted_at or case.opened_at
    stopped = case.status in ("dismissed", "gone")
    first = clock("first response", case.first_response_due, case.first_response_at, start, now, stopped)
    resolution = clock("resolution", case.resolution_due, case.resolved_at, start, now, stopped)
    return first, resolution
