"""Erasing an applicant: nothing they gave, and no trace of their Telegram account, is kept.

Their seats are released first (by the caller, who offers them to the next in line);
then everything that holds their words or their Telegram id goes: the applicant row and
its conversation, their questions and the phrasings staff taught from them, every
outbox row for their chat (sent, queued or skipped), the staff-group posts of their
questions still queued, their chat's pace, and the audit lines of their own refused
attempts. What stays is anonymous: registrations without an applicant, answer ratings
without one. Their questions' posts already in the staff group are returned, for the
caller to overwrite with a notice (models know no texts).
"""

from dataclasses import dataclass

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.applicants import Applicant
from models.conversations import ConversationState
from models.outbox import OutboxMessage, OutboxStatus
from models.questions import FaqFeedback, TaughtPhrasing, UnansweredQuestion
from models.send_budget import ChatPace
from models.staff import AuditEntry

# The dedupe keys of what the office's posts about a question became (handlers' keys):
# the post itself, and the edits marking it answered.
QUESTION_POST_KEYS = ("handoff:{id}", "answered:{id}:")


@dataclass(frozen=True, slots=True)
class StaffPost:
    """A post about an erased applicant's question, already in the staff group."""

    chat_id: int
    message_id: int
    question_id: int


async def erase_applicant(db: AsyncSession, applicant: Applicant) -> list[StaffPost]:
    """Deletes everything kept about the applicant; returns their posts in the staff group."""
    assert applicant.id is not None
    question_ids = list(
        (
            await db.exec(
                select(UnansweredQuestion.id).where(
                    col(UnansweredQuestion.applicant_id) == applicant.id
                )
            )
        ).all()
    )
    posts = await _forget_staff_posts(db, [i for i in question_ids if i is not None])
    await db.exec(
        delete(OutboxMessage).where(
            or_(
                col(OutboxMessage.applicant_id) == applicant.id,
                col(OutboxMessage.chat_id).in_({applicant.chat_id, applicant.telegram_id}),
            )
        )
    )
    await db.exec(
        delete(ChatPace).where(
            col(ChatPace.chat_id).in_({applicant.chat_id, applicant.telegram_id})
        )
    )
    await db.exec(
        delete(AuditEntry).where(col(AuditEntry.actor) == f"telegram:{applicant.telegram_id}")
    )
    if question_ids:
        await db.exec(
            delete(TaughtPhrasing).where(col(TaughtPhrasing.question_id).in_(question_ids))
        )
        await db.exec(
            delete(UnansweredQuestion).where(col(UnansweredQuestion.id).in_(question_ids))
        )
    await db.exec(
        update(FaqFeedback)
        .where(col(FaqFeedback.applicant_id) == applicant.id)
        .values(applicant_id=None)
    )
    state = await db.get(ConversationState, applicant.id)
    if state is not None:
        await db.delete(state)
    await db.delete(applicant)
    await db.flush()
    return posts


async def _forget_staff_posts(db: AsyncSession, question_ids: list[int]) -> list[StaffPost]:
    """Drops the queued posts and edits about the questions; empties the sent ones."""
    if not question_ids:
        return []
    prefixes = [key.format(id=i) for i in question_ids for key in QUESTION_POST_KEYS]
    rows = (
        await db.exec(
            select(OutboxMessage).where(
                or_(*(col(OutboxMessage.dedupe_key).startswith(p) for p in prefixes))
            )
        )
    ).all()
    posts = []
    for row in rows:
        if row.status in (OutboxStatus.PENDING, OutboxStatus.SKIPPED, OutboxStatus.FAILED):
            await db.delete(row)  # never delivered, and now never will be
            continue
        row.content = []  # the question's words leave the record of what was sent
        db.add(row)
        key = row.dedupe_key
        if key.startswith("handoff:") and row.telegram_message_id is not None:
            posts.append(StaffPost(row.chat_id, row.telegram_message_id, int(key.split(":")[1])))
    return posts
