"""The sign-in sheet's rows: who is expected at a session, read a page at a time."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, tuple_
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
