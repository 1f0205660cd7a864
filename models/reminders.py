"""Which registrations' reminders are out of step with their session, for the reconcile job."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.applicants import Applicant
from models.registrations import Registration, RegistrationStatus
from models.sessions import TestSession


async def reminders_to_drop(db: AsyncSession, limit: int) -> Sequence[Registration]:
    """Registrations no longer confirmed that still have reminders planned."""
    result = await db.exec(
        select(Registration)
        .join(TestSession, col(TestSession.id) == col(Registration.session_id))
        .where(
            col(Registration.status) != RegistrationStatus.CONFIRMED.value,
            col(Registration.reminders_for).is_not(None),
        )
        .limit(limit)
    )
    return result.all()


async def reminders_to_plan(db: AsyncSession, now: datetime, limit: int) -> Sequence[Registration]:
    """Confirmed registrations of sessions to come whose reminders are missing or out of date.

    Out of date: planned for another start than their session's current one.
    """
    result = await db.exec(
        select(Registration)
        .join(TestSession, col(TestSession.id) == col(Registration.session_id))
        .join(Applicant, col(Applicant.id) == col(Registration.applicant_id))
        .where(
            col(Registration.status) == RegistrationStatus.CONFIRMED.value,
            col(TestSession.starts_at) > now,
            col(Applicant.reminders).is_(True),
            col(Registration.reminders_for).is_(None)
            | (col(Registration.reminders_for) != col(TestSession.starts_at)),
        )
        .order_by(col(Registration.id))
        .limit(limit)
    )
    return result.all()
