"""Staff in the chat: the gate, managing staff, check-in on the test day, the audit trail."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import App
from models import AuditEntry, Registration
from tests.support.app import start_app
from tests.support.clock import PHNOM_PENH, Clock
from tests.support.core import Applicant
from tests.support.registration import give_details
from tests.support.sessions import make_session

OWNER = 900
UNKNOWN_COMMAND = "I don't know the command"
STALE = "This button is out of date. Send /start to see the menu."


@pytest.fixture
def clock() -> Clock:
    """Nine in the morning in Phnom Penh, today: a session an hour away is today's."""
    morning = datetime.now(PHNOM_PENH).replace(hour=9, minute=0, second=0, microsecond=0)
    return Clock(morning.astimezone(UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[App]:
    """The app with one owner in ADMIN_IDS, on each engine."""
    app = await start_app(request, tmp_path, request.param, now=clock, admin_ids=[OWNER])
    yield app
    await app.close()


async def booked(
    app: App, user_id: int = 1, starts_in: timedelta = timedelta(hours=1)
) -> tuple[Applicant, Registration]:
    """An applicant with a confirmed seat at a session starting in an hour (by the bot's clock)."""
    now = app.conversation.services.now()
    session_id = await make_session(
        app,
        10,
        starts_at=now + starts_in,
        registration_opens_at=now - timedelta(days=1),
        registration_closes_at=now + timedelta(minutes=30),
    )
    person = Applicant(app.conversation, user_id=user_id, language="en")
    await person.send("/book")
    await person.press_data("book:exam:jft-basic")
    await person.press_data(f"book:ses:{session_id}")
    await person.press("I agree")
    await give_details(person)
    await person.press("Confirm booking")
    async with app.conversation.sessions() as db:
        registration = (
            await db.exec(select(Registration).order_by(col(Registration.id).desc()))
        ).first()
    assert registration is not None
    return person, registration


async def audit_actions(app: App) -> list[tuple[str, str, str | None]]:
    async with app.conversation.sessions() as db:
        entries = (await db.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    return [(e.actor, e.action, e.target) for e in entries]


async def test_staff_routes_do_not_exist_for_applicants(app: App) -> None:
    _dara, registration = await booked(app)
    mallory = Applicant(app.conversation, user_id=2, language="en")
    for command in ("/staff list", "/staff add 2 admin", f"/checkin {registration.code}",
                    "/absent 1"):  # fmt: skip
        await mallory.send(command)
        assert UNKNOWN_COMMAND in mallory.last.text
    await mallory.press_data(f"checkin:{registration.id}")
    assert mallory.notices[-1] == STALE
    await mallory.send(f"/start ticket_{registration.code}")  # someone else's ticket link
    assert "Main menu" in mallory.last.text
    assert registration.code not in mallory.last.text
    assert mallory.files == []
    async with app.conversation.sessions() as db:
        after = await db.get(Registration, registration.id)
    assert after is not None
    assert after.status == "confirmed"
    refused = [entry for entry in await audit_actions(app) if entry[1] == "refused"]
    assert [target for _, _, target in refused] == [
        "staff",
        "staff",
        "checkin",
        "absent",
        "checkin",
    ]
    assert {actor for actor, _, _ in refused} == {"telegram:2"}


async def test_the_owner_adds_an_operator_who_checks_people_in(app: App) -> None:
    _dara, registration = await booked(app)
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    operator = Applicant(app.conversation, user_id=300, language="en", name="Sophea Chan")
    await owner.send("/staff add 300 operator")
    assert "300 is now staff (operator)" in owner.last.text
    await owner.send("/staff list")
    assert "300" in owner.last.text
    await operator.send("/staff add 301 admin")
    assert "Only the owners" in operator.last.text

    await operator.send(f"/checkin {registration.code.lower()}")
    screen = operator.last.text
    for shown in ("SOK DARA", "សុខ ដារា", "March 15, 2001", "N01234567", "Status: confirmed"):
        assert shown in screen
    await operator.press("Checked in")
    assert operator.notices[-1] == "Checked in."
    assert "Status: attended" in operator.last.text
    await owner.send(f"/checkin {registration.code}")
    assert "Already checked in at" in owner.last.text
    assert "by Sophea Chan" in owner.last.text
    assert "Checked in" not in " ".join(owner.last.labels)
    await operator.press_data(f"checkin:{registration.id}")  # the button pressed again
    assert operator.notices[-1].startswith("Already checked in at")
    actions = [action for _, action, _ in await audit_actions(app)]
    assert actions.count("check_in") == 1
    assert "staff_add" in actions


async def test_staff_scanning_a_ticket_opens_the_check_in(app: App) -> None:
    dara, registration = await booked(app)
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    await owner.send(f"/start ticket_{registration.code}")
    assert f"Registration {registration.code}" in owner.last.text
    assert "Checked in" in owner.last.labels[0]
    await dara.send(f"/start ticket_{registration.code}")  # the owner of the ticket
    assert dara.files[-2].filename == f"ticket-{registration.code}.png"


async def test_a_check_in_is_undone_by_who_made_it_within_ten_minutes(
    app: App, clock: Clock
) -> None:
    _dara, registration = await booked(app)
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    await owner.send("/staff add 300 operator")
    operator = Applicant(app.conversation, user_id=300, language="en")
    await operator.send(f"/checkin {registration.code}")
    await operator.press("Checked in")
    await owner.send(f"/checkin {registration.code}")
    assert "Undo check-in" not in " ".join(owner.last.labels)  # not theirs to undo
    await owner.press_data(f"checkin:undo:{registration.id}")
    assert "Only the staff member who checked someone in can undo it" in owner.notices[-1]

    await operator.press("Undo check-in")
    assert operator.notices[-1] == "Check-in undone."
    assert "Status: confirmed" in operator.last.text
    await operator.press("Checked in")
    clock.now += timedelta(minutes=11)
    await operator.send(f"/checkin {registration.code}")
    assert "Undo check-in" not in " ".join(operator.last.labels)
    await operator.press_data(f"checkin:undo:{registration.id}")
    assert "only within 10 minutes" in operator.notices[-1]
    actions = [action for _, action, _ in await audit_actions(app)]
    assert actions.count("check_in") == 2
    assert actions.count("undo_check_in") == 1


async def test_the_door_sees_a_cancelled_code_and_another_days_session(app: App) -> None:
    dara, cancelled = await booked(app, user_id=1)
    await dara.send("/mybookings")
    await dara.press("Cancel")
    await dara.press("Yes, cancel it")
    _sokha, tomorrow = await booked(app, user_id=2, starts_in=timedelta(days=1))
    owner = Applicant(app.conversation, user_id=OWNER, language="en")

    await owner.send(f"/checkin {cancelled.code}")
    assert owner.last.text.startswith("⛔ CANCELLED")
    assert owner.last.labels == []
    await owner.press_data(f"checkin:{cancelled.id}")  # an old button
    assert owner.notices[-1] == "Only a confirmed registration can be checked in."

    await owner.send(f"/checkin {tomorrow.code}")
    day = (app.conversation.services.now() + timedelta(days=1)).astimezone(PHNOM_PENH)
    assert owner.last.text.startswith(f"⚠️ Not today's session ({day:%B} {day.day}, {day.year})")
    await owner.press("Checked in")
    assert f"Check in {tomorrow.code} anyway?" in owner.last.text
    await owner.press("Back")
    assert "Status: confirmed" in owner.last.text
    await owner.press("Checked in")
    await owner.press("Yes, check in")
    assert owner.notices[-1] == "Checked in."
    assert "Status: attended" in owner.last.text


async def test_absent_marks_the_rest_after_the_session(app: App, clock: Clock) -> None:
    _dara, first = await booked(app, user_id=1)
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    await owner.send(f"/absent {first.session_id}")
    assert "has not started yet" in owner.last.text
    clock.now += timedelta(hours=3)
    await owner.send(f"/absent {first.session_id}")
    assert "1 registration(s) marked absent" in owner.last.text
    async with app.conversation.sessions() as db:
        after = await db.get(Registration, first.id)
    assert after is not None
    assert after.status == "absent"


async def test_statistics_and_exports_for_staff(app: App) -> None:
    dara, registration = await booked(app)
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    operator = Applicant(app.conversation, user_id=300, language="en")
    await owner.send("/staff add 300 operator")
    await operator.send("/stats")
    assert "Statistics" in operator.last.text
    assert "Seats: 1/10 taken, 9 left, 0 waiting" in operator.last.text
    assert operator.files[-1].kind == "photo"
    assert operator.files[-1].data.startswith(b"\x89PNG")
    await operator.send("/export")
    assert "Only admins" in operator.last.text
    await owner.send(f"/export {registration.session_id}")
    csv_file, xlsx_file = owner.files[-2:]
    assert csv_file.filename.endswith(".csv")
    assert xlsx_file.filename.endswith(".xlsx")
    sheet = csv_file.data.decode("utf-8-sig")
    assert registration.code in sheet
    assert "សុខ ដារា" in sheet
    await dara.send("/export")
    assert UNKNOWN_COMMAND in dara.last.text
    assert not any(f.filename.endswith((".csv", ".xlsx")) for f in dara.files)
    actions = [action for _, action, _ in await audit_actions(app)]
    assert actions.count("export") == 1
    assert actions.count("stats") == 1
