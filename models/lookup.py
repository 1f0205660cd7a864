"""What the office looks up at a desk: today's figures for the dashboard, applicants by
code, name or phone with the messages sent to them, and the audit trail by filter."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.applicants import Applicant
from models.outbox import OutboxMessage
from models.questions import UnansweredQuestion
from models.registrations import Registration
from models.staff import AuditEntry

LOOKUP_LIMIT = 20
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class DeskFigures:
    """The dashboard's counts besides the sessions."""

    checked_in_today: int
    questions_this_week: int


async def desk_figures(db: AsyncSession, day_start: datetime, now: datetime) -> DeskFigures:
    """Check-ins since the local day began; unanswered, unsettled questions of 7 days."""
    checked_in = await db.exec(
        select(func.count())
        .select_from(Registration)
        .where(col(Registration.checked_in_at) >= day_start)
    )
    questions = await db.exec(
        select(func.count())
        .select_from(UnansweredQuestion)
        .where(
            col(UnansweredQuestion.asked_at) >= now - timedelta(days=7),
            col(UnansweredQuestion.resolution).is_(None),
            col(UnansweredQuestion.answered_at).is_(None),
        )
    )
    return DeskFigures(int(checked_in.one()), int(questions.one()))


async def find_applicants(
    db: AsyncSession, text: str, limit: int = LOOKUP_LIMIT
) -> list[Applicant]:
    """Applicants with this registration code, or a name or phone number containing `text`."""
    text = text.strip()
    if not text:
        return []
    digits = "".join(ch for ch in text if ch.isdigit())
    matches = [
        col(Applicant.id).in_(
            select(Registration.applicant_id).where(col(Registration.code) == text.upper())
        ),
        func.lower(col(Applicant.name_latin)).like(f"%{text.lower()}%"),
        col(Applicant.name_khmer).like(f"%{text}%"),
    ]
    if len(digits) >= 4:
        matches.append(col(Applicant.phone).like(f"%{digits}%"))
    found = await db.exec(
        select(Applicant).where(or_(*matches)).order_by(col(Applicant.id)).limit(limit)
    )
    return list(found.all())


async def outbox_history(
    db: AsyncSession, applicant: Applicant, limit: int = HISTORY_LIMIT
) -> Sequence[OutboxMessage]:
    """The messages the bot queued for this applicant, newest first."""
    found = await db.exec(
        select(OutboxMessage)
        .where(
            or_(
                col(OutboxMessage.applicant_id) == applicant.id,
                col(OutboxMessage.chat_id) == applicant.chat_id,
            )
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return found.all()


async def audit_entries(
    db: AsyncSession,
    actor: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> Sequence[AuditEntry]:
    """The audit trail, newest first, by who, what and when."""
    query = select(AuditEntry)
    if actor:
        query = query.where(col(AuditEntry.actor) == actor)
    if action:
        query = query.where(col(AuditEntry.action) == action)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    if until is not None:
        query = query.where(col(AuditEntry.at) < until)
    found = await db.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))
    return found.all()


async def audit_actions(db: AsyncSession) -> list[str]:
    """Every action the trail names, for the filter."""
    found = await db.exec(select(AuditEntry.action).distinct().order_by(col(AuditEntry.action)))
    return list(found.all())
