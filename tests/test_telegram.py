"""The journeys through the real aiogram and python-telegram-bot clients, over HTTP, against
the fake Bot API server: each test that takes `bot` or `webhook_bot` runs on both."""

import asyncio
import contextlib
import logging
import random
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import suppress
from io import BytesIO
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlmodel import select

from bot.app import App
from bot.channels.telegram import ALLOWED_UPDATES, TelegramChannel, WebhookSpec
from bot.channels.telegram_ptb import PtbApi
from bot.delivery import OutboxSender, Outcome
from bot.pacing import SendPacer
from handlers.core.conversation import FloodGuard
from handlers.core.events import EditText, SendFile, SendText
from models import Applicant, TestSession
from models.staff import Role, add_staff
from tests.support.app import start_app
from tests.support.channels import Finished, channel_on_fake
from tests.support.fake_telegram import FakeTelegram
from tests.support.registration import BAD_ANSWERS
from tests.support.telegram import (
    answer_and_read,
    book_through_telegram,
    data_of,
    posted_message,
)

DARA = 5001
SOKHA = 5002


@pytest.fixture
async def telegram(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    """The fake server; a test may pass FakeTelegram options with indirect parametrize."""
    fake = FakeTelegram(**getattr(request, "param", {}))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(params=["aiogram", "ptb"])
def framework(request: pytest.FixtureRequest) -> str:
    """The library the channel runs on."""
    return str(request.param)


@pytest.fixture
async def bot(app: App, telegram: FakeTelegram, framework: str) -> AsyncIterator[TelegramChannel]:
    """The channel, long polling the fake server, paced per chat as the server allows."""
    pacer = SendPacer(chat_rate=telegram.chat_rate, chat_burst=telegram.chat_burst)
    channel = channel_on_fake(framework, app, telegram, pacer=pacer)
    polling = asyncio.create_task(channel.run())
    await telegram.wait_for(lambda f: any(r.method == "getUpdates" for r in f.requests))
    yield channel
    await channel.stop()
    await asyncio.wait_for(polling, 10)
    await channel.close()


@pytest.fixture
async def webhook_bot(
    app: App, telegram: FakeTelegram, framework: str
) -> AsyncIterator[TelegramChannel]:
    """The channel in webhook mode: started, not polling; updates come through `feed`."""
    channel = channel_on_fake(framework, app, telegram)
    await channel.start()
    yield channel
    await channel.close()


@pytest.mark.parametrize("telegram", [{"long_poll_cap": 8}], indirect=True)
@pytest.mark.parametrize("framework", ["ptb"])
async def test_polling_stops_cleanly_while_telegram_holds_a_long_poll(
    app: App, telegram: FakeTelegram, framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    channel = channel_on_fake(framework, app, telegram)
    polling = asyncio.create_task(channel.run())
    await telegram.wait_for(lambda f: any(r.method == "getUpdates" for r in f.requests))
    with caplog.at_level(logging.WARNING):
        await channel.stop()  # PTB marks what it fetched as read with one more getUpdates
        await asyncio.wait_for(polling, 30)
        await channel.close()
    # Before: "Error while calling `get_updates` one more time…", with a traceback.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_start_language_and_menu(bot: TelegramChannel, telegram: FakeTelegram) -> None:
    telegram.user_sends(DARA, "/start", language_code="en")
    welcome = await telegram.next_message(DARA)
    assert welcome.text.startswith("👋 Welcome!")
    labels = [b["text"] for row in welcome.reply_markup["inline_keyboard"] for b in row]
    assert labels == ["ភាសាខ្មែរ", "English", "日本語"]

    telegram.user_presses(DARA, welcome.message_id, "lang:set:km")
    menu = await telegram.next_message(DARA)
    assert menu.message_id == welcome.message_id  # edited in place
    assert menu.text.startswith("ម៉ឺនុយមេ")
    answers = [r for r in telegram.requests if r.method == "answerCallbackQuery"]
    assert answers[-1].params.get("text") == "ភាសា៖ ខ្មែរ"
    assert telegram.rejected == []


async def test_command_menus_are_set_per_language(
    bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    await telegram.wait_for(lambda f: len(f.commands) >= 4)
    by_language = {
        language: commands for (_scope, language), commands in telegram.commands.items()
    }
    assert by_language["km"][0] == ("start", "ម៉ឺនុយមេ")
    assert by_language["ja"][0] == ("start", "メインメニュー")
    assert by_language["en"][0] == ("start", "Main menu")
    assert by_language[None] == by_language["km"]  # Khmer for everyone else


async def test_browsing_the_faq_and_asking(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.user_sends(DARA, "/faq", language_code="en")
    topics = await telegram.next_message(DARA)
    assert "Choose a topic" in topics.text
    telegram.user_presses(DARA, topics.message_id, "faq:cat:fees")
    fees = await telegram.next_message(DARA)
    assert fees.message_id == topics.message_id
    telegram.user_presses(DARA, topics.message_id, "faq:q:no-deposit")
    answer = await telegram.next_message(DARA)
    entry = app.conversation.services.faq.entries["no-deposit"]
    assert answer.text.startswith(entry.question["en"])

    telegram.user_sends(DARA, "jft basic pass score", language_code="en")
    typed = await telegram.next_message(DARA)
    assert typed.message_id != topics.message_id
    assert typed.text.startswith(app.conversation.services.faq.entries["jft-score"].question["en"])

    telegram.user_sends(DARA, "how do I cook fish amok for my grandmother", language_code="en")
    unknown = await telegram.next_message(DARA)
    assert "don't know" in unknown.text
    assert telegram.rejected == []


async def test_pressing_the_same_button_twice_is_harmless(
    bot: TelegramChannel, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    telegram.user_sends(DARA, "/faq", language_code="en")
    topics = await telegram.next_message(DARA)
    with caplog.at_level(logging.WARNING):
        telegram.user_presses(DARA, topics.message_id, "faq:home")
        telegram.user_presses(DARA, topics.message_id, "faq:home")
        await telegram.wait_for(
            lambda f: sum(r.method == "answerCallbackQuery" for r in f.requests) == 2
        )
        await asyncio.sleep(0.2)
    assert [r.levelname for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert telegram.rejected == []


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_staff_see_their_own_commands_in_the_menu_and_in_help(
    request: pytest.FixtureRequest, tmp_path: Path, telegram: FakeTelegram, framework: str
) -> None:
    owner, operator, newcomer = 900, 901, 902
    app = await start_app(request, tmp_path, "sqlite", admin_ids=[owner])
    async with app.conversation.sessions() as db, db.begin():
        await add_staff(db, operator, Role.OPERATOR, "test")
    channel = channel_on_fake(framework, app, telegram)
    polling = asyncio.create_task(channel.run())
    try:
        await telegram.wait_for(lambda f: ("chat:901", None) in f.commands)
        owners_menu = [name for name, _ in telegram.commands[("chat:900", None)]]
        operators_menu = [name for name, _ in telegram.commands[("chat:901", None)]]
        assert owners_menu[0] == "start"  # everyone's commands first
        assert {"checkin", "broadcast", "export", "staff"} <= set(owners_menu)
        assert "checkin" in operators_menu
        assert not {"broadcast", "export", "staff"} & set(operators_menu)

        telegram.user_sends(operator, "/help")
        help_text = (await telegram.next_message(operator)).text
        assert "/checkin" in help_text.split("Staff commands")[1]
        assert "/broadcast" not in help_text
        telegram.user_sends(DARA, "/help")
        assert "Staff commands" not in (await telegram.next_message(DARA)).text

        telegram.user_sends(owner, f"/staff add {newcomer} admin")
        await telegram.next_message(owner)
        await telegram.wait_for(lambda f: ("chat:902", None) in f.commands)
        newcomers_menu = {name for name, _ in telegram.commands[("chat:902", None)]}
        assert {"broadcast", "export"} <= newcomers_menu
        assert "staff" not in newcomers_menu
        telegram.user_sends(owner, f"/staff remove {newcomer}")
        await telegram.next_message(owner)
        await telegram.wait_for(lambda f: ("chat:902", None) not in f.commands)
        assert telegram.rejected == []
    finally:
        await channel.stop()
        await asyncio.wait_for(polling, 10)
        await channel.close()
        await app.close()


@pytest.mark.parametrize("framework", ["aiogram"])
async def test_staff_changed_on_the_command_line_get_their_menu_from_the_running_bot(
    request: pytest.FixtureRequest, tmp_path: Path, telegram: FakeTelegram, framework: str
) -> None:
    """`applicant-bot staff add/remove` runs in another process: the running bot sets the
    person's menu through the outbox, without a restart."""
    newcomer = 903
    app = await start_app(request, tmp_path, "sqlite")
    channel = channel_on_fake(framework, app, telegram)
    polling = asyncio.create_task(channel.run())
    sender = asyncio.create_task(
        OutboxSender(
            app.conversation.sessions, channel.send_one, channel.pacer, idle_interval=0.05
        ).run()
    )

    def staff_cli(*args: str) -> None:
        url = str(app.settings.database_url)
        done = subprocess.run(
            [sys.executable, "-m", "bot", "staff", *args],
            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": url},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    try:
        await telegram.wait_for(lambda f: bool(f.commands))  # the bot has started
        assert ("chat:903", None) not in telegram.commands
        await asyncio.to_thread(staff_cli, "add", str(newcomer), "--role", "admin")
        await telegram.wait_for(lambda f: ("chat:903", None) in f.commands, timeout=20)
        menu = {name for name, _ in telegram.commands[("chat:903", None)]}
        assert {"checkin", "broadcast", "export"} <= menu
        await asyncio.to_thread(staff_cli, "remove", str(newcomer))
        await telegram.wait_for(lambda f: ("chat:903", None) not in f.commands, timeout=20)
        assert telegram.rejected == []
    finally:
        sender.cancel()
        with suppress(asyncio.CancelledError):
            await sender
        await channel.stop()
        await asyncio.wait_for(polling, 10)
        await channel.close()
        await app.close()


FAST = {"global_rate": 1000, "chat_rate": 1000, "chat_burst": 1000}
TYPED = ("/start", "/faq", "/book", "/mybookings", "/settings", "/help", "/menu", "what is jft")


@pytest.mark.parametrize("telegram", [FAST], indirect=True)
@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_random_presses_never_send_an_edit_that_changes_nothing(
    app: App, telegram: FakeTelegram, framework: str
) -> None:
    """Presses of buttons on screen (old ones too) and typing, at random, and now and then
    a double tap (both presses carry the screen from before the first one's edit): not one
    request Telegram refuses, "message is not modified" included."""
    channel = channel_on_fake(
        framework, app, telegram, pacer=SendPacer(rate=1000, chat_rate=1000, chat_burst=1000)
    )
    app.conversation.flood_guard = FloodGuard(limit=10_000)  # a test taps faster than anyone
    finished = Finished()
    polling = asyncio.create_task(channel.run())
    chance = random.Random(20261204)
    double_taps = 0
    try:
        with finished.recording(app):
            for _ in range(500):
                on_screen = [m for m in telegram.messages(DARA) if m.reply_markup][-4:]
                buttons = [
                    (message.message_id, button["callback_data"])
                    for message in on_screen
                    for row in message.reply_markup.get("inline_keyboard", [])
                    for button in row
                    if "callback_data" in button
                ]
                if buttons and chance.random() < 0.8:
                    pressed = chance.choice(buttons)
                    taps = 2 if chance.random() < 0.2 else 1
                    double_taps += taps - 1
                    sent = [telegram.user_presses(DARA, *pressed) for _ in range(taps)]
                else:
                    sent = [telegram.user_sends(DARA, chance.choice(TYPED))]
                await finished.wait(lambda sent=sent: finished.ids.issuperset(sent), "an action")
    finally:
        await channel.stop()
        await asyncio.wait_for(polling, 10)
        await channel.close()
    assert double_taps > 50
    edits = [r for r in telegram.requests if r.method.startswith("edit")]
    assert len(edits) > 100  # the walk went through screens that edit in place
    assert [(r.method, r.description) for r in telegram.rejected] == []


@pytest.mark.parametrize(
    ("send", "answer"),
    [
        ("user_sends_sticker", "I can only read text"),
        ("user_sends_photo", "I can only read text"),
        ("user_sends_voice", "voice messages"),
    ],
)
async def test_what_the_bot_cannot_read(
    bot: TelegramChannel, telegram: FakeTelegram, send: str, answer: str
) -> None:
    telegram.user_sends(DARA, "/help", language_code="en")
    await telegram.next_message(DARA)
    getattr(telegram, send)(DARA)
    reply = await telegram.next_message(DARA)
    assert answer in reply.text


async def test_location_edit_and_contact(bot: TelegramChannel, telegram: FakeTelegram) -> None:
    telegram.user_sends(DARA, "/help", language_code="en")
    await telegram.next_message(DARA)
    telegram.user_sends_location(DARA, 11.55, 104.92)
    assert "I can only read text" in (await telegram.next_message(DARA)).text
    telegram.user_edits(DARA, 1, "passport fee")
    assert "new messages" in (await telegram.next_message(DARA)).text
    telegram.user_shares_contact(DARA, "+85512345678")
    assert "phone number" in (await telegram.next_message(DARA)).text


async def test_group_chats_are_ignored(bot: TelegramChannel, telegram: FakeTelegram) -> None:
    telegram.user_sends(DARA, "hello bot", chat_type="group", chat_id=-100123)
    telegram.user_sends(SOKHA, "/help", language_code="en")
    await telegram.next_message(SOKHA)
    assert telegram.messages(-100123) == []


async def test_forged_button_data_is_refused_politely(
    bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.user_sends(DARA, "/faq", language_code="en")
    topics = await telegram.next_message(DARA)
    telegram.user_presses(DARA, topics.message_id, "faq:q:../../etc/passwd")
    await telegram.wait_for(lambda f: any(r.method == "answerCallbackQuery" for r in f.requests))
    [answer] = [r for r in telegram.requests if r.method == "answerCallbackQuery"]
    assert "out of date" in answer.params["text"]
    assert telegram.messages(DARA)[0].text == topics.text


async def test_a_blocked_applicant_is_marked_unreachable(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.user_sends(DARA, "/help", language_code="en")
    await telegram.next_message(DARA)
    telegram.block(DARA)
    telegram.user_sends(DARA, "passport fee", language_code="en")
    await telegram.wait_for(lambda f: any(r.status == 403 for r in f.requests))

    async def unreachable() -> bool:
        async with app.conversation.sessions() as db:
            row = (await db.exec(select(Applicant).where(Applicant.telegram_id == DARA))).one()
            return not row.reachable

    for _ in range(50):
        if await unreachable():
            break
        await asyncio.sleep(0.05)
    assert await unreachable()


async def test_flood_control_from_telegram_is_waited_out(
    bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.force_retry_after(1)
    telegram.user_sends(DARA, "/help", language_code="en")
    reply = await telegram.next_message(DARA, timeout=5)
    assert "How I can help" in reply.text
    assert [r.status for r in telegram.requests if r.method == "sendMessage"] == [429, 200]


async def test_server_errors_are_retried(bot: TelegramChannel, telegram: FakeTelegram) -> None:
    telegram.fail_next(500, times=2)
    telegram.user_sends(DARA, "/help", language_code="en")
    reply = await telegram.next_message(DARA, timeout=5)
    assert "How I can help" in reply.text


async def test_a_duplicated_update_is_answered_once(
    bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    update_id = telegram.user_sends(DARA, "/help", language_code="en")
    await telegram.next_message(DARA)
    telegram.push_update(
        {
            "update_id": update_id,
            "message": {
                "message_id": 900,
                "date": 1790000000,
                "chat": {"id": DARA, "type": "private"},
                "from": {"id": DARA, "is_bot": False, "first_name": "Dara", "language_code": "en"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
    )
    telegram.user_sends(DARA, "/faq", language_code="en")
    nxt = await telegram.next_message(DARA)
    assert "Choose a topic" in nxt.text
    assert len(telegram.messages(DARA)) == 2


# Telegram's own per-chat limit would make the bot wait ~20 s for the flooder's replies.
@pytest.mark.parametrize("telegram", [{"chat_burst": 30}], indirect=True)
async def test_a_flooding_user_is_slowed_down_and_others_still_served(
    bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    for i in range(25):
        telegram.user_sends(DARA, f"passport {i}", language_code="en")
    telegram.user_sends(SOKHA, "/help", language_code="en")
    reply = await telegram.next_message(SOKHA, timeout=10)
    assert "How I can help" in reply.text
    await telegram.wait_for(
        lambda f: any("very fast" in m.text for m in f.messages(DARA)), timeout=30
    )
    slow_downs = [m for m in telegram.messages(DARA) if "very fast" in m.text]
    assert len(slow_downs) == 1
    assert len(telegram.messages(DARA)) == 22  # 20 answers, the welcome after the first, 1 warning


async def test_a_posted_update_is_answered_before_feed_returns(
    app: App,
    webhook_bot: TelegramChannel,
    telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert app.account.username == "applicant_test_bot"
    assert telegram.commands[("default", None)][0] == ("start", "ម៉ឺនុយមេ")
    telegram.add_chats([DARA])
    await webhook_bot.feed(posted_message(7001, DARA, "/help"))
    [reply] = telegram.messages(DARA)  # already sent: the webhook answers Telegram after this
    assert "How I can help" in reply.text
    with caplog.at_level(logging.WARNING):
        await webhook_bot.feed({"update_id": "seven", "message": []})
    assert "no update" in caplog.text
    assert len(telegram.messages(DARA)) == 1
    assert telegram.rejected == []


async def test_the_webhook_is_registered_read_back_and_deleted(
    webhook_bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    spec = WebhookSpec("https://bot.example.org/telegram", ALLOWED_UPDATES, 80)
    await webhook_bot.set_webhook(spec, "s3cret")
    assert (telegram.webhook["url"], telegram.webhook["secret_token"]) == (spec.url, "s3cret")
    assert await webhook_bot.webhook_spec() == spec
    await webhook_bot.delete_webhook()
    assert (await webhook_bot.webhook_spec()).url == ""


def run_environment(tmp_path: Path, telegram: FakeTelegram, framework: str) -> dict[str, str]:
    """What `applicant-bot run` needs to poll the fake server with a fresh SQLite file."""
    return {
        "PATH": "/usr/bin:/bin",
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.db",
        "BOT_FRAMEWORK": framework,
    }


async def start_bot_run(tmp_path: Path, environment: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        env=environment, cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_applicant_bot_run_answers_on_telegram_and_stops_cleanly(
    tmp_path: Path, telegram: FakeTelegram, framework: str, mode: str
) -> None:
    environment = run_environment(tmp_path, telegram, framework)
    if mode == "webhook":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        environment |= {
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
            "WEBHOOK_SECRET": "run-test-secret-of-32-characters",
            "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        }
    process = await start_bot_run(tmp_path, environment)
    try:
        if mode == "webhook":
            await telegram.wait_for(lambda f: bool(f.webhook["url"]), timeout=30)
        telegram.user_sends(DARA, "/start", language_code="ja")
        welcome = await telegram.next_message(DARA, timeout=30)
        assert "ようこそ" in welcome.text
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_the_bot_waits_for_getme_before_answering_anyone(
    tmp_path: Path, telegram: FakeTelegram, framework: str
) -> None:
    telegram.me_unavailable = 2  # Telegram's side answers 502 twice, then comes back
    telegram.user_sends(DARA, "/start", language_code="en")  # sent while the bot cannot start
    process = await start_bot_run(tmp_path, run_environment(tmp_path, telegram, framework))
    try:
        welcome = await telegram.next_message(DARA, timeout=30)
        assert "Welcome" in welcome.text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert log.count("Telegram did not answer getMe") == 2, log
    assert "Traceback" not in log
    first_poll = next(i for i, r in enumerate(telegram.requests) if r.method == "getUpdates")
    get_mes = [i for i, r in enumerate(telegram.requests) if r.method == "getMe"]
    assert len(get_mes) >= 3
    assert get_mes[2] < first_poll  # nothing read before it knew itself


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
@pytest.mark.parametrize("fault", ["getMe without is_bot", "a wrong token"])
async def test_a_bot_api_server_that_cannot_say_who_the_bot_is_ends_start_up_in_one_line(
    tmp_path: Path, telegram: FakeTelegram, framework: str, fault: str
) -> None:
    environment = run_environment(tmp_path, telegram, framework)
    if fault == "getMe without is_bot":  # as a third-party test server answered
        del telegram.me["is_bot"]
    else:
        environment["BOT_TOKEN"] = "654321:NOT-THIS-BOTS-TOKEN"
    process = await start_bot_run(tmp_path, environment)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    *log, line = stderr.decode().splitlines()
    assert process.returncode == 2
    assert not [entry for entry in log if " ERROR " in entry or "Traceback" in entry]
    assert line.startswith(f"Cannot start: the Bot API server at {telegram.base_url}")
    assert ("is_bot" if fault == "getMe without is_bot" else "refused getMe") in line
    assert not [r for r in telegram.requests if r.method == "getUpdates"]


# A person types far slower than a test: the per-chat limit is raised (on the server and
# in the bot's pacer alike) so a whole wizard runs in a second, without the flood waits a
# real user never meets; the per-chat limit has tests of its own.
@pytest.mark.parametrize("telegram", [{"chat_rate": 1000, "chat_burst": 1000}], indirect=True)
async def test_booking_a_seat_through_telegram(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    from bot.delivery import OutboxSender
    from bot.demo import seed_demo
    from models import Registration

    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone)
    exams = await answer_and_read(telegram, DARA, "user_sends", "/book")
    sessions = await answer_and_read(
        telegram, DARA, "user_presses", exams.message_id, data_of(exams, "JFT-Basic")
    )
    assert sessions.message_id == exams.message_id
    first = data_of(sessions, "Phnom Penh")
    chosen = await answer_and_read(telegram, DARA, "user_presses", sessions.message_id, first)
    assert "Phnom Penh (demo address)" in chosen.text  # the list, edited: the venue in full
    consent = await telegram.next_message(DARA)
    question = await answer_and_read(
        telegram, DARA, "user_presses", consent.message_id, data_of(consent, "I agree")
    )
    assert "Step 1 of 7" in question.text
    refused = await answer_and_read(telegram, DARA, "user_sends", "<b>Сок</b>")
    assert "Latin letters" in refused.text
    await answer_and_read(telegram, DARA, "user_sends", "Sok Dara")
    khmer = await answer_and_read(telegram, DARA, "user_sends", "សុខ ដារា")
    assert "date of birth" in khmer.text
    sex = await answer_and_read(telegram, DARA, "user_sends", "15.03.2001")
    phone = await answer_and_read(
        telegram, DARA, "user_presses", sex.message_id, data_of(sex, "Female")
    )
    [share], [back, stop] = phone.reply_markup["keyboard"]
    assert share["request_contact"] is True
    assert (back["text"], stop["text"]) == ("⬅️ Back", "✖ Stop registering")
    shared = await answer_and_read(telegram, DARA, "user_shares_contact", "+85512345678")
    assert shared.reply_markup == {"remove_keyboard": True}
    id_question = await telegram.next_message(DARA)
    assert "passport number" in id_question.text
    provinces = await answer_and_read(telegram, DARA, "user_sends", "N01234567")
    summary = await answer_and_read(
        telegram, DARA, "user_presses", provinces.message_id, data_of(provinces, "Kampot")
    )
    assert "SOK DARA" in summary.text
    done = await answer_and_read(
        telegram, DARA, "user_presses", summary.message_id, data_of(summary, "Confirm")
    )
    assert "You are registered!" in done.text
    venue = await telegram.next_message(DARA)
    assert venue.kind == "venue"
    assert venue.payload["title"] == "Phnom Penh test centre (demo)"
    ticket, calendar = await telegram.next_message(DARA), await telegram.next_message(DARA)
    assert (ticket.kind, calendar.kind) == ("photo", "document")
    [qr_code] = zxingcpp.read_barcodes(Image.open(BytesIO(ticket.payload["photo"]["data"])))
    assert qr_code.text.startswith("https://t.me/applicant_test_bot?start=ticket_")  # getMe's

    # A seat Dara gives up is offered to Sokha, first in line, through the outbox.
    async with app.conversation.sessions() as db, db.begin():
        [registration] = (await db.exec(select(Registration))).all()
        session = await db.get(TestSession, registration.session_id)
        session.capacity = 1
        db.add(session)
    sokha_done = await book_through_telegram(telegram, SOKHA, first)
    assert "waitlist" in sokha_done.text
    await telegram.next_message(SOKHA)  # the venue pin
    sender = asyncio.create_task(
        OutboxSender(app.conversation.sessions, bot.send_one, bot.pacer, idle_interval=0.05).run()
    )
    try:
        mine = await answer_and_read(telegram, DARA, "user_sends", "/mybookings")
        ask = await answer_and_read(
            telegram, DARA, "user_presses", mine.message_id, data_of(mine, "Cancel")
        )
        await answer_and_read(
            telegram, DARA, "user_presses", ask.message_id, data_of(ask, "Yes, cancel")
        )
        offer = await telegram.next_message(SOKHA)
        assert "A seat has become free for you" in offer.text
        accepted = await answer_and_read(
            telegram, SOKHA, "user_presses", offer.message_id, data_of(offer, "Accept")
        )
        assert "You are registered!" in accepted.text
        kinds = [(await telegram.next_message(SOKHA)).kind for _ in range(3)]
        assert kinds == ["venue", "photo", "document"]
    finally:
        # Waited for: a cancelled sender still records its last outcome, and must do it
        # before the app's database closes under it.
        sender.cancel()
        with suppress(asyncio.CancelledError):
            await sender
    assert telegram.rejected == []


@pytest.mark.parametrize("telegram", [{"chat_burst": 30}], indirect=True)
@pytest.mark.parametrize(("answers_before", "bad", "explanation"), BAD_ANSWERS)
async def test_each_wrong_answer_through_telegram(
    app: App,
    bot: TelegramChannel,
    telegram: FakeTelegram,
    answers_before: list[str],
    bad: str,
    explanation: str,
) -> None:
    from bot.demo import seed_demo
    from models import ConversationState

    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone)
    exams = await answer_and_read(telegram, DARA, "user_sends", "/book")
    sessions = await answer_and_read(
        telegram, DARA, "user_presses", exams.message_id, data_of(exams, "JFT-Basic")
    )
    await answer_and_read(  # the list, edited: the venue in full
        telegram, DARA, "user_presses", sessions.message_id, data_of(sessions, "Phnom Penh")
    )
    consent = await telegram.next_message(DARA)
    latest = await answer_and_read(
        telegram, DARA, "user_presses", consent.message_id, data_of(consent, "I agree")
    )
    for answer in answers_before:
        if answer in ("-", "Female"):
            button = data_of(latest, "Skip" if answer == "-" else "Female")
            latest = await answer_and_read(
                telegram, DARA, "user_presses", latest.message_id, button
            )
        else:
            latest = await answer_and_read(telegram, DARA, "user_sends", answer)
        if latest.reply_markup == {"remove_keyboard": True}:  # "✅ Phone: ...", then a question
            latest = await telegram.next_message(DARA)
    async with app.conversation.sessions() as db:
        [before] = (await db.exec(select(ConversationState))).all()
    reply = await answer_and_read(telegram, DARA, "user_sends", bad)
    assert explanation in reply.text
    async with app.conversation.sessions() as db:
        [after] = (await db.exec(select(ConversationState))).all()
    assert (after.step, after.data) == (before.step, before.data)
    assert telegram.rejected == []


async def test_one_users_burst_is_answered_in_order_while_another_is_served(
    bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    commands = ["/help", "/faq", "/language", "/help", "/faq"]
    for command in commands:
        telegram.user_sends(DARA, command, language_code="en")
    telegram.user_sends(SOKHA, "/help", language_code="en")
    assert "How I can help" in (await telegram.next_message(SOKHA, timeout=10)).text
    replies = [await telegram.next_message(DARA, timeout=10) for _ in commands]
    kinds = [
        "help" if "How I can help" in r.text else "faq" if "Choose a topic" in r.text else "lang"
        for r in replies
    ]
    assert kinds == ["help", "faq", "lang", "help", "faq"]
    assert telegram.rejected == []


async def test_send_one_reports_each_outcome_to_the_outbox_sender(
    app: App, webhook_bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.add_chats([DARA, SOKHA])
    sent = await webhook_bot.send_one(DARA, SendText("<b>Reminder</b>: your test is tomorrow"))
    [message] = telegram.messages(DARA)
    assert (sent.outcome, sent.message_id) == (Outcome.SENT, message.message_id)
    assert message.text == "Reminder: your test is tomorrow"  # sent as HTML

    ticket = SendFile("ticket.png", b"\x89PNG fake", caption="<i>ticket</i>", photo=True)
    assert (await webhook_bot.send_one(DARA, ticket)).outcome is Outcome.SENT
    photo = telegram.messages(DARA)[-1]
    assert (photo.kind, photo.text, telegram.upload(photo)) == ("photo", "ticket", b"\x89PNG fake")

    edit = EditText(message.message_id, "Reminder: <b>moved</b>")
    assert (await webhook_bot.send_one(DARA, edit)).outcome is Outcome.SENT
    assert telegram.messages(DARA)[0].text == "Reminder: moved"

    telegram.force_retry_after(3)
    flood = await webhook_bot.send_one(DARA, SendText("again"))
    assert (flood.outcome, flood.retry_after) == (Outcome.RETRY_AFTER, 3.0)
    telegram.fail_next(502)
    assert (await webhook_bot.send_one(DARA, SendText("again"))).outcome is Outcome.TRANSIENT
    assert (await webhook_bot.send_one(DARA, SendText("<b>broken"))).outcome is Outcome.REFUSED
    assert (await webhook_bot.send_one(999_999, SendText("hi"))).outcome is Outcome.CHAT_GONE
    telegram.block(SOKHA)
    assert (await webhook_bot.send_one(SOKHA, SendText("hi"))).outcome is Outcome.BLOCKED
    assert len(telegram.messages(DARA)) == 2


@pytest.mark.parametrize("framework", ["ptb"])  # PTB's own pool of connections
async def test_a_poll_cancelled_at_any_point_leaves_the_poller_a_connection(
    webhook_bot: TelegramChannel,
) -> None:
    """Stopping cancels the long poll, then PTB asks getUpdates once more to confirm the
    last update. httpcore 1.0.9 keeps the slot of a request cancelled while it connects
    (encode/httpcore#1093): with one connection, that last call waited forever."""
    api = webhook_bot.api
    assert isinstance(api, PtbApi)
    for yields in range(12):  # every point at which the poll can be cancelled
        poll = asyncio.create_task(api.bot.get_updates(timeout=0))
        for _ in range(yields):
            await asyncio.sleep(0)
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll
        assert await asyncio.wait_for(api.bot.get_updates(timeout=0), 5) == ()


async def test_send_one_to_an_unreachable_server_is_transient(
    app: App, telegram: FakeTelegram, framework: str
) -> None:
    channel = channel_on_fake(framework, app, telegram, "http://127.0.0.1:9")  # nothing listens
    try:
        delivery = await channel.send_one(DARA, SendText("hi"))
    finally:
        await channel.close()
    assert delivery.outcome is Outcome.TRANSIENT


async def test_a_reply_retries_through_network_errors(
    app: App, telegram: FakeTelegram, framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    channel = channel_on_fake(framework, app, telegram, "http://127.0.0.1:9")
    try:
        with caplog.at_level(logging.WARNING):
            await channel.feed(posted_message(7001, DARA, "/help"))
    finally:
        await channel.close()
    failures = [r for r in caplog.records if "Telegram call failed" in r.getMessage()]
    assert len(failures) == 5  # MAX_ATTEMPTS, with backoff, then given up without a traceback
    assert "abandoned" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_button_under_an_inline_mode_message_is_just_answered(
    webhook_bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    before = len(telegram.requests)
    await webhook_bot.feed(
        {
            "update_id": 7001,
            "callback_query": {
                "id": "inline-1",
                "from": {"id": DARA, "is_bot": False, "first_name": "Dara"},
                "chat_instance": "1",
                "inline_message_id": "AAA",
                "data": "faq:home",
            },
        }
    )
    [answer] = telegram.requests[before:]  # the fake refuses the made-up query id: fine
    assert (answer.method, answer.params["callback_query_id"]) == (
        "answerCallbackQuery",
        "inline-1",
    )
