"""The journeys through the real aiogram client, over HTTP, against the fake Bot API server."""

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from bot.channels.telegram import ALLOWED_UPDATES, TelegramChannel, WebhookSpec
from models import Applicant, TestSession
from tests.support.channels import channel_on_fake
from tests.support.fake_telegram import FakeTelegram
from tests.test_registration import BAD_ANSWERS

DARA = 5001
SOKHA = 5002


@pytest.fixture
async def telegram(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    """The fake server; a test may pass FakeTelegram options with indirect parametrize."""
    fake = FakeTelegram(**getattr(request, "param", {}))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(app: App, telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = channel_on_fake("aiogram", app, telegram)
    polling = asyncio.create_task(channel.run())
    await telegram.wait_for(lambda f: any(r.method == "getUpdates" for r in f.requests))
    yield channel
    await channel.stop()
    await asyncio.wait_for(polling, 10)
    await channel.close()


@pytest.fixture
async def webhook_bot(app: App, telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    """The channel in webhook mode: started, not polling; updates come through `feed`."""
    channel = channel_on_fake("aiogram", app, telegram)
    await channel.start()
    yield channel
    await channel.close()


def posted_message(update_id: int, user_id: int, text: str, language_code: str = "en") -> dict:
    """An update as Telegram would POST it to the webhook: a user's text message."""
    message = {
        "message_id": update_id,
        "date": 1790000000,
        "chat": {"id": user_id, "type": "private", "first_name": "Dara"},
        "from": {
            "id": user_id, "is_bot": False, "first_name": "Dara", "language_code": language_code,
        },
        "text": text,
    }  # fmt: skip
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


def rejected_except_not_modified(telegram: FakeTelegram) -> list:
    return [r for r in telegram.rejected if "not modified" not in r.description]


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
    assert rejected_except_not_modified(telegram) == []


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

    telegram.user_sends(DARA, "where can I buy a cheap motorbike", language_code="en")
    unknown = await telegram.next_message(DARA)
    assert "don't know" in unknown.text
    assert rejected_except_not_modified(telegram) == []


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
    assert rejected_except_not_modified(telegram) == []


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
    assert len(telegram.messages(DARA)) == 21


async def test_a_posted_update_is_answered_before_feed_returns(
    app: App,
    webhook_bot: TelegramChannel,
    telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert app.conversation.services.account.username == "applicant_test_bot"
    assert telegram.commands[("default", None)][0] == ("start", "ម៉ឺនុយមេ")
    telegram.add_chats([DARA])
    await webhook_bot.feed(posted_message(7001, DARA, "/help"))
    [reply] = telegram.messages(DARA)  # already sent: the webhook answers Telegram after this
    assert "How I can help" in reply.text
    with caplog.at_level(logging.WARNING):
        await webhook_bot.feed({"update_id": "seven", "message": []})
    assert "no update" in caplog.text
    assert len(telegram.messages(DARA)) == 1
    assert rejected_except_not_modified(telegram) == []


async def test_the_webhook_is_registered_read_back_and_deleted(
    webhook_bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    spec = WebhookSpec("https://bot.example.org/telegram", ALLOWED_UPDATES, 80)
    await webhook_bot.set_webhook(spec, "s3cret")
    assert (telegram.webhook["url"], telegram.webhook["secret_token"]) == (spec.url, "s3cret")
    assert await webhook_bot.webhook_spec() == spec
    await webhook_bot.delete_webhook()
    assert (await webhook_bot.webhook_spec()).url == ""


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_applicant_bot_run_answers_on_telegram_and_stops_cleanly(
    tmp_path: Path, telegram: FakeTelegram, framework: str, mode: str
) -> None:
    environment = {
        "PATH": "/usr/bin:/bin",
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.db",
        "BOT_FRAMEWORK": framework,
    }
    if mode == "webhook":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        environment |= {
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
            "WEBHOOK_SECRET": "run-test-secret",
            "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        env=environment, cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
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


async def answer_and_read(telegram: FakeTelegram, user_id: int, send: object, *args: object):
    """Does one user action and returns the bot's next message in that chat."""
    getattr(telegram, send)(user_id, *args)  # type: ignore[arg-type]
    return await telegram.next_message(user_id)


def data_of(message, label: str) -> str:  # type: ignore[no-untyped-def]
    """The callback data of the button whose label contains `label`."""
    for row in message.reply_markup["inline_keyboard"]:
        for button in row:
            if label in button["text"]:
                return button["callback_data"]
    raise AssertionError(f"no button {label!r} in {message.reply_markup}")


# A person types far slower than a test: the per-chat burst is raised so a whole wizard
# can run in a second without provoking flood waits that a real user would never meet.
@pytest.mark.parametrize("telegram", [{"chat_burst": 30}], indirect=True)
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
    question = await answer_and_read(telegram, DARA, "user_presses", sessions.message_id, first)
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
    [[share]] = phone.reply_markup["keyboard"]
    assert share["request_contact"] is True
    shared = await answer_and_read(telegram, DARA, "user_shares_contact", "+85512345678")
    assert shared.reply_markup == {"remove_keyboard": True}
    id_question = await telegram.next_message(DARA)
    assert "passport number" in id_question.text
    provinces = await answer_and_read(telegram, DARA, "user_sends", "N01234567")
    consent = await answer_and_read(
        telegram, DARA, "user_presses", provinces.message_id, data_of(provinces, "Kampot")
    )
    summary = await answer_and_read(
        telegram, DARA, "user_presses", consent.message_id, data_of(consent, "I agree")
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
        sender.cancel()
    assert rejected_except_not_modified(telegram) == []


async def book_through_telegram(telegram: FakeTelegram, user_id: int, session_data: str):
    """The whole wizard for one more applicant; returns the bot's last answer."""
    exams = await answer_and_read(telegram, user_id, "user_sends", "/book")
    question = await answer_and_read(
        telegram, user_id, "user_presses", exams.message_id, data_of(exams, "JFT-Basic")
    )
    await answer_and_read(telegram, user_id, "user_presses", question.message_id, session_data)
    for typed in ("Chan Sokha", "ចាន់ សុខា"):
        await answer_and_read(telegram, user_id, "user_sends", typed)
    sex = await answer_and_read(telegram, user_id, "user_sends", "2000-01-01")
    await answer_and_read(telegram, user_id, "user_presses", sex.message_id, "reg:sex:male")
    await answer_and_read(telegram, user_id, "user_sends", "097 765 4321")
    await telegram.next_message(user_id)
    provinces = await answer_and_read(telegram, user_id, "user_sends", "123456789")
    consent = await answer_and_read(
        telegram, user_id, "user_presses", provinces.message_id, "reg:prov:takeo"
    )
    summary = await answer_and_read(
        telegram, user_id, "user_presses", consent.message_id, "reg:consent:yes"
    )
    return await answer_and_read(
        telegram, user_id, "user_presses", summary.message_id, "reg:confirm"
    )


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
    latest = await answer_and_read(
        telegram, DARA, "user_presses", sessions.message_id, data_of(sessions, "Phnom Penh")
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
    assert rejected_except_not_modified(telegram) == []
