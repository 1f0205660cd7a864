"""Booking seats: atomic on both engines, a strict waitlist, and freed seats offered in order."""

import asyncio
import random
from datetime import timedelta

import pytest
from sqlmodel import col, func, select

from bot.app import App
from models import Applicant, OutboxMessage, Registration, TestSession
from models.registrations import (
    CODE_ALPHABET,
    BookingRefused,
    RegistrationStatus,
    accept_offer,
    book_seat,
    cancel_registration,
    waitlist_position,
)
from tests.support.sessions import NOW, make_session


@pytest.fixture
def app(app_on_each_engine: App) -> App:
    """Every booking test runs on SQLite and on PostgreSQL."""
    return app_on_each_engine


async def make_applicants(app: App, count: int) -> list[int]:
    async with app.conversation.sessions() as db, db.begin():
        people = [Applicant(telegram_id=10_000 + i, chat_id=10_000 + i) for i in range(count)]
        db.add_all(people)
        await db.flush()
        return [person.id for person in people if person.id is not None]


async def book(app: App, applicant_id: int, session_id: int) -> Registration:
    async with app.conversation.sessions() as db, db.begin():
        return await book_seat(db, applicant_id, session_id, NOW)


async def census(app: App, session_id: int) -> tuple[int, list[Registration]]:
    async with app.conversation.sessions() as db:
        session = await db.get(TestSession, session_id)
        assert session is not None
        rows = (
            await db.exec(
                select(Registration)
                .where(col(Registration.session_id) == session_id)
                .order_by(col(Registration.id))
            )
        ).all()
        return session.seats_taken, list(rows)


async def test_500_applicants_race_for_50_seats(app: App) -> None:
    session_id = await make_session(app, capacity=50)
    people = await make_applicants(app, 500)
    results = await asyncio.gather(*(book(app, person, session_id) for person in people))
    confirmed = [r for r in results if r.status == RegistrationStatus.CONFIRMED]
    assert len(confirmed) == 50
    seats_taken, rows = await census(app, session_id)
    assert seats_taken == 50
    assert sum(r.status == "confirmed" for r in rows) == 50
    waitlisted = [r for r in rows if r.status == "waitlisted"]
    assert len(waitlisted) == 450
    async with app.conversation.sessions() as db:
        positions = [await waitlist_position(db, r) for r in waitlisted]
    assert positions == list(range(1, 451))  # a strict order, no ties

    async with app.conversation.sessions() as db:
        unique_codes = (await db.exec(select(func.count(func.distinct(Registration.code))))).one()
    assert unique_codes == 500
    assert all(set(r.code) <= set(CODE_ALPHABET) for r in rows)

    chosen = random.Random(7).sample([r.id for r in rows if r.status == "confirmed"], 20)

    async def cancel(registration_id: int | None) -> Registration | None:
        async with app.conversation.sessions() as db, db.begin():
            registration = await db.get(Registration, registration_id)
            assert registration is not None
            return await cancel_registration(db, registration, NOW)

    offered = await asyncio.gather(*(cancel(r) for r in chosen))
    assert all(p is not None for p in offered)
    assert len({p.id for p in offered if p}) == 20
    seats_taken, rows = await census(app, session_id)
    assert seats_taken == 50  # the 20 freed seats are held for the first 20 in line
    assert sum(r.status == "confirmed" for r in rows) == 30
    held = [r for r in rows if r.status == "waitlisted" and r.offered_at is not None]
    first_in_line = [r.id for r in waitlisted[:20]]
    assert sorted(r.id for r in held) == first_in_line

    async def accept(registration_id: int | None) -> bool:
        async with app.conversation.sessions() as db, db.begin():
            registration = await db.get(Registration, registration_id)
            assert registration is not None
            return await accept_offer(db, registration, NOW)

    assert all(await asyncio.gather(*(accept(r.id) for r in held)))
    seats_taken, rows = await census(app, session_id)
    assert seats_taken == 50
    assert sum(r.status == "confirmed" for r in rows) == 50
    assert sum(r.status == "waitlisted" for r in rows) == 430


async def test_one_live_registration_per_exam(app: App) -> None:
    first, second = await make_session(app, 5), await make_session(app, 5)
    [person] = await make_applicants(app, 1)
    await book(app, person, first)
    with pytest.raises(BookingRefused) as refused:
        await book(app, person, second)
    assert refused.value.reason == "already_registered"


async def test_a_code_drawn_twice_is_drawn_again_not_refused(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = await make_session(app, 5)
    first, second = await make_applicants(app, 2)
    taken = await book(app, first, session_id)
    draws = iter([taken.code, taken.code, "XY3467"])
    monkeypatch.setattr("models.registrations.new_code", lambda: next(draws))
    booked = await book(app, second, session_id)  # not "you already hold a seat"
    assert (booked.status, booked.code) == (RegistrationStatus.CONFIRMED, "XY3467")
    seats_taken, rows = await census(app, session_id)
    assert (seats_taken, len(rows)) == (2, 2)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"status": "cancelled"}, "cancelled"),
        ({"status": "closed"}, "closed"),
        ({"registration_closes_at": NOW - timedelta(minutes=1),
          "registration_opens_at": NOW - timedelta(days=2)}, "closed"),
        ({"registration_opens_at": NOW + timedelta(hours=1)}, "closed"),
    ],
)  # fmt: skip
async def test_closed_or_cancelled_sessions_take_no_booking(
    app: App, changes: dict, reason: str
) -> None:
    session_id = await make_session(app, 5, **changes)
    [person] = await make_applicants(app, 1)
    with pytest.raises(BookingRefused) as refused:
        await book(app, person, session_id)
    assert refused.value.reason == reason
    seats_taken, rows = await census(app, session_id)
    assert (seats_taken, rows) == (0, [])


async def test_cancelling_with_nobody_waiting_frees_the_seat(app: App) -> None:
    session_id = await make_session(app, 1)
    [person] = await make_applicants(app, 1)
    registration = await book(app, person, session_id)
    async with app.conversation.sessions() as db, db.begin():
        mine = await db.get(Registration, registration.id)
        assert mine is not None
        assert await cancel_registration(db, mine, NOW) is None
    seats_taken, _ = await census(app, session_id)
    assert seats_taken == 0
    again = await book(app, person, session_id)  # a cancelled booking is not "live"
    assert again.status == RegistrationStatus.CONFIRMED


async def test_a_refused_second_booking_gives_its_seat_back(app: App) -> None:
    session_id = await make_session(app, 3)
    [person] = await make_applicants(app, 1)
    async with app.conversation.sessions() as db, db.begin():
        await book_seat(db, person, session_id, NOW)
        with pytest.raises(BookingRefused):
            await book_seat(db, person, session_id, NOW)  # same transaction, as a handler would
    seats_taken, rows = await census(app, session_id)
    assert (seats_taken, len(rows)) == (1, 1)


async def test_deleteme_frees_the_applicants_seat_for_the_next_in_line(app: App) -> None:
    from tests.support.core import Applicant as Chat

    session_id = await make_session(app, 1)
    dara = Chat(app.conversation, user_id=777, language="en")
    await dara.send("/start")
    async with app.conversation.sessions() as db:
        me = (await db.exec(select(Applicant).where(col(Applicant.telegram_id) == 777))).one()
    [other] = await make_applicants(app, 1)
    assert (await book(app, me.id, session_id)).status == RegistrationStatus.CONFIRMED
    assert (await book(app, other, session_id)).status == RegistrationStatus.WAITLISTED
    await dara.send("/deleteme")
    await dara.press("Yes, erase my data")
    seats_taken, rows = await census(app, session_id)
    assert seats_taken == 1  # now held for the next in line
    # Dara's registration stays only as an anonymous, cancelled count.
    assert [(r.applicant_id, r.status, r.offered_at is not None) for r in rows] == [
        (None, "cancelled", False),
        (other, "waitlisted", True),
    ]
    async with app.conversation.sessions() as db:
        [offer] = (await db.exec(select(OutboxMessage))).all()
    assert offer.applicant_id == other
    # They never chose a language, so the offer is in the default one, Khmer.
    assert "មានកន្លែងទំនេរសម្រាប់អ្នកហើយ" in offer.content[0]["text"]
    assert offer.content[0]["buttons"][0][0][1] == f"offer:yes:{rows[1].id}"
