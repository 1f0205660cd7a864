"""Registrations: booking a seat atomically, the waitlist, and cancelling."""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
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
from models.sessions import Exam, SessionStatus, TestSession

# Read aloud or typed on a cheap phone: no 0/O, 1/I/L, 5/S or 2/Z to mix up.
CODE_ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 6
CODE_DRAWS = 3  # new codes tried when one drawn is already taken
# A check-in made by mistake at a busy door can be taken back this long, by who made it.
CHECK_IN_UNDO_WINDOW = timedelta(minutes=10)


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    ABSENT = "absent"


LIVE = (RegistrationStatus.CONFIRMED.value, RegistrationStatus.WAITLISTED.value)
SEATED = (
    RegistrationStatus.CONFIRMED.value,
    RegistrationStatus.ATTENDED.value,
    RegistrationStatus.ABSENT.value,
)


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
    # None once the applicant erased their data: the row stays as an anonymous count.
    applicant_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("applicant.id", ondelete="SET NULL"), index=True),
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
    # Set while a freed seat is held for this waitlisted applicant, waiting for Accept/Decline.
    offered_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    offer_expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    checked_in_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    checked_in_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    checked_in_by_name: str | None = Field(default=None, max_length=64)  # as Telegram showed it
    # The session start the reminders in the outbox were planned for; None when none are.
    reminders_for: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))

    @property
    def holds_seat(self) -> bool:
        """Counted in the session's seats_taken: confirmed, or a seat held on offer."""
        return self.status in SEATED or (
            self.status == RegistrationStatus.WAITLISTED and self.offered_at is not None
        )


class BookingRefused(Exception):
    """The seat cannot be booked; `reason` says why (closed, cancelled, already_registered)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _open_at(session_id: int, now: datetime) -> ColumnElement[bool]:
    """The session is open and inside its registration window at `now`."""
    return and_(
        col(TestSession.id) == session_id,
        col(TestSession.status) == SessionStatus.OPEN.value,
        col(TestSession.registration_opens_at) <= now,
        col(TestSession.registration_closes_at) > now,
    )


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
    for attempt in range(CODE_DRAWS):
        try:
            # A savepoint: if the database refuses the insert, the seat just taken is
            # given back with it.
            async with db.begin_nested():
                return await _take_seat_or_wait(db, applicant_id, session, now)
        except IntegrityError:
            if await live_registration_for_exam(db, applicant_id, session.exam_id):
                raise BookingRefused("already_registered") from None
            # Else the code drawn was already someone's (1 in 387 million a pair, but
            # among tens of thousands of codes it happens): draw another.
            if attempt == CODE_DRAWS - 1:
                raise
    raise AssertionError("unreachable")


async def _take_seat(db: AsyncSession, session_id: int, now: datetime) -> bool:
    """Takes a seat with one conditional update; False when the session is full or closed."""
    taken = await db.exec(
        update(TestSession)
        .where(_open_at(session_id, now), col(TestSession.seats_taken) < col(TestSession.capacity))
        .values(seats_taken=TestSession.seats_taken + 1)  # type: ignore[operator]
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


async def _still_open(db: AsyncSession, session_id: int, now: datetime) -> bool:
    """Whether the session takes registrations at `now` (read after a seat was refused)."""
    found = await db.exec(
        select(func.count()).select_from(TestSession).where(_open_at(session_id, now))
    )
    return bool(found.one())


async def _take_seat_or_wait(
    db: AsyncSession, applicant_id: int, session: TestSession, now: datetime
) -> Registration:
    assert session.id is not None
    if await _take_seat(db, session.id, now):
        status = RegistrationStatus.CONFIRMED
    elif await _still_open(db, session.id, now):
        status = RegistrationStatus.WAITLISTED
    else:
        cancelled = session.status == SessionStatus.CANCELLED
        raise BookingRefused("cancelled" if cancelled else "closed")
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


async def waitlist_length(db: AsyncSession, session_id: int) -> int:
    """How many are in the session's line: a new booking would be this plus one."""
    waiting = await db.exec(
        select(func.count())
        .select_from(Registration)
        .where(
            col(Registration.session_id) == session_id,
            col(Registration.status) == RegistrationStatus.WAITLISTED.value,
        )
    )
    return int(waiting.one())


async def cancel_registration(
    db: AsyncSession, registration: Registration, now: datetime | None = None
) -> Registration | None:
    """Cancels; a seat it held is offered to the first in line. Returns who got the offer."""
    now = now or utcnow()
    held = registration.holds_seat
    registration.status = RegistrationStatus.CANCELLED
    registration.offered_at = None
    registration.offer_expires_at = None
    registration.cancelled_at = registration.updated_at = now
    db.add(registration)
    await db.flush()
    if not held:
        return None
    return await offer_freed_seat(db, registration.session_id, now)


async def offer_freed_seat(
    db: AsyncSession, session_id: int, now: datetime | None = None
) -> Registration | None:
    """Holds a freed seat for the first in line who has no offer yet; else frees it.

    Returns the registration the seat is now held for, or None when nobody waits.
    """
    now = now or utcnow()
    first = (
        await db.exec(
            select(Registration)
            .where(
                col(Registration.session_id) == session_id,
                col(Registration.status) == RegistrationStatus.WAITLISTED.value,
                col(Registration.offered_at).is_(None),
            )
            .order_by(col(Registration.id))
            .limit(1)
            # Concurrent cancellations each take the next one in line instead of waiting.
            .with_for_update(skip_locked=True)
        )
    ).first()
    if first is None:
        await db.exec(
            update(TestSession)
            .where(col(TestSession.id) == session_id)
            .values(seats_taken=TestSession.seats_taken - 1)  # type: ignore[operator]
            .execution_options(synchronize_session=False)
        )
        return None
    first.offered_at = first.updated_at = now
    db.add(first)
    await db.flush()
    return first


async def accept_offer(
    db: AsyncSession, registration: Registration, now: datetime | None = None
) -> bool:
    """Confirms the seat held for this applicant; False when there is no offer to accept."""
    if registration.status != RegistrationStatus.WAITLISTED or registration.offered_at is None:
        return False
    registration.status = RegistrationStatus.CONFIRMED
    registration.offered_at = None
    registration.offer_expires_at = None
    registration.updated_at = now or utcnow()
    db.add(registration)
    await db.flush()
    return True


async def decline_offer(
    db: AsyncSession, registration: Registration, now: datetime | None = None
) -> Registration | None:
    """Gives up the place in line; the held seat passes to the next. Returns who got it."""
    if registration.status != RegistrationStatus.WAITLISTED or registration.offered_at is None:
        raise BookingRefused("no_offer")
    return await cancel_registration(db, registration, now)


async def reschedule(
    db: AsyncSession,
    registration: Registration,
    new_session_id: int,
    now: datetime | None = None,
) -> Registration | None:
    """Moves a live registration to another open session of the same exam, keeping its code.

    The new seat is taken first, with the same conditional update as a booking; if the
    new session is full or closed, BookingRefused is raised and nothing has changed.
    The old seat is then offered to the first in its line; that registration is returned.
    """
    now = now or utcnow()
    if registration.status not in LIVE or registration.session_id == new_session_id:
        raise BookingRefused("not_movable")
    new_session = await db.get(TestSession, new_session_id)
    if new_session is None or new_session.exam_id != registration.exam_id:
        raise BookingRefused("closed")
    if not await _take_seat(db, new_session_id, now):
        raise BookingRefused("full" if await _still_open(db, new_session_id, now) else "closed")
    old_session_id, held = registration.session_id, registration.holds_seat
    registration.session_id = new_session_id
    registration.status = RegistrationStatus.CONFIRMED
    registration.offered_at = None
    registration.offer_expires_at = None
    registration.updated_at = now
    db.add(registration)
    await db.flush()
    return await offer_freed_seat(db, old_session_id, now) if held else None


async def session_and_exam(
    db: AsyncSession, registration: Registration
) -> tuple[TestSession, Exam]:
    """The session and the exam a registration is for (both are kept by foreign keys)."""
    session = await db.get(TestSession, registration.session_id)
    exam = await db.get(Exam, registration.exam_id)
    assert session is not None
    assert exam is not None
    return session, exam


async def find_by_code(db: AsyncSession, code: str) -> Registration | None:
    """The registration with this confirmation code (any case, spaces ignored)."""
    cleaned = code.replace(" ", "").upper()
    if len(cleaned) != CODE_LENGTH or set(cleaned) - set(CODE_ALPHABET):
        return None
    result = await db.exec(select(Registration).where(col(Registration.code) == cleaned))
    return result.first()


async def registrations_of(db: AsyncSession, applicant_id: int) -> Sequence[Registration]:
    """The applicant's registrations, newest first."""
    result = await db.exec(
        select(Registration)
        .where(col(Registration.applicant_id) == applicant_id)
        .order_by(col(Registration.id).desc())
    )
    return result.all()


async def live_registration_for_exam(
    db: AsyncSession, applicant_id: int, exam_id: str
) -> Registration | None:
    """The applicant's confirmed or waitlisted registration for this exam, if any."""
    result = await db.exec(
        select(Registration).where(
            col(Registration.applicant_id) == applicant_id,
            col(Registration.exam_id) == exam_id,
            col(Registration.status).in_(LIVE),
        )
    )
    return result.first()


async def live_registrations_of(db: AsyncSession, applicant_id: int) -> Sequence[Registration]:
    """The applicant's confirmed or waitlisted registrations, oldest first."""
    return await _live(db, col(Registration.applicant_id) == applicant_id)


async def live_registrations_at(db: AsyncSession, session_id: int) -> Sequence[Registration]:
    """Everyone confirmed or waitlisted at a session, in booking order."""
    return await _live(db, col(Registration.session_id) == session_id)


async def _live(db: AsyncSession, which: ColumnElement[bool]) -> Sequence[Registration]:
    result = await db.exec(
        select(Registration)
        .where(which, col(Registration.status).in_(LIVE))
        .order_by(col(Registration.id))
    )
    return result.all()


async def overdue_offers(
    db: AsyncSession, now: datetime, limit: int = 500
) -> Sequence[Registration]:
    """Waitlisted registrations whose held seat was not accepted in time, oldest first."""
    result = await db.exec(
        select(Registration)
        .where(
            col(Registration.status) == RegistrationStatus.WAITLISTED.value,
            col(Registration.offer_expires_at) <= now,
        )
        .order_by(col(Registration.offer_expires_at))
        .limit(limit)
    )
    return result.all()


async def check_in(
    db: AsyncSession,
    registration: Registration,
    staff_id: int,
    now: datetime | None = None,
    staff_name: str = "",
) -> bool:
    """Marks a confirmed registration attended; False when it was checked in already."""
    if registration.status != RegistrationStatus.CONFIRMED:
        return False
    registration.status = RegistrationStatus.ATTENDED
    registration.checked_in_at = registration.updated_at = now or utcnow()
    registration.checked_in_by = staff_id
    registration.checked_in_by_name = staff_name[:64] or None
    db.add(registration)
    await db.flush()
    return True


def may_undo_check_in(registration: Registration, staff_id: int, now: datetime) -> bool:
    """Whether `staff_id` may still take back the check-in: theirs, and recent."""
    return (
        registration.status == RegistrationStatus.ATTENDED
        and registration.checked_in_by == staff_id
        and registration.checked_in_at is not None
        and now - registration.checked_in_at <= CHECK_IN_UNDO_WINDOW
    )


async def undo_check_in(
    db: AsyncSession, registration: Registration, staff_id: int, now: datetime
) -> bool:
    """Takes back a check-in made by mistake; False when it is not theirs or too late."""
    if not may_undo_check_in(registration, staff_id, now):
        return False
    registration.status = RegistrationStatus.CONFIRMED
    registration.checked_in_at = registration.checked_in_by = None
    registration.checked_in_by_name = None
    registration.updated_at = now
    db.add(registration)
    await db.flush()
    return True


async def mark_absent(db: AsyncSession, session_id: int, now: datetime | None = None) -> int:
    """After a session: everyone confirmed but not checked in is marked absent."""
    result = await db.exec(
        update(Registration)
        .where(
            col(Registration.session_id) == session_id,
            col(Registration.status) == RegistrationStatus.CONFIRMED.value,
        )
        .values(status=RegistrationStatus.ABSENT.value, updated_at=now or utcnow())
    )
    return int(result.rowcount or 0)


async def change_capacity(
    db: AsyncSession, session_id: int, capacity: int, now: datetime | None = None
) -> list[Registration]:
    """Sets a session's number of seats; the seats it adds are held for the first in line,
    in order. Returns those registrations (each to be told of their offer).

    Raises:
        BookingRefused: "below_seats_taken" when fewer seats than are taken now (nothing
            changes), "no_session" when there is no such session.
    """
    now = now or utcnow()
    if capacity < 1:
        raise BookingRefused("below_seats_taken")
    result = await db.exec(
        update(TestSession)
        .where(col(TestSession.id) == session_id, col(TestSession.seats_taken) <= capacity)
        .values(capacity=capacity)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        exists = await db.get(TestSession, session_id)
        raise BookingRefused("below_seats_taken" if exists else "no_session")
    offered = []
    # Each new seat is taken by the same conditional update as a booking, then passed to
    # the first in line without an offer; with nobody waiting, it is given back.
    while await _take_any_seat(db, session_id):
        first = await offer_freed_seat(db, session_id, now)
        if first is None:
            break
        offered.append(first)
    session = await db.get(TestSession, session_id)
    if session is not None:
        await db.refresh(session)
    return offered


async def _take_any_seat(db: AsyncSession, session_id: int) -> bool:
    result = await db.exec(
        update(TestSession)
        .where(
            col(TestSession.id) == session_id,
            col(TestSession.seats_taken) < col(TestSession.capacity),
        )
        .values(seats_taken=TestSession.seats_taken + 1)  # type: ignore[operator]
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)
