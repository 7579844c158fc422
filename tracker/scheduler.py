"""`tracker schedule`: APScheduler 3.x in the foreground, the only module that imports apscheduler.

Jobs come from config (cron or interval, UTC), are kept in the tracker's own database, coalesce missed runs,
never overlap (max_instances=1), and skip runs later than the misfire grace. One scheduler at a time (a lock in
the store, refreshed by a heartbeat). A failing job is logged and the scheduler goes on. SIGTERM or Ctrl-C
lets the running job finish, then exits 0."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.config import JobSettings, Settings, load_settings
from tracker.errors import TrackerError
from tracker.models import RowError
from tracker.pipeline.common import open_store
from tracker.pipeline.report import write_weekly_report_once
from tracker.pipeline.run import holder_name, run_once, take_over_if_dead
from tracker.urls import sqlalchemy_url

log = logging.getLogger(__name__)
SCHEDULER_LOCK = "scheduler"
LOCK_TTL = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(UTC)


def _log_rejected(err: RowError) -> None:
    log.warning("rejected %s", err)


def run_cycle_job(config: str | None) -> None:
    """The scheduled cycle (a module-level function, so the job store can keep a reference to it)."""
    settings = load_settings(config)
    try:
        with open_store(settings) as store:
            result = run_once(settings, store, now=_now(), on_error=_log_rejected, clock=_now)
        log.info("cycle done: run %s added %s, scored %s", result.run_id, result.added, result.scored)
    except TrackerError as exc:
        log.error("cycle failed: %s", exc)


def report_job(config: str | None) -> None:
    """The scheduled weekly report: last complete ISO week, written once."""
    settings = load_settings(config)
    try:
        with open_store(settings) as store:
            written = write_weekly_report_once(settings, store, now=_now())
        log.info("weekly report: %s", written or "nothing new to write")
    except TrackerError as exc:
        log.error("weekly report failed: %s", exc)


def heartbeat_job(config: str | None, holder: str) -> None:
    with open_store(load_settings(config)) as store:
        store.refresh_lock(SCHEDULER_LOCK, holder, _now(), LOCK_TTL)


def _trigger(job: JobSettings) -> Any:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if job.cron is not None:
        return CronTrigger.from_crontab(job.cron, timezone=UTC)
    return IntervalTrigger(seconds=job.interval_seconds or 3600, timezone=UTC)


def run_scheduler(settings: Settings, config: str | None) -> None:
    """Run until SIGTERM or Ctrl-C; raises TrackerError when another scheduler holds the lock."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    holder = holder_name()
    with open_store(settings) as store:
        take_over_if_dead(store, SCHEDULER_LOCK, _now())
        held = store.acquire_lock(SCHEDULER_LOCK, holder, _now(), LOCK_TTL)
    if held is not None:
        raise TrackerError(f"another tracker schedule is running ({held}); only one scheduler may run")
    scheduler = BackgroundScheduler(
        timezone=UTC,
        jobstores={
            "default": SQLAlchemyJobStore(url=sqlalchemy_url(settings.database_url), tablename="apscheduler_jobs")
        },
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.schedule.misfire_grace_seconds,
        },
    )
    scheduler.add_job(
        run_cycle_job,
        _trigger(settings.schedule.cycle),
        args=[config],
        id="cycle",
        name="fetch, score, alert",
        replace_existing=True,
        next_run_time=_now(),
    )
    scheduler.add_job(
        report_job,
        _trigger(settings.schedule.report),
        args=[config],
        id="weekly-report",
        name="weekly report",
        replace_existing=True,
    )
    scheduler.add_job(
        heartbeat_job,
        "interval",
        seconds=60,
        args=[config, holder],
        id="scheduler-heartbeat",
        name="scheduler lock heartbeat",
        replace_existing=True,
    )

    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: letting the running job finish, then stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler started: cycle %s, report %s (UTC)", settings.schedule.cycle, settings.schedule.report)
    scheduler.start()
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        # Pause every job (nothing is due any more: shutdown's last pass would otherwise hand an overdue job to
        # the closed executor); `tracker status` then shows them paused until the next `tracker schedule`.
        for job in scheduler.get_jobs():
            job.pause()
        scheduler.shutdown(wait=True)  # the running job finishes first
        with open_store(settings) as store:
            store.release_lock(SCHEDULER_LOCK, holder)
        log.info("scheduler stopped")
