"""After /deleteme nothing the applicant gave, and no trace of their Telegram account, is
left in any column of any table, on SQLite and on PostgreSQL; the office is told in place."""

import json

from sqlmodel import SQLModel, select

from bot.app import App
from models import Registration
from tests.support.core import Applicant, CoreGroup, deliver_outbox
from tests.support.sessions import open_session

TELEGRAM_ID = 7770123456
STAFF_GROUP = -100123  # the app_with_office fixture's
# What the applicant gives, each distinctive enough that finding it anywhere means a leak.
GIVEN = {
    "name": "Thearoth Vannakrith",
    "name in Khmer": "ធារ៉ូត វណ្ណរិទ្ធ",
    "date of birth": "2000-02-29",
    "phone": "977712345",
    "ID number": "N07771234",
    "words of the question": "zebrafish",
    "Telegram id": str(TELEGRAM_ID),
}


async def every_value(app: App) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every column of every row of every table."""
    found = []
    async with app.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                for column, value in zip(table.columns.keys(), row, strict=True):
                    text = json.dumps(value, ensure_ascii=False, default=str)
                    found.append((table.name, column, text))
    return found


async def test_deleteme_leaves_nothing_of_the_person_anywhere(app_with_office: App) -> None:
    app = app_with_office
    session_id = await open_session(app, "Phnom Penh Test Centre")
    person = Applicant(app.conversation, user_id=TELEGRAM_ID, language="en")
    group = CoreGroup(app.conversation, STAFF_GROUP)
    await person.send("/book")
    await person.press_data("book:exam:jft-basic")
    await person.press_data(f"book:ses:{session_id}")
    await person.send("Thearoth Vannakrith")
    await person.send("ធារ៉ូត វណ្ណរិទ្ធ")
    await person.send("29/02/2000")
    await person.press("Male")
    await person.share_contact("+855977712345")
    await person.send("N07771234")
    await person.press("Kampot")
    await person.press("I agree")
    await person.press("Confirm booking")
    assert "You are registered" in person.last.text
    await person.send("I am Thearoth Vannakrith N07771234, may I bring my zebrafish to the test?")
    await person.press("Send my question to the office")
    await person.send("/staff")  # a refused staff command: audited under their account
    await deliver_outbox(app.conversation, person, group)
    [post] = group.posts
    assert "zebrafish" in post.text
    assert "THEAROTH VANNAKRITH" in post.text

    before = await every_value(app)
    for what, value in GIVEN.items():
        assert any(value in text for _, _, text in before), f"the test never stored the {what}"

    await person.send("/deleteme")
    await person.press("Yes, erase my data")
    assert "erased" in person.last.text
    await deliver_outbox(app.conversation, person, group)

    left = [
        (table, column, what)
        for table, column, text in await every_value(app)
        for what, value in GIVEN.items()
        if value in text
    ]
    assert left == []
    # The office's post (in the default language, Khmer) says what happened, and no more.
    [post] = group.posts
    assert post.text == "🗑 សំណួរ #1៖ បេក្ខជនបានលុបព័ត៌មានរបស់ខ្លួនហើយ។"
    assert "zebrafish" not in post.text
    # The registration stays, as an anonymous count.
    async with app.conversation.sessions() as db:
        [registration] = (await db.exec(select(Registration))).all()
    assert registration.applicant_id is None
    assert registration.status == "cancelled"


async def test_a_question_still_queued_for_the_office_is_never_posted(
    app_with_office: App,
) -> None:
    person = Applicant(app_with_office.conversation, user_id=TELEGRAM_ID, language="en")
    group = CoreGroup(app_with_office.conversation, STAFF_GROUP)
    await person.send("may I bring my zebrafish to the test?")
    await person.press("Send my question to the office")
    await person.send("/deleteme")  # before the sender came round to posting it
    await person.press("Yes, erase my data")
    assert await deliver_outbox(app_with_office.conversation, person, group) == 0
    assert group.posts == []
