"""What the office does to test sessions, from any face (the command line, the web panel):
add, import, move, resize, close and cancel, each audited, and everyone concerned told
through the outbox."""

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.applicant.notices import offer_freed_seat, session_cancelled, session_moved
from handlers.core.services import Services
from models.registrations import change_capacity, live_registrations_at
from models.sessions import (
    SessionDraft,
    SessionStatus,
    TestSession,
    add_session,
    find_exam,
    move_session,
    set_session_status,
)
from models.staff import audit

LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M"
CSV_COLUMNS = [
    "exam", "starts_at", "venue_name_km", "venue_name_en", "venue_name_ja",
    "venue_address_km", "venue_address_en", "venue_address_ja", "latitude", "longitude",
    "capacity", "registration_opens_at", "registration_closes_at",
]  # fmt: skip


def local_time(text: str, zone: ZoneInfo) -> datetime:
    """ "2026-10-18 08:00" in the bot's time zone."""
    return datetime.strptime(text.strip(), LOCAL_TIME_FORMAT).replace(tzinfo=zone)


def draft_from_row(row: dict[str, str], zone: ZoneInfo) -> SessionDraft:
    """One CSV row as a checked session; raises ValueError or ValidationError."""
    values: dict[str, Any] = {key: (value or "").strip() for key, value in row.items() if key}
    values["exam_id"] = values.pop("exam")
    for column in ("starts_at", "registration_opens_at", "registration_closes_at"):
        try:
            values[column] = local_time(values[column], zone)
        except ValueError:
            raise ValueError(f"{column} must look like 2026-10-18 08:00") from None
    return SessionDraft(**values)


def describe(error: Exception) -> str:
    """A validation problem in one line, naming the fields."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'row'}: {item['msg']}" for item in error.errors()
        )
    return str(error)


def read_sessions_csv(
    text: str, zone: ZoneInfo
) -> tuple[list[tuple[int, SessionDraft]], list[str]]:
    """The checked sessions of a CSV text by line number, and one problem per bad line."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    header = list(rows[0].keys()) if rows else []
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing or not rows:
        return [], [f"missing columns: {', '.join(missing) or 'no rows'}"]
    drafts, problems = [], []
    for line, row in enumerate(rows, start=2):
        try:
            drafts.append((line, draft_from_row(row, zone)))
        except (ValueError, ValidationError) as error:
            problems.append(f"line {line}: {describe(error)}")
    return drafts, problems


async def import_sessions(
    db: AsyncSession, drafts: list[tuple[int, SessionDraft]], problems: list[str], actor: str
) -> list[str]:
    """Adds every session, or none when any line has a problem; the problems by line."""
    for line, draft in drafts:
        if await find_exam(db, draft.exam_id) is None:
            problems.append(f"line {line}: unknown exam '{draft.exam_id}'")
    if problems:
        return sorted(problems, key=_line_number)
    for _, draft in drafts:
        await add_session(db, draft)
    await audit(db, actor, "sessions_import", None, added=len(drafts))
    return []


def _line_number(problem: str) -> int:
    word = problem.split()[1].rstrip(":") if problem.startswith("line ") else "0"
    return int(word) if word.isdigit() else 0


async def add_one_session(db: AsyncSession, draft: SessionDraft, actor: str) -> int | None:
    """Adds a session, open for registration; None when its exam is unknown."""
    if await find_exam(db, draft.exam_id) is None:
        return None
    session = await add_session(db, draft)
    await audit(db, actor, "session_add", f"session:{session.id}")
    return session.id


async def people_to_tell(db: AsyncSession, session_id: int) -> int:
    """How many people a change to the session would tell: its live registrations."""
    return len(await live_registrations_at(db, session_id))


async def move(
    db: AsyncSession, services: Services, session_id: int, starts_at: datetime, actor: str
) -> int | None:
    """Moves a session; everyone registered is told and their reminders re-planned. The
    number told, or None when there is no such session."""
    moved = await move_session(db, session_id, starts_at)
    if moved is None:
        return None
    session, was = moved
    await audit(db, actor, "session_move", f"session:{session_id}", was=was.isoformat())
    return await session_moved(db, services, session, was)


async def cancel(db: AsyncSession, services: Services, session_id: int, actor: str) -> int | None:
    """Cancels a session and its registrations; the number told (None: no session)."""
    session = await set_session_status(db, session_id, SessionStatus.CANCELLED)
    if session is None:
        return None
    await audit(db, actor, "session_cancel", f"session:{session_id}")
    return await session_cancelled(db, services, session)


async def close(db: AsyncSession, session_id: int, actor: str) -> TestSession | None:
    """Stops registration for a session; None when there is no such session."""
    session = await set_session_status(db, session_id, SessionStatus.CLOSED)
    if session is not None:
        await audit(db, actor, "session_close", f"session:{session_id}")
    return session


async def resize(
    db: AsyncSession, services: Services, session_id: int, capacity: int, actor: str
) -> int:
    """Changes a session's seats; new seats go to the waitlist in order, each told. The
    number offered; BookingRefused below the seats taken."""
    offered = await change_capacity(db, session_id, capacity, services.now())
    for registration in offered:
        await offer_freed_seat(db, services, registration)
    await audit(
        db,
        actor,
        "session_capacity",
        f"session:{session_id}",
        capacity=capacity,
        offered=len(offered),
    )
    return len(offered)
