"""Registrations: booking a seat atomically, the waitlist, and cancelling."""

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    and_,
    func,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, utcnow
from models.sessions import SessionStatus, TestSession

# Read aloud or typed on a cheap phone: no 0/O, 1/I/L, 5/S or 2/Z to mix up.
CODE_ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 6
LIVE = ("confirmed", "waitlisted")


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    ABSENT = "absent"


class Registration(SQLModel, table=True):
    """An applicant's seat (or place in line) at one test session."""

    __table_args__ = (
        # One live registration per applicant per exam, kept by the database itself.
        Index(
            "uq_live_registration_per_exam",
            "applicant_id",
            "exam_id",
            unique=True,
            sqlite_where=text("status IN ('confirmed', 'waitlisted')"),
            postgresql_where=text("status IN ('confirmed', 'waitlisted')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    applicant_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applicant.id", ondelete="CASCADE"), nullable=False)
    )
    session_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("test_session.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    exam_id: str = Field(
        sa_column=Column(String(32), ForeignKey("exam.id", ondelete="RESTRICT"), nullable=False)
    )
    status: RegistrationStatus = Field(sa_column=Column(String(16), nullable=False, index=True))
    code: str = Field(sa_column=Column(String(CODE_LENGTH), nullable=False, unique=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class BookingRefused(Exception):
    """The seat cannot be booked; `reason` says why (closed, cancelled, already_registered)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_code() -> str:
    """A short confirmation code that cannot be misread."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def book_seat(
    db: AsyncSession, applicant_id: int, session_id: int, now: datetime | None = None
) -> Registration:
    """Takes a seat with one conditional update, or a place on the waitlist when full.

    The session's status and registration window are checked in the same statement,
    so no booking slips in after closing and no seat is taken twice.
    """
    now = now or utcnow()
    session = await db.get(TestSession, session_id)
    if session is None:
        raise BookingRefused("closed")
    open_now = and_(
        col(TestSession.id) == session_id,
        col(TestSession.status) == SessionStatus.OPEN.value,
        col(TestSession.registration_opens_at) <= now,
        col(TestSession.registration_closes_at) > now,
    )
    try:
        # A savepoint: if the applicant already holds a live registration for this exam,
        # the database refuses the insert, and the seat just taken is given back with it.
        async with db.begin_nested():
            registration = await _take_seat_or_wait(db, applicant_id, session, open_now, now)
    except IntegrityError:
        raise BookingRefused("already_registered") from None
    return registration


async def _take_seat_or_wait(
    db: AsyncSession,
    applicant_id: int,
    session: TestSession,
    open_now: ColumnElement[bool],
    now: datetime,
) -> Registration:
    taken = await db.exec(
        update(TestSession)
        .where(open_now, col(TestSession.seats_taken) < col(TestSession.capacity))
        .values(seats_taken=TestSession.seats_taken + 1)  # type: ignore[operator]
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:
        status = RegistrationStatus.CONFIRMED
    else:
        still_open = await db.exec(select(func.count()).select_from(TestSession).where(open_now))
        if not still_open.one():
            raise BookingRefused("cancelled" if session.status == "cancelled" else "closed")
        status = RegistrationStatus.WAITLISTED
    assert session.id is not None
    registration = Registration(
        applicant_id=applicant_id,
        session_id=session.id,
        exam_id=session.exam_id,
        status=status,
        code=new_code(),
        created_at=now,
        updated_at=now,
    )
    db.add(registration)
    await db.flush()
    return registration


async def waitlist_position(db: AsyncSession, registration: Registration) -> int | None:
    """1 for the first in line; None when not waitlisted. Line order is booking order."""
    if registration.status != RegistrationStatus.WAITLISTED:
        return None
    ahead = await db.exec(
        select(func.count())
        .select_from(Registration)
        .where(
            col(Registration.session_id) == registration.session_id,
            col(Registration.status) == RegistrationStatus.WAITLISTED.value,
            col(Registration.id) <= registration.id,
        )
    )
    return int(ahead.one())


async def cancel_registration(
    db: AsyncSession, registration: Registration, now: datetime | None = None
) -> Registration | None:
    """Cancels; a freed seat goes to the first in line. Returns whoever was promoted."""
    now = now or utcnow()
    was_confirmed = registration.status == RegistrationStatus.CONFIRMED
    registration.status = RegistrationStatus.CANCELLED
    registration.cancelled_at = registration.updated_at = now
    db.add(registration)
    await db.flush()
    if not was_confirmed:
        return None
    first = (
        await db.exec(
            select(Registration)
            .where(
                col(Registration.session_id) == registration.session_id,
                col(Registration.status) == RegistrationStatus.WAITLISTED.value,
            )
            .order_by(col(Registration.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()
    if first is None:
        await db.exec(
            update(TestSession)
            .where(col(TestSession.id) == registration.session_id)
            .values(seats_taken=TestSession.seats_taken - 1)  # type: ignore[operator]
            .execution_options(synchronize_session=False)
        )
        return None
    first.status = RegistrationStatus.CONFIRMED
    first.updated_at = now
    db.add(first)
    await db.flush()
    return first


async def cancel_live_registrations(db: AsyncSession, applicant_id: int) -> list[Registration]:
    """Cancels every live registration of an applicant, freeing or passing on their seats.

    Returns the registrations promoted from a waitlist as a result.
    """
    live = (
        await db.exec(
            select(Registration)
            .where(
                col(Registration.applicant_id) == applicant_id,
                col(Registration.status).in_(LIVE),
            )
            .order_by(col(Registration.id))
        )
    ).all()
    promoted = []
    for registration in live:
        if (moved_up := await cancel_registration(db, registration)) is not None:
            promoted.append(moved_up)
    return promoted
