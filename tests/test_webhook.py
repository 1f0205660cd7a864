"""Webhook mode: the real channels behind WebhookServer, fed by the fake's webhook delivery."""

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from bot.app import App, build_app
from bot.channels.telegram import ALLOWED_UPDATES, DEFAULT_MAX_CONNECTIONS, WebhookSpec
from bot.webhook import (
    SECRET_HEADER,
    WebhookServer,
    app_health,
    ensure_webhook,
    registered_url,
    secret_version,
)
from models.db import DatabaseWatch
from models.updates import ProcessedUpdate
from tests.support.app import settings_for_test
from tests.support.balancer import Balancer
from tests.support.channels import channel_on_fake
from tests.support.fake_telegram import FakeTelegram

DARA = 5001
SECRET = "webhook-secret_1-of-32-characters"
PATH = "/telegram/hook"
CHANNELS = ["aiogram", "ptb"]


def spec_for(url: str, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> WebhookSpec:
    return WebhookSpec(
        url=url, allowed_updates=tuple(ALLOWED_UPDATES), max_connections=max_connections
    )


@dataclass
class Instance:
    """One bot instance in webhook mode: its channel and its server."""

    channel: Any
    server: WebhookServer


@pytest.fixture(params=CHANNELS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    # A person types slower than a test: a raised per-chat burst keeps flood waits out.
    fake = FakeTelegram(chat_burst=30, webhook_retry_delay=0.05)
    await fake.start()
    yield fake
    await fake.stop()


Launch = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def launch(kind: str, telegram: FakeTelegram) -> AsyncIterator[Launch]:
    """Starts instances (channel and server) on an app; all stopped at the end."""
    started: list[Instance] = []

    async def start(
        app: App,
        health: Callable[[], Awaitable[dict[str, bool]]] | None = None,
        secret: str = SECRET,
        **options: Any,
    ) -> Instance:
        channel = channel_on_fake(kind, app, telegram)
        server = WebhookServer(
            "127.0.0.1",
            0,
            PATH,
            secret,
            channel.feed,
            health or app_health(app.watch, lambda: True),
            **options,
        )
        instance = Instance(channel, server)
        started.append(instance)
        await channel.start()
        await server.start()
        return instance

    yield start
    for instance in started:
        await instance.server.stop()
        await instance.channel.close()


async def post(url: str, payload: object, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, json=payload, headers=headers) as r:
        return r.status


async def get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def processed(app: App) -> list[int]:
    async with app.conversation.sessions() as db:
        return list((await db.exec(select(ProcessedUpdate.update_id))).all())


def test_registered_url_carries_a_hash_of_the_secret() -> None:
    plain = "https://bot.example.org/tg?x=1"
    url = registered_url(plain, SECRET)
    assert url == f"{plain}&v={secret_version(SECRET)}"
    assert len(secret_version(SECRET)) == 12
    assert SECRET not in url
    assert registered_url(url, "other") == registered_url(plain, "other")  # replaced, not added


@pytest.mark.parametrize("given", [None, "wrong-secret", ""])
async def test_a_missing_or_wrong_secret_is_refused_and_logged(
    app: App,
    launch: Launch,
    telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
    given: str | None,
) -> None:
    instance = await launch(app)
    fed: list[dict] = []
    feed = instance.server.feed

    async def counting(payload: dict) -> None:
        fed.append(payload)
        await feed(payload)

    instance.server.feed = counting
    update_id = telegram.user_sends(DARA, "my passport number is N1234567")
    headers = {} if given is None else {SECRET_HEADER: given}
    with caplog.at_level(logging.WARNING, logger="bot.webhook"):
        status = await post(instance.server.url, telegram.sent_update(update_id), headers)
    assert status == 401
    [warning] = [r for r in caplog.records if r.name == "bot.webhook"]
    assert warning.levelno == logging.WARNING
    assert "127.0.0.1" in warning.getMessage()
    assert "N1234567" not in caplog.text
    assert fed == []
    assert await processed(app) == []
    assert not [r for r in telegram.requests if r.method == "sendMessage"]


async def test_a_body_that_is_not_a_json_object_is_refused(app: App, launch: Launch) -> None:
    instance = await launch(app)
    async with aiohttp.ClientSession() as http:
        nested_too_deep = b"[" * 100_000 + b"]" * 100_000  # json.loads gives up: RecursionError
        nested_in_an_update = (
            b'{"update_id": 5, "message": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001
        )
        for body in (b"not json", b"[1, 2]", nested_too_deep, nested_in_an_update):
            async with http.post(
                instance.server.url, data=body, headers={SECRET_HEADER: SECRET}
            ) as response:
                assert response.status == 400


async def test_a_failing_update_answers_500_logged_once_without_the_text(
    app: App, launch: Launch, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    instance = await launch(app)

    async def broken(payload: dict) -> None:
        raise RuntimeError(payload["message"]["text"])

    instance.server.feed = broken
    update_id = telegram.user_sends(DARA, "secret words")
    with caplog.at_level(logging.INFO, logger="bot.webhook"):
        status = await post(
            instance.server.url, telegram.sent_update(update_id), {SECRET_HEADER: SECRET}
        )
    assert status == 500
    [line] = [r for r in caplog.records if r.name == "bot.webhook"]
    assert line.levelno == logging.ERROR
    assert f"update {update_id} failed: RuntimeError" in line.getMessage()
    assert "secret words" not in caplog.text


async def test_start_through_the_webhook_gets_the_welcome(
    app: App, launch: Launch, telegram: FakeTelegram
) -> None:
    instance = await launch(app)
    assert await ensure_webhook(instance.channel, spec_for(instance.server.url), SECRET)
    telegram.user_sends(DARA, "/start", language_code="en")
    welcome = await telegram.next_message(DARA)
    assert welcome.text.startswith("👋 Welcome!")
    telegram.user_presses(DARA, welcome.message_id, "lang:set:en")
    menu = await telegram.next_message(DARA)
    assert menu.message_id == welcome.message_id
    # The edit is made before the webhook's answer: wait for that answer too.
    await telegram.wait_for(lambda f: len(f.webhook_deliveries) == 2)
    assert [status for _, status in telegram.webhook_deliveries] == [200, 200]
    assert telegram.webhook_failures == 0
    assert telegram.webhook["secret_token"] == SECRET
    assert telegram.webhook["url"] == f"{instance.server.url}?v={secret_version(SECRET)}"


async def test_a_duplicated_delivery_is_handled_once(
    app: App, launch: Launch, telegram: FakeTelegram
) -> None:
    instance = await launch(app)
    await ensure_webhook(instance.channel, spec_for(instance.server.url), SECRET)
    update_id = telegram.user_sends(DARA, "/help", language_code="en")
    await telegram.next_message(DARA)
    telegram.redeliver(update_id)
    await telegram.wait_for(lambda f: f.webhook_deliveries.count((update_id, 200)) == 2)
    telegram.user_sends(DARA, "/faq", language_code="en")
    assert "Choose a topic" in (await telegram.next_message(DARA)).text
    assert len(telegram.messages(DARA)) == 2  # the help once, the topics


async def test_healthz(app: App, launch: Launch, tmp_path: Path) -> None:
    scheduler = AsyncIOScheduler()
    scheduler.start()
    try:
        instance = await launch(app, app_health(app.watch, lambda: scheduler.running))
        healthz = instance.server.url.replace(PATH, "/healthz")
        assert await get(healthz) == (200, {"database": True, "scheduler": True})
    finally:
        scheduler.shutdown(wait=False)
    await asyncio.sleep(0)  # the shutdown takes effect on the loop
    assert await get(healthz) == (503, {"database": True, "scheduler": False})

    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/bot.sqlite3")
    try:
        down = await launch(app, app_health(DatabaseWatch(broken), lambda: True))
        healthz = down.server.url.replace(PATH, "/healthz")
        assert await get(healthz) == (503, {"database": False, "scheduler": True})
    finally:
        await broken.dispose()


@pytest.mark.parametrize("trouble", ["raises", "hangs"])
async def test_a_health_check_that_fails_counts_as_database_down(
    app: App, launch: Launch, trouble: str
) -> None:
    async def health() -> dict[str, bool]:
        if trouble == "raises":
            raise ConnectionError("database gone")
        await asyncio.sleep(10)
        return {"database": True, "scheduler": True}

    instance = await launch(app, health, health_timeout=0.2)
    status, report = await get(instance.server.url.replace(PATH, "/healthz"))
    assert (status, report["database"]) == (503, False)


async def test_ensure_webhook_sets_it_once_and_again_on_a_change(
    app: App, launch: Launch, telegram: FakeTelegram
) -> None:
    def set_webhook_calls() -> int:
        return sum(r.method == "setWebhook" for r in telegram.requests)

    first, second = await asyncio.gather(launch(app), launch(app))
    url = "https://bot.example.org" + PATH
    # A rolling start: the second instance finds the webhook registered and leaves it.
    assert await ensure_webhook(first.channel, spec_for(url), SECRET) is True
    assert await ensure_webhook(second.channel, spec_for(url), SECRET) is False
    assert set_webhook_calls() == 1
    assert telegram.webhook["url"] == registered_url(url, SECRET)

    assert await ensure_webhook(second.channel, spec_for(url), "a-new-secret") is True
    assert telegram.webhook["secret_token"] == "a-new-secret"
    assert await ensure_webhook(first.channel, spec_for(url + "2"), "a-new-secret") is True
    assert await ensure_webhook(first.channel, spec_for(url + "2", 10), "a-new-secret") is True
    assert await ensure_webhook(second.channel, spec_for(url + "2", 10), "a-new-secret") is False
    assert set_webhook_calls() == 4
    assert telegram.webhook["max_connections"] == 10


async def test_a_burst_is_answered_in_order_through_a_balancer_and_two_instances(
    kind: str, launch: Launch, telegram: FakeTelegram, tmp_path: Path
) -> None:
    # Two instances, each with its own app, on one database: what a deployment looks like.
    apps = [build_app(settings_for_test(tmp_path)) for _ in range(2)]
    try:
        for app in apps:
            await app.prepare_database()
        instances = [await launch(app) for app in apps]
        async with Balancer([i.server.url for i in instances]) as balancer:
            await ensure_webhook(instances[0].channel, spec_for(balancer.url_for(PATH)), SECRET)
            faq = apps[0].conversation.services.faq
            questions = [entry.question["en"] for entry in list(faq.entries.values())[:10]]
            for question in questions:
                telegram.user_sends(DARA, question, language_code="en")
            # The first question is Dara's first message: the welcome follows its answer.
            await telegram.wait_for(lambda f: len(f.messages(DARA)) == 11, timeout=30)
            first, welcome, *others = [m.text for m in telegram.messages(DARA)]
            assert welcome.startswith("👋 Welcome!")
            replies = [first, *others]
            for question, reply in zip(questions, replies, strict=True):
                assert reply.startswith(question)
            assert all(count >= 4 for count in balancer.counts.values()), balancer.counts
            assert telegram.webhook_failures == 0
    finally:
        for app in apps:
            await app.close()


async def test_an_instance_that_is_down_gets_its_updates_resent_elsewhere(
    app: App, launch: Launch, telegram: FakeTelegram
) -> None:
    up = await launch(app)
    down = await launch(app)
    await down.server.stop()
    # Hold the stopped server's port without listening: connections are refused, and no
    # server of a test running beside this one can take the port and answer in its place.
    port = int(down.server.url.split(PATH)[0].rsplit(":", 1)[1])
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        async with Balancer([down.server.url, up.server.url]) as balancer:
            await ensure_webhook(up.channel, spec_for(balancer.url_for(PATH)), SECRET)
            for command in ("/help", "/faq"):
                telegram.user_sends(DARA, command, language_code="en")
            await telegram.wait_for(lambda f: len(f.messages(DARA)) == 2, timeout=10)
            assert "How I can help" in telegram.messages(DARA)[0].text
            assert "Choose a topic" in telegram.messages(DARA)[1].text
            assert (down.server.url.split(PATH)[0], 502) in balancer.statuses
            assert telegram.webhook_failures >= 1
