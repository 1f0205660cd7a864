"""Time-based work: APScheduler only ticks; the database holds every bit of state.

Each job is short and safe to run again: the sender is kicked every second (it drains
what is due, then rests); broadcast progress messages are edited every three seconds;
reminders are reconciled every few minutes; offers past their deadline pass down the
line and sessions past their registration window close, every minute; wizards untouched
for a day are forgotten every hour; old rows are pruned every night. After a restart
nothing is lost, because nothing lives in the scheduler.

Several instances: every instance runs every job, and that is safe. Each instance's
sender claims outbox rows one by one, skipping rows another instance holds. The jobs
that change shared rows (reminders, offers, windows, progress) start by taking a
PostgreSQL advisory lock named after the job, for their transaction: on each tick one
instance does the work and the others skip it. No instance is special, so none needs
electing, and when one dies the next tick of another does its share.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery import STALE_CLAIM, OutboxSender
from handlers.applicant.notices import expire_offers, reconcile_reminders
from handlers.core.services import Services
from handlers.staff.broadcast import report_progress
from models.outbox import release_claims
from models.retention import Retention, forget_abandoned_wizards, prune
from models.sessions import close_ended_windows
from models.turns import take_job_turn

logger = logging.getLogger(__name__)

Job = Callable[[AsyncSession, Services, datetime], Awaitable[int]]


class SenderKick:
    """Starts the sender when it is resting; a tick while it drains changes nothing."""

    def __init__(self, sender: OutboxSender) -> None:
        self.sender = sender
        self._task: asyncio.Task[int] | None = None

    async def kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.sender.send_due())
            self._task.add_done_callback(_log_sender_failure)

    async def stop(self, timeout: float = 10.0) -> None:
        """Lets the message in flight finish and be recorded, so a clean stop repeats none."""
        self.sender.request_stop()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                logger.warning("the outbox sender did not stop in %s s", timeout)


def _log_sender_failure(task: asyncio.Task[int]) -> None:
    """A drain that failed is logged (and tried again on the next tick), never left for
    asyncio to report as "Task exception was never retrieved"."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error(
            "the outbox sender failed; trying again on the next tick",
            exc_info=(type(error), error, error.__traceback__),
        )


class FinishingExecutor(AsyncIOExecutor):
    """APScheduler's asyncio executor, able to wait for the jobs it started.

    Its own shutdown cancels them, and APScheduler logs a cancelled job as failed.
    """

    async def finish(self, timeout: float) -> None:
        # APScheduler 3 keeps the started jobs in this set and offers no public way to
        # await them; pyproject pins it below 4.
        running = [job for job in self._pending_futures if not job.done()]
        if running:
            await asyncio.wait(running, timeout=timeout)


class JobScheduler(AsyncIOScheduler):
    """APScheduler's asyncio scheduler that stops by letting the jobs it started finish."""

    def __init__(self, **options: Any) -> None:
        self._executor = FinishingExecutor()
        super().__init__(executors={"default": self._executor}, **options)

    async def stop(self, timeout: float = 10.0) -> None:
        """No new runs; the running ones finish their transaction (a job cut off at
        `timeout` is rolled back and runs again on the next start)."""
        if not self.running:
            return
        self.pause()
        await self._executor.finish(timeout)
        self.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn


def in_transaction(
    sessions: async_sessionmaker[AsyncSession], services: Services, job: Job
) -> Callable[[], Awaitable[None]]:
    """A job that runs in one transaction of its own, logged when it did something."""

    async def run() -> None:
        try:
            async with sessions() as db, db.begin():
                if not await take_job_turn(db, job.__name__):
                    return  # another instance runs it right now
                done = await job(db, services, services.now())
        except Exception:
            # Rolled back; it runs again on its next tick.
            logger.exception("%s failed; it runs again on its next tick", job.__name__)
            return
        if done:
            logger.info("%s: %s", job.__name__, done)

    run.__name__ = job.__name__
    return run


async def close_windows(db: AsyncSession, services: Services, now: datetime) -> int:
    return await close_ended_windows(db, now)


async def release_stale_claims(db: AsyncSession, services: Services, now: datetime) -> int:
    """Outbox rows an instance claimed and never settled: it died; another sends them."""
    return await release_claims(db, stale_before=now - STALE_CLAIM)


async def forget_wizards(db: AsyncSession, services: Services, now: datetime) -> int:
    """Wizards left untouched for a day: the details typed into them are not kept."""
    return await forget_abandoned_wizards(db, now)


def pruning(retention: Retention) -> Job:
    """The daily job that deletes what is older than its RETAIN_* setting."""

    async def prune_old_rows(db: AsyncSession, services: Services, now: datetime) -> int:
        return await prune(db, now, retention)

    return prune_old_rows


def build_scheduler(
    sessions: async_sessionmaker[AsyncSession],
    services: Services,
    kick_sender: SenderKick,
    reconcile_minutes: float = 5,
    retention: Retention | None = None,
) -> JobScheduler:
    """The jobs, not started."""
    scheduler = JobScheduler(timezone=services.zone)
    every = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
    # A bound coroutine method: APScheduler awaits only what it sees as a coroutine function.
    scheduler.add_job(kick_sender.kick, "interval", seconds=1, id="send-outbox", **every)
    scheduler.add_job(
        in_transaction(sessions, services, reconcile_reminders),
        "interval",
        minutes=reconcile_minutes,
        id="reconcile-reminders",
        next_run_time=services.now(),
        **every,
    )
    scheduler.add_job(
        in_transaction(sessions, services, report_progress),
        "interval",
        seconds=3,
        id="report-progress",
        **every,
    )
    for job in (expire_offers, close_windows, release_stale_claims):
        scheduler.add_job(
            in_transaction(sessions, services, job),
            "interval",
            minutes=1,
            id=job.__name__,
            next_run_time=services.now(),
            **every,
        )
    scheduler.add_job(
        in_transaction(sessions, services, forget_wizards),
        "interval",
        hours=1,
        id="forget-wizards",
        next_run_time=services.now(),
        **every,
    )
    # Daily, at night in Phnom Penh; a day missed while stopped is done at the next start.
    scheduler.add_job(
        in_transaction(sessions, services, pruning(retention or Retention())),
        "cron",
        hour=3,
        minute=30,
        id="prune",
        **{**every, "misfire_grace_time": 24 * 3600},
    )
    return scheduler
