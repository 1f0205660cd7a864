"""Conversation state: where an applicant is in a multi-step journey."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, utcnow


class ConversationState(SQLModel, table=True):
    """The step an applicant is on and what they have answered so far."""

    __tablename__ = "conversation_state"

    applicant_id: int = Field(
        sa_column=Column(Integer, ForeignKey("applicant.id", ondelete="CASCADE"), primary_key=True)
    )
    step: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


async def save_conversation(
    db: AsyncSession, applicant_id: int, step: str, data: dict[str, Any]
) -> None:
    """Remembers the applicant's step, replacing any earlier one."""
    state = await db.get(ConversationState, applicant_id)
    if state is None:
        state = ConversationState(applicant_id=applicant_id, step=step)
        db.add(state)
    state.step = step
    state.data = dict(data)
    state.updated_at = utcnow()
    await db.flush()


async def end_conversation(db: AsyncSession, applicant_id: int) -> None:
    """Forgets the applicant's step: they are back at the menu."""
    state = await db.get(ConversationState, applicant_id)
    if state is not None:
        await db.delete(state)
        await db.flush()
