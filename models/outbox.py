"""The outbox: messages that are not replies, written in the transaction that caused them.

A seat offer to the next in line, a reminder, a broadcast: each is one row for one
chat, with a `dedupe_key` that makes writing it twice harmless. The sender claims
due rows, sends them, and records the outcome on the row.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    false,
    func,
    or_,
    true,
    update,
)
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, upsert_insert, utcnow

DEDUPE_KEY_MAX_LENGTH = 120
ERROR_MAX_LENGTH = 500
INSTANCE_MAX_LENGTH = 64


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by the sender; back to pending if it crashed meanwhile
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # the recipient cannot be reached, or the message no longer applies


class OutboxMessage(SQLModel, table=True):
    """One message waiting to be sent to one chat, or the record of how it went."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "send_after"),
        Index("ix_outbox_sent_message", "chat_id", "telegram_message_id"),
        Index("ix_outbox_chat_status", "chat_id", "status"),  # a chat's earlier messages
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    applicant_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("applicant.id", ondelete="SET NULL"), index=True),
    )
    # The registration a reminder or an offer is about, so they can follow it when it changes.
    registration_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("registration.id", ondelete="SET NULL"), index=True),
    )
    broadcast_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("broadcast.id", ondelete="CASCADE"), index=True),
    )
    # Urgent messages go out at any hour; the others wait for the end of quiet hours.
    urgent: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, default=True))
    # The rendered actions, as handlers.core.content stores them: texts already translated.
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
    # Held back (its chat's pace, or a retry): until it goes, the chat's later messages
    # wait, even those written after it was held.
    held: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, default=False, server_default=false()),
    )
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # The instance that claimed it: after a crash, that instance puts it back in line.
    claimed_by: str | None = Field(default=None, sa_column=Column(String(INSTANCE_MAX_LENGTH)))
    # The message's number in its chat once sent, so a reply to it can be traced back.
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


async def enqueue(
    db: AsyncSession,
    *,
    chat_id: int,
    applicant_id: int | None,
    content: list[dict[str, Any]],
    dedupe_key: str,
    send_after: datetime | None = None,
    registration_id: int | None = None,
    urgent: bool = True,
    revive: bool = False,
) -> bool:
    """Queues a message; False when one with this dedupe key exists already (not queued).

    With `revive`, a skipped message of the same key is put back in line instead, with
    this content (a reminder switched off and on again, or re-written in a new language).
    """
    insert = upsert_insert(db)
    statement = insert(OutboxMessage).values(
        chat_id=chat_id,
        applicant_id=applicant_id,
        registration_id=registration_id,
        urgent=urgent,
        content=content,
        dedupe_key=dedupe_key[:DEDUPE_KEY_MAX_LENGTH],
        send_after=send_after or utcnow(),
        status=OutboxStatus.PENDING.value,
        attempts=0,
        created_at=utcnow(),
    )
    if revive:
        statement = statement.on_conflict_do_update(  # type: ignore[assignment]
            index_elements=["dedupe_key"],
            set_={
                "status": OutboxStatus.PENDING.value,
                "send_after": statement.excluded.send_after,
                "content": statement.excluded.content,
                "last_error": None,
                "attempts": 0,
                "held": False,
            },
            where=col(OutboxMessage.status) == OutboxStatus.SKIPPED.value,
        )
    else:
        statement = statement.on_conflict_do_nothing(  # type: ignore[assignment]
            index_elements=["dedupe_key"]
        )
    result = await db.exec(statement)
    return bool(result.rowcount)


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


async def depth_by_status(db: AsyncSession, now: datetime) -> dict[str, int]:
    """How many messages are in each status, with the pending ones not due before `now`
    apart as "scheduled" (a reminder for next week is no backlog)."""
    counts = await count_by_status(db)
    scheduled = await db.exec(
        select(func.count()).where(
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
            col(OutboxMessage.send_after) > now,
        )
    )
    counts["scheduled"] = int(scheduled.one())
    counts[OutboxStatus.PENDING.value] = (
        counts.get(OutboxStatus.PENDING.value, 0) - counts["scheduled"]
    )
    return counts


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


class DueMessage(NamedTuple):
    """What the sender needs of a row; the rows are read a batch at a time, never all."""

    id: int
    chat_id: int
    applicant_id: int | None
    content: list[dict[str, Any]]
    dedupe_key: str = ""  # its first part names the kind: reminder, broadcast, offer...


# The table, and two more names for it, for the statements the sender runs per message
# (made once: an alias of a wide table costs more to build than its statement to run).
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_OTHER, _MINE = OUTBOX.alias("other"), OUTBOX.alias("mine")


def _waits_behind(row: Any, now: datetime, urgent_only: bool) -> Any:
    """True for a row whose chat has a message in flight, or an earlier one due or held
    back: a chat's messages go one at a time and in the order they were written, across
    instances. (An earlier one merely scheduled for later, a reminder, does not count.)"""
    other = _OTHER  # a second name for the table: the row's chat-mates
    return (
        select(other.c.id)
        .where(
            other.c.chat_id == row.c.chat_id,
            other.c.id != row.c.id,
            or_(
                other.c.status == OutboxStatus.SENDING.value,
                and_(
                    other.c.status == OutboxStatus.PENDING.value,
                    other.c.id < row.c.id,
                    or_(other.c.send_after <= now, other.c.held.is_(True)),
                    other.c.urgent.is_(True) if urgent_only else true(),
                ),
            ),
        )
        .exists()
    )


async def due_batch(
    db: AsyncSession,
    now: datetime,
    limit: int,
    urgent_only: bool = False,
    chat_id: int | None = None,
) -> list[DueMessage]:
    """The next pending messages whose time has come and whose chat is free, in order."""
    outbox = OUTBOX
    query = (
        select(outbox.c.id, outbox.c.chat_id, outbox.c.applicant_id, outbox.c.content)
        .add_columns(outbox.c.dedupe_key)  # sqlmodel's select types four columns at most
        .where(
            outbox.c.status == OutboxStatus.PENDING.value,
            outbox.c.send_after <= now,
            ~_waits_behind(outbox, now, urgent_only),
        )
        .order_by(outbox.c.send_after, outbox.c.id)
        .limit(limit)
    )
    if urgent_only:
        query = query.where(outbox.c.urgent.is_(True))
    if chat_id is not None:
        query = query.where(outbox.c.chat_id == chat_id)
    connection = await db.connection()
    return [DueMessage(*row) for row in (await connection.execute(query)).all()]


async def claim(
    db: AsyncSession,
    message_id: int,
    now: datetime,
    instance: str = "",
    urgent_only: bool = False,
) -> int | None:
    """Marks a pending message as being sent; its attempts so far, or None if not now.

    None also when another instance is claiming it this moment (its row is locked:
    skipped, not waited for), or when its chat got busy since it was read.
    """
    claimed = await claim_many(db, [message_id], now, instance, urgent_only)
    return claimed.get(message_id)


class Settlement(NamedTuple):
    """How one claimed message went: sent, failed, or pending again from `retry_at`."""

    message_id: int
    status: OutboxStatus
    error: str | None = None
    retry_at: datetime | None = None
    telegram_message_id: int | None = None


_SETTLE = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        telegram_message_id=func.coalesce(
            bindparam("b_message", type_=BigInteger), OUTBOX.c.telegram_message_id
        ),
        sent_at=func.coalesce(bindparam("b_sent_at", type_=UtcDateTime()), OUTBOX.c.sent_at),
        send_after=func.coalesce(
            bindparam("b_retry_at", type_=UtcDateTime()), OUTBOX.c.send_after
        ),
        held=bindparam("b_held", type_=Boolean),
    )
)


async def settle_many(db: AsyncSession, settlements: list[Settlement], now: datetime) -> None:
    """Records how several claimed messages went, in one statement run for each."""
    if not settlements:
        return
    connection = await db.connection()
    await connection.execute(
        _SETTLE,
        [
            {
                "b_id": s.message_id,
                "b_status": s.status.value,
                "b_error": s.error,
                "b_message": s.telegram_message_id,
                "b_sent_at": now if s.status == OutboxStatus.SENT else None,
                "b_retry_at": s.retry_at,
                "b_held": s.retry_at is not None,  # the chat's later messages wait for it
            }
            for s in settlements
        ],
    )


async def claim_many(
    db: AsyncSession,
    message_ids: list[int],
    now: datetime,
    instance: str = "",
    urgent_only: bool = False,
) -> dict[int, int]:
    """Marks pending messages as being sent: id -> attempts so far, for those claimed.

    Not claimed: one another instance is claiming this moment (its row is locked: skipped,
    not waited for), or moved later, or whose chat got busy since it was read.
    """
    if not message_ids:
        return {}
    outbox, mine = OUTBOX, _MINE
    claimable: list[Any] = [
        outbox.c.id.in_(message_ids),
        outbox.c.status == OutboxStatus.PENDING.value,
        outbox.c.send_after <= now,
    ]
    if db.bind is not None and db.bind.dialect.name == "postgresql":
        # Only instances sharing PostgreSQL race for a row, or for a chat, between reading
        # and claiming; one SQLite sender read its batch with the chats free already.
        free_rows = (
            select(mine.c.id)
            .where(mine.c.id.in_(message_ids), mine.c.status == OutboxStatus.PENDING.value)
            .with_for_update(skip_locked=True)
        )
        claimable[0] = outbox.c.id.in_(free_rows)
        claimable.append(~_waits_behind(outbox, now, urgent_only))
    # Core statements on the session's connection: the sender runs these for every batch.
    connection = await db.connection()
    result = await connection.execute(
        update(outbox)
        .where(*claimable)
        .values(
            status=OutboxStatus.SENDING.value,
            claimed_at=now,
            claimed_by=instance[:INSTANCE_MAX_LENGTH] or None,
            attempts=outbox.c.attempts + 1,
            held=False,
        )
        .returning(outbox.c.id, outbox.c.attempts)
    )
    return {int(row[0]): int(row[1]) for row in result.all()}


async def unclaim(db: AsyncSession, message_ids: list[int]) -> None:
    """Puts claimed messages that were never sent back in line, as if never claimed."""
    if not message_ids:
        return
    connection = await db.connection()
    await connection.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(message_ids), OUTBOX.c.status == OutboxStatus.SENDING.value)
        .values(
            status=OutboxStatus.PENDING.value,
            attempts=OUTBOX.c.attempts - 1,
            claimed_by=None,
            claimed_at=None,
        )
    )


async def postpone(db: AsyncSession, message_id: int, until: datetime) -> None:
    """Moves a pending message later (its chat had a message a moment ago), held: the
    chat's later messages, even those written meanwhile, wait for it on every instance."""
    connection = await db.connection()
    await connection.execute(
        update(OUTBOX).where(OUTBOX.c.id == message_id).values(send_after=until, held=True)
    )


async def release_claims(
    db: AsyncSession, *, instance: str | None = None, stale_before: datetime | None = None
) -> int:
    """Puts messages left "sending" by a crash back in line: each may have gone out once.

    Those `instance` claimed ("" for a sender without a name), at its restart; and those
    claimed before `stale_before` by any instance, which never came back to them.
    """
    left: list[Any] = []
    if instance is not None:
        name = instance[:INSTANCE_MAX_LENGTH] or None
        claimed_by = col(OutboxMessage.claimed_by)
        left.append(claimed_by.is_(None) if name is None else claimed_by == name)
    if stale_before is not None:
        left.append(col(OutboxMessage.claimed_at) < stale_before)
    if not left:
        return 0
    result = await db.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.SENDING.value, or_(*left))
        .values(status=OutboxStatus.PENDING.value)
    )
    return int(result.rowcount or 0)


async def skip_pending_about(db: AsyncSession, registration_id: int, reason: str) -> int:
    """Skips what is still queued about a registration (reminders of a cancelled one)."""
    result = await db.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.registration_id) == registration_id,
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
        )
        .values(status=OutboxStatus.SKIPPED.value, last_error=reason)
    )
    return int(result.rowcount or 0)


async def message_with_key(db: AsyncSession, dedupe_key: str) -> OutboxMessage | None:
    """The message queued under this dedupe key, whatever became of it."""
    result = await db.exec(
        select(OutboxMessage).where(col(OutboxMessage.dedupe_key) == dedupe_key)
    )
    return result.first()


async def sent_message(db: AsyncSession, chat_id: int, message_id: int) -> OutboxMessage | None:
    """The outbox row that became message `message_id` in `chat_id` (to trace a reply)."""
    result = await db.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.chat_id) == chat_id,
            col(OutboxMessage.telegram_message_id) == message_id,
        )
    )
    return result.first()
