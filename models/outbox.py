"""The outbox: messages that are not replies, written in the transaction that caused them.

A seat offer to the next in line, a reminder, a broadcast: each is one row for one
chat, with a `dedupe_key` that makes writing it twice harmless. The sender claims
due rows, sends them, and records the outcome on the row.
"""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, utcnow

DEDUPE_KEY_MAX_LENGTH = 120
ERROR_MAX_LENGTH = 500


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # the recipient cannot be reached, or the message no longer applies


class OutboxMessage(SQLModel, table=True):
    """One message waiting to be sent to one chat, or the record of how it went."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "send_after"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    applicant_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("applicant.id", ondelete="SET NULL"), index=True),
    )
    # The rendered actions, as handlers.outbox serialises them: texts already translated.
    content: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    dedupe_key: str = Field(
        sa_column=Column(String(DEDUPE_KEY_MAX_LENGTH), nullable=False, unique=True)
    )
    send_after: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    status: OutboxStatus = Field(
        default=OutboxStatus.PENDING,
        sa_column=Column(String(16), nullable=False, default="pending"),
    )
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    sent_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


async def enqueue(
    db: AsyncSession,
    *,
    chat_id: int,
    applicant_id: int | None,
    content: list[dict[str, Any]],
    dedupe_key: str,
    send_after: datetime | None = None,
) -> bool:
    """Queues a message; False when one with this dedupe key exists already (not queued)."""
    dialect = db.bind.dialect.name if db.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(OutboxMessage)
        .values(
            chat_id=chat_id,
            applicant_id=applicant_id,
            content=content,
            dedupe_key=dedupe_key[:DEDUPE_KEY_MAX_LENGTH],
            send_after=send_after or utcnow(),
            status=OutboxStatus.PENDING.value,
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = await db.exec(statement)
    return bool(result.rowcount)


async def due_messages(
    db: AsyncSession, limit: int, now: datetime | None = None, chat_id: int | None = None
) -> Sequence[OutboxMessage]:
    """Pending messages whose time has come, oldest first, locked against other senders."""
    query = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
            col(OutboxMessage.send_after) <= (now or utcnow()),
        )
        .order_by(col(OutboxMessage.send_after), col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if chat_id is not None:
        query = query.where(col(OutboxMessage.chat_id) == chat_id)
    return (await db.exec(query)).all()


def record_sent(message: OutboxMessage, now: datetime | None = None) -> None:
    message.status = OutboxStatus.SENT
    message.attempts += 1
    message.sent_at = now or utcnow()
    message.last_error = None


def record_failure(message: OutboxMessage, error: str, give_up: bool) -> None:
    """Counts a failed attempt; the row stays pending for a retry unless `give_up`."""
    message.attempts += 1
    message.last_error = error[:ERROR_MAX_LENGTH]
    if give_up:
        message.status = OutboxStatus.FAILED


async def skip_pending_for(db: AsyncSession, applicant_id: int, reason: str) -> int:
    """Skips everything still queued for an applicant (they blocked the bot, or left)."""
    result = await db.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.applicant_id) == applicant_id,
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
        )
        .values(status=OutboxStatus.SKIPPED.value, last_error=reason)
    )
    return int(result.rowcount or 0)


async def count_by_status(db: AsyncSession) -> dict[str, int]:
    """How many messages are in each status."""
    rows = await db.exec(
        select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
    )
    return {str(status): int(count) for status, count in rows.all()}


async def oldest_pending(db: AsyncSession) -> OutboxMessage | None:
    """The pending message that has waited longest to be due."""
    result = await db.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING.value)
        .order_by(col(OutboxMessage.send_after), col(OutboxMessage.id))
        .limit(1)
    )
    return result.first()


async def requeue_failed(db: AsyncSession) -> int:
    """Puts every failed message back in line, due now, with its attempts counted afresh."""
    result = await db.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.FAILED.value)
        .values(status=OutboxStatus.PENDING.value, attempts=0, send_after=utcnow())
    )
    return int(result.rowcount or 0)
