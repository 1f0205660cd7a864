"""Retention: what the bot keeps only for a while, and what one applicant may add in a day.

A daily job deletes sent and skipped outbox messages, the record of handled updates,
idle chats' send pace and refused attempts at staff commands once they are older than
their setting, and the web panel's expired sessions and login links. An hourly job
forgets wizards left untouched for a day (with whatever details were typed into them).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.conversations import ConversationState
from models.outbox import OutboxMessage, OutboxStatus
from models.panel import forget_expired
from models.questions import FaqFeedback
from models.send_budget import ChatPace
from models.staff import REFUSED, AuditEntry
from models.updates import ProcessedUpdate

# A chat's send pace refills within seconds: a day idle, its row says nothing.
IDLE_CHAT_PACE = timedelta(days=1)
ABANDONED_WIZARD = timedelta(hours=24)
# What one applicant can add in a day: more is not kept.
REFUSED_ATTEMPTS_PER_DAY = 5
RATINGS_PER_DAY = 30
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of record is kept (RETAIN_* settings)."""

    sent_messages: timedelta = timedelta(days=30)
    processed_updates: timedelta = timedelta(days=2)
    refused_attempts: timedelta = timedelta(days=90)


async def prune(db: AsyncSession, now: datetime, retention: Retention) -> int:
    """Deletes what is older than its retention; returns how many rows went.

    A broadcast's messages stay with it (its figures are counted from them).
    """
    statements = (
        delete(OutboxMessage).where(
            col(OutboxMessage.status).in_([OutboxStatus.SENT.value, OutboxStatus.SKIPPED.value]),
            col(OutboxMessage.broadcast_id).is_(None),
            col(OutboxMessage.created_at) < now - retention.sent_messages,
        ),
        delete(ProcessedUpdate).where(
            col(ProcessedUpdate.processed_at) < now - retention.processed_updates
        ),
        delete(ChatPace).where(col(ChatPace.at) < now - IDLE_CHAT_PACE),
        delete(AuditEntry).where(
            col(AuditEntry.action) == REFUSED,
            col(AuditEntry.at) < now - retention.refused_attempts,
        ),
    )
    pruned = await forget_expired(db, now)
    for statement in statements:
        pruned += int((await db.exec(statement)).rowcount or 0)
    return pruned


async def forget_abandoned_wizards(db: AsyncSession, now: datetime) -> int:
    """Deletes wizard steps untouched for a day, and the details typed into them."""
    result = await db.exec(
        delete(ConversationState).where(col(ConversationState.updated_at) < now - ABANDONED_WIZARD)
    )
    return int(result.rowcount or 0)


async def refusals_today(db: AsyncSession, actor: str, now: datetime) -> int:
    """How many refused attempts of `actor` the audit trail kept in the last day."""
    result = await db.exec(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            col(AuditEntry.actor) == actor,
            col(AuditEntry.action) == REFUSED,
            col(AuditEntry.at) >= now - DAY,
        )
    )
    return int(result.one())


async def ratings_today(db: AsyncSession, applicant_id: int, now: datetime) -> int:
    """How many answers the applicant rated in the last day."""
    result = await db.exec(
        select(func.count())
        .select_from(FaqFeedback)
        .where(
            col(FaqFeedback.applicant_id) == applicant_id, col(FaqFeedback.given_at) >= now - DAY
        )
    )
    return int(result.one())
