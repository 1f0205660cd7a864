"""Exams and their test sessions: where and when a seat can be booked."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, ColumnElement, ForeignKey, Integer, String, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Exam(SQLModel, table=True):
    """A kind of test: the Japanese language test or one skills-test field."""

    id: str = Field(primary_key=True, max_length=32)  # a slug, e.g. "jft-basic"
    name_km: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    name_ja: str = Field(max_length=200)
    min_age: int = Field(default=18, ge=0, le=99)
    active: bool = Field(default=True)


class TestSession(SQLModel, table=True):
    """One sitting of an exam: a time, a venue and a number of seats."""

    __test__ = False  # the name starts with "Test"; pytest must not collect it
    __tablename__ = "test_session"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint(
            "seats_taken >= 0 AND seats_taken <= capacity", name="seats_within_capacity"
        ),
        CheckConstraint("registration_opens_at < registration_closes_at", name="window_in_order"),
    )

    id: int | None = Field(default=None, primary_key=True)
    exam_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("exam.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    starts_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    venue_name_km: str = Field(max_length=200)
    venue_name_en: str = Field(max_length=200)
    venue_name_ja: str = Field(max_length=200)
    venue_address_km: str = Field(max_length=400)
    venue_address_en: str = Field(max_length=400)
    venue_address_ja: str = Field(max_length=400)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    capacity: int = Field(sa_column=Column(Integer, nullable=False))
    seats_taken: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    registration_opens_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    registration_closes_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    status: SessionStatus = Field(
        default=SessionStatus.OPEN, sa_column=Column(String(16), nullable=False, default="open")
    )


class SessionDraft(BaseModel):
    """A test session as staff describe it, checked before it is saved."""

    exam_id: str = PydanticField(min_length=1, max_length=32)
    starts_at: datetime
    venue_name_km: str = PydanticField(min_length=1, max_length=200)
    venue_name_en: str = PydanticField(min_length=1, max_length=200)
    venue_name_ja: str = PydanticField(min_length=1, max_length=200)
    venue_address_km: str = PydanticField(min_length=1, max_length=400)
    venue_address_en: str = PydanticField(min_length=1, max_length=400)
    venue_address_ja: str = PydanticField(min_length=1, max_length=400)
    latitude: float = PydanticField(ge=-90, le=90)
    longitude: float = PydanticField(ge=-180, le=180)
    capacity: int = PydanticField(gt=0, le=100_000)
    registration_opens_at: datetime
    registration_closes_at: datetime

    @field_validator("starts_at", "registration_opens_at", "registration_closes_at")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone")
        return value

    @model_validator(mode="after")
    def window_before_test(self) -> "SessionDraft":
        if not self.registration_opens_at < self.registration_closes_at <= self.starts_at:
            raise ValueError("registration must open, then close, no later than the test starts")
        return self


async def list_exams(db: AsyncSession) -> Sequence[Exam]:
    """Every exam, by id."""
    result = await db.exec(select(Exam).order_by(col(Exam.id)))
    return result.all()


async def find_exam(db: AsyncSession, exam_id: str) -> Exam | None:
    return await db.get(Exam, exam_id)


def _bookable_at(now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(TestSession.status) == SessionStatus.OPEN.value,
        col(TestSession.registration_opens_at) <= now,
        col(TestSession.registration_closes_at) > now,
    ]


async def exams_open_for_booking(db: AsyncSession, now: datetime) -> Sequence[Exam]:
    """Active exams with at least one session taking registrations now."""
    result = await db.exec(
        select(Exam)
        .where(
            col(Exam.active).is_(True),
            col(Exam.id).in_(select(TestSession.exam_id).where(*_bookable_at(now))),
        )
        .order_by(col(Exam.id))
    )
    return result.all()


async def bookable_sessions(
    db: AsyncSession, exam_id: str, now: datetime
) -> Sequence[TestSession]:
    """The exam's sessions taking registrations now, soonest first."""
    result = await db.exec(
        select(TestSession)
        .where(col(TestSession.exam_id) == exam_id, *_bookable_at(now))
        .order_by(col(TestSession.starts_at), col(TestSession.id))
    )
    return result.all()


async def upcoming_bookable_sessions(
    db: AsyncSession, now: datetime, limit: int
) -> Sequence[tuple[TestSession, Exam]]:
    """The sessions of active exams taking registrations now, soonest first, with their exam."""
    result = await db.exec(
        select(TestSession, Exam)
        .join(Exam, col(Exam.id) == col(TestSession.exam_id))
        .where(col(Exam.active).is_(True), col(TestSession.starts_at) > now, *_bookable_at(now))
        .order_by(col(TestSession.starts_at), col(TestSession.id))
        .limit(limit)
    )
    return [(session, exam) for session, exam in result.all()]


def is_bookable(session: TestSession, now: datetime) -> bool:
    """Open, and inside its registration window."""
    return (
        session.status == SessionStatus.OPEN
        and session.registration_opens_at <= now < session.registration_closes_at
    )


async def add_session(db: AsyncSession, draft: SessionDraft) -> TestSession:
    """Saves a checked session, open for registration."""
    session = TestSession(**draft.model_dump())
    db.add(session)
    await db.flush()
    return session


async def list_sessions(db: AsyncSession) -> Sequence[TestSession]:
    """Every session, soonest first."""
    result = await db.exec(select(TestSession).order_by(col(TestSession.starts_at)))
    return result.all()


async def set_session_status(
    db: AsyncSession, session_id: int, status: SessionStatus
) -> TestSession | None:
    """Closes or cancels a session; None when there is no such session."""
    session = await db.get(TestSession, session_id)
    if session is None:
        return None
    session.status = status
    db.add(session)
    await db.flush()
    return session


async def move_session(
    db: AsyncSession, session_id: int, starts_at: datetime
) -> tuple[TestSession, datetime] | None:
    """Moves a session to another start; returns it and its old start (None: no session).

    Registration cannot stay open after the test has begun, so its window closes by then.
    """
    session = await db.get(TestSession, session_id)
    if session is None:
        return None
    was = session.starts_at
    session.starts_at = starts_at
    session.registration_closes_at = min(session.registration_closes_at, starts_at)
    if session.registration_opens_at >= session.registration_closes_at:
        session.registration_opens_at = session.registration_closes_at - timedelta(minutes=1)
    db.add(session)
    await db.flush()
    return session, was


async def close_ended_windows(db: AsyncSession, now: datetime) -> int:
    """Closes the open sessions whose registration window has ended."""
    result = await db.exec(
        update(TestSession)
        .where(
            col(TestSession.status) == SessionStatus.OPEN.value,
            col(TestSession.registration_closes_at) <= now,
        )
        .values(status=SessionStatus.CLOSED.value)
    )
    return int(result.rowcount or 0)
