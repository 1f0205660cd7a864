"""Stopping the bot: a scheduled job that has started finishes; none is cut off mid-way."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from bot.scheduler import JobScheduler


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
