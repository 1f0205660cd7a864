"""Exams and their test sessions: where and when a seat can be booked."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

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
