"""Asking the office: the question goes to the staff group, a staff reply comes back."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from handlers.applicant.handoff import OFFICE_QUESTION_MAX_LENGTH
from models import AuditEntry, OutboxMessage, UnansweredQuestion
from models.columns import utcnow
from tests.support.app import start_app
from tests.support.core import Applicant, CoreGroup, deliver_outbox
from tests.support.fake_telegram import parse_html

OWNER, STAFF_GROUP = 900, -100123
UNANSWERABLE = "how do I cook fish amok for my grandmother"


@pytest.fixture
def app(app_with_office: App) -> App:
    return app_with_office


async def test_a_question_goes_to_the_office_and_the_answer_comes_back(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
    await dara.send(UNANSWERABLE)
    assert "don't know" in dara.replies[0].text
    await dara.press("Send my question to the office")
    assert "sent to the test office" in dara.last.text
    await dara.press_data("handoff:1")  # pressed again
    assert dara.notices[-1] == "Your question is with the office already."
    assert await deliver_outbox(app.conversation, dara, group) == 1
    [post] = group.posts
    post_id = post.message_id
    assert UNANSWERABLE in post.text
    assert "Telegram 1" in post.text

    outsider = 555  # in the group, but not staff
    await group.reply(outsider, post_id, "yes of course")
    await group.reply(OWNER, post_id, "No: you must sit the test yourself, with your own ID.")
    assert await deliver_outbox(app.conversation, dara, group) == 2
    assert "Answer from the test office" in dara.last.text
    assert "you must sit the test yourself" in dara.last.text
    assert "yes of course" not in dara.last.text
    # The post is marked ✅ with who answered (their id, when Telegram gave no name).
    [answered] = group.posts
    assert answered.message_id == post_id  # the post is marked, in place
    assert "✅" in answered.text
    assert str(OWNER) in answered.text.split("✅")[1]
    async with app.conversation.sessions() as db:
        [question] = (await db.exec(select(UnansweredQuestion))).all()
        actions = [(e.actor, e.action) for e in (await db.exec(select(AuditEntry))).all()]
    assert question.answered_by == OWNER
    assert ("telegram:555", "refused") in actions
    assert (f"telegram:{OWNER}", "answer_question") in actions


async def test_the_staff_group_reads_staff_locale_and_sees_who_answered_by_name(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    office = {"admin_ids": [OWNER], "staff_chat_id": STAFF_GROUP, "staff_locale": "ja"}
    app = await start_app(request, tmp_path, "sqlite", **office)
    try:
        dara = Applicant(app.conversation, user_id=1, language="en")
        group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
        await dara.send(UNANSWERABLE)
        await dara.press("Send my question to the office")
        await deliver_outbox(app.conversation, dara, group)
        [post] = group.posts
        assert re.search("[\u3040-\u30ff\u4e00-\u9fff]", post.text)  # Japanese, whoever asked
        assert "Question for the office" not in post.text
        await group.reply(OWNER, post.message_id, "Please ask at the centre.", name="Chan Sophea")
        await deliver_outbox(app.conversation, dara, group)
        assert "Answer from the test office" in dara.last.text  # the applicant's own language
        [answered] = group.posts
        assert "Chan Sophea" in answered.text.split("✅")[1]  # who answered, by name
        assert "Answered by" not in answered.text
    finally:
        await app.close()


async def test_someone_elses_question_cannot_be_sent(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    mallory = Applicant(app.conversation, user_id=2, language="en")
    await dara.send(UNANSWERABLE)
    await mallory.send("/start")
    await mallory.press_data("handoff:1")
    assert mallory.notices[-1] == "This button is out of date. Send /start to see the menu."
    async with app.conversation.sessions() as db:
        [question] = (await db.exec(select(UnansweredQuestion))).all()
    assert question.sent_to_office_at is None


async def test_a_question_full_of_html_characters_is_marked_answered_in_valid_html(
    app: App,
) -> None:
    """Escaped, a question of 2,000 "&" is 10,000 characters of HTML: the answered post is
    still whole, valid HTML, and no longer than Telegram allows."""
    dara = Applicant(app.conversation, user_id=1, language="en")
    group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
    question = "Fees & <dates>? " + "&" * (OFFICE_QUESTION_MAX_LENGTH - 16)
    await dara.send("/start")
    await dara.press("English")
    await dara.press("✍️ Ask the office")
    await dara.send(question)
    assert await deliver_outbox(app.conversation, dara, group) == 1
    [post] = group.posts
    await group.reply(OWNER, post.message_id, "Yes & no.")
    await deliver_outbox(app.conversation, dara, group)
    async with app.conversation.sessions() as db:
        rows = await db.exec(select(OutboxMessage).where(OutboxMessage.chat_id == STAFF_GROUP))
        posted, answered = [row.content[0]["text"] for row in rows.all()]
    for html in (posted, answered):
        text = parse_html(html)  # raises where Telegram would refuse the HTML
        assert question in text
        assert len(text) <= 4096
    assert "✅" in parse_html(answered)


async def ask_the_office(dara: Applicant, question: str) -> str:
    await dara.send("/start")
    await dara.press("✍️ Ask the office")
    await dara.send(question)
    return "\n".join(reply.text for reply in dara.replies)


async def test_an_applicant_has_at_most_3_questions_open_and_10_a_day_with_the_office(
    app: App,
) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
    await dara.send("/start")
    await dara.press("English")
    for number in range(3):
        assert "sent to the test office" in await ask_the_office(dara, f"question {number}")
    refused = await ask_the_office(dara, "one question too many")
    assert "still has 3 of your questions to answer" in refused
    assert await deliver_outbox(app.conversation, dara, group) == 3  # the fourth was not posted
    # Once the office answers, there is room again.
    for post in list(group.posts):
        await group.reply(OWNER, post.message_id, "Answered.")
    assert "sent to the test office" in await ask_the_office(dara, "question 3")
    # Until ten in a day: six more were sent and answered earlier today.
    async with app.conversation.sessions() as db, db.begin():
        now = utcnow()
        for number in range(4, 10):
            db.add(
                UnansweredQuestion(
                    applicant_id=1,
                    locale="en",
                    text=f"question {number}",
                    normalized=f"question {number}",
                    sent_to_office_at=now - timedelta(hours=number),
                    answered_at=now,
                )
            )
    refused = await ask_the_office(dara, "question 10")
    assert "sent the office 10 questions today" in refused
    assert "tomorrow" in refused
    async with app.conversation.sessions() as db:
        questions = (await db.exec(select(UnansweredQuestion))).all()
    assert len(questions) == 10
    assert "question 10" not in [q.text for q in questions]
