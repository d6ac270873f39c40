"""`repmon run`: the pipeline stages as APScheduler interval jobs.

Jobs share one worker thread: SQLite has one writer, and each stage already batches.
A restart resumes from stored cursors and unscored / case-less rows, so stopping at any
point loses nothing. SIGINT and SIGTERM finish the running job, then stop.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Callable, Optional

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from alerts import outbox
from repmon import cases, pipeline
from repmon.config import Config
from repmon.models import utcnow

log = logging.getLogger(__name__)


def jobs(cfg: Config) -> dict[str, tuple[Callable[[], object], int]]:
    every = cfg.scheduler
    return {
        "collect": (lambda: pipeline.collect(cfg), every.collect_seconds),
        "score": (lambda: pipeline.score_pending(cfg), every.score_seconds),
        "cases": (lambda: cases.update_cases(cfg), every.cases_seconds),
        "dispatch": (lambda: outbox.dispatch(cfg), every.dispatch_seconds),
    }


def run_once(cfg: Config, say: Callable[[str], None] = log.info) -> None:
    """Every stage once, in pipeline order."""
    for name, (fn, _) in jobs(cfg).items():
        say(f"{name}: {fn()}")


def _logged(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def job() -> None:
        try:
            log.info("job=%s result=%s", name, fn())
        except Exception:  # one failed run must not kill the daemon; the next interval retries
            log.exception("job=%s failed", name)

    return job


def build(cfg: Config) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone="UTC")
    for name, (fn, seconds) in jobs(cfg).items():
        scheduler.add_job(_logged(name, fn), "interval", seconds=seconds, id=name, name=name,
                          next_run_time=utcnow(), max_instances=1, coalesce=True)
    return scheduler


def serve(cfg: Config, stop: Optional[threading.Event] = None) -> None:
    """Run the jobs until SIGINT/SIGTERM (or `stop` is set)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    scheduler = build(cfg)
    scheduler.start()
    log.info("scheduler started: %s", ", ".join(f"{j.id} every {j.trigger.interval}" for j in scheduler.get_jobs()))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping: letting the running job finish")
        scheduler.shutdown(wait=True)
        log.info("stopped")
