"""Whose turn it is when several instances of the bot share one PostgreSQL database.

PostgreSQL's advisory locks do the coordinating, so the bot adds no cluster logic of
its own. Both locks are transaction-scoped: they end with the transaction, also when
an instance dies in the middle of one. SQLite serves one process with one writer, so
there they are not needed and nothing is done.
"""

import zlib
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Executable, Integer, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, utcnow
from models.updates import ProcessedUpdate, claim_update

# Jobs lock in PostgreSQL's two-key space, which never meets the one-key space where
# applicants lock by their Telegram id.
JOB_LOCK_SPACE = 0x4A0B


def _on_postgresql(db: AsyncSession) -> bool:
    return db.bind is not None and db.bind.dialect.name == "postgresql"


async def wait_for_applicant_turn(db: AsyncSession, user_id: int) -> None:
    """Waits until no other instance is handling an update of this user, for this transaction."""
    if _on_postgresql(db):
        connection = await db.connection()
        await connection.execute(select(func.pg_advisory_xact_lock(literal(user_id, BigInteger))))


async def claim_update_in_turn(db: AsyncSession, user_id: int, update_id: int | None) -> bool:
    """Waits for the user's turn, then records the update as handled; False when it was
    handled before (Telegram sent it again, perhaps to another instance).

    On PostgreSQL the wait and the record are one statement, a round trip less per update.
    The row's conflict check sees what another instance committed while this one waited.
    """
    if update_id is None:
        await wait_for_applicant_turn(db, user_id)
        return True
    if not _on_postgresql(db):
        return await claim_update(db, update_id)
    connection = await db.connection()
    result = await connection.execute(
        _claim_in_turn(), {"user_id": user_id, "update_id": update_id, "now": utcnow()}
    )
    return bool(result.rowcount)


@cache
def _claim_in_turn() -> Executable:
    """PostgreSQL's wait-then-record statement, built once (the hot path)."""
    # A CTE calling a volatile function is never inlined: the lock is taken once, before
    # the row reaches the insert and its conflict check.
    turn = select(
        func.pg_advisory_xact_lock(bindparam("user_id", type_=BigInteger)).label("taken")
    ).cte("turn")
    row = select(
        bindparam("update_id", type_=BigInteger), bindparam("now", type_=UtcDateTime())
    ).select_from(turn)
    return (
        postgresql.insert(ProcessedUpdate)
        .from_select(["update_id", "processed_at"], row)
        .on_conflict_do_nothing(index_elements=["update_id"])
    )


async def take_job_turn(db: AsyncSession, job: str) -> bool:
    """True when this transaction may run `job`; False when another instance runs it now."""
    if not _on_postgresql(db):
        return True
    taken = select(func.pg_try_advisory_xact_lock(*_job_key(job)))
    connection = await db.connection()
    return bool((await connection.execute(taken)).scalar())


async def wait_for_job_turn(db: AsyncSession, job: str) -> None:
    """Waits until no other instance runs `job`, then holds it for this transaction."""
    if _on_postgresql(db):
        connection = await db.connection()
        await connection.execute(select(func.pg_advisory_xact_lock(*_job_key(job))))


def _job_key(job: str) -> tuple[Any, Any]:
    key = zlib.crc32(job.encode()) - 2**31  # a stable int4 for the job's name
    return literal(JOB_LOCK_SPACE, Integer), literal(key, Integer)
