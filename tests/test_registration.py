"""Booking a seat from the chat: the wizard, bad answers, my registrations, offers, forgery."""

from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.app import App, build_app
from bot.demo import seed_demo
from handlers.applicant.registration import CONSENT_VERSION
from models import Applicant as ApplicantRow
from models import ConversationState, OutboxMessage, Registration, TestSession
from tests.support.app import settings_for_test
from tests.support.clock import PHNOM_PENH
from tests.support.core import Applicant, deliver_outbox
from tests.support.registration import BAD_ANSWERS, give_details


@pytest.fixture
async def app(app_on_each_engine: App) -> App:
    """The demo exams and sessions, on SQLite and on PostgreSQL."""
    async with app_on_each_engine.conversation.sessions() as db, db.begin():
        await seed_demo(db, app_on_each_engine.settings.zone)
    return app_on_each_engine


async def rows(app: App, model: type) -> list:
    async with app.conversation.sessions() as db:
        return list((await db.exec(select(model))).all())


async def sessions_of(app: App, exam_id: str) -> list[TestSession]:
    async with app.conversation.sessions() as db:
        query = select(TestSession).where(col(TestSession.exam_id) == exam_id)
        return list((await db.exec(query.order_by(col(TestSession.starts_at)))).all())


async def set_capacity(app: App, session_id: int | None, capacity: int) -> None:
    async with app.conversation.sessions() as db, db.begin():
        await db.exec(
            update(TestSession).where(col(TestSession.id) == session_id).values(capacity=capacity)
        )


async def start_booking(
    person: Applicant, exam: str = "JFT-Basic", venue: str = "Oct", agree: bool = True
) -> None:
    """Opens the wizard and picks the first session whose button mentions `venue`; agrees
    to the use of the details when asked (before the first one)."""
    await person.send("/book")
    await person.press(exam)
    await person.press(venue)
    if "This session is full" in person.last.text:
        await person.press("Join the waitlist")
    if agree and "Do you agree?" in person.last.text:
        await person.press("I agree")


async def book(person: Applicant, exam: str = "JFT-Basic", venue: str = "Oct") -> None:
    """The whole wizard, first time, with valid answers."""
    await start_booking(person, exam, venue)
    await give_details(person)
    full = "This session is full" in person.last.text
    await person.press("Join the waitlist" if full else "Confirm booking")


async def test_the_whole_wizard_books_a_seat(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await dara.send("/book")
    assert "Which test" in dara.last.text
    assert "Japanese language test (JFT-Basic)" in dara.last.labels
    await dara.press("JFT-Basic")
    assert "Times are Phnom Penh time" in dara.last.text
    assert any(label.endswith("40 left") for label in dara.last.labels)
    await dara.press("Oct")
    assert "Do you agree?" in dara.last.text  # before the first detail
    assert "date of birth" in dara.last.text
    await dara.press("I agree")
    assert "Step 1 of 7" in dara.last.text
    await give_details(dara)
    summary = dara.last.text
    for shown in ("SOK DARA", "សុខ ដារា", "March 15, 2001", "Female", "+855 12 345 678",
                  "N01234567", "Kampot", "Phnom Penh test centre (demo)"):  # fmt: skip
        assert shown in summary
    await dara.press("Confirm booking")
    assert "You are registered!" in dara.last.text
    [registration] = await rows(app, Registration)
    assert registration.status == "confirmed"
    assert f"Confirmation code: {registration.code}" in dara.last.text
    assert "identity document" in dara.last.text  # what to bring
    [pin] = dara.venues
    assert pin.text == "Phnom Penh test centre (demo)"  # the venue's title
    assert pin.location == (11.5564, 104.9282)
    [session] = [s for s in await rows(app, TestSession) if s.id == registration.session_id]
    assert session.seats_taken == 1
    [me] = await rows(app, ApplicantRow)
    assert (me.name_latin, me.phone, me.id_number, me.province) == (
        "SOK DARA",
        "+85512345678",
        "N01234567",
        "kampot",
    )
    assert me.consented_at is not None
    assert await rows(app, ConversationState) == []


@pytest.mark.parametrize(("answers_before", "bad", "explanation"), BAD_ANSWERS)  # fmt: skip
async def test_a_wrong_answer_is_explained_and_asked_again(
    app: App, answers_before: list[str], bad: str, explanation: str
) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    for answer in answers_before:
        if answer == "-":
            await dara.press("Skip")
        elif answer == "Female":
            await dara.press("Female")
        else:
            await dara.send(answer)
    [before] = await rows(app, ConversationState)
    await dara.send(bad)
    assert explanation in dara.last.text
    [after] = await rows(app, ConversationState)
    assert (after.step, after.data) == (before.step, before.data)
    assert await rows(app, Registration) == []


async def test_someone_elses_contact_is_refused(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    for answer in ("Sok Dara", "សុខ ដារា", "15/03/2001"):
        await dara.send(answer)
    await dara.press("Female")
    await dara.share_contact_of_someone_else("+85598765432")
    assert "your own phone number" in dara.last.text
    await dara.send("012 345 678")
    assert "Phone: +855 12 345 678" in dara.screens[dara.last.message_id - 1].text


async def test_a_detail_can_be_changed_from_the_summary(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    await give_details(dara)
    await dara.press("Province")
    await dara.press("Siem Reap")
    assert "Please check your registration" in dara.last.text
    assert "Province: Siem Reap" in dara.last.text
    await dara.press("Date of birth")
    await dara.send("1 January 2000")
    assert "January 1, 2000" in dara.last.text
    await dara.press("Confirm booking")
    [me] = await rows(app, ApplicantRow)
    assert (me.province, str(me.date_of_birth)) == ("siem-reap", "2000-01-01")


async def test_back_from_the_summary_walks_back_through_the_answers(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    await give_details(dara)
    await dara.press("⬅️ Back")
    assert "Your answer now: Kampot" in dara.last.text
    await dara.press("⬅️ Back")
    assert "Your answer now: N01234567" in dara.last.text
    await dara.send("123456789")  # a new answer replaces the old; the next is asked again
    await dara.press("Keep it")
    assert "ID or passport no.: 123456789" in dara.last.text
    assert "Province: Kampot" in dara.last.text
    await dara.press("Confirm booking")
    [me] = await rows(app, ApplicantRow)
    assert (me.id_number, me.province) == ("123456789", "kampot")


async def test_back_from_the_first_step_goes_to_the_sessions_and_a_stale_back_is_refused(
    app: App,
) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    await dara.press("⬅️ Back")
    assert "Choose a date and place" in dara.last.text
    await dara.send("Sok Dara")  # the list is answered with its buttons, not taken as a name
    assert "answer with the buttons" in dara.last.text
    await dara.press("Nov")
    assert "Step 1 of 7" in dara.last.text  # agreed already: not asked again
    [state] = await rows(app, ConversationState)
    [*_, november] = await sessions_of(app, "jft-basic")
    assert state.data["session_id"] == november.id
    await dara.send("Sok Dara")
    stale = dara.messages[-2]  # the first question, with its Back
    await dara.press_data(stale.buttons[-2].data or "", stale.message_id)
    assert dara.notices[-1].startswith("This button is out of date")
    assert "Step 2 of 7" in dara.last.text


async def test_back_from_consent_or_the_details_given_before_goes_to_the_sessions(
    app: App,
) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara, agree=False)
    await dara.press("⬅️ Back")
    assert "Choose a date and place" in dara.last.text
    await dara.press("Oct")
    await dara.press("I agree")
    await give_details(dara)
    await dara.press("Confirm booking")
    await start_booking(dara, exam="Nursing care skills test")
    assert "You gave these details last time" in dara.last.text
    await dara.press("No, enter new details")
    await dara.press("⬅️ Back")  # from the first detail: the details given before again
    assert "You gave these details last time" in dara.last.text
    await dara.press("⬅️ Back")
    assert "Choose a date and place" in dara.last.text


async def test_cancel_leaves_the_wizard_and_saves_nothing(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    await dara.send("Sok Dara")
    await dara.send("/cancel")
    assert "Nothing was saved" in dara.last.text
    assert await rows(app, ConversationState) == []
    await dara.send("How do I apply?")  # free text is a question again, not a name
    assert "Step" not in dara.last.text
    [me] = await rows(app, ApplicantRow)
    assert me.name_latin is None


async def test_refusing_consent_books_nothing(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara, agree=False)
    await dara.press("I do not agree")
    assert "Nothing was saved" in dara.last.text
    await dara.send("Sok Dara")  # not taken as a detail: none was asked
    assert "Step" not in dara.last.text
    assert await rows(app, Registration) == []
    assert await rows(app, ConversationState) == []
    [me] = await rows(app, ApplicantRow)
    assert (me.phone, me.name_latin, me.consented_at) == (None, None, None)


async def test_consent_is_asked_once_and_again_when_its_text_changes(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara)
    await start_booking(dara, exam="Nursing care skills test", agree=False)
    assert "You gave these details last time" in dara.last.text  # not asked again
    await dara.send("/cancel")
    async with app.conversation.sessions() as db, db.begin():  # a new consent text since
        await db.exec(update(ApplicantRow).values(consent_version="an-older-text"))
    await start_booking(dara, exam="Nursing care skills test", agree=False)
    assert "Do you agree?" in dara.last.text
    await dara.press("I agree")
    assert "You gave these details last time" in dara.last.text
    [me] = await rows(app, ApplicantRow)
    assert me.consent_version == CONSENT_VERSION


async def test_the_wizard_survives_a_restart(app: App, tmp_path: Path) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    await dara.send("Sok Dara")
    await dara.send("សុខ ដារា")
    restarted = build_app(settings_for_test(tmp_path, database_url=app.settings.database_url))
    await restarted.prepare_database()
    try:
        dara.conversation = restarted.conversation
        await dara.send("15/03/2001")
        assert "Step 4 of 7" in dara.last.text
        await dara.press("Female")
        await dara.share_contact("+85512345678")
        await dara.send("N01234567")
        await dara.press("Kampot")
        assert "SOK DARA" in dara.last.text
        await dara.press("Confirm booking")
        assert "You are registered!" in dara.last.text
    finally:
        await restarted.close()


async def test_details_are_offered_for_reuse_on_the_next_booking(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara)
    await start_booking(dara, exam="Nursing care skills test", venue="Oct")
    assert "You gave these details last time" in dara.last.text
    assert "SOK DARA" in dara.last.text
    await dara.press("Yes, use them")
    await dara.press("Confirm booking")
    assert "You are registered!" in dara.last.text
    assert len(await rows(app, Registration)) == 2


async def test_one_registration_per_test(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara)
    await dara.send("/book")
    await dara.press("JFT-Basic")
    assert "already registered for this test" in dara.last.text
    assert "My registrations" in dara.last.labels[0]


async def test_a_full_session_puts_the_applicant_on_the_waitlist(app: App) -> None:
    [first, *_] = await sessions_of(app, "jft-basic")
    await set_capacity(app, first.id, 1)
    dara = Applicant(app.conversation, user_id=1, language="en")
    sokha = Applicant(app.conversation, user_id=2, language="en")
    await book(dara)
    await start_booking(sokha)
    assert any(label.endswith(" · full") for shown in sokha.changes for label in shown.labels)
    await give_details(sokha)
    assert "This session is full: you will join the waitlist (place 1)" in sokha.last.text
    await sokha.press("Join the waitlist")
    assert "on its waitlist: number 1 in line" in sokha.last.text


async def test_a_full_session_is_flagged_before_any_detail_and_open_ones_are_offered(
    app: App,
) -> None:
    [first, *_] = await sessions_of(app, "jft-basic")
    await set_capacity(app, first.id, 1)
    dara = Applicant(app.conversation, user_id=1, language="en")
    sokha = Applicant(app.conversation, user_id=2, language="en")
    vanna = Applicant(app.conversation, user_id=3, language="en")
    await book(dara)
    await book(sokha)  # second in the full session's line
    await vanna.send("/book")
    await vanna.press("JFT-Basic")
    await vanna.press_data(f"book:ses:{first.id}")
    flag = vanna.last
    assert "This session is full: you will join the waitlist (place 2)" in flag.text
    assert "Do you agree?" not in flag.text  # nothing asked yet
    assert "These sessions of the same test still have seats" in flag.text
    offered = [label for label in flag.labels if " left" in label]
    assert offered
    assert all(" · full" not in label for label in flag.labels)
    assert "⏳ Join the waitlist" in flag.labels
    # An open session offered instead books a seat, with no word of a waitlist.
    await vanna.press(offered[0])
    await vanna.press("I agree")
    await give_details(vanna)
    assert "This session is full" not in vanna.last.text
    await vanna.press("Confirm booking")
    assert "You are registered!" in vanna.last.text
    [seat] = [
        r for r in await rows(app, Registration) if r.applicant_id != 1 and r.status == "confirmed"
    ]
    assert seat.session_id != first.id


async def test_a_cancelled_seat_is_offered_to_the_next_in_line(app: App) -> None:
    [first, *_] = await sessions_of(app, "jft-basic")
    await set_capacity(app, first.id, 1)
    dara = Applicant(app.conversation, user_id=1, language="en")
    sokha = Applicant(app.conversation, user_id=2, language="en")
    vanna = Applicant(app.conversation, user_id=3, language="en")
    for person in (dara, sokha, vanna):
        await book(person)
    await dara.send("/mybookings")
    assert "Status: confirmed" in dara.last.text
    await dara.press("Cancel")
    await dara.press("Yes, cancel it")
    assert "is cancelled" in dara.last.text
    assert await deliver_outbox(app.conversation, dara, sokha, vanna) == 1
    assert "A seat has become free for you" in sokha.last.text
    assert vanna.last is not None
    assert "waitlist" in vanna.last.text  # Vanna heard nothing new
    await sokha.press("Decline")
    assert "passes to the next person" in sokha.last.text
    assert await deliver_outbox(app.conversation, dara, sokha, vanna) == 1
    assert "A seat has become free for you" in vanna.last.text
    _, accept = vanna.find_button("Accept the seat")
    await vanna.press("Accept the seat")
    assert "You are registered!" in vanna.last.text
    by_person = {r.applicant_id: r.status for r in await rows(app, Registration)}
    assert sorted(by_person.values()) == ["cancelled", "cancelled", "confirmed"]
    [session] = [s for s in await rows(app, TestSession) if s.id == first.id]
    assert session.seats_taken == 1
    await vanna.press_data(accept.data)  # pressed again: the offer is gone
    assert vanna.notices[-1] == "This offer is no longer open."


async def test_rescheduling_moves_the_seat_and_keeps_the_code(app: App) -> None:
    first, second, _third = await sessions_of(app, "jft-basic")
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara)
    [before] = await rows(app, Registration)
    await dara.send("/mybookings")
    await dara.press("Change date")
    await dara.press("Siem Reap")
    # Asked first, naming both dates; nothing moves until confirmed, and Back changes nothing.
    en = app.conversation.services.texts("en")
    asked = dara.last.text
    assert en.moment(first.starts_at) in asked.split("\nto ")[0]
    assert en.moment(second.starts_at) in asked.split("\nto ")[1]
    await dara.press("Back")
    assert "to which session?" in dara.last.text
    [unmoved] = await rows(app, Registration)
    assert unmoved.session_id == first.id
    await dara.press("Siem Reap")
    await dara.press("Yes, move")
    assert "Moved." in dara.last.text
    assert before.code in dara.last.text
    [after] = await rows(app, Registration)
    assert (after.id, after.code, after.session_id) == (before.id, before.code, second.id)
    seats = {s.id: s.seats_taken for s in await rows(app, TestSession)}
    assert (seats[first.id], seats[second.id]) == (0, 1)
    assert dara.venues[-1].text == "Siem Reap test centre (demo)"


async def test_rescheduling_to_a_session_that_filled_up_changes_nothing(app: App) -> None:
    first, second, _third = await sessions_of(app, "jft-basic")
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara)
    await dara.send("/mybookings")
    await dara.press("Change date")
    await set_capacity(app, second.id, 1)
    async with app.conversation.sessions() as db, db.begin():
        await db.exec(
            update(TestSession).where(col(TestSession.id) == second.id).values(seats_taken=1)
        )
    await dara.press("Siem Reap")
    await dara.press("Yes, move")
    assert "just filled up" in dara.last.text
    [registration] = await rows(app, Registration)
    assert registration.session_id == first.id
    seats = {s.id: s.seats_taken for s in await rows(app, TestSession)}
    assert (seats[first.id], seats[second.id]) == (1, 1)


async def test_forged_and_stale_buttons_change_nothing(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    mallory = Applicant(app.conversation, user_id=2, language="en")
    await book(dara)
    [registration] = await rows(app, Registration)
    await mallory.send("/start")
    for forged in (
        f"mine:cancel_yes:{registration.id}",
        f"mine:to:{registration.id}:2",
        f"mine:to_yes:{registration.id}:2",
        f"offer:yes:{registration.id}",
        f"offer:no:{registration.id}",
        "mine:cancel_yes:999999",
        "book:ses:999999",
        "book:exam:no-such-exam",
        "reg:confirm",
        "reg:sex:female",
        "reg:prov:atlantis",
        "reg:edit:password",
        "book:ses:abc",
    ):
        await mallory.press_data(forged)
        assert mallory.notices[-1] == "This button is out of date. Send /start to see the menu."
    [after] = await rows(app, Registration)
    assert (after.status, after.session_id) == (registration.status, registration.session_id)
    await dara.press_data("reg:confirm")  # the confirmation tapped twice in a row
    assert dara.notices[-1] == "This button is out of date. Send /start to see the menu."
    assert len(await rows(app, Registration)) == 1


async def test_a_closed_or_cancelled_session_is_refused_politely(app: App) -> None:
    [first, *_] = await sessions_of(app, "jft-basic")
    dara = Applicant(app.conversation, user_id=1, language="en")
    await start_booking(dara)
    await give_details(dara)
    async with app.conversation.sessions() as db, db.begin():
        await db.exec(
            update(TestSession).where(col(TestSession.id) == first.id).values(status="cancelled")
        )
    await dara.press("Confirm booking")
    assert "no longer takes registrations" in dara.last.text
    assert await rows(app, Registration) == []
    await dara.press_data(f"book:ses:{first.id}")
    assert "no longer takes registrations" in dara.last.text


async def test_my_data_shows_the_details_and_registrations(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara)
    [registration] = await rows(app, Registration)
    await dara.send("/mydata")
    for shown in ("SOK DARA", "+855 12 345 678", "N01234567", "Kampot", registration.code,
                  "You agreed to their use on"):  # fmt: skip
        assert shown in dara.last.text
    # The session's time as everywhere else: day, month, year and 24-hour time.
    async with app.conversation.sessions() as db:
        session = await db.get(TestSession, registration.session_id)
    assert session is not None
    local = session.starts_at.astimezone(PHNOM_PENH)
    written = f"{local.day} {local:%b} {local.year} {local:%H:%M}"
    assert written in dara.last.text  # as its session button writes it: "17 Oct 2027 08:00"


async def test_deleteme_erases_identity_and_keeps_an_anonymous_count(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara)
    await dara.send("/deleteme")
    await dara.press("Yes, erase my data")
    assert await rows(app, ApplicantRow) == []
    [registration] = await rows(app, Registration)
    assert (registration.applicant_id, registration.status) == (None, "cancelled")
    assert all(s.seats_taken == 0 for s in await rows(app, TestSession))
    # The reminders planned at booking are skipped, and no longer point at anyone.
    reminders = await rows(app, OutboxMessage)
    assert {(r.status, r.applicant_id) for r in reminders} == {("skipped", None)}


@pytest.mark.parametrize(
    ("language", "words"),
    [("km", ["ជំហាន", "លិខិតឆ្លងដែន"]), ("ja", ["ステップ", "パスポート"])],
)
async def test_the_wizard_speaks_khmer_and_japanese(
    app: App, language: str, words: list[str]
) -> None:
    dara = Applicant(app.conversation, user_id=1, language=language)
    await dara.send("/book")
    await dara.press_data("book:exam:jft-basic")
    await dara.press_data(str(dara.last.buttons[0].data))
    await dara.press_data("reg:consent:yes")
    for word in words:
        assert word in dara.last.text
