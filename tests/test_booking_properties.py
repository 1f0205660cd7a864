"""Random sequences of book, cancel, reschedule and answers to offers keep the seat invariants."""

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from bot.app import App, build_app
from models import Applicant, Registration, TestSession
from models.registrations import (
    LIVE,
    BookingRefused,
    accept_offer,
    book_seat,
    cancel_registration,
    decline_offer,
    reschedule,
)
from tests.support.app import settings_for_test
from tests.support.sessions import NOW, make_session

ACTIONS = ["book", "cancel", "reschedule", "accept", "decline"]
# (action, applicant index, session index)
operations = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.integers(min_value=0, max_value=7),
        st.integers(min_value=0, max_value=1),
    ),
    min_size=1,
    max_size=40,
)


async def check_invariants(app: App, session_ids: list[int]) -> None:
    async with app.conversation.sessions() as db:
        rows = (
            await db.exec(
                select(Registration).where(col(Registration.session_id).in_(session_ids))
            )
        ).all()
        sessions = [await db.get(TestSession, session_id) for session_id in session_ids]
    for session in sessions:
        assert session is not None
        mine = [r for r in rows if r.session_id == session.id]
        seated = [r for r in mine if r.holds_seat]
        waiting = [r for r in mine if r.status == "waitlisted" and r.offered_at is None]
        assert session.seats_taken == len(seated) <= session.capacity
        assert not waiting or len(seated) == session.capacity  # nobody waits for a free seat
    live = [r.applicant_id for r in rows if r.status in LIVE]
    assert len(live) == len(set(live))  # one live registration per applicant for the exam


async def play(
    app: App, capacities: tuple[int, int], steps: list[tuple[str, int, int]], people: list[int]
) -> None:
    session_ids = [await make_session(app, capacity) for capacity in capacities]
    for action, person, session_index in steps:
        async with app.conversation.sessions() as db, db.begin():
            live = (
                await db.exec(
                    select(Registration).where(
                        col(Registration.session_id).in_(session_ids),
                        col(Registration.applicant_id) == people[person],
                        col(Registration.status).in_(LIVE),
                    )
                )
            ).first()
            try:
                if action == "book":
                    await book_seat(db, people[person], session_ids[session_index], NOW)
                elif live is None:
                    pass
                elif action == "cancel":
                    await cancel_registration(db, live, NOW)
                elif action == "reschedule":
                    await reschedule(db, live, session_ids[session_index], NOW)
                elif action == "accept":
                    await accept_offer(db, live, NOW)
                else:
                    await decline_offer(db, live, NOW)
            except BookingRefused as refused:
                if refused.reason not in ("already_registered", "full", "not_movable", "no_offer"):
                    raise
        await check_invariants(app, session_ids)


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

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        capacities=st.tuples(st.integers(1, 3), st.integers(1, 3)),
        steps=operations,
    )
    def run(capacities: tuple[int, int], steps: list[tuple[str, int, int]]) -> None:
        people = loop.run_until_complete(new_people())
        loop.run_until_complete(play(app, capacities, steps, people))

    try:
        run()
    finally:
        loop.run_until_complete(app.close())
        loop.close()
