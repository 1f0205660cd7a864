"""Privacy: /deleteme leaves nothing of the person in any table, on both engines."""

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from bot.app import App, build_app
from bot.demo import seed_demo
from bot.logs import PINNED_LOGGERS, configure_logging
from bot.scheduler import Job, forget_wizards, in_transaction, pruning
from models import Applicant as ApplicantRow
from models import (
    AuditEntry,
    ChatPace,
    ConversationState,
    FaqFeedback,
    OutboxMessage,
    ProcessedUpdate,
    Registration,
    TaughtPhrasing,
    UnansweredQuestion,
)
from models.db import create_engine
from models.registrations import find_by_code
from models.retention import RATINGS_PER_DAY, REFUSED_ATTEMPTS_PER_DAY
from tests.support.app import settings_for_test, start_app
from tests.support.channels import open_chats
from tests.support.chat import Chat
from tests.support.clock import RunningClock
from tests.support.core import Applicant, CoreGroup, deliver_outbox

OWNER, STAFF_GROUP = 900, -100123
TELEGRAM_ID = 7301234567
LATIN, KHMER, BORN, PHONE, ID_NUMBER = (
    "Zorvath Kimleang",
    "សុខ ហ៊ីមឡាយ",
    "29/02/1996",
    "+855977123456",
    "N07654321",
)
FAKE_TOKEN = "123456:TEST-TOKEN"  # the fake Bot API server's, which the channels use
QUESTION = "Quixotic wombats: can my cousin sit the test for me?"


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    app = await start_app(
        request, tmp_path, request.param, admin_ids=[OWNER], staff_chat_id=STAFF_GROUP
    )
    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone)
    yield app
    await app.close()


async def book_with_distinctive_details(person: Chat) -> None:
    """Books a JFT-Basic seat in October with details found nowhere else."""
    await person.send("/book")
    await person.press("JFT-Basic")
    await person.press("Oct")
    await person.press("I agree")
    for typed in (LATIN, KHMER, BORN):
        await person.send(typed)
    await person.press("Female")
    await person.share_contact(PHONE)
    await person.send(ID_NUMBER)
    await person.press("Kampot")
    await person.press("Confirm booking")
    assert person.last is not None
    assert "You are registered!" in person.last.text


async def ask_the_office(person: Applicant, question: str) -> None:
    await person.press_data("handoff:ask")
    await person.send(question)
    assert "sent to the test office" in person.last.text


async def every_value(app: App) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every column of every row of every table."""
    found = []
    async with app.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        assert "outbox" in tables
        assert "audit_entry" in tables
        for table in tables:
            for row in (await connection.execute(text(f'SELECT * FROM "{table}"'))).mappings():
                for column, value in row.items():
                    if isinstance(value, str) and value[:1] in "[{":
                        value = json.loads(value)  # SQLite keeps JSON with \\u escapes
                    if not isinstance(value, str):
                        value = json.dumps(value, ensure_ascii=False, default=str)
                    found.append((table, column, value.lower()))
    return found


async def test_deleteme_leaves_nothing_of_the_person_in_any_table(app: App) -> None:
    dara = Applicant(app.conversation, user_id=TELEGRAM_ID, language="en")
    group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
    await book_with_distinctive_details(dara)
    async with app.conversation.sessions() as db:
        [registration] = (await db.exec(select(Registration))).all()
    code = registration.code
    await dara.send("/staff list")  # refused, and audited
    await ask_the_office(dara, f"{QUESTION} {LATIN} {BORN} {PHONE} {ID_NUMBER} {code}")
    await deliver_outbox(app.conversation, dara, group)
    [post] = group.posts
    assert ID_NUMBER in post.text
    async with app.conversation.sessions() as db, db.begin():  # the office taught its wording
        [question] = (await db.exec(select(UnansweredQuestion))).all()
        db.add(
            TaughtPhrasing(
                entry_key="complaints", locale="en", text=question.text, taught_by="cli:office",
                question_id=question.id,
            )
        )  # fmt: skip
    await ask_the_office(dara, f"{QUESTION} again, {KHMER}")  # still waiting at the erasure
    await dara.send("/deleteme")
    await dara.press("Yes, erase my data")
    assert "erased" in dara.last.text

    await deliver_outbox(app.conversation, dara, group)
    # The second question never reaches the group; the first one's post now says why.
    [post] = group.posts
    assert "The applicant erased their data." in post.text  # STAFF_LOCALE, English by default
    assert ID_NUMBER not in post.text
    assert LATIN.upper() not in post.text.upper()
    needles = {
        "Latin name": LATIN,
        "Khmer name": KHMER,
        "date of birth as typed": BORN,
        "date of birth": "1996-02-29",
        "phone": PHONE.removeprefix("+855"),
        "ID number": ID_NUMBER,
        "question": "quixotic wombats",
        "confirmation code": code,
        "Telegram id": str(TELEGRAM_ID),
    }
    left = [
        (what, table, column)
        for table, column, value in await every_value(app)
        for what, needle in needles.items()
        if needle.lower() in value
    ]
    assert left == []
    async with app.conversation.sessions() as db:
        [registration] = (await db.exec(select(Registration))).all()
    assert registration.applicant_id is None  # an anonymous count
    async with app.conversation.sessions() as db:  # its new code opens nothing at the door
        assert await find_by_code(db, registration.code) is None


# --- Logs ----------------------------------------------------------------------------------------


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The log as `applicant-bot run` writes it under LOG_LEVEL=DEBUG, into a string."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *PINNED_LOGGERS)}
    stream = io.StringIO()
    handler = configure_logging("DEBUG", [FAKE_TOKEN], stream)
    yield stream
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("channel", ["aiogram", "ptb"])
async def test_a_debug_log_holds_no_phone_id_or_token(
    tmp_path: Path, channel: str, debug_log: io.StringIO
) -> None:
    settings = settings_for_test(
        tmp_path, admin_ids=[OWNER], staff_chat_id=STAFF_GROUP, log_level="DEBUG"
    )
    app = build_app(settings)
    await app.prepare_database()
    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone)
    try:
        async with open_chats(channel, app) as chats:
            group = await chats.staff_group(STAFF_GROUP, OWNER)
            dara = chats.user(TELEGRAM_ID)
            await book_with_distinctive_details(dara)
            await dara.send(f"{QUESTION} My ID is {ID_NUMBER}")
            await dara.press("Send my question to the office")
            await chats.deliver_outbox()
            [post] = group.posts
            await group.reply(OWNER, post.message_id, f"Bring {ID_NUMBER} on the day.")
            await chats.deliver_outbox()
            assert ID_NUMBER in dara.last.text
    finally:
        await app.close()
    log = debug_log.getvalue()
    assert "DEBUG" in log  # the bot's own lines are there
    for secret in (PHONE.removeprefix("+855"), ID_NUMBER, FAKE_TOKEN, "TEST-TOKEN", LATIN):
        assert secret not in log


# --- Retention -----------------------------------------------------------------------------------


async def rows_of(app: App, model: type) -> list:
    async with app.conversation.sessions() as db:
        return list((await db.exec(select(model))).all())


async def run_job(app: App, job: Job) -> None:
    await in_transaction(app.conversation.sessions, app.conversation.services, job)()


async def test_the_nightly_job_prunes_old_rows_and_keeps_recent_ones(app: App) -> None:
    now = app.conversation.services.now()
    old, recent = now - timedelta(days=100), now - timedelta(hours=1)
    async with app.conversation.sessions() as db, db.begin():
        for n, at in enumerate((old, recent)):
            db.add(ProcessedUpdate(update_id=n, processed_at=at))
            db.add(ChatPace(chat_id=n, tokens=1.0, at=at))
            db.add(AuditEntry(at=at, actor=f"telegram:{n}", action="refused", target="staff"))
            db.add(AuditEntry(at=at, actor="cli:office", action="export", target="session:all"))
            for status in ("sent", "skipped", "failed", "pending"):
                db.add(
                    OutboxMessage(
                        chat_id=n, content=[], dedupe_key=f"{status}:{n}", send_after=at,
                        status=status, created_at=at,
                    )
                )  # fmt: skip
    await run_job(app, pruning(app.settings.retention))
    assert sorted(u.update_id for u in await rows_of(app, ProcessedUpdate)) == [1]
    assert sorted(p.chat_id for p in await rows_of(app, ChatPace)) == [1]
    assert sorted((a.actor, a.at == old) for a in await rows_of(app, AuditEntry)) == [
        ("cli:office", False),
        ("cli:office", True),  # what staff did stays
        ("telegram:1", False),
    ]
    assert sorted(m.dedupe_key for m in await rows_of(app, OutboxMessage)) == [
        "failed:0", "failed:1", "pending:0", "pending:1", "sent:1", "skipped:1"
    ]  # fmt: skip


async def test_a_wizard_left_for_a_day_forgets_what_was_typed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    clock = RunningClock(datetime.now(UTC))
    app = await start_app(request, tmp_path, "sqlite", now=clock)
    try:
        async with app.conversation.sessions() as db, db.begin():
            await seed_demo(db, app.settings.zone)
        dara = Applicant(app.conversation, user_id=TELEGRAM_ID, language="en")
        await dara.send("/book")
        await dara.press("JFT-Basic")
        await dara.press("Oct")
        await dara.press("I agree")
        await dara.send(LATIN)
        clock.jump_to(clock() + timedelta(hours=23))
        await run_job(app, forget_wizards)
        assert len(await rows_of(app, ConversationState)) == 1  # not yet a day
        clock.jump_to(clock() + timedelta(hours=2))
        await run_job(app, forget_wizards)
        assert await rows_of(app, ConversationState) == []
        assert not [v for v in await every_value(app) if LATIN.lower() in v[2]]
        await dara.press("Skip")  # the wizard's next button, a day later
        assert dara.notices[-1].startswith("This button is out of date")
    finally:
        await app.close()


async def test_one_applicant_adds_only_so_much_in_a_day(app: App) -> None:
    dara = Applicant(app.conversation, user_id=TELEGRAM_ID, language="en")
    for _ in range(REFUSED_ATTEMPTS_PER_DAY + 3):
        await dara.send("/staff list")
    refused = [a for a in await rows_of(app, AuditEntry) if a.action == "refused"]
    assert len(refused) == REFUSED_ATTEMPTS_PER_DAY
    entry = next(iter(app.conversation.services.faq.entries))
    async with app.conversation.sessions() as db, db.begin():  # rated earlier today
        [applicant] = (await db.exec(select(ApplicantRow))).all()
        for _ in range(RATINGS_PER_DAY - 1):
            db.add(FaqFeedback(applicant_id=applicant.id, entry_id=entry, helpful=True))
    await dara.press_data(f"faq:fb:{entry}:y")
    assert dara.notices[-1] == "Thank you! Your answer helps us improve."
    await dara.press_data(f"faq:fb:{entry}:n")
    assert dara.notices[-1] == (
        "Thank you! You have rated many answers today. I will keep new ratings again tomorrow."
    )
    assert len(await rows_of(app, FaqFeedback)) == RATINGS_PER_DAY


async def test_a_database_error_does_not_quote_the_values(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3")
    try:
        with pytest.raises(DBAPIError) as failed:
            async with engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO no_such_table (id_number) VALUES (:id_number)"),
                    {"id_number": ID_NUMBER},
                )
    finally:
        await engine.dispose()
    assert ID_NUMBER not in str(failed.value)
    assert "no_such_table" in str(failed.value)  # the statement, without its parameters
