"""A real `applicant-bot run` killed mid-broadcast, started again: nothing lost, little repeated.

The outbox is the memory: 2,000 messages to 2,000 chats are queued before the bot starts;
it is killed with SIGKILL twice while sending, and each time started again. In the end
every chat has its message, and at most W messages per kill went out twice (those in
flight at the moment of the kill; W is SEND_WINDOW here, as the round trip of 50 ms at
300 a second would take more).
"""

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import build_app
from handlers.core.content import to_content
from handlers.core.events import SendText
from models import OutboxMessage
from models.db import create_engine, session_factory, upgrade_database
from models.outbox import OutboxStatus, enqueue
from tests.support.app import new_postgres_database, settings_for_test
from tests.support.fake_telegram import FakeTelegram

CHATS = range(30_000, 32_000)
SEND_RATE = 300
SEND_WINDOW = 10
ROUND_TRIP = 0.05
KILL_AFTER = (300, 1000)  # delivered messages, counted by the server, before each kill


async def queue_broadcast(database_url: str, tmp_path: Path) -> None:
    app = build_app(settings_for_test(tmp_path, database_url=database_url))
    try:
        if database_url.startswith("postgresql"):
            await upgrade_database(app.engine)  # `run` refuses a database not upgraded
        await app.prepare_database()
        async with app.conversation.sessions() as db, db.begin():
            for chat in CHATS:
                await enqueue(
                    db,
                    chat_id=chat,
                    applicant_id=None,
                    content=to_content([SendText(f"Registration opens on Monday ({chat}).")]),
                    dedupe_key=f"broadcast:1:{chat}",
                )
    finally:
        await app.close()


async def statuses(database_url: str) -> Counter[str]:
    """How many rows are in each status, read beside the running bot."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as db:
            return Counter((await db.exec(select(OutboxMessage.status))).all())
    finally:
        await engine.dispose()


async def all_sent(database_url: str, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (counts := await statuses(database_url)) != {OutboxStatus.SENT: len(CHATS)}:
        assert asyncio.get_running_loop().time() < deadline, counts
        await asyncio.sleep(0.2)


async def start_bot(
    telegram: FakeTelegram, database_url: str, tmp_path: Path, run: int
) -> asyncio.subprocess.Process:
    environment = {
        "PATH": "/usr/bin:/bin",
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": database_url,
        "SEND_RATE": str(SEND_RATE),
        "SEND_WINDOW": str(SEND_WINDOW),
    }
    log = (tmp_path / f"run{run}.log").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            env=environment, cwd=tmp_path, stdout=log, stderr=log,
        )  # fmt: skip
    finally:
        log.close()


def read(log: Path) -> str:
    return log.read_text()


async def first_message(telegram: FakeTelegram, log: Path) -> None:
    """Waits for the bot's first message of this run; says why when none comes."""
    before = telegram.delivered
    try:
        await telegram.wait_for(lambda f: f.delivered > before, timeout=60)
    except AssertionError:
        tail = "\n".join(read(log).splitlines()[-15:])
        raise AssertionError(
            f"the bot sent nothing in 60 s; the end of its log:\n{tail}"
        ) from None


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_killed_twice_mid_broadcast_every_chat_gets_its_message(
    request: pytest.FixtureRequest, tmp_path: Path, engine: str
) -> None:
    if engine == "postgresql":
        database_url = await new_postgres_database(request.getfixturevalue("postgres_socket"))
    else:
        database_url = f"sqlite+aiosqlite:///{tmp_path}/crash.db"
    await queue_broadcast(database_url, tmp_path)
    telegram = FakeTelegram(global_rate=SEND_RATE, global_window=True, latency=ROUND_TRIP)
    await telegram.start()
    telegram.add_chats(CHATS)
    process: asyncio.subprocess.Process | None = None
    try:
        for run, kill_after in enumerate(KILL_AFTER):
            process = await start_bot(telegram, database_url, tmp_path, run)
            await first_message(telegram, tmp_path / f"run{run}.log")
            await telegram.wait_for(lambda f, n=kill_after: f.delivered >= n, timeout=60)
            process.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL
            assert telegram.delivered < len(CHATS)  # killed mid-way, not after the end
        process = await start_bot(telegram, database_url, tmp_path, len(KILL_AFTER))
        await all_sent(database_url, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await telegram.stop()

    received = [len(telegram.messages(chat)) for chat in CHATS]
    assert min(received) == 1
    twice = sum(1 for count in received if count == 2)
    assert max(received) <= 2
    assert twice <= SEND_WINDOW * len(KILL_AFTER)
    last_log = read(tmp_path / f"run{len(KILL_AFTER)}.log")
    assert "Traceback" not in last_log
