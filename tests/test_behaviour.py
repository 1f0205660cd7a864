"""Every journey, written once, run on every channel: the core itself, the console, aiogram
and PTB.

The Telegram channels poll the fake Bot API server over real HTTP; the console runs in
script mode in-process; the core driver hands events to the conversation directly. A
journey that works on one channel and not another fails here.
"""

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App, build_app
from bot.demo import seed_demo
from bot.scheduler import in_transaction
from handlers.applicant.notices import reconcile_reminders
from models import Registration, TestSession
from tests.support.app import settings_for_test
from tests.support.channels import CHANNELS, open_chats
from tests.support.chat import Chat, Chats
from tests.support.clock import PHNOM_PENH, RunningClock

OWNER, STAFF_GROUP = 900, -100777
DARA, SOKHA, KENJI = 5001, 5002, 5003
UNANSWERABLE = "how do I cook fish amok for my grandmother"
TAG = re.compile(r"<[^>]+>")


def applies_to(*channels: str, reason: str) -> pytest.MarkDecorator:
    """The channels a journey applies to; `reason` says why the others cannot play it."""
    assert reason, "say why the journey does not apply to the other channels"
    return pytest.mark.parametrize("chats", channels, indirect=True)


@pytest.fixture
def clock() -> RunningClock:
    """Tomorrow, 10:00 in Phnom Penh: daytime, so nothing waits for the end of quiet hours."""
    tomorrow = datetime.now(PHNOM_PENH) + timedelta(days=1)
    return RunningClock(tomorrow.replace(hour=10, minute=0, second=0, microsecond=0))


@pytest.fixture
async def app(tmp_path: Path, clock: RunningClock) -> AsyncIterator[App]:
    """The real factory's app, with an owner, a staff group, the demo sessions and a clock."""
    settings = settings_for_test(tmp_path, admin_ids=[OWNER], staff_chat_id=STAFF_GROUP)
    app = build_app(settings, now=clock)
    await app.prepare_database()
    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone, now=clock())
    yield app
    await app.close()


@pytest.fixture(params=CHANNELS)
async def chats(request: pytest.FixtureRequest, app: App) -> AsyncIterator[Chats]:
    """The users of one channel; every journey runs on each unless `applies_to` says."""
    async with open_chats(request.param, app) as chats:
        yield chats


def plain(app: App, locale: str, message: str) -> str:
    """A catalog message in one locale, as the user reads it (without its markup)."""
    return TAG.sub("", app.conversation.services.texts(locale)(message))


def ticket_code(person: Chat) -> str:
    """The confirmation code, read from the name of the ticket the user received."""
    ticket = [f for f in person.files if f.kind == "photo"][-1]
    match = re.fullmatch(r"ticket-(\w+)\.png", ticket.filename)
    assert match, ticket.filename
    return match.group(1)


async def book(person: Chat, say: Callable[[str], str] = str, venue: str = "Phnom Penh") -> str:
    """Books the first JFT-Basic session at `venue` with valid answers; returns the code.

    `say` gives a label in the user's language (the catalog's), for a user reading another.
    """
    await person.send("/book")
    await person.press("JFT-Basic")
    await person.press(venue)
    await person.press(say("✅ I agree"))
    for typed in ("Chan Sokha", "ចាន់ សុខា", "2000-01-01"):
        await person.send(typed)
    await person.press(say("Male"))
    await person.send("097 765 4321")
    await person.send("123456789")
    await person.press(say("Takeo"))
    await person.press(say("✅ Confirm booking"))
    assert person.last is not None
    code = ticket_code(person)
    assert code in person.last.text
    return code


async def seats_taken(app: App) -> dict[str, int]:
    async with app.conversation.sessions() as db:
        sessions = (await db.exec(select(TestSession))).all()
    return {f"{s.exam_id}:{s.id}": s.seats_taken for s in sessions}


# --- FAQ -----------------------------------------------------------------------------------------


async def test_faq_browse_type_and_ask_the_office(app: App, chats: Chats) -> None:
    faq = app.conversation.services.faq
    dara = chats.user(DARA)
    await dara.send("/faq")
    assert dara.last is not None
    topics = dara.last
    assert "Choose a topic" in topics.text
    await dara.press(faq.categories[1].title["en"])
    assert (dara.last.message_id, "Choose a question" in dara.last.text) == (
        topics.message_id,
        True,
    )
    question = dara.last.labels[0]
    await dara.press(question)
    assert dara.last.message_id == topics.message_id  # the answer is edited in place
    assert dara.last.text.startswith(question.removeprefix("❔ ").strip())
    assert "👍 Helpful" in dara.last.labels
    await dara.press("👍 Helpful")
    assert dara.notices[-1] == "Thank you! Your answer helps us improve."

    await dara.send("jft basic pass score")
    assert dara.last.message_id != topics.message_id  # a typed question gets a new message
    assert dara.last.text.startswith(faq.entries["jft-score"].question["en"])

    await dara.send(UNANSWERABLE)
    assert "don't know" in dara.last.text
    assert "📨 Send my question to the office" in dara.last.labels
    assert len(dara.texts) == 3


# --- Registration --------------------------------------------------------------------------------


async def test_registration_wizard_with_a_wrong_answer_at_every_step(
    app: App, chats: Chats
) -> None:
    dara = chats.user(DARA)
    await dara.send("/book")
    assert dara.last is not None
    assert "Which test" in dara.last.text
    await dara.press("JFT-Basic")
    assert "Times are Phnom Penh time" in dara.last.text
    await dara.press("Phnom Penh")
    assert "Do you agree?" in dara.last.text
    await dara.press("I agree")
    assert "Step 1 of 7" in dara.last.text
    # (a wrong answer, its explanation, a right one, what comes next); None presses a button.
    steps: list[tuple[str, str, str | None, str]] = [
        ("Сок Дара", "Latin letters", "Sok Dara", "Step 2 of 7"),
        ("Sok Dara", "Khmer script", "សុខ ដារា", "date of birth"),
        ("31/02/2001", "does not exist", "15.03.2001", "Step 4 of 7"),
        ("female please", "choose one of the buttons", None, "Step 5 of 7"),
        ("12345", "does not look like a phone", "contact", "passport number"),
        ("ABC", "national ID", "N01234567", "Step 7 of 7"),
        ("Kampot!", "choose one of the buttons", None, "Please check your registration"),
    ]
    for wrong, explanation, right, then in steps:
        asked, buttons = dara.last.text, dara.last.labels
        await dara.send(wrong)
        assert explanation in dara.last.text, (wrong, dara.last.text)
        if right is None:
            await dara.press("Female" if "Step 4" in asked else "Kampot")
        elif right == "contact":
            assert buttons[0] == "📱 Share my phone number"  # on the keyboard under the question
            await dara.share_contact("+85512345678")
            assert "Phone: +855 12 345 678" in dara.texts[-2]
        else:
            await dara.send(right)
        assert then in dara.last.text, (right, dara.last.text)

    summary = dara.last.text
    for shown in ("SOK DARA", "សុខ ដារា", "March 15, 2001", "Female", "+855 12 345 678",
                  "N01234567", "Kampot", "Phnom Penh test centre (demo)"):  # fmt: skip
        assert shown in summary
    await dara.press("Confirm booking")
    assert "You are registered!" in dara.last.text
    code = ticket_code(dara)
    assert f"Confirmation code: {code}" in dara.last.text
    [venue] = dara.venues
    assert (venue.text, venue.address) == (
        "Phnom Penh test centre (demo)",
        "Phnom Penh (demo address)",
    )
    ticket, calendar = dara.files
    assert (ticket.kind, ticket.filename) == ("photo", f"ticket-{code}.png")
    assert (calendar.kind, calendar.filename) == ("document", f"ticket-{code}.ics")
    kinds = [m.kind for m in dara.changes[-4:]]
    assert kinds == ["text", "venue", "photo", "document"]


async def test_back_in_the_wizard_keeps_what_was_given(app: App, chats: Chats) -> None:
    dara = chats.user(DARA)
    await dara.send("/book")
    await dara.press("JFT-Basic")
    await dara.press("Phnom Penh")
    await dara.press("⬅️ Back")  # from the consent to the sessions
    assert dara.last is not None
    assert "Times are Phnom Penh time" in dara.last.text
    await dara.press("Phnom Penh")
    await dara.press("I agree")
    await dara.send("Sok Dara")
    await dara.press("⬅️ Back")
    assert "Step 1 of 7" in dara.last.text
    assert "Your answer now: SOK DARA" in dara.last.text
    await dara.press("Keep it ➡️")
    await dara.press("Skip ➡️")
    await dara.send("15/03/2001")
    await dara.press("Female")
    assert "Step 5 of 7" in dara.last.text
    assert dara.last.labels[-2:] == ["⬅️ Back", "✖ Stop registering"]  # under the phone's
    await dara.press("⬅️ Back")
    assert "Step 4 of 7" in dara.last.text
    assert "Your answer now: Female" in dara.last.text
    await dara.press("Male")
    await dara.share_contact("+85512345678")
    await dara.send("N01234567")
    await dara.press("Kampot")
    for shown in ("SOK DARA", "March 15, 2001", "Male", "+855 12 345 678", "N01234567", "Kampot"):
        assert shown in dara.last.text
    await dara.press("Confirm booking")
    assert "You are registered!" in dara.last.text


async def test_a_full_session_is_flagged_before_any_detail(app: App, chats: Chats) -> None:
    async with app.conversation.sessions() as db, db.begin():
        sessions = (await db.exec(select(TestSession).order_by(TestSession.starts_at))).all()
        first = next(s for s in sessions if s.exam_id == "jft-basic")
        first.capacity = 1
        db.add(first)
    await book(chats.user(SOKHA))  # the only seat
    dara = chats.user(DARA)
    await dara.send("/book")
    await dara.press("JFT-Basic")
    await dara.press("Phnom Penh")
    assert dara.last is not None
    assert "This session is full: you will join the waitlist (place 1)" in dara.last.text
    assert "Do you agree?" not in dara.last.text
    assert any("Siem Reap" in label and "left" in label for label in dara.last.labels)
    await dara.press("⬅️ Back")
    assert "Times are Phnom Penh time" in dara.last.text
    await dara.press("Phnom Penh")
    await dara.press("⏳ Join the waitlist")
    await dara.press("✅ I agree")
    for typed in ("Sok Dara", "សុខ ដារា", "2000-01-01"):
        await dara.send(typed)
    await dara.press("Female")
    await dara.send("097 765 4321")
    await dara.send("N01234567")
    await dara.press("Takeo")
    assert "This session is full: you will join the waitlist (place 1)" in dara.last.text
    assert "✅ Confirm booking" not in dara.last.labels
    await dara.press("⏳ Join the waitlist")
    assert "on its waitlist" in dara.last.text


# --- My registrations ----------------------------------------------------------------------------


async def test_my_registrations_cancel_frees_the_seat(app: App, chats: Chats) -> None:
    dara = chats.user(DARA)
    code = await book(dara)
    before = await seats_taken(app)
    await dara.send("/mybookings")
    assert dara.last is not None
    assert code in dara.last.text
    assert "Status: confirmed" in dara.last.text
    await dara.press("Cancel")
    assert "Cancel this registration?" in dara.last.text
    await dara.press("Yes, cancel it")
    assert f"Your registration {code} is cancelled." in dara.last.text
    after = await seats_taken(app)
    assert sum(before.values()) - sum(after.values()) == 1
    # The user sees the seat back: the session offers all its 40 seats again.
    await dara.send("/book")
    await dara.press("JFT-Basic")
    assert any("Phnom Penh" in label and "40" in label for label in dara.last.labels)
    await dara.send("/mybookings")
    assert "Status: confirmed" not in dara.last.text


async def test_changing_the_date_asks_first(app: App, chats: Chats) -> None:
    dara = chats.user(DARA)
    code = await book(dara)
    await dara.send("/mybookings")
    await dara.press("Change date")
    await dara.press("Siem Reap")
    assert dara.last is not None
    assert "🔁 Move Japanese language test (JFT-Basic)" in dara.last.text
    assert dara.last.labels == ["✅ Yes, move", "⬅️ Back"]
    await dara.press("⬅️ Back")  # nothing moved
    assert "to which session?" in dara.last.text
    await dara.press("Siem Reap")
    await dara.press("✅ Yes, move")
    assert "Moved." in dara.last.text
    assert code in dara.last.text
    assert "Siem Reap test centre (demo)" in dara.venues[-1].text


async def test_the_menu_under_an_answer_leaves_the_answer_readable(app: App, chats: Chats) -> None:
    dara = chats.user(DARA)
    await dara.send("/start")
    await dara.send("how much does the jft test cost")
    answer = dara.last
    assert answer is not None
    assert "🏠 Main menu" in answer.labels
    await dara.press("🏠 Main menu")
    assert "What would you like to do" in dara.last.text
    assert dara.last.message_id != answer.message_id
    assert dara.screens[answer.message_id].text == answer.text


# --- Reminders arriving --------------------------------------------------------------------------


async def test_reminders_arrive_in_the_language_each_applicant_reads_now(
    app: App, chats: Chats, clock: RunningClock
) -> None:
    dara, kenji = chats.user(DARA, "en"), chats.user(KENJI, "ja")
    codes = {
        "en": await book(dara),
        "ja": await book(kenji, lambda label: plain(app, "ja", label), venue="プノンペン"),
    }
    confirmed = plain(app, "ja", "Confirmation code: <b>{code}</b>").format(code=codes["ja"])
    assert confirmed in kenji.texts[-1]  # the wizard spoke Japanese
    await dara.send("/language")  # Dara booked in English, then reads Khmer
    await dara.press("ភាសាខ្មែរ")
    codes["km"] = codes.pop("en")

    async def scheduled_work() -> int:
        """What the scheduler runs: reminders reconciled, then the outbox sent."""
        await in_transaction(
            app.conversation.sessions, app.conversation.services, reconcile_reminders
        )()
        return await chats.deliver_outbox()

    seen = {dara: len(dara.changes), kenji: len(kenji.changes)}
    async with app.conversation.sessions() as db:
        [starts] = {
            (await db.get(TestSession, r.session_id)).starts_at  # type: ignore[union-attr]
            for r in (await db.exec(select(Registration))).all()
        }
    week_before = (starts.astimezone(PHNOM_PENH) - timedelta(days=7)).replace(hour=9, minute=0)
    clock.jump_to(week_before - timedelta(minutes=1))
    assert await scheduled_work() == 0  # not a minute early
    clock.jump_to(week_before)  # 7 days before the test, 09:00 in Phnom Penh
    assert await scheduled_work() == 2
    for person, language in ((dara, "km"), (kenji, "ja")):
        [reminder] = person.changes[seen[person] :]
        headline = plain(app, language, "⏰ <b>Reminder: your test is in {days} days.</b>")
        assert reminder.text.startswith(headline.format(days=7))
        assert codes[language] in reminder.text
    assert "Reminder" not in kenji.changes[-1].text


# --- Staff broadcast -----------------------------------------------------------------------------


async def test_an_owner_broadcasts_to_everyone_in_their_language(app: App, chats: Chats) -> None:
    texts = {"km": "សេចក្តីជូនដំណឹង ថ្ងៃទី ១៧", "en": "Notice for applicants", "ja": "受験者へのお知らせ"}
    people = {"km": chats.user(SOKHA, "km"), "en": chats.user(DARA), "ja": chats.user(KENJI, "ja")}
    names = {"km": "ភាសាខ្មែរ", "en": "English", "ja": "日本語"}
    for language, person in people.items():
        await person.send("/language")
        await person.press(names[language])
    owner = chats.user(OWNER)
    await owner.send("/broadcast")
    await owner.press("One text per language")
    for language in ("km", "en", "ja"):
        await owner.send(texts[language])
    await owner.press("Everyone")
    await owner.press("Send now")
    await owner.press("Confirm and send")
    # The owner is an applicant too. (The console shows what the outbox has for its user after
    # each line, so there the progress post may already follow this answer.)
    assert any("queued for 4 people" in text for text in owner.texts)
    await chats.deliver_outbox()
    for language, person in people.items():
        assert person.last is not None
        assert texts[language] in person.last.text
        assert sum(texts[language] in text for text in person.texts) == 1
        assert not any(
            texts[other] in " ".join(person.texts) for other in texts if other != language
        )
    assert any(texts["en"] in text for text in owner.texts)


async def test_a_broadcast_with_a_language_skipped_at_night(
    app: App, chats: Chats, clock: RunningClock
) -> None:
    people = {"km": chats.user(SOKHA, "km"), "en": chats.user(DARA), "ja": chats.user(KENJI, "ja")}
    names = {"km": "ភាសាខ្មែរ", "en": "English", "ja": "日本語"}
    for language, person in people.items():
        await person.send("/language")
        await person.press(names[language])
    night = clock().astimezone(PHNOM_PENH).replace(hour=22, minute=30)
    clock.jump_to(night)
    owner = chats.user(OWNER)
    await owner.send("/broadcast")
    await owner.send("/cancel")
    assert owner.last is not None
    assert "The broadcast was cancelled. Nothing was sent." in owner.last.text
    await owner.send("/broadcast")
    await owner.press("One text per language")
    await owner.send("សេចក្ដីជូនដំណឹង")
    await owner.send("A notice")
    await owner.press("⏭ Skip: 日本語 readers get the ភាសាខ្មែរ text")
    await owner.press("Everyone")
    shown = " ".join(owner.texts)
    assert "日本語: skipped; its readers get the ភាសាខ្មែរ text above." in shown
    assert "ភាសាខ្មែរ: 2 people" in owner.last.text  # Sokha, and the owner (no choice made)
    assert "English: 1 person" in owner.last.text
    assert "日本語: 1 person" in owner.last.text
    await owner.press("Send now")
    assert "so it will go out at" in owner.last.text  # quiet hours, said before sending
    assert "🚨 Send now anyway (urgent)" in owner.last.labels
    await owner.press("🚨 Send now anyway (urgent)")
    await chats.deliver_outbox()
    assert "សេចក្ដីជូនដំណឹង" in people["ja"].last.text  # the skipped language: the default
    assert "A notice" in people["en"].last.text


# --- Handoff -------------------------------------------------------------------------------------


@applies_to(
    "core",
    "aiogram",
    "ptb",
    reason="the console plays private chats only: it cannot show the staff group's post nor "
    "send a staff member's reply to it",
)
async def test_a_question_goes_to_the_office_and_the_answer_comes_back(
    app: App, chats: Chats
) -> None:
    group = await chats.staff_group(STAFF_GROUP, OWNER)
    dara = chats.user(DARA)
    await dara.send(UNANSWERABLE)
    await dara.press("Send my question to the office")
    assert dara.last is not None
    assert "sent to the test office" in dara.last.text
    await chats.deliver_outbox()
    [post] = group.posts
    assert UNANSWERABLE in post.text
    assert f"Telegram {DARA}" in post.text
    await group.reply(OWNER, post.message_id, "We cannot help with motorbikes, sorry.", "Sophea")
    await chats.deliver_outbox()
    assert "Answer from the test office" in dara.last.text
    assert "We cannot help with motorbikes, sorry." in dara.last.text
    [answered] = group.posts
    assert answered.message_id == post.message_id  # the post is marked, in place
    assert "✅" in answered.text
    assert "Sophea" in answered.text.split("✅")[1]  # who answered, by name


# --- Check-in ------------------------------------------------------------------------------------


async def test_staff_check_in_by_link_then_a_second_scan(app: App, chats: Chats) -> None:
    code = await book(chats.user(DARA))
    owner = chats.user(OWNER)
    await owner.send(f"/start ticket_{code}")  # the QR code on the ticket opens this link
    assert owner.last is not None
    assert f"Registration {code}" in owner.last.text
    assert "CHAN SOKHA" in owner.last.text
    # The demo's sessions are days away: the screen says so first, and asks before checking in.
    assert owner.last.text.startswith("⚠️ Not today's session")
    await owner.press("Checked in")
    assert "anyway?" in owner.last.text
    await owner.press("Yes, check in")
    assert owner.notices[-1] == "Checked in."
    assert "Status: attended" in owner.last.text
    assert "Checked in" not in " ".join(owner.last.labels)
    await owner.press("Undo check-in")  # a wrong tap at the door, taken back
    assert owner.notices[-1] == "Check-in undone."
    assert "Status: confirmed" in owner.last.text
    await owner.press("Checked in")
    await owner.press("Yes, check in")
    await owner.send(f"/checkin {code}")
    assert "Already checked in at" in owner.last.text
    await owner.send(f"/start ticket_{code}")
    assert "Already checked in at" in owner.last.text
