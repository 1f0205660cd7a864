"""Reminders, offer deadlines, quiet hours and the scheduled jobs, on a clock the test moves."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.app import App
from handlers.applicant.notices import (
    expire_offers,
    reconcile_reminders,
    session_cancelled,
    session_moved,
)
from models import OutboxMessage, Registration, TestSession
from models.schedule import QuietHours, ReminderPlan, offer_deadline
from models.sessions import close_ended_windows
from tests.support.app import start_app
from tests.support.clock import PHNOM_PENH, Clock, local
from tests.support.core import Applicant, deliver_outbox
from tests.support.registration import give_details
from tests.support.sessions import make_session


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[App]:
    """The app with the test's clock, on each engine."""
    app = await start_app(request, tmp_path, request.param, now=clock)
    yield app
    await app.close()


async def session_at(app: App, starts: datetime, capacity: int = 10) -> int:
    """A JFT-Basic session at a venue, open for registration now (real time)."""
    now = datetime.now(UTC)
    return await make_session(
        app,
        capacity,
        starts_at=starts,
        registration_opens_at=now - timedelta(days=1),
        registration_closes_at=min(starts, now + timedelta(days=400)),
    )


async def book(person: Applicant, session_id: int) -> None:
    await person.send("/book")
    await person.press_data("book:exam:jft-basic")
    await person.press_data(f"book:ses:{session_id}")
    if "This session is full" in person.last.text:
        await person.press("Join the waitlist")
    await person.press("I agree")
    await give_details(person)
    full = "This session is full" in person.last.text
    await person.press("Join the waitlist" if full else "Confirm booking")


async def outbox(app: App, prefix: str = "reminder:") -> list[OutboxMessage]:
    async with app.conversation.sessions() as db:
        rows = (await db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return [row for row in rows if row.dedupe_key.startswith(prefix)]


def due_local(rows: list[OutboxMessage], status: str = "pending") -> dict[str, datetime]:
    return {
        row.dedupe_key.split(":")[2]: row.send_after.astimezone(PHNOM_PENH)
        for row in rows
        if row.status == status
    }


# --- The plan, in local time --------------------------------------------------------------


@pytest.mark.parametrize(
    ("booked", "starts", "expected"),
    [
        # Across a month end: 09:00 seven days and one day before, 07:00 on the morning.
        (local(2027, 10, 1, 12), local(2027, 11, 1, 8),
         {"7d": local(2027, 10, 25, 9), "1d": local(2027, 10, 31, 9),
          "day": local(2027, 11, 1, 7)}),
        # Across a year end.
        (local(2027, 12, 1, 12), local(2028, 1, 2, 13),
         {"7d": local(2027, 12, 26, 9), "1d": local(2028, 1, 1, 9),
          "day": local(2028, 1, 2, 7)}),
        # Booked three days before: the 7-day reminder is due at once.
        (local(2027, 10, 14, 15), local(2027, 10, 17, 8),
         {"7d": local(2027, 10, 14, 15), "1d": local(2027, 10, 16, 9),
          "day": local(2027, 10, 17, 7)}),
        # Booked the evening before: only the latest passed one, and the morning's.
        (local(2027, 10, 16, 20), local(2027, 10, 17, 8),
         {"1d": local(2027, 10, 16, 20), "day": local(2027, 10, 17, 7)}),
        # A test at 07:30: the morning reminder an hour before.
        (local(2027, 10, 1, 12), local(2027, 10, 17, 7, 30),
         {"7d": local(2027, 10, 10, 9), "1d": local(2027, 10, 16, 9),
          "day": local(2027, 10, 17, 6, 30)}),
    ],
)  # fmt: skip
def test_reminder_times(booked: datetime, starts: datetime, expected: dict) -> None:
    plan = ReminderPlan(PHNOM_PENH)
    assert plan.due_times(starts.astimezone(UTC), booked.astimezone(UTC)) == {
        kind: when.astimezone(UTC) for kind, when in expected.items()
    }


def test_quiet_hours_wait_for_the_morning() -> None:
    quiet = QuietHours(time(21), time(7), PHNOM_PENH)
    assert quiet.next_daytime(local(2027, 10, 31, 22, 15)) == local(2027, 11, 1, 7)
    assert quiet.next_daytime(local(2027, 11, 1, 3)) == local(2027, 11, 1, 7)
    assert quiet.next_daytime(local(2027, 11, 1, 7)) == local(2027, 11, 1, 7)
    assert quiet.next_daytime(local(2027, 11, 1, 20, 59)) == local(2027, 11, 1, 20, 59)


def test_an_offer_waits_less_close_to_the_test() -> None:
    offered = local(2027, 10, 1, 10)
    assert offer_deadline(offered, local(2027, 10, 20, 8), 12) == offered + timedelta(hours=12)
    assert offer_deadline(offered, offered + timedelta(hours=8), 12) == offered + timedelta(
        hours=2
    )
    assert offer_deadline(offered, offered + timedelta(hours=1), 12) == offered + timedelta(
        minutes=30
    )


# --- Reminders follow the registration ------------------------------------------------------


async def test_booking_plans_reminders_and_none_is_sent_early(app: App, clock: Clock) -> None:
    starts = (datetime.now(UTC) + timedelta(days=30)).astimezone(PHNOM_PENH)
    starts = starts.replace(hour=8, minute=0, second=0, microsecond=0)
    session_id = await session_at(app, starts.astimezone(UTC))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    planned = due_local(await outbox(app))
    assert set(planned) == {"7d", "1d", "day"}
    assert planned["7d"] == (starts - timedelta(days=7)).replace(hour=9)
    assert planned["day"] == starts.replace(hour=7)

    clock.now = planned["7d"].astimezone(UTC) - timedelta(minutes=1)
    assert await deliver_outbox(app.conversation, dara) == 0  # not a minute early
    clock.now = planned["7d"].astimezone(UTC)
    assert await deliver_outbox(app.conversation, dara) == 1
    assert "your test is in 7 days" in dara.last.text
    assert "Confirmation code" in dara.last.text
    clock.now = planned["day"].astimezone(UTC)
    assert await deliver_outbox(app.conversation, dara) == 2
    assert "Today is your test day" in dara.last.text


async def test_cancelling_drops_the_reminders(app: App) -> None:
    starts = datetime.now(UTC) + timedelta(days=30)
    session_id = await session_at(app, starts)
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    await dara.send("/mybookings")
    await dara.press("Cancel")
    await dara.press("Yes, cancel it")
    assert {row.status for row in await outbox(app)} == {"skipped"}


async def test_rescheduling_moves_the_reminders(app: App) -> None:
    first = await session_at(app, datetime.now(UTC) + timedelta(days=30))
    second = await session_at(app, datetime.now(UTC) + timedelta(days=40))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, first)
    await dara.send("/mybookings")
    await dara.press("Change date")
    await dara.press_data(f"mine:to:1:{second}")
    await dara.press("Yes, move")
    rows = await outbox(app)
    assert len([r for r in rows if r.status == "skipped"]) == 3
    async with app.conversation.sessions() as db:
        new_start = (await db.get(TestSession, second)).starts_at  # type: ignore[union-attr]
    fresh = [r for r in rows if r.status == "pending"]
    assert len(fresh) == 3
    assert all(r.dedupe_key.endswith(str(int(new_start.timestamp()))) for r in fresh)
    assert [f.filename for f in dara.files][-2:] == [
        f"ticket-{dara.files[-1].filename[7:13]}.png",
        f"ticket-{dara.files[-1].filename[7:13]}.ics",
    ]


async def test_reminders_can_be_switched_off_and_on(app: App) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    await dara.send("/settings")
    assert "Reminders before your test: on" in dara.last.text
    await dara.press("Turn reminders off")
    assert dara.notices[-1] == "Reminders are off."
    assert "Reminders before your test: off" in dara.last.text
    assert {row.status for row in await outbox(app)} == {"skipped"}
    await dara.press("Turn reminders on")
    assert {row.status for row in await outbox(app)} == {"pending"}
    assert len(await outbox(app)) == 3  # revived, not doubled


async def test_reminders_follow_a_change_of_language(app: App, clock: Clock) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    await dara.send("/language")
    await dara.press_data("lang:set:ja")
    rows = await outbox(app)
    assert len(rows) == 3  # re-written, not doubled
    assert {row.status for row in rows} == {"pending"}
    japanese = app.conversation.services.texts("ja")("Confirmation code: <b>{code}</b>")
    assert all(japanese.split("<b>")[0] in str(row.content) for row in rows)

    clock.now = min(row.send_after for row in rows)
    assert await deliver_outbox(app.conversation, dara) == 1
    assert japanese.split("<b>")[0] in dara.last.text
    assert "Reminder" not in dara.last.text

    await dara.press_data("lang:set:ja")  # the same language again changes nothing
    assert [row.status for row in await outbox(app)].count("sent") == 1


async def test_waitlisted_applicants_get_reminders_only_once_confirmed(app: App) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30), capacity=1)
    dara = Applicant(app.conversation, user_id=1, language="en")
    sokha = Applicant(app.conversation, user_id=2, language="en")
    await book(dara, session_id)
    await book(sokha, session_id)
    assert "waitlist" in sokha.last.text
    assert len(await outbox(app)) == 3  # Dara's only
    await dara.send("/mybookings")
    await dara.press("Cancel")
    await dara.press("Yes, cancel it")
    await deliver_outbox(app.conversation, dara, sokha)
    await sokha.press("Accept the seat")
    pending = [r for r in await outbox(app) if r.status == "pending"]
    assert len(pending) == 3
    assert {r.applicant_id for r in pending} != {None}
    assert sokha.files[0].kind == "photo"  # the ticket comes with the confirmation


# --- Offers that nobody answers -------------------------------------------------------------


async def test_an_unanswered_offer_passes_to_the_next_in_line(app: App, clock: Clock) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30), capacity=1)
    people = [Applicant(app.conversation, user_id=i, language="en") for i in (1, 2, 3)]
    dara, sokha, vanna = people
    for person in people:
        await book(person, session_id)
    await dara.send("/mybookings")
    await dara.press("Cancel")
    await dara.press("Yes, cancel it")
    await deliver_outbox(app.conversation, *people)
    assert "held for you until" in sokha.last.text
    _, accept = sokha.find_button("Accept the seat")

    clock.now = datetime.now(UTC) + timedelta(hours=11)
    async with app.conversation.sessions() as db, db.begin():
        assert await expire_offers(db, app.conversation.services, clock.now) == 0
    clock.now = datetime.now(UTC) + timedelta(hours=12, minutes=1)
    async with app.conversation.sessions() as db, db.begin():
        assert await expire_offers(db, app.conversation.services, clock.now) == 1
    await deliver_outbox(app.conversation, *people)
    assert "was not accepted in time" in sokha.last.text
    assert "A seat has become free for you" in vanna.last.text
    await sokha.press_data(accept.data)
    assert sokha.notices[-1] == "This offer is no longer open."
    async with app.conversation.sessions() as db:
        statuses = [r.status for r in (await db.exec(select(Registration))).all()]
        session = await db.get(TestSession, session_id)
    assert statuses == ["cancelled", "cancelled", "waitlisted"]
    assert session is not None
    assert session.seats_taken == 1  # held for Vanna now


# --- The office changes a session -----------------------------------------------------------


async def test_a_moved_session_tells_everyone_and_moves_their_reminders(
    app: App, clock: Clock
) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    async with app.conversation.sessions() as db, db.begin():
        session = await db.get(TestSession, session_id)
        assert session is not None
        was, session.starts_at = session.starts_at, session.starts_at + timedelta(days=2)
        db.add(session)
        assert await session_moved(db, app.conversation.services, session, was) == 1
    await deliver_outbox(app.conversation, dara)
    assert "has changed your test session" in dara.last.text
    assert dara.venues[-1].text == "v"  # the venue's title
    pending = [r for r in await outbox(app) if r.status == "pending"]
    assert len(pending) == 3
    assert all(r.dedupe_key.endswith(str(int(session.starts_at.timestamp()))) for r in pending)


async def test_a_cancelled_session_cancels_registrations_and_tells_everyone(app: App) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    async with app.conversation.sessions() as db, db.begin():
        session = await db.get(TestSession, session_id)
        assert session is not None
        session.status = "cancelled"
        db.add(session)
        assert await session_cancelled(db, app.conversation.services, session) == 1
    await deliver_outbox(app.conversation, dara)
    assert "has cancelled this test session" in dara.last.text
    assert {r.status for r in await outbox(app)} == {"skipped"}
    async with app.conversation.sessions() as db:
        [registration] = (await db.exec(select(Registration))).all()
    assert registration.status == "cancelled"


# --- The scheduled jobs ---------------------------------------------------------------------


async def test_reconcile_gives_reminders_to_whoever_lacks_them(app: App) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    async with app.conversation.sessions() as db, db.begin():
        await db.exec(update(OutboxMessage).values(status="skipped"))
        await db.exec(update(Registration).values(reminders_for=None))
    async with app.conversation.sessions() as db, db.begin():
        assert await reconcile_reminders(db, app.conversation.services, datetime.now(UTC)) == 1
    assert {r.status for r in await outbox(app)} == {"pending"}
    async with app.conversation.sessions() as db, db.begin():
        assert await reconcile_reminders(db, app.conversation.services, datetime.now(UTC)) == 0


async def test_registration_windows_close_on_time(app: App) -> None:
    now = datetime.now(UTC)
    ending = await make_session(
        app, 5, registration_opens_at=now - timedelta(days=2), registration_closes_at=now
    )
    open_one = await session_at(app, now + timedelta(days=30))
    async with app.conversation.sessions() as db, db.begin():
        assert await close_ended_windows(db, now) == 1
    async with app.conversation.sessions() as db:
        statuses = {s.id: s.status for s in (await db.exec(select(TestSession))).all()}
    assert (statuses[ending], statuses[open_one]) == ("closed", "open")


async def test_non_urgent_messages_wait_through_quiet_hours(app: App, clock: Clock) -> None:
    from handlers.core.events import SendText
    from handlers.core.letters import tell
    from models.applicants import meet_applicant

    clock.now = local(2027, 10, 31, 22, 30).astimezone(UTC)
    async with app.conversation.sessions() as db, db.begin():
        dara = (await meet_applicant(db, 1, 1)).applicant
        await tell(
            db,
            app.conversation.services,
            dara,
            "news:1",
            lambda _: [SendText("news")],
            urgent=False,
        )
    [row] = await outbox(app, "news:")
    assert row.send_after == local(2027, 11, 1, 7).astimezone(UTC)
    person = Applicant(app.conversation, user_id=1)
    assert await deliver_outbox(app.conversation, person) == 0
    clock.now = local(2027, 11, 1, 7).astimezone(UTC)
    assert await deliver_outbox(app.conversation, person) == 1


async def test_a_blocked_applicant_gets_their_reminders_back_on_return(app: App) -> None:
    session_id = await session_at(app, datetime.now(UTC) + timedelta(days=30))
    dara = Applicant(app.conversation, user_id=1, language="en")
    await book(dara, session_id)
    await app.conversation.mark_unreachable(1)  # Telegram said 403 to a reply
    assert {r.status for r in await outbox(app)} == {"skipped"}
    await dara.send("/start")  # they unblocked the bot and wrote again
    async with app.conversation.sessions() as db, db.begin():
        assert await reconcile_reminders(db, app.conversation.services, datetime.now(UTC)) == 1
    assert {r.status for r in await outbox(app)} == {"pending"}
    assert len(await outbox(app)) == 3
