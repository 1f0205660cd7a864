"""The test office's staff, their roles, and the audit trail of everything they do."""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, String
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, utcnow
from models.panel import end_sessions_of


class Role(StrEnum):
    OWNER = "owner"  # from ADMIN_IDS: everything, and managing staff
    ADMIN = "admin"  # everything but managing staff
    OPERATOR = "operator"  # answers questions, checks people in, sees statistics


RANK = {Role.OPERATOR: 1, Role.ADMIN: 2, Role.OWNER: 3}
REFUSED = "refused"  # the audit action of someone reaching for what they may not use


def may(role: Role | None, needed: Role) -> bool:
    """Whether `role` is at least `needed`."""
    return role is not None and RANK[role] >= RANK[needed]


class StaffMember(SQLModel, table=True):
    """A Telegram user who works for the test office."""

    __tablename__ = "staff_member"

    telegram_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    role: Role = Field(sa_column=Column(String(16), nullable=False))
    added_by: str = Field(max_length=64)
    added_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


class AuditEntry(SQLModel, table=True):
    """One thing a staff member did (or tried to do without the right)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False, index=True)
    )
    actor: str = Field(max_length=64, index=True)  # "telegram:<id>" or "cli:<user>"
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=128)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


async def role_of(db: AsyncSession, telegram_id: int, owners: frozenset[int]) -> Role | None:
    """The user's role: owner by configuration, else as added; None for everyone else."""
    if telegram_id in owners:
        return Role.OWNER
    member = await db.get(StaffMember, telegram_id)
    return Role(member.role) if member else None


async def add_staff(db: AsyncSession, telegram_id: int, role: Role, actor: str) -> StaffMember:
    """Adds a staff member, or changes the role of one already there; audited as `actor`."""
    if role == Role.OWNER:
        raise ValueError("owners come from ADMIN_IDS")
    member = await db.get(StaffMember, telegram_id)
    if member is None:
        member = StaffMember(telegram_id=telegram_id, role=role, added_by=actor)
    member.role = role
    db.add(member)
    await db.flush()
    await audit(db, actor, "staff_add", str(telegram_id), role=str(role))
    return member


async def remove_staff(db: AsyncSession, telegram_id: int, actor: str) -> bool:
    """Takes a user's staff role away, audited as `actor`; False when they were not staff.

    Their open web panel sessions end with it.
    """
    member = await db.get(StaffMember, telegram_id)
    if member is not None:
        await db.delete(member)
        await db.flush()
        await end_sessions_of(db, telegram_id)
    await audit(db, actor, "staff_remove", str(telegram_id), removed=member is not None)
    return member is not None


async def list_staff(db: AsyncSession) -> Sequence[StaffMember]:
    result = await db.exec(select(StaffMember).order_by(col(StaffMember.added_at)))
    return result.all()


async def audit(
    db: AsyncSession,
    actor: str,
    action: str,
    target: str | None = None,
    now: datetime | None = None,
    **detail: Any,
) -> None:
    """Writes one line of the audit trail, in the transaction of the action itself."""
    db.add(
        AuditEntry(at=now or utcnow(), actor=actor, action=action, target=target, detail=detail)
    )
    await db.flush()


async def audit_trail(db: AsyncSession, limit: int = 100) -> Sequence[AuditEntry]:
    """The newest entries first."""
    result = await db.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit))
    return result.all()
