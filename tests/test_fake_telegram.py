"""The fake Bot API server refuses what Telegram refuses, so bot mistakes fail in tests."""

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web

from tests.support.fake_telegram import FakeTelegram

USER = 42


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    server.user_sends(USER, "/start")  # the chat exists once the user wrote
    yield server
    await server.stop()


async def call(fake: FakeTelegram, method: str, **params: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/bot{fake.token}/{method}", json=params) as response,
    ):
        return response.status, await response.json()


async def send(fake: FakeTelegram, text: str, **params: object) -> tuple[int, dict]:
    return await call(fake, "sendMessage", chat_id=USER, text=text, parse_mode="HTML", **params)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "message text is empty"),
        ("x" * 4097, "message is too long"),
        ("<foo>x</foo>", 'Unsupported start tag "foo"'),
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("fish & rice", "Character '&' is reserved"),
        ("1 < 2", "Unsupported start tag"),
        ("<b><i>x</b></i>", "Unexpected end tag"),
    ],
)
async def test_texts_telegram_refuses(fake: FakeTelegram, text: str, error: str) -> None:
    status, body = await send(fake, text)
    assert status == 400
    assert error in body["description"]


async def test_texts_telegram_accepts(fake: FakeTelegram) -> None:
    status, body = await send(fake, "<b>Fish &amp; rice</b> &lt;3 <i>ok</i>" + "x" * 4070)
    assert status == 200, body
    assert fake.messages(USER)[0].text.startswith("Fish & rice <3 ok")


@pytest.mark.parametrize(
    ("button", "error"),
    [
        ({"text": "A", "callback_data": "x" * 65}, "BUTTON_DATA_INVALID"),
        ({"text": "A", "callback_data": "ខ" * 22}, "BUTTON_DATA_INVALID"),  # 66 bytes
        ({"text": "", "callback_data": "a"}, "BUTTON_TEXT_EMPTY"),
        ({"text": "A"}, "BUTTON_TYPE_INVALID"),
    ],
)
async def test_buttons_telegram_refuses(fake: FakeTelegram, button: dict, error: str) -> None:
    status, body = await send(fake, "hi", reply_markup={"inline_keyboard": [[button]]})
    assert (status, body["description"]) == (400, f"Bad Request: {error}")


async def test_edits_must_change_something_and_exist(fake: FakeTelegram) -> None:
    _, sent = await send(fake, "hello")
    message_id = sent["result"]["message_id"]
    status, body = await call(
        fake, "editMessageText", chat_id=USER, message_id=message_id, text="hello"
    )
    assert status == 400
    assert "message is not modified" in body["description"]
    status, _ = await call(fake, "editMessageText", chat_id=USER, message_id=message_id, text="hi")
    assert status == 200
    status, body = await call(fake, "editMessageText", chat_id=USER, message_id=999, text="x")
    assert body["description"] == "Bad Request: message to edit not found"


async def test_unknown_and_blocked_chats(fake: FakeTelegram) -> None:
    status, body = await call(fake, "sendMessage", chat_id=777, text="hi")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    fake.block(USER)
    status, body = await send(fake, "hi")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


async def test_callback_queries_are_answered_once(fake: FakeTelegram) -> None:
    _, sent = await send(fake, "pick", reply_markup={
        "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]
    })  # fmt: skip
    fake.user_presses(USER, sent["result"]["message_id"], "a")
    [query_id] = [u["callback_query"]["id"] for u in fake._updates if "callback_query" in u]
    assert (await call(fake, "answerCallbackQuery", callback_query_id=query_id))[0] == 200
    status, body = await call(fake, "answerCallbackQuery", callback_query_id=query_id)
    assert status == 400
    assert "query is too old" in body["description"]


async def test_per_chat_flood_limit_answers_429_with_retry_after() -> None:
    now = [0.0]
    fake = FakeTelegram(chat_rate=1, chat_burst=3, clock=lambda: now[0])
    await fake.start()
    try:
        fake.user_sends(USER, "/start")
        statuses = [(await send(fake, f"m{i}"))[0] for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        _, body = await send(fake, "again")
        assert body["parameters"]["retry_after"] == 1
        now[0] += 1.0
        assert (await send(fake, "later"))[0] == 200
    finally:
        await fake.stop()


async def test_global_flood_limit() -> None:
    now = [0.0]
    fake = FakeTelegram(global_rate=5, chat_burst=100, clock=lambda: now[0])
    await fake.start()
    try:
        for user in range(1, 8):
            fake.user_sends(user, "/start")
        statuses = [
            (await call(fake, "sendMessage", chat_id=user, text="x"))[0] for user in range(1, 8)
        ]
        assert statuses == [200] * 5 + [429, 429]
    finally:
        await fake.stop()


async def test_a_real_aiogram_bot_talks_to_it(fake: FakeTelegram) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    bot = Bot(fake.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    try:
        me = await bot.get_me()
        assert me.is_bot
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="y")]]
        )
        sent = await bot.send_message(USER, "<b>Ready?</b>", reply_markup=keyboard)
        assert sent.text == "Ready?"
        await bot.edit_message_text("<i>Done</i>", chat_id=USER, message_id=sent.message_id)
        assert fake.messages(USER)[0].text == "Done"
        fake.force_retry_after(7)
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(USER, "again")
        assert caught.value.retry_after == 7
    finally:
        await bot.session.close()


async def test_strict_one_second_window_by_arrival() -> None:
    now = [0.0]
    fake = FakeTelegram(global_rate=3, chat_burst=100, global_window=True, clock=lambda: now[0])
    await fake.start()
    try:
        fake.add_chats(range(1, 10))
        statuses = []
        for user, at in [(1, 0.0), (2, 0.5), (3, 0.9), (4, 0.95), (5, 1.0), (6, 1.2), (7, 1.5)]:
            now[0] = at
            statuses.append((await call(fake, "sendMessage", chat_id=user, text="x"))[0])
        # A token bucket would let 4 through at 0.95 s; the window counts the last second.
        assert statuses == [200, 200, 200, 429, 200, 429, 200]
        assert fake.too_many == 2
    finally:
        await fake.stop()


async def test_a_seeded_fraction_of_sends_fails_with_500() -> None:
    fake = FakeTelegram(chat_burst=1000, global_rate=1000, failure_rate=0.3, seed=7)
    await fake.start()
    try:
        fake.add_chats([USER])
        statuses = [(await send(fake, f"m{i}"))[0] for i in range(200)]
        assert set(statuses) == {200, 500}
        assert 40 <= statuses.count(500) <= 80
        assert len(fake.messages(USER)) == statuses.count(200)
        status, _ = await call(fake, "getMe")
        assert status == 200  # only sends fail
    finally:
        await fake.stop()


async def test_latency_and_no_history() -> None:
    fake = FakeTelegram(latency=0.2, history=False)
    await fake.start()
    try:
        fake.add_chats([USER])
        started = time.monotonic()
        status, _ = await send(fake, "hi")
        assert status == 200
        assert time.monotonic() - started >= 0.2
        assert (fake.delivered, fake.requests, fake.messages(USER)) == (1, [], [])
    finally:
        await fake.stop()


# --- webhook delivery -----------------------------------------------------------------------


class Receiver:
    """A bare webhook endpoint: records what arrives, answers what the test tells it."""

    def __init__(self) -> None:
        self.received: list[tuple[int, dict, dict]] = []  # (update_id, update, headers)
        self.statuses: list[int] = []  # answers to give first, then 200
        self.delay: dict[int, float] = {}  # chat -> seconds to take before answering
        self.in_flight: set[int] = set()  # chats being answered now
        self.overlaps = 0  # a chat's update arriving while its previous was unanswered
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        update = await request.json()
        chat = FakeTelegram.chat_of(update)
        if chat in self.in_flight:
            self.overlaps += 1
        self.in_flight.add(chat)
        try:
            self.received.append((update["update_id"], update, dict(request.headers)))
            await asyncio.sleep(self.delay.get(chat, 0))
            status = self.statuses.pop(0) if self.statuses else 200
            return web.Response(status=status)
        finally:
            self.in_flight.discard(chat)

    def texts(self, chat: int) -> list[str]:
        return [u["message"]["text"] for _, u, _ in self.received if "message" in u and
                FakeTelegram.chat_of(u) == chat]  # fmt: skip


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


@pytest.fixture
async def hooked() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(webhook_retry_delay=0.02)
    await server.start()
    yield server
    await server.stop()


async def test_set_webhook_delivers_with_the_secret_and_get_updates_conflicts(
    hooked: FakeTelegram, receiver: Receiver
) -> None:
    early = hooked.user_sends(USER, "before the webhook")  # pending: delivered once it is set
    status, _ = await call(
        hooked, "setWebhook", url=receiver.url, secret_token="s3cret_-X", max_connections=5
    )
    assert status == 200
    later = hooked.user_sends(USER, "after")
    await hooked.wait_for(lambda f: len(f.webhook_deliveries) == 2)
    assert [r[0] for r in receiver.received] == [early, later]
    assert receiver.received[0][2]["X-Telegram-Bot-Api-Secret-Token"] == "s3cret_-X"
    assert hooked.webhook_deliveries == [(early, 200), (later, 200)]
    assert (hooked.webhook_requests, hooked.webhook_failures) == (2, 0)

    status, body = await call(hooked, "getUpdates")
    assert status == 409
    assert body["description"] == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    _, info = await call(hooked, "getWebhookInfo")
    assert info["result"] == {
        "url": receiver.url,
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 5,
    }


async def test_webhook_info_defaults_and_allowed_updates(
    hooked: FakeTelegram, receiver: Receiver
) -> None:
    _, info = await call(hooked, "getWebhookInfo")
    assert info["result"] == {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": 0,
    }
    await call(hooked, "setWebhook", url=receiver.url, allowed_updates=["callback_query"])
    _, info = await call(hooked, "getWebhookInfo")
    assert (info["result"]["max_connections"], info["result"]["allowed_updates"]) == (
        40,
        ["callback_query"],
    )
    hooked.user_sends(USER, "a message the bot did not ask for")
    await asyncio.sleep(0.1)
    assert receiver.received == []
    status, body = await call(hooked, "setWebhook", url=receiver.url, secret_token="no spaces")
    assert (status, body["description"]) == (
        400,
        "Bad Request: secret token contains unallowed characters",
    )


async def test_one_chat_in_order_and_chats_concurrently(
    hooked: FakeTelegram, receiver: Receiver
) -> None:
    receiver.delay = {USER: 0.05, 43: 0.05, 44: 0.05}
    await call(hooked, "setWebhook", url=receiver.url, max_connections=2)
    for i in range(5):
        for chat in (USER, 43, 44):
            hooked.user_sends(chat, f"{chat}:{i}")
    await hooked.wait_for(lambda f: len(f.webhook_deliveries) == 15)
    for chat in (USER, 43, 44):
        assert receiver.texts(chat) == [f"{chat}:{i}" for i in range(5)]
    assert receiver.overlaps == 0  # never two updates of one chat at once
    assert hooked.webhook_peak_in_flight == 2  # concurrent across chats, up to max_connections


async def test_a_callback_query_belongs_to_its_message_s_chat(hooked: FakeTelegram) -> None:
    hooked.add_chats([USER])
    _, sent = await send(hooked, "pick", reply_markup={
        "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]
    })  # fmt: skip
    update_id = hooked.user_presses(USER, sent["result"]["message_id"], "a")
    assert FakeTelegram.chat_of(hooked.sent_update(update_id)) == USER


async def test_refused_and_unreachable_deliveries_are_sent_again(
    hooked: FakeTelegram, receiver: Receiver
) -> None:
    receiver.statuses = [500, 401]
    await call(hooked, "setWebhook", url=receiver.url)
    first = hooked.user_sends(USER, "one")
    second = hooked.user_sends(USER, "two")
    await hooked.wait_for(lambda f: len(f.webhook_deliveries) == 4)
    assert hooked.webhook_deliveries == [(first, 500), (first, 401), (first, 200), (second, 200)]
    assert hooked.webhook_failures == 2
    _, info = await call(hooked, "getWebhookInfo")
    assert info["result"]["last_error_message"] == (
        "Wrong response from the webhook: 401 Unauthorized"
    )

    await receiver.stop()
    third = hooked.user_sends(USER, "three")
    await hooked.wait_for(lambda f: f.webhook_failures >= 4)
    assert {d for d in hooked.webhook_deliveries[4:]} == {(third, 0)}
    _, info = await call(hooked, "getWebhookInfo")
    assert info["result"]["pending_update_count"] == 1
    assert info["result"]["last_error_message"].startswith("Connection failed")


async def test_a_webhook_that_does_not_answer_in_time_gets_the_update_again(
    receiver: Receiver,
) -> None:
    fake = FakeTelegram(webhook_timeout=0.1, webhook_retry_delay=0.01)
    await fake.start()
    try:
        receiver.delay = {USER: 0.3}
        await call(fake, "setWebhook", url=receiver.url)
        update_id = fake.user_sends(USER, "slow")
        await fake.wait_for(lambda f: len(f.webhook_deliveries) >= 2)
        assert fake.webhook_deliveries[:2] == [(update_id, 0), (update_id, 0)]
        receiver.delay = {}
        await fake.wait_for(lambda f: (update_id, 200) in f.webhook_deliveries)
    finally:
        await fake.stop()


async def test_redeliver_sends_the_same_update_twice(
    hooked: FakeTelegram, receiver: Receiver
) -> None:
    await call(hooked, "setWebhook", url=receiver.url)
    update_id = hooked.user_sends(USER, "twice")
    hooked.redeliver(update_id)
    await hooked.wait_for(lambda f: len(f.webhook_deliveries) == 2)
    assert [r[1] for r in receiver.received] == [hooked.sent_update(update_id)] * 2


async def test_delete_webhook_gives_pending_updates_back_to_get_updates(
    hooked: FakeTelegram, receiver: Receiver
) -> None:
    await receiver.stop()  # nothing answers: the update stays pending
    await call(hooked, "setWebhook", url=receiver.url)
    update_id = hooked.user_sends(USER, "kept")
    await hooked.wait_for(lambda f: f.webhook_failures >= 1)
    status, _ = await call(hooked, "deleteWebhook")
    assert status == 200
    status, body = await call(hooked, "getUpdates")
    assert status == 200
    assert [u["update_id"] for u in body["result"]] == [update_id]
    hooked.user_sends(USER, "polled")
    _, body = await call(hooked, "getUpdates")
    assert [u["message"]["text"] for u in body["result"]] == ["kept", "polled"]

    await call(hooked, "setWebhook", url=receiver.url, drop_pending_updates=True)
    _, info = await call(hooked, "getWebhookInfo")
    assert info["result"]["pending_update_count"] == 0
