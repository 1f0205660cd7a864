"""Broadcasts: who is in an audience, queuing one message each, progress, and stopping.

Recipients are written to the outbox by INSERT ... SELECT in slices of applicant ids,
so the database does the work and no list of recipients is ever held in memory. The
dedupe key "broadcast:<id>:<applicant>" makes a second enqueue of the same broadcast
harmless: nobody gets it twice.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON as SqlJSON
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    String,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    true,
    update,
)
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.applicants import Applicant
from models.columns import UtcDateTime, upsert_insert, utcnow
from models.outbox import OutboxMessage, OutboxStatus, message_with_key
from models.registrations import LIVE, Registration, RegistrationStatus
from models.staff import audit

SLICE = 5_000


class BroadcastStatus(StrEnum):
    SENDING = "sending"
    DONE = "done"
    STOPPED = "stopped"


class Broadcast(SQLModel, table=True):
    """One announcement from the office to a chosen group, and how its sending goes."""

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    author_locale: str = Field(default="km", max_length=8)  # for the progress message
    # Telegram HTML per locale, or under "all" for one text for everyone.
    texts: dict[str, str] = Field(sa_column=Column(SqlJSON, nullable=False))
    media: dict[str, str] | None = Field(default=None, sa_column=Column(SqlJSON))  # kind, file_id
    audience: str = Field(
        max_length=64
    )  # "all", "exam:<id>", "session:<n>", "waitlisted", "lang:<l>"
    send_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    status: str = Field(default=BroadcastStatus.SENDING.value, max_length=16)  # BroadcastStatus
    total: int = Field(default=0)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


async def create_broadcast(
    db: AsyncSession,
    broadcast: Broadcast,
    contents: dict[str, list[dict[str, Any]]],
    default_locale: str,
    actor: str,
    urgent: bool = False,
) -> int:
    """Saves the broadcast and queues it for its whole audience, audited; how many it queued.

    `contents` is the message per locale, or under "all", as the outbox stores it. An
    urgent broadcast goes out even in quiet hours.
    """
    db.add(broadcast)
    await db.flush()
    queued = await enqueue_broadcast(db, broadcast, contents, default_locale, urgent)
    await audit(db, actor, "broadcast", f"broadcast:{broadcast.id}",
                audience=broadcast.audience, recipients=queued, urgent=urgent)  # fmt: skip
    return queued


def audience_filter(audience: str, default_locale: str) -> ColumnElement[bool]:
    """Which reachable applicants an audience means; ValueError for an unknown one."""
    kind, _, value = audience.partition(":")
    reachable = col(Applicant.reachable).is_(True)
    registered = col(Registration.applicant_id) == col(Applicant.id)
    if kind == "all":
        return reachable
    if kind == "exam" and value:
        live = exists().where(
            registered, col(Registration.exam_id) == value, col(Registration.status).in_(LIVE)
        )
        return and_(reachable, live)
    if kind == "session" and value.isdigit():
        live = exists().where(
            registered,
            col(Registration.session_id) == int(value),
            col(Registration.status).in_(LIVE),
        )
        return and_(reachable, live)
    if kind == "waitlisted":
        waiting = exists().where(
            registered, col(Registration.status) == RegistrationStatus.WAITLISTED.value
        )
        return and_(reachable, waiting)
    if kind == "lang" and value:
        speaks = func.coalesce(col(Applicant.locale), default_locale) == value
        return and_(reachable, speaks)
    raise ValueError(f"unknown audience {audience!r}")


async def count_audience(db: AsyncSession, audience: str, default_locale: str) -> int:
    result = await db.exec(
        select(func.count())
        .select_from(Applicant)
        .where(audience_filter(audience, default_locale))
    )
    return int(result.one())


async def audience_by_language(
    db: AsyncSession, audience: str, default_locale: str
) -> dict[str, int]:
    """How many of the audience read each language (the default for those who chose none)."""
    language = func.coalesce(col(Applicant.locale), default_locale)
    rows = await db.exec(
        select(language, func.count())
        .select_from(Applicant)
        .where(audience_filter(audience, default_locale))
        .group_by(language)
    )
    return {str(locale): int(count) for locale, count in rows.all()}


async def enqueue_broadcast(
    db: AsyncSession,
    broadcast: Broadcast,
    contents: dict[str, list[dict[str, Any]]],
    default_locale: str,
    urgent: bool = False,
) -> int:
    """Queues the broadcast for its whole audience; `contents` per locale, or under "all".

    A language with no text of its own (skipped) gets the default locale's text.
    """
    assert broadcast.id is not None
    chosen = audience_filter(broadcast.audience, default_locale)
    language = func.coalesce(col(Applicant.locale), default_locale)
    highest = (await db.exec(select(func.max(Applicant.id)))).one() or 0
    queued = 0
    for start in range(0, highest + 1, SLICE):
        in_slice = and_(col(Applicant.id) >= start, col(Applicant.id) < start + SLICE)
        for locale, content in contents.items():
            if locale == "all":
                speaks: ColumnElement[bool] = true()
            elif locale == default_locale:
                others = [other for other in contents if other != locale]
                speaks = language.not_in(others) if others else true()
            else:
                speaks = language == locale
            queued += await _insert_from_audience(
                db, broadcast, content, and_(chosen, in_slice, speaks), urgent
            )
    broadcast.total = queued
    db.add(broadcast)
    await db.flush()
    return queued


async def _insert_from_audience(
    db: AsyncSession,
    broadcast: Broadcast,
    content: list[dict[str, Any]],
    where: Any,
    urgent: bool,
) -> int:
    now = utcnow()
    key = literal(f"broadcast:{broadcast.id}:") + cast(col(Applicant.id), String)
    rows = select(  # type: ignore[call-overload]
        col(Applicant.chat_id),
        col(Applicant.id),
        literal(content, SqlJSON),
        key,
        literal(broadcast.send_at, UtcDateTime()),
        literal(OutboxStatus.PENDING.value),
        literal(0),
        literal(now, UtcDateTime()),
        true() if urgent else false(),
        literal(broadcast.id),
    ).where(where)
    insert = upsert_insert(db)
    statement = (
        insert(OutboxMessage)
        .from_select(
            [
                "chat_id",
                "applicant_id",
                "content",
                "dedupe_key",
                "send_after",
                "status",
                "attempts",
                "created_at",
                "urgent",
                "broadcast_id",
            ],
            rows,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = await db.exec(statement)
    return int(result.rowcount or 0)


async def broadcast_counts(db: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """The broadcast's messages by status."""
    rows = await db.exec(
        select(OutboxMessage.status, func.count())
        .where(col(OutboxMessage.broadcast_id) == broadcast_id)
        .group_by(col(OutboxMessage.status))
    )
    return {str(status): int(count) for status, count in rows.all()}


async def recent_rate(db: AsyncSession, broadcast_id: int, now: datetime) -> float:
    """Messages per second sent over the last 30 seconds."""
    since = now - timedelta(seconds=30)
    result = await db.exec(
        select(func.count()).where(
            col(OutboxMessage.broadcast_id) == broadcast_id,
            col(OutboxMessage.status) == OutboxStatus.SENT.value,
            col(OutboxMessage.sent_at) >= since,
        )
    )
    return int(result.one()) / 30


async def stop_broadcast(db: AsyncSession, broadcast: Broadcast) -> int:
    """Cancels what is not sent yet; returns how many messages were cancelled."""
    result = await db.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.broadcast_id) == broadcast.id,
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
        )
        .values(status=OutboxStatus.SKIPPED.value, last_error="the broadcast was stopped")
    )
    # A progress edit queued a moment ago must not overwrite the "stopped" message.
    await db.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.dedupe_key).startswith(progress_key(broadcast.id or 0) + ":"),
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
        )
        .values(status=OutboxStatus.SKIPPED.value, last_error="the broadcast was stopped")
    )
    broadcast.status = BroadcastStatus.STOPPED
    db.add(broadcast)
    return int(result.rowcount or 0)


async def active_broadcasts(db: AsyncSession) -> list[Broadcast]:
    result = await db.exec(
        select(Broadcast).where(col(Broadcast.status) == BroadcastStatus.SENDING.value)
    )
    return list(result.all())


def progress_key(broadcast_id: int) -> str:
    """The dedupe key of the message that shows the author how the sending goes."""
    return f"bcprogress:{broadcast_id}"


async def progress_post(db: AsyncSession, broadcast_id: int) -> OutboxMessage | None:
    """The author's progress message, once queued."""
    return await message_with_key(db, progress_key(broadcast_id))
