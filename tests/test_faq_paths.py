"""The paths around an answer: the office, after 👎, the features an answer names, the
sessions, and someone's first message without /start."""

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from bot.app import App
from handlers.faq.matching import MeaningModel
from handlers.faq.meaning import classifier_cache_path, default_cache_path
from models import UnansweredQuestion
from models.applicants import find_applicant
from models.registrations import book_seat
from tests.support.core import Applicant, CoreGroup, deliver_outbox
from tests.support.sessions import open_session

OWNER, STAFF_GROUP = 900, -100123
ANSWERABLE = "what is the pass score for JFT-Basic?"
OUT_OF_DATE = "This button is out of date. Send /start to see the menu."


@pytest.fixture
def app(app_with_office: App) -> App:
    return app_with_office


async def met(app: App, user_id: int = 1) -> Applicant:
    """An applicant who has opened the bot and chosen English."""
    dara = Applicant(app.conversation, user_id=user_id, language="en")
    await dara.send("/start")
    await dara.press("English")
    return dara


# --- ✍️ Ask the office ---------------------------------------------------------------------------


async def test_ask_the_office_sends_the_next_message_there_and_not_to_the_faq(app: App) -> None:
    dara = await met(app)
    group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
    await dara.press("✍️ Ask the office")
    assert "Type your question for the test office" in dara.last.text
    await dara.send(ANSWERABLE)  # a question the FAQ knows: it still goes to the office
    [reply] = dara.replies
    assert "sent to the test office" in reply.text
    assert "200" not in reply.text
    assert "👍 Helpful" not in reply.labels
    assert await deliver_outbox(app.conversation, dara, group) == 1
    [post] = [p.text for p in group.posts]
    assert ANSWERABLE in post
    await dara.send(ANSWERABLE)  # the next message is the FAQ's again
    assert dara.last.text.startswith("What score do I need to pass JFT-Basic?")


async def test_the_office_step_asks_for_words_and_can_be_left(app: App) -> None:
    dara = await met(app)
    await dara.press("✍️ Ask the office")
    await dara.send_media("photo", "file-1")
    assert "Please type your question in words" in dara.last.text
    await dara.send("/cancel")
    assert "Nothing was sent to the office" in dara.last.text
    await dara.press("✍️ Ask the office")
    await dara.press("✖ Cancel")
    assert "Nothing was sent to the office" in dara.last.text
    await dara.press_data("handoff:stop")  # pressed again: nothing to leave
    assert dara.notices[-1] == OUT_OF_DATE
    await dara.send("how do I cook fish amok for my grandmother")
    assert "don't know" in dara.last.text  # the FAQ answers again
    async with app.conversation.sessions() as db:
        [question] = (await db.exec(select(UnansweredQuestion))).all()
    assert question.sent_to_office_at is None


async def test_without_a_staff_group_there_is_no_office_button(tmp_path: Path) -> None:
    from bot.app import build_app
    from tests.support.app import settings_for_test

    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    try:
        dara = await met(app)
        assert "✍️ Ask a question" in dara.last.labels
        assert not any("office" in label for label in dara.last.labels)
        await dara.send("who do I contact at the test office")
        assert not any("office" in label for label in dara.last.labels)
        await dara.press("👎 Not helpful")
        assert "type your question in other words" in dara.last.text
        assert not any("office" in label for label in dara.last.labels)
        await dara.press_data("handoff:ask")
        assert dara.notices[-1] == OUT_OF_DATE
    finally:
        await app.close()


# --- After 👎 ------------------------------------------------------------------------------------


async def test_not_helpful_offers_related_questions_and_the_office(app: App) -> None:
    dara = await met(app)
    await dara.send(ANSWERABLE)
    answer = dara.last
    await dara.press("👎 Not helpful")
    assert dara.notices[-1] == "Thank you! Your answer helps us improve."
    assert dara.last.message_id == answer.message_id  # in place of the answer's buttons
    assert "Sorry this did not help" in dara.last.text
    related = [label for label in dara.last.labels if label.startswith("❔")]
    assert 1 <= len(related) <= 3
    assert "❔ What score do I need to pass JFT-Basic?" not in related
    await dara.press(related[0])
    assert dara.last.text.startswith(related[0].removeprefix("❔ "))
    await dara.press("👎 Not helpful")
    await dara.press("📨 Send my question to the office")
    await dara.send("I scored 195, can I still apply for nursing care?")
    assert "sent to the test office" in dara.last.text


# --- An answer's features, and the sessions -----------------------------------------------------


async def test_an_answer_about_booking_carries_the_book_button(app: App) -> None:
    dara = await met(app)
    await open_session(app, "Phnom Penh Test Centre")
    await dara.send("how do I book a seat")
    assert dara.last.text.startswith("How do I register for a test?")
    assert "📝 Book a test seat" in dara.last.labels
    await dara.press("📝 Book a test seat")
    assert "Which test do you want to take?" in dara.last.text
    assert "JFT-Basic" in dara.last.labels


async def test_an_answer_about_ones_booking_carries_the_ticket_only_with_a_seat(app: App) -> None:
    dara = await met(app)
    await dara.send("where is my ticket")
    assert "📋 My registrations" in dara.last.labels
    assert "🎫 My ticket" not in dara.last.labels
    session_id = await open_session(app, "Phnom Penh Test Centre")
    async with app.conversation.sessions() as db, db.begin():
        applicant = await find_applicant(db, dara.user_id)
        assert applicant is not None
        assert applicant.id is not None
        await book_seat(db, applicant.id, session_id)
    await dara.send("where is my ticket")
    assert "🎫 My ticket" in dara.last.labels
    await dara.press("🎫 My ticket")
    assert len(dara.files) == 2  # the ticket image and the calendar file


async def test_when_is_the_test_lists_the_open_sessions(app: App) -> None:
    dara = await met(app)
    await dara.send("when is the test")
    assert dara.last.text.startswith("Which tests does the ministry organise, and when?")
    assert "Sessions open for booking now" not in dara.last.text  # none yet
    await open_session(app, "Phnom Penh Test Centre")
    await open_session(app, "Siem Reap Hall", starts_in=timedelta(days=40))
    await dara.send("when is the test")
    text = dara.last.text
    assert "Sessions open for booking now" in text
    assert text.index("Phnom Penh Test Centre") < text.index("Siem Reap Hall")
    assert "seats left: 10" in text
    assert "📝 Book a test seat" in dara.last.labels


async def test_at_most_five_sessions_are_listed(app: App) -> None:
    dara = await met(app)
    for day in range(7):
        await open_session(app, f"Venue {day}", starts_in=timedelta(days=30 + day))
    await dara.send("when is the test")
    assert dara.last.text.count("JFT-Basic ·") == 5
    assert "More dates" in dara.last.text


# --- The first message without /start ----------------------------------------------------------


async def test_a_first_question_gets_its_answer_then_the_welcome_and_the_menu(app: App) -> None:
    sokha = Applicant(app.conversation, user_id=2, language="ja")
    await sokha.send(ANSWERABLE)
    answer, welcome = sokha.replies
    entry = app.conversation.services.faq.entries["jft-score"]
    assert answer.text.startswith(entry.question["ja"])  # in the language of their Telegram
    assert "👍" in answer.labels[0]
    assert "ようこそ" in welcome.text
    assert {"📝 試験の席を予約", "✍️ 事務局に質問", "ភាសាខ្មែរ", "English"} <= set(welcome.labels)
    await sokha.send(ANSWERABLE)
    [again] = sokha.replies  # welcomed once
    assert again.text == answer.text
    await sokha.press("English")
    assert "Main menu" in sokha.last.text


async def test_someone_who_started_is_not_welcomed_again(app: App) -> None:
    dara = Applicant(app.conversation, user_id=3, language="en")
    await dara.send("/start")
    await dara.send(ANSWERABLE)
    [answer] = dara.replies
    assert answer.text.startswith("What score do I need")


def test_every_entry_named_in_the_features_table_is_in_the_faq(app: App) -> None:
    from handlers.faq.features import BUTTONS, FEATURES, Feature

    assert set(FEATURES) <= set(app.conversation.services.faq.entries)
    assert set(BUTTONS) == set(Feature) - {Feature.SESSIONS, Feature.TICKET}


# --- Understanding a question holds up no one else -----------------------------------------------


class WatchingModel:
    """The FAQ's own meaning model, noting for each question it reads whether SQLite's one
    writer was free meanwhile (another applicant's update could be written)."""

    def __init__(self, model: MeaningModel, database: str) -> None:
        self.model, self.database = model, database
        self.version = model.version
        self.read: dict[str, bool] = {}  # question -> the database was free to write

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.model.embed(texts)

    def embed_question(self, text: str) -> np.ndarray:
        with closing(sqlite3.connect(self.database, timeout=0)) as other_writer:
            try:
                other_writer.execute("BEGIN IMMEDIATE")
                other_writer.rollback()
                self.read[text] = True
            except sqlite3.OperationalError:  # "database is locked"
                self.read[text] = False
        return self.model.embed_question(text)


async def test_a_question_is_understood_while_others_can_still_write(tmp_path: Path) -> None:
    from bot.app import build_app
    from tests.support.app import settings_for_test

    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    try:
        faq = app.conversation.services.faq
        assert faq._matcher._embedder is not None, "the meaning model is loaded"
        watching = WatchingModel(faq._matcher._embedder, app.engine.url.database or "")
        faq.use_meaning(watching, classifier_cache_path(default_cache_path()))
        dara = await met(app)
        await dara.send(ANSWERABLE)
        assert "pass" in dara.last.text.lower()
        assert "Sorry" not in dara.last.text
        assert watching.read == {ANSWERABLE: True}

        # A name typed on a wizard step is an answer to the step, not a question to read.
        await open_session(app, "Kampot Test Centre")
        await dara.send("/book")
        await dara.press("JFT-Basic")
        await dara.press("Kampot")
        await dara.press("I agree")
        assert "Step 1 of 7" in dara.last.text
        await dara.send("SOK DARA")
        assert "Step 2 of 7" in dara.last.text
        assert "SOK DARA" not in watching.read
    finally:
        await app.close()
