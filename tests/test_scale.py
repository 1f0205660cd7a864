"""Two real `applicant-bot run` processes in webhook mode behind a round-robin balancer,
sharing one throwaway PostgreSQL database, against the fake Bot API server.

First 300 applicants each send a burst of four messages, all interleaved: every one of
them gets the four replies in the order of their messages, although consecutive updates
of one chat land on different instances. Then a broadcast to 1,000 applicants and their
test reminders: every message arrives exactly once, and the server, which holds the
bot-wide limit as a strict one-second window, never sees more than SEND_RATE in a second.
"""

import asyncio
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import insert
from sqlmodel import col, select

from bot.app import App
from handlers.applicant.notices import reconcile_reminders
from models import Applicant, OutboxMessage, Registration
from models.outbox import OutboxStatus
from tests.support.app import start_app
from tests.support.balancer import Balancer
from tests.support.fake_telegram import FakeTelegram
from tests.support.sessions import make_session

SEND_RATE = 100
SECRET = "scale-test-secret-of-32-characters"
BURST = {  # what each applicant sends, and how the reply to it begins
    "/help": "How I can help",
    "/faq": "Questions and answers",
    "/mybookings": "You have no registrations",
    "/settings": "⚙️ Settings",
}
TALKERS = range(60_000, 60_300)
CROWD = range(70_000, 71_000)
NOTICE = "Bring your passport to the test."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def quiet_hours_far_from_now() -> str:
    """Quiet hours that cannot start during the test, whatever time CI runs it."""
    start = (datetime.now(UTC) + timedelta(hours=19)).astimezone()
    return f"{start:%H:%M}-{start + timedelta(minutes=1):%H:%M}"


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    """The shared database, upgraded, seen from the test's side."""
    # The test plans reminders on this side: they must not wait for quiet hours to end either.
    app = await start_app(request, tmp_path, "postgresql", quiet_hours=quiet_hours_far_from_now())
    yield app
    await app.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(global_rate=SEND_RATE, global_window=True, webhook_retry_delay=0.2)
    await fake.start()
    yield fake
    await fake.stop()


class Instances:
    """N `applicant-bot run` processes in webhook mode, and the balancer in front of them."""

    def __init__(self, telegram: FakeTelegram, database_url: str, tmp_path: Path, n: int) -> None:
        self.telegram, self.database_url, self.tmp_path = telegram, database_url, tmp_path
        self.ports = [free_port() for _ in range(n)]
        self.balancer = Balancer([f"http://127.0.0.1:{port}" for port in self.ports])
        self.processes: list[asyncio.subprocess.Process] = []

    def log(self, n: int) -> Path:
        return self.tmp_path / f"instance{n}.log"

    async def start(self) -> None:
        await self.balancer.start()
        for n, port in enumerate(self.ports):
            environment = {
                "PATH": "/usr/bin:/bin",
                "BOT_TOKEN": self.telegram.token,
                "TELEGRAM_API_URL": self.telegram.base_url,
                "DATABASE_URL": self.database_url,
                "SEND_RATE": str(SEND_RATE),
                "WEBHOOK_URL": self.balancer.url_for("/telegram/updates"),
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
                "INSTANCE_NAME": f"instance-{n}",
                "QUIET_HOURS": quiet_hours_far_from_now(),
            }
            with self.log(n).open("wb") as log:
                self.processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bot",
                        "run",
                        env=environment,
                        cwd=self.tmp_path,
                        stdout=log,
                        stderr=log,
                    )
                )
        await self.healthy()

    async def healthy(self, timeout: float = 60) -> None:
        """Waits until every instance says healthy at /healthz and the webhook is set."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as http:
            for n, port in enumerate(self.ports):
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                            if answer.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    if asyncio.get_running_loop().time() > deadline:
                        tail = "\n".join(self.log(n).read_text().splitlines()[-15:])
                        raise AssertionError(f"instance {n} did not come up:\n{tail}")
                    await asyncio.sleep(0.2)
        assert self.telegram.webhook["url"].startswith(self.balancer.url_for("/telegram/updates"))

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await self.balancer.stop()

    def logs(self) -> str:
        return "\n".join(self.log(n).read_text() for n in range(len(self.ports)))


@pytest.fixture
async def instances(
    database: App, telegram: FakeTelegram, tmp_path: Path
) -> AsyncIterator[Instances]:
    running = Instances(telegram, database.settings.database_url, tmp_path, 2)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
    assert "Traceback" not in running.logs()


def texts(telegram: FakeTelegram, chat: int) -> list[str]:
    return [message.text for message in telegram.messages(chat)]


async def crowd_with_registrations(app: App, telegram: FakeTelegram) -> None:
    """1,000 applicants with a confirmed seat at a test in 45 minutes; reminders planned."""
    telegram.add_chats(CROWD)  # they wrote to the bot before
    now = datetime.now(UTC)
    session_id = await make_session(
        app,
        len(CROWD),
        starts_at=now + timedelta(minutes=45),
        registration_opens_at=now - timedelta(days=10),
        registration_closes_at=now + timedelta(minutes=30),
    )
    async with app.conversation.sessions() as db, db.begin():
        connection = await db.connection()
        await connection.execute(
            insert(Applicant),
            [
                {"telegram_id": chat, "chat_id": chat, "locale": "en", "reachable": True,
                 "reminders": True, "created_at": now, "last_seen_at": now}
                for chat in CROWD
            ],
        )  # fmt: skip
        people = await db.exec(select(Applicant.id).where(col(Applicant.telegram_id) >= CROWD[0]))
        await connection.execute(
            insert(Registration),
            [
                {"applicant_id": person, "session_id": session_id, "exam_id": "jft-basic",
                 "status": "confirmed", "code": f"S{n:05d}", "created_at": now,
                 "updated_at": now}
                for n, person in enumerate(people.all())
            ],
        )  # fmt: skip
    while True:  # the reminders job, as a scheduler tick runs it, until all are planned
        async with app.conversation.sessions() as db, db.begin():
            if not await reconcile_reminders(db, app.conversation.services, datetime.now(UTC)):
                break


async def queue_broadcast(database_url: str, tmp_path: Path) -> str:
    """The office's `applicant-bot broadcast` to everyone, from the command line."""
    notice = tmp_path / "notice.html"
    notice.write_text(NOTICE, "utf-8")
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "broadcast", "--audience", "all",
        "--text-file", str(notice), "--no-wait",
        # The command line plans the broadcast's send time, so it needs the same quiet hours.
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url,
             "QUIET_HOURS": quiet_hours_far_from_now()},
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await command.communicate()
    assert command.returncode == 0, output
    return output.decode()


async def all_sent(app: App, expected: int, timeout: float) -> Counter[str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with app.conversation.sessions() as db:
            statuses = Counter((await db.exec(select(OutboxMessage.status))).all())
        if statuses == {OutboxStatus.SENT: expected}:
            return statuses
        if asyncio.get_running_loop().time() > deadline or statuses.get(OutboxStatus.FAILED):
            async with app.conversation.sessions() as db:
                errors = Counter((await db.exec(select(OutboxMessage.last_error))).all())
            raise AssertionError(f"{statuses}: {errors}")
        await asyncio.sleep(0.5)


def busiest_second(telegram: FakeTelegram) -> int:
    """The most messages the server accepted within any one second."""
    arrivals = sorted(r.at for r in telegram.requests if r.status == 200 and r.method in SENDS)
    most, first = 0, 0
    for last, at in enumerate(arrivals):
        while arrivals[first] <= at - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


SENDS = {"sendMessage", "sendPhoto", "sendDocument", "sendVenue", "editMessageText"}


async def test_two_instances_answer_each_applicant_in_order(
    instances: Instances, telegram: FakeTelegram
) -> None:
    for text in BURST:  # interleaved: everyone's first message, then everyone's second...
        for chat in TALKERS:
            telegram.user_sends(chat, text, language_code="en")
    await telegram.wait_for(
        lambda f: all(len(f.messages(chat)) >= len(BURST) for chat in TALKERS), timeout=90
    )
    for chat in TALKERS:
        replies = texts(telegram, chat)
        assert len(replies) == len(BURST), (chat, replies)
        for reply, beginning in zip(replies, BURST.values(), strict=True):
            assert reply.startswith(beginning), (chat, replies)
    assert min(instances.balancer.counts.values()) > len(TALKERS)  # both did a fair share
    assert telegram.too_many == 0
    assert busiest_second(telegram) <= SEND_RATE


async def test_a_broadcast_and_reminders_go_out_once_within_one_budget(
    instances: Instances, database: App, telegram: FakeTelegram, tmp_path: Path
) -> None:
    await crowd_with_registrations(database, telegram)
    assert "queued for 1000 people" in await queue_broadcast(
        database.settings.database_url, tmp_path
    )
    await all_sent(database, expected=2 * len(CROWD), timeout=120)

    for chat in CROWD:
        received = texts(telegram, chat)
        assert len(received) == 2, (chat, received)
        assert sum(NOTICE in text for text in received) == 1
    async with database.conversation.sessions() as db:
        claimed_by = Counter((await db.exec(select(OutboxMessage.claimed_by))).all())
    assert set(claimed_by) == {"instance-0", "instance-1"}
    assert min(claimed_by.values()) > len(CROWD) // 4  # both instances sent their share
    assert telegram.too_many == 0
    assert busiest_second(telegram) <= SEND_RATE
