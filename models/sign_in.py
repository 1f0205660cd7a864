"""The sign-in sheet's rows: who is expected at a session, read a page at a time."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.applicants import Applicant
from models.registrations import Registration, RegistrationStatus
from models.sessions import TestSession

BATCH_SIZE = 500
# Everyone expected in the room, or who was: a cancelled seat has no line on the sheet.
ON_THE_SHEET = (
    RegistrationStatus.CONFIRMED.value,
    RegistrationStatus.WAITLISTED.value,
    RegistrationStatus.ATTENDED.value,
    RegistrationStatus.ABSENT.value,
)


@dataclass(frozen=True, slots=True)
class SignInRow:
    """One registration on the sign-in sheet: who, their status, and which sitting."""

    code: str
    name_latin: str | None
    name_khmer: str | None
    date_of_birth: date | None
    sex: str | None
    phone: str | None  # E.164
    id_number: str | None
    province: str | None
    status: str
    registered_at: datetime
    exam_id: str
    starts_at: datetime
    venue: str  # the venue's English name


async def sign_in_rows(
    db: AsyncSession, session_id: int | None, *, batch_size: int = BATCH_SIZE
) -> AsyncIterator[SignInRow]:
    """The session's (or every session's) sign-in rows, by session start, then name.

    Erased applicants and cancelled registrations are left out. Rows are read
    `batch_size` at a time, each page starting after the last row of the one before.
    """
    name = func.coalesce(col(Applicant.name_latin), "")
    # The whole sort key, unique thanks to the registration id, so pages never overlap.
    order = (col(TestSession.starts_at), col(TestSession.id), name, col(Registration.id))
    query = (
        select(Registration, Applicant, TestSession)
        # An inner join: an erased applicant's registrations have no applicant to join.
        .join(Applicant, col(Registration.applicant_id) == col(Applicant.id))
        .join(TestSession, col(Registration.session_id) == col(TestSession.id))
        .where(col(Registration.status).in_(ON_THE_SHEET))
        .order_by(*order)
        .limit(batch_size)
    )
    if session_id is not None:
        query = query.where(col(Registration.session_id) == session_id)
    page = query
    while True:
        batch = (await db.exec(page)).all()
        for registration, applicant, session in batch:
            yield SignInRow(
                code=registration.code,
                name_latin=applicant.name_latin,
                name_khmer=applicant.name_khmer,
                date_of_birth=applicant.date_of_birth,
                sex=applicant.sex,
                phone=applicant.phone,
                id_number=applicant.id_number,
                province=applicant.province,
                status=registration.status,
                registered_at=registration.created_at,
                exam_id=registration.exam_id,
                starts_at=session.starts_at,
                venue=session.venue_name_en,
            )
        if len(batch) < batch_size:
            return
        registration, applicant, session = batch[-1]
        last = (session.starts_at, session.id, applicant.name_latin or "", registration.id)
        page = query.where(tuple_(*order) > tuple_(*last))


PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class RegistrationLine:
    """One registration in a session's list: who, their status and place in line."""

    registration_id: int
    code: str
    name_latin: str | None
    name_khmer: str | None
    date_of_birth: date | None
    phone: str | None
    status: str
    checked_in_at: datetime | None
    checked_in_by: int | None
    waitlist_place: int | None


async def registrations_page(
    db: AsyncSession, session_id: int, search: str = "", page: int = 1, size: int = PAGE_SIZE
) -> tuple[list[RegistrationLine], int]:
    """A page of the session's registrations (cancelled ones left out) in booking order,
    filtered by a code, a part of a name or of a phone number; and how many match."""
    ahead = aliased(Registration)
    place = (
        select(func.count())
        .select_from(ahead)
        .where(
            col(ahead.session_id) == col(Registration.session_id),
            col(ahead.status) == RegistrationStatus.WAITLISTED.value,
            col(ahead.id) <= col(Registration.id),
        )
        .correlate(Registration)
        .scalar_subquery()
    )
    where = [
        col(Registration.session_id) == session_id,
        col(Registration.status).in_(ON_THE_SHEET),
    ]
    search = search.strip()
    if search:
        pattern = f"%{search.lower()}%"
        digits = "".join(ch for ch in search if ch.isdigit())
        matches = [
            col(Registration.code) == search.upper(),
            func.lower(col(Applicant.name_latin)).like(pattern),
            col(Applicant.name_khmer).like(f"%{search}%"),
        ]
        if len(digits) >= 4:
            matches.append(col(Applicant.phone).like(f"%{digits}%"))
        where.append(or_(*matches))
    base = (
        select(Registration, Applicant, place)
        .join(Applicant, col(Registration.applicant_id) == col(Applicant.id))
        .where(*where)
    )
    total = (
        await db.exec(
            select(func.count())
            .select_from(Registration)
            .join(Applicant, col(Registration.applicant_id) == col(Applicant.id))
            .where(*where)
        )
    ).one()
    rows = (
        await db.exec(
            base.order_by(col(Registration.id)).offset((max(page, 1) - 1) * size).limit(size)
        )
    ).all()
    lines = []
    for registration, applicant, waiting in rows:
        assert registration.id is not None
        lines.append(
            RegistrationLine(
                registration_id=registration.id,
                code=registration.code,
                name_latin=applicant.name_latin,
                name_khmer=applicant.name_khmer,
                date_of_birth=applicant.date_of_birth,
                phone=applicant.phone,
                status=str(registration.status),
                checked_in_at=registration.checked_in_at,
                checked_in_by=registration.checked_in_by,
                waitlist_place=(
                    int(waiting) if registration.status == RegistrationStatus.WAITLISTED else None
                ),
            )
        )
    return lines, int(total)
