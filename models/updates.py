"""Processed updates: Telegram may deliver an update twice; it is handled once."""

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Column, delete
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
    insert = upsert_insert(db)
    statement = (
        insert(ProcessedUpdate)
        .values(update_id=update_id, processed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["update_id"])
    )
    result = await db.exec(statement)
    return bool(result.rowcount)


async def forget_old_updates(db: AsyncSession, older_than: timedelta) -> int:
    """Deletes the record of updates handled long ago; Telegram never resends those."""
    cutoff = utcnow() - older_than
    result = await db.exec(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < cutoff)
    )
    return int(result.rowcount or 0)
