"""Processed updates: Telegram may deliver an update twice; it is handled once."""

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Column, Executable, bindparam, delete
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, upsert_insert, utcnow


class ProcessedUpdate(SQLModel, table=True):
    """An update id already handled."""

    __tablename__ = "processed_update"

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    processed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False, index=True)
    )


async def claim_update(db: AsyncSession, update_id: int) -> bool:
    """Records the update as handled; False when it was handled before."""
    connection = await db.connection()  # Core: no ORM work for one row it never loads
    result = await connection.execute(
        _claim(upsert_insert(db)), {"update_id": update_id, "processed_at": utcnow()}
    )
    return bool(result.rowcount)


@cache
def _claim(insert: Any) -> Executable:
    """The claim for one engine's INSERT, built once (every update runs it)."""
    return (
        insert(ProcessedUpdate)
        .values(update_id=bindparam("update_id"), processed_at=bindparam("processed_at"))
        .on_conflict_do_nothing(index_elements=["update_id"])
    )


async def forget_old_updates(db: AsyncSession, older_than: timedelta) -> int:
    """Deletes the record of updates handled long ago; Telegram never resends those."""
    cutoff = utcnow() - older_than
    result = await db.exec(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < cutoff)
    )
    return int(result.rowcount or 0)
