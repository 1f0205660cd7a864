"""The journeys through the real aiogram client, over HTTP, against the fake Bot API server."""

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from bot.channels.telegram_aiogram import AiogramChannel
from models import Applicant
from tests.fake_telegram import FakeTelegram

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
async def bot(app: App, telegram: FakeTelegram) -> AsyncIterator[AiogramChannel]:
    services = app.conversation.services
    channel = AiogramChannel(
        app.conversation,
        telegram.token,
        telegram.base_url,
        services.translators,
        services.default_locale,
        retry_delay=0.05,
    )
    polling = asyncio.create_task(channel.run())
    await telegram.wait_for(lambda f: any(r.method == "getUpdates" for r in f.requests))
    yield channel
    await channel.stop()
    await asyncio.wait_for(polling, 10)
    await channel.close()


def rejected_except_not_modified(telegram: FakeTelegram) -> list:
    return [r for r in telegram.rejected if "not modified" not in r.description]


async def test_start_language_and_menu(bot: AiogramChannel, telegram: FakeTelegram) -> None:
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
    bot: AiogramChannel, telegram: FakeTelegram
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
    app: App, bot: AiogramChannel, telegram: FakeTelegram
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
    bot: AiogramChannel, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
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
    bot: AiogramChannel, telegram: FakeTelegram, send: str, answer: str
) -> None:
    telegram.user_sends(DARA, "/help", language_code="en")
    await telegram.next_message(DARA)
    getattr(telegram, send)(DARA)
    reply = await telegram.next_message(DARA)
    assert answer in reply.text


async def test_location_edit_and_contact(bot: AiogramChannel, telegram: FakeTelegram) -> None:
    telegram.user_sends(DARA, "/help", language_code="en")
    await telegram.next_message(DARA)
    telegram.user_sends_location(DARA, 11.55, 104.92)
    assert "I can only read text" in (await telegram.next_message(DARA)).text
    telegram.user_edits(DARA, 1, "passport fee")
    assert "new messages" in (await telegram.next_message(DARA)).text
    telegram.user_shares_contact(DARA, "+85512345678")
    assert "phone number" in (await telegram.next_message(DARA)).text


async def test_group_chats_are_ignored(bot: AiogramChannel, telegram: FakeTelegram) -> None:
    telegram.user_sends(DARA, "hello bot", chat_type="group", chat_id=-100123)
    telegram.user_sends(SOKHA, "/help", language_code="en")
    await telegram.next_message(SOKHA)
    assert telegram.messages(-100123) == []


async def test_forged_button_data_is_refused_politely(
    bot: AiogramChannel, telegram: FakeTelegram
) -> None:
    telegram.user_sends(DARA, "/faq", language_code="en")
    topics = await telegram.next_message(DARA)
    telegram.user_presses(DARA, topics.message_id, "faq:q:../../etc/passwd")
    await telegram.wait_for(lambda f: any(r.method == "answerCallbackQuery" for r in f.requests))
    [answer] = [r for r in telegram.requests if r.method == "answerCallbackQuery"]
    assert "out of date" in answer.params["text"]
    assert telegram.messages(DARA)[0].text == topics.text


async def test_a_blocked_applicant_is_marked_unreachable(
    app: App, bot: AiogramChannel, telegram: FakeTelegram
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
    bot: AiogramChannel, telegram: FakeTelegram
) -> None:
    telegram.force_retry_after(1)
    telegram.user_sends(DARA, "/help", language_code="en")
    reply = await telegram.next_message(DARA, timeout=5)
    assert "How I can help" in reply.text
    assert [r.status for r in telegram.requests if r.method == "sendMessage"] == [429, 200]


async def test_server_errors_are_retried(bot: AiogramChannel, telegram: FakeTelegram) -> None:
    telegram.fail_next(500, times=2)
    telegram.user_sends(DARA, "/help", language_code="en")
    reply = await telegram.next_message(DARA, timeout=5)
    assert "How I can help" in reply.text


async def test_a_duplicated_update_is_answered_once(
    bot: AiogramChannel, telegram: FakeTelegram
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
    bot: AiogramChannel, telegram: FakeTelegram
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


async def test_applicant_bot_run_answers_on_telegram_and_stops_cleanly(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    environment = {
        "PATH": "/usr/bin:/bin",
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.db",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        env=environment, cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        telegram.user_sends(DARA, "/start", language_code="ja")
        welcome = await telegram.next_message(DARA, timeout=30)
        assert "ようこそ" in welcome.text
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
