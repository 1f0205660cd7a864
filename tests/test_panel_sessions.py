"""The web panel's sessions pages, against the real `applicant-bot panel` process: staff
add and import sessions, change seats, move, close and cancel them, and work through a
session's registrations (search, check-in, absent, export)."""

import csv
import io
from datetime import date, timedelta

import openpyxl
from sqlmodel import col, select

from bot.app import App
from models.applicants import Applicant
from models.columns import utcnow
from models.outbox import OutboxMessage
from models.registrations import Registration, book_seat
from models.sessions import TestSession
from tests.support.panel import ADMIN, OPERATOR, OWNER, as_staff
from tests.support.sessions import CSV_HEADER as HEADER
from tests.support.sessions import CSV_ROW as GOOD
from tests.support.sessions import open_session


async def book(app: App, session_id: int, count: int, first: int = 0) -> list[str]:
    """`count` applicants book the session through the booking operation; their codes."""
    async with app.conversation.sessions() as db, db.begin():
        codes = []
        for n in range(first, first + count):
            person = Applicant(
                telegram_id=50_000 + n,
                chat_id=50_000 + n,
                locale="km",
                name_latin=f"SOK DARA {n:03d}",
                name_khmer="សុខ ដារា",
                date_of_birth=date(2001, 3, 15),
                phone=f"+8551200{n:04d}",
            )
            db.add(person)
            await db.flush()
            assert person.id is not None
            codes.append((await book_seat(db, person.id, session_id)).code)
        return codes


async def open_session_of(app: App, capacity: int) -> int:
    """A session open now with `capacity` seats."""
    session_id = await open_session(app, "Centre")
    async with app.conversation.sessions() as db, db.begin():
        session = await db.get(TestSession, session_id)
        assert session is not None
        session.capacity = capacity
    return session_id


async def outbox_keys(app: App, prefix: str) -> list[str]:
    async with app.conversation.sessions() as db:
        found = await db.exec(
            select(OutboxMessage.dedupe_key).where(
                col(OutboxMessage.dedupe_key).startswith(prefix)
            )
        )
        return sorted(found.all())


async def session_row(app: App, session_id: int) -> TestSession:
    async with app.conversation.sessions() as db:
        found = await db.get(TestSession, session_id)
        assert found is not None
        return found


async def test_an_admin_adds_a_session_and_finds_it_by_exam_and_month(
    office: tuple[App, str],
) -> None:
    app, _ = office
    await open_session(app, "Existing centre")  # makes the exam
    browser = await as_staff(office, ADMIN)
    form = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    form["starts_at"] = "2027-10-17T08:00"  # as a datetime-local field sends it
    status, _, location = await browser.post("/sessions", form)
    assert status == 303
    body = (await browser.get(location))[1]
    assert "Session 2 added." in body
    october = (await browser.get("/sessions?exam=jft-basic&month=2027-10"))[1]
    assert "/sessions/2" in october
    assert "/sessions/1" not in october
    november = (await browser.get("/sessions?month=2027-11"))[1]
    assert "/sessions/2" not in november
    bad = {**form, "capacity": "0"}
    status, body, _ = await browser.post("/sessions", bad)
    assert status == 200
    assert "capacity" in body
    await browser.close()


async def test_a_csv_import_is_all_or_nothing_with_bad_lines_listed(
    office: tuple[App, str],
) -> None:
    app, _ = office
    await open_session(app, "Existing centre")
    browser = await as_staff(office, OWNER)
    await browser.get("/sessions")
    bad_date = GOOD.replace("2027-10-17 08:00", "17/10/2027")
    unknown_exam = GOOD.replace("jft-basic", "welding")
    text = "\n".join([HEADER, GOOD, bad_date, unknown_exam]) + "\n"
    status, body, _ = await browser.upload("/sessions/import", "s.csv", text.encode())
    assert status == 200
    assert "Nothing imported." in body
    assert "line 3: starts_at must look like" in body
    assert "line 4: unknown exam &#39;welding&#39;" in body
    assert "Centre" not in (await browser.get("/sessions"))[1]
    good = f"{HEADER}\n{GOOD}\n{GOOD.replace('10-17', '11-14')}\n".encode()
    status, _, location = await browser.upload("/sessions/import", "s.csv", good)
    assert (status, location) == (303, "/sessions")
    listing = (await browser.get("/sessions"))[1]
    assert "Imported 2 session(s)." in listing
    assert listing.count("Centre") == 2
    await browser.close()


async def test_more_seats_go_to_the_waitlist_in_order_and_fewer_than_taken_are_refused(
    office: tuple[App, str],
) -> None:
    app, _ = office
    session_id = await open_session_of(app, 2)
    await book(app, session_id, 5)  # 2 seats, then 3 in line
    browser = await as_staff(office, ADMIN)
    await browser.get(f"/sessions/{session_id}")
    await browser.post(f"/sessions/{session_id}/capacity", {"capacity": "1"})
    body = (await browser.get(f"/sessions/{session_id}"))[1]
    assert "Refused: more seats are taken than that." in body
    assert (await session_row(app, session_id)).capacity == 2
    await browser.post(f"/sessions/{session_id}/capacity", {"capacity": "4"})
    body = (await browser.get(f"/sessions/{session_id}"))[1]
    assert "Seats changed to 4; 2 offered to the waitlist." in body
    session = await session_row(app, session_id)
    assert (session.capacity, session.seats_taken) == (4, 4)
    async with app.conversation.sessions() as db:
        offered = (
            await db.exec(select(Registration.id).where(col(Registration.offered_at).is_not(None)))
        ).all()
    assert sorted(offered) == [3, 4]  # the first two in line, not the third
    assert len(await outbox_keys(app, "offer:")) == 2
    await browser.close()


async def test_cancel_shows_how_many_will_be_told_before_it_is_confirmed(
    office: tuple[App, str],
) -> None:
    app, _ = office
    session_id = await open_session(app, "Centre")
    await book(app, session_id, 3)
    browser = await as_staff(office, ADMIN)
    await browser.get(f"/sessions/{session_id}")
    status, body, _ = await browser.post(f"/sessions/{session_id}/cancel")
    assert status == 200
    assert "3 people will be told." in body
    assert (await session_row(app, session_id)).status == "open"
    status, _, _ = await browser.post(f"/sessions/{session_id}/cancel", {"confirm": "yes"})
    assert status == 303
    assert (await session_row(app, session_id)).status == "cancelled"
    assert len(await outbox_keys(app, "cancelled:")) == 3
    await browser.close()


async def test_moving_a_session_tells_everyone_and_plans_reminders_again(
    office: tuple[App, str],
) -> None:
    app, _ = office
    session_id = await open_session(app, "Centre")
    await book(app, session_id, 2)
    browser = await as_staff(office, ADMIN)
    await browser.get(f"/sessions/{session_id}")
    later = (utcnow() + timedelta(days=40)).astimezone(app.settings.zone)
    typed = later.strftime("%Y-%m-%dT08:00")
    status, body, _ = await browser.post(f"/sessions/{session_id}/move", {"starts_at": typed})
    assert "2 people will be told." in body
    status, _, _ = await browser.post(
        f"/sessions/{session_id}/move", {"starts_at": typed, "confirm": "yes"}
    )
    assert status == 303
    moved = await session_row(app, session_id)
    assert moved.starts_at.astimezone(app.settings.zone).strftime("%Y-%m-%dT%H:%M") == typed
    told = {key.split(":")[1] for key in await outbox_keys(app, "moved:")}
    assert told == {"1", "2"}  # each registration: the news and the venue's pin
    await browser.close()


async def test_registrations_are_paged_searched_checked_in_and_exported(
    office: tuple[App, str],
) -> None:
    app, _ = office
    session_id = await open_session_of(app, 58)
    codes = await book(app, session_id, 60)  # 58 seats and 2 in line
    operator = await as_staff(office, OPERATOR)
    first = (await operator.get(f"/sessions/{session_id}"))[1]
    assert first.count("SOK DARA") == 50
    assert "(60)" in first
    second = (await operator.get(f"/sessions/{session_id}?page=2"))[1]
    assert second.count("SOK DARA") == 10
    found = (await operator.post(f"/sessions/{session_id}/search", {"q": "dara 059"}))[1]
    assert found.count("SOK DARA") == 1
    assert "on the waitlist" in found
    by_phone = (await operator.post(f"/sessions/{session_id}/search", {"q": "0012"}))[1]
    assert by_phone.count("SOK DARA") == 1
    by_code = (await operator.post(f"/sessions/{session_id}/search", {"q": codes[7]}))[1]
    assert "SOK DARA 007" in by_code

    await operator.post("/registrations/8/checkin")
    page = (await operator.post(f"/sessions/{session_id}/search", {"q": codes[7]}))[1]
    assert "attended" in page
    assert "Undo check-in" in page
    await operator.post("/registrations/8/undo")
    page = (await operator.post(f"/sessions/{session_id}/search", {"q": codes[7]}))[1]
    assert "confirmed" in page
    await operator.post("/registrations/8/checkin")

    admin = await as_staff(office, ADMIN)
    status, data, disposition = await admin.download(f"/sessions/{session_id}/export.csv")
    assert status == 200
    assert f"sign-in-session-{session_id}-" in disposition
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 61
    assert any("សុខ ដារា" in row for row in rows)
    status, data, _ = await admin.download(f"/sessions/{session_id}/export.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet.max_row == 61
    await operator.close()
    await admin.close()


async def test_absent_is_marked_only_after_the_session(office: tuple[App, str]) -> None:
    app, _ = office
    session_id = await open_session(app, "Centre", starts_in=timedelta(days=5))
    await book(app, session_id, 2)
    browser = await as_staff(office, OPERATOR)
    await browser.get(f"/sessions/{session_id}")
    await browser.post(f"/sessions/{session_id}/absent")
    body = (await browser.get(f"/sessions/{session_id}"))[1]
    assert "This session has not started yet" in body
    async with app.conversation.sessions() as db, db.begin():
        session = await db.get(TestSession, session_id)
        assert session is not None
        session.registration_opens_at = utcnow() - timedelta(days=3)
        session.registration_closes_at = utcnow() - timedelta(days=2)
        session.starts_at = utcnow() - timedelta(hours=2)
    await browser.post("/registrations/1/checkin")
    await browser.post(f"/sessions/{session_id}/absent")
    body = (await browser.get(f"/sessions/{session_id}"))[1]
    assert "1 registration(s) marked absent." in body
    assert "absent" in body
    await browser.close()
