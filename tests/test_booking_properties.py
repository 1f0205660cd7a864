"""Random sequences of bookings and cancellations never break the seat invariants."""

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from bot.app import App, build_app
from models import Applicant, Registration, TestSession
from models.registrations import BookingRefused, book_seat, cancel_registration
from tests.conftest import settings_for_test
from tests.test_booking import NOW, make_session

# ("book", applicant index) or ("cancel", applicant index)
operations = st.lists(
    st.tuples(st.sampled_from(["book", "cancel"]), st.integers(min_value=0, max_value=7)),
    min_size=1,
    max_size=40,
)


async def check_invariants(app: App, session_id: int) -> None:
    async with app.conversation.sessions() as db:
        session = await db.get(TestSession, session_id)
        assert session is not None
        rows = (
            await db.exec(select(Registration).where(col(Registration.session_id) == session_id))
        ).all()
    confirmed = [r for r in rows if r.status == "confirmed"]
    waitlisted = [r for r in rows if r.status == "waitlisted"]
    assert session.seats_taken == len(confirmed) <= session.capacity
    assert not waitlisted or len(confirmed) == session.capacity  # nobody waits for a free seat
    live = [r.applicant_id for r in confirmed + waitlisted]
    assert len(live) == len(set(live))  # one live registration per applicant


async def play(app: App, capacity: int, steps: list[tuple[str, int]], people: list[int]) -> None:
    session_id = await make_session(app, capacity)
    for action, index in steps:
        async with app.conversation.sessions() as db, db.begin():
            if action == "book":
                try:
                    await book_seat(db, people[index], session_id, NOW)
                except BookingRefused as refused:
                    if refused.reason != "already_registered":
                        raise
            else:
                live = (
                    await db.exec(
                        select(Registration).where(
                            col(Registration.session_id) == session_id,
                            col(Registration.applicant_id) == people[index],
                            col(Registration.status).in_(["confirmed", "waitlisted"]),
                        )
                    )
                ).first()
                if live is not None:
                    await cancel_registration(db, live, NOW)
        await check_invariants(app, session_id)


def test_invariants_hold_after_every_step(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    app = build_app(settings_for_test(tmp_path))
    loop.run_until_complete(app.prepare_database())
    counter = iter(range(10**6))

    async def new_people() -> list[int]:
        async with app.conversation.sessions() as db, db.begin():
            base = next(counter) * 100
            people = [Applicant(telegram_id=base + i, chat_id=base + i) for i in range(8)]
            db.add_all(people)
            await db.flush()
            return [p.id for p in people if p.id is not None]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(capacity=st.integers(min_value=1, max_value=4), steps=operations)
    def run(capacity: int, steps: list[tuple[str, int]]) -> None:
        people = loop.run_until_complete(new_people())
        loop.run_until_complete(play(app, capacity, steps, people))

    try:
        run()
    finally:
        loop.run_until_complete(app.close())
        loop.close()
