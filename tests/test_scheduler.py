"""The scheduler: a started job finishes on stop; a failed job or sender drain is logged."""

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import App
from bot.scheduler import JobScheduler, SenderKick, in_transaction
from handlers.core.services import Services
from models import Applicant


async def started_scheduler(job: Callable[[], Awaitable[None]]) -> JobScheduler:
    """A scheduler running `job` now (and then every minute)."""
    scheduler = JobScheduler(timezone=UTC)
    scheduler.add_job(job, "interval", minutes=1, next_run_time=datetime.now(UTC))
    scheduler.start()
    return scheduler


async def test_stopping_lets_a_started_job_finish_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow_job() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    scheduler = await started_scheduler(slow_job)
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.INFO):
        await scheduler.stop()

    assert finished.is_set()
    assert not scheduler.running
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_job_longer_than_the_stop_timeout_does_not_hold_the_stop() -> None:
    started = asyncio.Event()

    async def endless_job() -> None:
        started.set()
        await asyncio.sleep(3600)

    scheduler = await started_scheduler(endless_job)
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(scheduler.stop(timeout=0.2), 5)
    assert not scheduler.running


async def test_a_failed_sender_drain_is_logged_and_the_next_tick_runs_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenSender:
        drains = 0

        async def send_due(self) -> int:
            self.drains += 1
            raise ConnectionError("the database went away")

    sender = BrokenSender()
    kick = SenderKick(sender)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        await kick.kick()
        await asyncio.sleep(0.05)
        await kick.kick()
        await asyncio.sleep(0.05)
        gc.collect()
        await asyncio.sleep(0)
    assert sender.drains == 2
    logged = [r for r in caplog.records if "the outbox sender failed" in r.getMessage()]
    assert len(logged) == 2
    assert logged[0].exc_info is not None
    assert "never retrieved" not in caplog.text


async def test_a_failed_job_is_logged_and_rolled_back(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken_job(db: AsyncSession, services: Services, now: datetime) -> int:
        db.add(Applicant(telegram_id=5, chat_id=5))
        await db.flush()
        raise ConnectionError("the database went away")

    job = in_transaction(app.conversation.sessions, app.conversation.services, broken_job)
    with caplog.at_level(logging.INFO):
        await job()  # returns: the scheduler's next tick runs it again
    assert "broken_job failed" in caplog.text
    async with app.conversation.sessions() as db:
        assert (await db.exec(select(Applicant))).all() == []
