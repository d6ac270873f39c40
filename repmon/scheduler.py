"""`repmon run`: the pipeline stages as APScheduler interval jobs.

Jobs share one worker thread: SQLite has one writer, and each stage already batches.
A restart resumes from stored cursors and unscored / case-less rows, so stopping at any
point loses nothing. SIGINT and SIGTERM finish the running job, then stop.

On PostgreSQL several workers may run these jobs side by side (repmon.locks): every job run
holds an advisory lock named after it (collect: one per source), so a second worker skips it;
scoring claims batches with SKIP LOCKED instead, so workers score in parallel.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from typing import Callable, Optional

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from alerts import outbox
from alerts import spikes
from repmon import cases, pipeline, themes
from repmon import locks, privacy
from repmon.config import Config
from repmon.models import utcnow

log = logging.getLogger(__name__)


def jobs(cfg: Config) -> dict[str, tuple[Callable[[], object], int]]:
    every = cfg.scheduler
    return {
        "collect": (lambda: _collect(cfg), every.collect_seconds),
        "score": (lambda: pipeline.score_pending(cfg), every.score_seconds),
        "cases": (lambda: cases.update_cases(cfg), every.cases_seconds),
        "spikes": (lambda: spikes.check(cfg), max(1, round(cfg.alerts.spike_check_minutes * 60))),
        "dispatch": (lambda: outbox.dispatch(cfg), every.dispatch_seconds),
        "themes": (lambda: themes.warm(cfg.database.url), every.themes_seconds),
        "prune": (lambda: privacy.prune(cfg), 24 * 3600),  # retention is in days: daily is on time
    }


def report_job(cfg: Config) -> Optional[tuple[Callable[[], object], CronTrigger]]:
    """Last full week's report, at the configured day and time (not an interval: a restart must
    not move it); None when [reports.weekly] is off. Delivery marks make a second run send nothing."""
    weekly = cfg.reports.weekly
    if not weekly.enabled:
        return None
    from reports import deliver  # matplotlib and WeasyPrint load only where the report is on

    hour, minute = (int(part) for part in weekly.time.split(":"))
    trigger = CronTrigger(day_of_week=weekly.day, hour=hour, minute=minute, timezone=weekly.timezone)
    return (lambda: deliver.scheduled(cfg)), trigger


# Jobs that lock finer than the whole job themselves: collect per source, score per batch.
SELF_LOCKING = ("collect", "score")


def _locked(cfg: Config, name: str, fn: Callable[[], object]) -> Callable[[], object]:
    return fn if name in SELF_LOCKING else locks.guard(cfg.database.url, name, fn)


def _collect(cfg: Config) -> list:
    """Every enabled source, each under its own lock: workers collect different sources at
    once, and never one source twice."""
    results: list = []
    for name, src in cfg.sources.items():
        if src.enabled:
            got = locks.guard(cfg.database.url, f"collect:{name}", lambda n=name: pipeline.collect(cfg, only=n))()
            results += [got] if isinstance(got, locks.Skipped) else got
    return results


def run_once(cfg: Config, say: Callable[[str], None] = log.info) -> None:
    """Every stage once, in pipeline order (a job another worker is running is skipped)."""
    for name, (fn, _) in jobs(cfg).items():
        say(f"{name}: {_locked(cfg, name, fn)()}")


def _logged(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def job() -> None:
        try:
            result = fn()
            # Another worker's run (repmon.locks) is routine with several workers: not worth a line each time.
            skipped = isinstance(result, locks.Skipped) or (
                isinstance(result, list) and bool(result) and all(isinstance(r, locks.Skipped) for r in result))
            log.log(logging.DEBUG if skipped else logging.INFO, "job=%s result=%s", name, result)
        except sa.exc.OperationalError as exc:  # the database went away (restart, network): one line, no traceback;
            # the next run reconnects (pool_pre_ping) and carries on from what was committed
            log.error("job=%s failed: %s: %s", name, type(exc.orig or exc).__name__, str(exc.orig or exc).strip()[:300])
        except Exception:  # one failed run must not kill the daemon; the next interval retries
            log.exception("job=%s failed", name)

    return job


def build(cfg: Config) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone="UTC")
    for name, (fn, seconds) in jobs(cfg).items():
        scheduler.add_job(_logged(name, _locked(cfg, name, fn)), "interval", seconds=seconds, id=name, name=name,
                          next_run_time=utcnow(), max_instances=1, coalesce=True)
    report = report_job(cfg)
    if report is not None:
        fn, trigger = report
        now = utcnow()
        # Down at this week's hour (weeks are ISO weeks in UTC): run at start instead; it sends
        # nothing if the week already went out.
        monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        missed = trigger.get_next_fire_time(None, monday) <= now
        # The one worker may be busy with another job at the hour: late beats skipping the week.
        scheduler.add_job(_logged("report", _locked(cfg, "report", fn)), trigger, id="report", name="report", max_instances=1,
                          coalesce=True, misfire_grace_time=12 * 3600, **({"next_run_time": now} if missed else {}))
    return scheduler


def serve(cfg: Config, stop: Optional[threading.Event] = None) -> None:
    """Run the jobs until SIGINT/SIGTERM (or `stop` is set)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    scheduler = build(cfg)
    scheduler.start()
    log.info("scheduler started: %s", ", ".join(
        f"{j.id} every {j.trigger.interval}" if hasattr(j.trigger, "interval") else f"{j.id} at {j.trigger}"
        for j in scheduler.get_jobs()))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping: letting the running job finish")
        scheduler.shutdown(wait=True)
        log.info("stopped")
