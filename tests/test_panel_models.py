"""The operations under the web panel, on SQLite and PostgreSQL: login links used once,
panel sessions, seats added to a session going to its waitlist in order, and a session's
registrations paged and searched with their places in line."""

from datetime import date, timedelta

import pytest
from sqlmodel import select

from bot.app import App
from models.applicants import Applicant
from models.columns import utcnow
from models.panel import (
    PanelLoginLink,
    PanelSession,
    end_sessions_of,
    find_panel_session,
    issue_login_link,
    redeem_login_link,
    save_panel_session,
)
from models.registrations import BookingRefused, book_seat, change_capacity
from models.retention import Retention, prune
from models.sessions import TestSession
from models.sign_in import registrations_page
from tests.support.sessions import open_session


async def test_a_login_link_lets_in_once_and_only_in_time(app_on_each_engine: App) -> None:
    app, now = app_on_each_engine, utcnow()
    async with app.conversation.sessions() as db, db.begin():
        token = await issue_login_link(db, 77, now)
        late = await issue_login_link(db, 78, now - timedelta(minutes=5, seconds=1))
    async with app.conversation.sessions() as db, db.begin():
        assert await redeem_login_link(db, token, now) == 77
        assert await redeem_login_link(db, token, now) is None
        assert await redeem_login_link(db, late, now) is None
        assert await redeem_login_link(db, "guessed", now) is None


async def test_panel_sessions_expire_and_end_with_the_staff_member(
    app_on_each_engine: App,
) -> None:
    app, now = app_on_each_engine, utcnow()
    async with app.conversation.sessions() as db, db.begin():
        await save_panel_session(db, "key-1", 77, {"locale": "km"}, now)
        await save_panel_session(db, "key-2", 78, {}, now - timedelta(hours=8, seconds=1))
    async with app.conversation.sessions() as db, db.begin():
        found = await find_panel_session(db, "key-1", now)
        assert found is not None
        assert found.data == {"locale": "km"}
        assert await find_panel_session(db, "key-2", now) is None
        assert await end_sessions_of(db, 77) == 1
        assert await find_panel_session(db, "key-1", now) is None
        await issue_login_link(db, 79, now - timedelta(minutes=6))
    async with app.conversation.sessions() as db, db.begin():
        assert await prune(db, now, Retention()) == 2  # the nightly job: key-2 and the link
        assert (await db.exec(select(PanelSession))).all() == []
        assert (await db.exec(select(PanelLoginLink))).all() == []


async def booked(app: App, session_id: int, count: int) -> None:
    async with app.conversation.sessions() as db, db.begin():
        for n in range(count):
            person = Applicant(
                telegram_id=900_000 + n, chat_id=900_000 + n, name_latin=f"KEO MALA {n:02d}",
                date_of_birth=date(2000, 1, 1), phone=f"+85510{n:06d}",
            )  # fmt: skip
            db.add(person)
            await db.flush()
            assert person.id is not None
            await book_seat(db, person.id, session_id)


async def test_more_seats_are_offered_in_line_order(app_on_each_engine: App) -> None:
    app = app_on_each_engine
    session_id = await open_session(app, "Centre")
    async with app.conversation.sessions() as db, db.begin():
        session = await db.get(TestSession, session_id)
        assert session is not None
        session.capacity = 2
    await booked(app, session_id, 6)
    async with app.conversation.sessions() as db, db.begin():
        with pytest.raises(BookingRefused):
            await change_capacity(db, session_id, 1)
    async with app.conversation.sessions() as db, db.begin():
        offered = await change_capacity(db, session_id, 4)
        assert [r.id for r in offered] == [3, 4]
        session = await db.get(TestSession, session_id)
        assert session is not None
        assert (session.capacity, session.seats_taken) == (4, 4)
        lines, total = await registrations_page(db, session_id, "", page=1, size=4)
        assert total == 6
        assert [line.waitlist_place for line in lines] == [None, None, 1, 2]
        lines, _ = await registrations_page(db, session_id, "mala 05")
        assert [(line.name_latin, line.waitlist_place) for line in lines] == [("KEO MALA 05", 4)]
        lines, _ = await registrations_page(db, session_id, "0000004")
        assert [line.name_latin for line in lines] == ["KEO MALA 04"]
        more = await change_capacity(db, session_id, 10)
        assert [r.id for r in more] == [5, 6]  # the rest of the line, and no seat more
        assert (await db.get(TestSession, session_id)).seats_taken == 6  # type: ignore[union-attr]
