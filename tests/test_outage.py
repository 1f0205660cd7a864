"""The database away for a while loses nothing (#12 item 6), on a PostgreSQL cluster of the
test's own that is stopped as in a crash, and started again on the same socket.

Polling: the updates that come meanwhile are neither answered with an apology nor
consumed beyond the few in hand; when the database is back each is answered once, in
order per user, and queued messages due meanwhile go out once. Webhook: 503 until the
database is back, then Telegram's next try is answered. /healthz says so, and probes the
database at most about once a second however often it is asked.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import event, text

from bot.app import App, build_app
from bot.channels.telegram import ALLOWED_UPDATES, WebhookSpec
from bot.delivery import OutboxSender
from bot.webhook import WebhookServer, app_health, ensure_webhook
from handlers.core.content import to_content
from handlers.core.events import SendText
from models.columns import utcnow
from models.db import upgrade_database
from models.outbox import enqueue
from tests.support.app import new_postgres_database, settings_for_test
from tests.support.channels import channel_on_fake
from tests.support.fake_telegram import FakeTelegram
from tests.support.postgres import PostgresCluster

CONTROL = 7100  # writes while the database is up: what everyone should see
USERS = (7101, 7102, 7103)  # write while it is away
NEWS_CHATS = (7201, 7202, 7203, 7204)  # get a queued message that falls due meanwhile
SAYS = ("/start", "/help", "/mybookings")
OUTAGE = 4.0  # seconds; the mechanism does not depend on the length
SORRY = "something went wrong"
SECRET = "outage-test-secret-of-32-characters"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture
async def app(cluster: PostgresCluster, tmp_path: Path) -> AsyncIterator[App]:
    url = await new_postgres_database(cluster.socket)
    app = build_app(settings_for_test(tmp_path, database_url=url))
    await upgrade_database(app.engine)
    await app.prepare_database()
    yield app
    await app.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(chat_burst=30, webhook_retry_delay=0.3)
    await fake.start()
    yield fake
    await fake.stop()


def texts(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [m.text for m in telegram.messages(chat_id)]


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_polled_updates_wait_for_the_database_and_are_answered_once_in_order(
    app: App,
    cluster: PostgresCluster,
    telegram: FakeTelegram,
    framework: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = channel_on_fake(framework, app, telegram, update_concurrency=2)
    sender = OutboxSender(app.conversation.sessions, channel.send_one, watch=app.watch)
    telegram.add_chats(NEWS_CHATS)
    async with app.conversation.sessions() as db, db.begin():
        for chat in NEWS_CHATS:  # due in the middle of the outage
            await enqueue(
                db,
                chat_id=chat,
                applicant_id=None,
                content=to_content([SendText("The test centre opens at 7:30.")]),
                dedupe_key=f"news:{chat}",
                send_after=utcnow() + timedelta(seconds=OUTAGE / 2),
            )
    polling = asyncio.create_task(channel.run())
    sending = asyncio.create_task(sender.run())
    try:
        for said in SAYS:
            telegram.user_sends(CONTROL, said)
            await telegram.next_message(CONTROL)
        seen = texts(telegram, CONTROL)
        assert len(seen) == len(SAYS)
        assert not any(SORRY in text for text in seen)

        cluster.stop("immediate")
        sent_meanwhile = [telegram.user_sends(user, said) for said in SAYS for user in USERS]
        with caplog.at_level(logging.WARNING):
            await asyncio.sleep(OUTAGE)
        assert all(texts(telegram, user) == [] for user in USERS)  # no apology, nothing yet
        assert all(texts(telegram, chat) == [] for chat in NEWS_CHATS)
        confirmed = set(sent_meanwhile) - set(telegram.unconfirmed())
        assert len(confirmed) <= 2, "only the updates in hand may leave Telegram's queue"
        assert "the database does not answer" in caplog.text
        cluster.start()

        for user in USERS:
            await telegram.wait_for(lambda f, u=user: len(texts(f, u)) >= len(SAYS), timeout=20)
        for chat in NEWS_CHATS:
            await telegram.wait_for(lambda f, c=chat: len(texts(f, c)) >= 1, timeout=20)
        await asyncio.sleep(1)  # room for anything sent twice to show
        for user in USERS:
            assert texts(telegram, user) == seen  # each answered once, in the order sent
        for chat in NEWS_CHATS:
            assert texts(telegram, chat) == ["The test centre opens at 7:30."]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        cluster.start()
        sending.cancel()
        await channel.stop()
        await asyncio.wait_for(polling, 15)
        await channel.close()


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_a_webhook_answers_503_while_the_database_is_away_and_telegrams_next_try_is_answered(
    app: App, cluster: PostgresCluster, telegram: FakeTelegram, framework: str
) -> None:
    channel = channel_on_fake(framework, app, telegram)
    server = WebhookServer(
        "127.0.0.1", 0, "/hook", SECRET, channel.feed, app_health(app.watch, lambda: True)
    )
    await channel.start()
    await server.start()
    healthz = server.url.replace("/hook", "/healthz")
    try:
        await ensure_webhook(channel, WebhookSpec(server.url, ALLOWED_UPDATES, 40), SECRET)
        cluster.stop("immediate")
        update_id = telegram.user_sends(CONTROL, "/start")
        await telegram.wait_for(lambda f: len(f.webhook_deliveries) >= 2, timeout=10)
        assert {status for _, status in telegram.webhook_deliveries} == {503}
        assert await health(healthz) == (503, {"database": False, "scheduler": True})
        cluster.start()
        welcome = await telegram.next_message(CONTROL, timeout=20)
        assert welcome.text.startswith("👋 Welcome!")
        # The welcome is sent before the webhook's answer: wait for that answer too.
        await telegram.wait_for(lambda f: f.webhook_deliveries[-1] == (update_id, 200))
        await asyncio.sleep(0.5)
        assert len(telegram.messages(CONTROL)) == 1
        await asyncio.sleep(1.1)  # the health answer is at most a second old
        assert await health(healthz) == (200, {"database": True, "scheduler": True})
    finally:
        cluster.start()
        await server.stop()
        await channel.close()


async def test_after_a_restart_the_first_statement_on_a_pooled_connection_succeeds(
    app: App, cluster: PostgresCluster
) -> None:
    """Jobs, exports and the staff panel are not tried again like updates: a connection the
    server closed must be replaced before it is used, not fail its first statement."""
    async with app.engine.connect() as connection:  # leaves a connection in the pool
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    cluster.stop("immediate")
    cluster.start()
    await asyncio.sleep(0.2)  # a real restart takes seconds, in which the socket's end is read
    async with app.engine.connect() as connection:
        assert (await connection.execute(text("SELECT 2"))).scalar() == 2


async def test_health_checks_probe_the_database_at_most_once_a_second(app: App) -> None:
    probes: list[object] = []
    event.listen(app.engine.sync_engine, "checkout", lambda *_: probes.append(1))
    server = WebhookServer("127.0.0.1", 0, "/hook", SECRET, _nothing, app_health(app.watch, _up))
    await server.start()
    healthz = server.url.replace("/hook", "/healthz")
    try:
        answers = await asyncio.gather(*[health(healthz) for _ in range(50)])
        assert {status for status, _ in answers} == {200}
        assert len(probes) == 1
        await asyncio.sleep(1.1)
        await asyncio.gather(*[health(healthz) for _ in range(50)])
        assert len(probes) == 2
    finally:
        await server.stop()


async def _nothing(payload: dict) -> None:
    return None


def _up() -> bool:
    return True


async def health(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()
