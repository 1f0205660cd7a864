"""Staff tools end to end: the real aiogram client, the outbox sender, the fake Bot API server."""

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import insert
from sqlmodel import select

from bot.app import App, build_app
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_aiogram import AiogramApi
from bot.delivery import OutboxSender
from bot.pacing import SendPacer
from bot.scheduler import in_transaction
from handlers.staff.broadcast import report_progress
from models import Applicant, Broadcast
from tests.support.app import settings_for_test
from tests.support.clock import RunningClock, local
from tests.support.fake_telegram import ChatMessage, FakeTelegram
from tests.support.telegram import answer_and_read, book_through_telegram, data_of

OWNER, STAFF_GROUP, DARA = 900, -100777, 5001
CROWD = 2_000
LANGUAGES = ("km", "en", "ja")
TEXTS = {"km": "សេចក្តីជូនដំណឹង", "en": "Notice for applicants", "ja": "受験者へのお知らせ"}


@pytest.fixture
def clock() -> RunningClock:
    return RunningClock(local(2027, 10, 1, 10).astimezone(UTC))  # daytime in Phnom Penh


@pytest.fixture
async def app(tmp_path: Path, clock: RunningClock) -> AsyncIterator[App]:
    settings = settings_for_test(tmp_path, admin_ids=[OWNER], staff_chat_id=STAFF_GROUP)
    app = build_app(settings, now=clock)
    await app.prepare_database()
    yield app
    await app.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    # Fast enough that 2,000 messages take seconds; the sender keeps to the same limits.
    fake = FakeTelegram(global_rate=1000, chat_burst=20)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(
    app: App, telegram: FakeTelegram, clock: RunningClock
) -> AsyncIterator[TelegramChannel]:
    """The channel, its outbox sender and the progress job, as `applicant-bot run` wires them."""
    services = app.conversation.services
    # 300 a second: 2,000 messages take about 7 s, so an applicant's question in the middle
    # shows whether replies wait behind the broadcast, even on a loaded machine.
    pacer = SendPacer(rate=300, chat_burst=20)
    channel = TelegramChannel(
        AiogramApi(telegram.token, telegram.base_url),
        app.conversation,
        retry_delay=0.05,
        pacer=pacer,
    )
    sender = OutboxSender(
        app.conversation.sessions, channel.send_one, pacer, clock=clock, idle_interval=0.05
    )
    progress = in_transaction(app.conversation.sessions, services, report_progress)

    async def report_every_half_second() -> None:
        while True:
            await progress()
            await asyncio.sleep(0.5)

    tasks = [
        asyncio.create_task(channel.run()),
        asyncio.create_task(sender.run()),
        asyncio.create_task(report_every_half_second()),
    ]
    await telegram.wait_for(lambda f: any(r.method == "getUpdates" for r in f.requests))
    yield channel
    for task in tasks[1:]:
        task.cancel()
    # Waited for: a cancelled sender still records its last outcome, before the app closes.
    await asyncio.gather(*tasks[1:], return_exceptions=True)
    await channel.stop()
    await asyncio.wait_for(tasks[0], 10)
    await channel.close()


async def crowd(app: App, telegram: FakeTelegram, count: int) -> dict[int, str]:
    """`count` applicants who chose a language, a third each; returns chat -> language."""
    now = datetime.now(UTC)
    chats = {30_000 + i: LANGUAGES[i % 3] for i in range(count)}
    rows = [
        {"telegram_id": chat, "chat_id": chat, "locale": language, "reachable": True,
         "reminders": True, "created_at": now, "last_seen_at": now}
        for chat, language in chats.items()
    ]  # fmt: skip
    async with app.conversation.sessions() as db, db.begin():
        connection = await db.connection()
        await connection.execute(insert(Applicant), rows)
    telegram.add_chats(chats)
    return chats


async def write_broadcast(telegram: FakeTelegram) -> ChatMessage:
    """The owner writes a text per language and picks everyone; returns the preview's question."""
    start = await answer_and_read(telegram, OWNER, "user_sends", "/broadcast")
    await answer_and_read(
        telegram, OWNER, "user_presses", start.message_id, data_of(start, "per language")
    )
    for language in LANGUAGES:
        telegram.user_sends(OWNER, f"<b>{TEXTS[language]}</b>: 17/10")
        await telegram.next_message(OWNER)
    audience = await telegram.wait_until_message(OWNER, "Who should get it?")
    telegram.user_presses(OWNER, audience.message_id, "bc:aud:all")
    return await telegram.wait_until_message(OWNER, "Send it now, or at a time?")


def messages_to(telegram: FakeTelegram, chat: int) -> list[ChatMessage]:
    return [m for m in telegram.messages(chat) if m.kind == "text"]


async def test_a_broadcast_to_2000_applicants_in_three_languages(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    chats = await crowd(app, telegram, CROWD)
    question = await write_broadcast(telegram)
    assert "This goes to 2,001 people" in question.text  # the owner is an applicant too
    telegram.user_presses(OWNER, question.message_id, "bc:now")
    confirm = await telegram.wait_until_message(OWNER, "Send this broadcast")
    telegram.user_presses(OWNER, confirm.message_id, "bc:confirm")
    telegram.user_presses(OWNER, confirm.message_id, "bc:confirm")  # pressed twice
    await telegram.wait_for(lambda f: sum(bool(f.messages(c)) for c in chats) >= 100)
    telegram.user_sends(DARA, "/help", language_code="en")  # an applicant, mid-broadcast
    await telegram.wait_until_message(DARA, "How I can help")
    assert sum(bool(messages_to(telegram, chat)) for chat in chats) < CROWD  # no waiting
    await telegram.wait_for(lambda f: all(messages_to(f, chat) for chat in chats), timeout=60)
    for chat, language in chats.items():
        [message] = messages_to(telegram, chat)  # exactly one each
        assert TEXTS[language] in message.text
    progress = await telegram.wait_until_message(OWNER, "100%", timeout=20)
    assert f"Sent: {CROWD + 1}/{CROWD + 1}" in progress.text
    assert not [r for r in telegram.rejected if r.status == 429]


async def test_stopping_a_broadcast_in_the_middle(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.latency = 0.004  # slow enough to press Stop while it sends
    chats = await crowd(app, telegram, CROWD)
    question = await write_broadcast(telegram)
    telegram.user_presses(OWNER, question.message_id, "bc:now")
    confirm = await telegram.wait_until_message(OWNER, "Send this broadcast")
    telegram.user_presses(OWNER, confirm.message_id, "bc:confirm")
    progress = await telegram.wait_until_message(OWNER, "Broadcast #1", timeout=10)
    await telegram.wait_for(lambda f: sum(bool(f.messages(c)) for c in chats) >= 100)
    telegram.user_presses(OWNER, progress.message_id, "bc:stop:1")
    stopped = await telegram.wait_until_message(OWNER, "Stopped", timeout=10)
    await asyncio.sleep(1.0)
    received = sum(bool(messages_to(telegram, chat)) for chat in chats)
    assert 100 <= received < CROWD
    await asyncio.sleep(1.0)
    assert sum(bool(messages_to(telegram, chat)) for chat in chats) == received  # nothing more
    assert "Stopped" in stopped.text
    async with app.conversation.sessions() as db:
        [broadcast] = (await db.exec(select(Broadcast))).all()
    assert broadcast.status == "stopped"


async def test_a_scheduled_broadcast_fires_at_its_time(
    app: App, bot: TelegramChannel, telegram: FakeTelegram, clock: RunningClock
) -> None:
    chats = await crowd(app, telegram, 30)
    question = await write_broadcast(telegram)
    telegram.user_presses(OWNER, question.message_id, "bc:at")
    await telegram.wait_until_message(OWNER, "When?")
    telegram.user_sends(OWNER, "2027-10-02 08:00")
    confirm = await telegram.wait_until_message(OWNER, "Send this broadcast")
    telegram.user_presses(OWNER, confirm.message_id, "bc:confirm")
    await telegram.wait_until_message(OWNER, "Broadcast #1")
    await asyncio.sleep(0.5)
    assert not any(messages_to(telegram, chat) for chat in chats)
    clock.jump_to(local(2027, 10, 2, 8).astimezone(UTC))
    await telegram.wait_for(lambda f: all(messages_to(f, chat) for chat in chats), timeout=10)


async def test_export_through_telegram_cell_by_cell(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    from bot.demo import seed_demo

    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone, now=app.conversation.services.now())
    await book_through_telegram(telegram, DARA, "book:ses:1")
    telegram.user_sends(OWNER, "/export 1", language_code="en")
    await telegram.wait_for(
        lambda f: len([m for m in f.messages(OWNER) if m.kind == "document"]) == 2
    )
    csv_file, xlsx_file = [m for m in telegram.messages(OWNER) if m.kind == "document"]
    rows = list(csv.reader(io.StringIO(telegram.upload(csv_file).decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(telegram.upload(xlsx_file))).active
    assert sheet is not None
    cells = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["Code", "Name (passport)", "Name in Khmer"]
    assert len(rows) == len(cells) == 2
    code, name, khmer = rows[1][:3]
    assert (name, khmer) == ("CHAN SOKHA", "ចាន់ សុខា")
    assert list(cells[1][:3]) == [code, "CHAN SOKHA", "ចាន់ សុខា"]
    assert rows[1][3] == "2000-01-01"
    assert cells[1][3].isoformat().startswith("2000-01-01")


async def test_handoff_round_trip_and_check_in_twice(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    from bot.demo import seed_demo

    # The group exists: someone wrote in it.
    telegram.user_sends(OWNER, "/start", chat_type="group", chat_id=STAFF_GROUP)
    telegram.user_sends(DARA, "how do I cook fish amok for my grandmother", language_code="en")
    unknown = await telegram.wait_until_message(DARA, "don't know")
    telegram.user_presses(DARA, unknown.message_id, data_of(unknown, "Send my question"))
    # The staff group reads the default language, Khmer; the question is quoted as asked.
    post = await telegram.wait_until_message(STAFF_GROUP, "fish amok", timeout=10)
    await asyncio.sleep(0.5)  # a person reads the post before replying; the bot notes its number
    telegram.user_sends(
        OWNER, "We cannot help with motorbikes, sorry.", chat_type="group", chat_id=STAFF_GROUP,
        reply_to=post.message_id,
    )  # fmt: skip
    answer = await telegram.wait_until_message(DARA, "Answer from the test office", timeout=10)
    assert "cannot help with motorbikes" in answer.text
    answered = await telegram.wait_until_message(STAFF_GROUP, "✅", timeout=10)
    assert answered.message_id == post.message_id
    assert "Dara" in answered.text.split("✅")[1]  # who answered, by the name Telegram gives

    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone, now=app.conversation.services.now())
    await book_through_telegram(telegram, 5003, "book:ses:1")
    async with app.conversation.sessions() as db:
        from models import Registration

        [registration] = (await db.exec(select(Registration))).all()
    telegram.user_sends(OWNER, f"/start ticket_{registration.code}", language_code="en")
    screen = await telegram.wait_until_message(OWNER, f"Registration {registration.code}")
    assert screen.text.startswith("⚠️ Not today's session")  # the demo's sessions are days away
    telegram.user_presses(OWNER, screen.message_id, data_of(screen, "Checked in"))
    confirm = await telegram.wait_until_message(OWNER, "anyway?")
    telegram.user_presses(
        OWNER, confirm.message_id, data_of(confirm, "Yes, check in"), first_name="Sophea"
    )
    await telegram.wait_until_message(OWNER, "Status: attended")
    telegram.user_sends(OWNER, f"/checkin {registration.code}", language_code="en")
    again = await telegram.wait_until_message(OWNER, "Already checked in at")
    assert "by Sophea" in again.text  # the name Telegram shows, not a number
    booked_ago = app.conversation.services.now() - registration.created_at  # the bot's clock
    assert timedelta(0) <= booked_ago < timedelta(minutes=5)


async def test_staff_attach_a_question_from_its_post_in_the_group(
    app: App, bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.user_sends(OWNER, "/start", chat_type="group", chat_id=STAFF_GROUP)
    telegram.user_sends(DARA, "my boss in japan is shouting at me", language_code="en")
    unknown = await telegram.wait_until_message(DARA, "don't know the answer")
    telegram.user_presses(DARA, unknown.message_id, data_of(unknown, "Send my question"))
    post = await telegram.wait_until_message(STAFF_GROUP, "shouting at me", timeout=10)
    await asyncio.sleep(0.5)  # the bot notes the post's number once it is sent
    attach = data_of(post, "📎")
    telegram.user_presses(5555, post.message_id, attach, chat_id=STAFF_GROUP)  # not staff
    telegram.user_presses(OWNER, post.message_id, attach, chat_id=STAFF_GROUP)
    # The post itself turns into the choices, and keeps saying what was asked.
    contact = app.conversation.services.faq.categories[-1].title["en"]  # STAFF_LOCALE
    await telegram.wait_for(lambda f: data_of_or_none(f, post.message_id, contact) is not None)
    topics = next(m for m in telegram.messages(STAFF_GROUP) if m.message_id == post.message_id)
    assert "shouting at me" in topics.text
    telegram.user_presses(OWNER, post.message_id, data_of(topics, contact), chat_id=STAFF_GROUP)
    complaints = app.conversation.services.faq.entries["complaints"].question["en"]
    await telegram.wait_for(
        lambda f: data_of_or_none(f, post.message_id, complaints[:20]) is not None
    )
    entries = next(m for m in telegram.messages(STAFF_GROUP) if m.message_id == post.message_id)
    telegram.user_presses(
        OWNER, post.message_id, data_of(entries, complaints[:20]), chat_id=STAFF_GROUP
    )
    await telegram.wait_for(lambda f: data_of_or_none(f, post.message_id, "✅") is not None)
    confirm = next(m for m in telegram.messages(STAFF_GROUP) if m.message_id == post.message_id)
    telegram.user_presses(OWNER, post.message_id, data_of(confirm, "✅"), chat_id=STAFF_GROUP)
    settled = await telegram.wait_until_message(STAFF_GROUP, "📎", timeout=10)
    assert "shouting at me" in settled.text
    telegram.user_sends(DARA, "my boss in japan is shouting at me", language_code="en")
    await telegram.wait_until_message(DARA, "How do I complain about an agency?", timeout=10)
    async with app.conversation.sessions() as db:
        from models import AuditEntry

        actions = [(e.actor, e.action) for e in (await db.exec(select(AuditEntry))).all()]
    assert (f"telegram:{OWNER}", "attach_question") in actions
    assert ("telegram:5555", "refused") in actions


def data_of_or_none(telegram: FakeTelegram, message_id: int, label: str) -> str | None:
    """The data of the button with `label` in it, on this group post now, if it has one."""
    [message] = [m for m in telegram.messages(STAFF_GROUP) if m.message_id == message_id]
    try:
        return data_of(message, label)
    except (AssertionError, KeyError, TypeError):
        return None
