"""Erasure: an applicant's /deleteme leaves nothing of them in any table.

Registrations stay as anonymous counts (with a new code that no lookup accepts, so a code
written down next to a name leads nowhere); outbox rows that were about them keep only
their status, so delivery figures still add up; the audit trail keeps what staff did, not
who tried.
"""

from dataclasses import dataclass

from sqlalchemy import String, case, cast, delete, literal, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.applicants import Applicant
from models.conversations import ConversationState
from models.outbox import OUTBOX, OutboxMessage, OutboxStatus
from models.questions import (
    OFFICE_EDIT_KEY,
    OFFICE_POST_KEY,
    FaqFeedback,
    TaughtPhrasing,
    UnansweredQuestion,
)
from models.registrations import Registration
from models.send_budget import ChatPace
from models.staff import REFUSED, AuditEntry

ERASED = "erased"
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def erased_code(registration_id: int) -> str:
    """ "-" and the row's id in base 36: unique by construction (a random code could clash
    with a live one and fail the erasure), outside the alphabet `find_by_code` takes, and
    six characters up to id 60,466,175."""
    digits = ""
    while True:
        registration_id, digit = divmod(registration_id, 36)
        digits = BASE36[digit] + digits
        if not registration_id:
            return "-" + digits


@dataclass(frozen=True, slots=True)
class SentPost:
    """A post about the applicant already in a chat (the staff group): to be edited."""

    chat_id: int
    message_id: int
    question_id: int


async def erase_applicant(db: AsyncSession, applicant: Applicant) -> list[SentPost]:
    """Erases everything kept about the applicant; returns their posts already sent to staff.

    Their seats must have been given up first (a seat freed is offered to the next in line).
    Nothing queued for them or about them is delivered afterwards.
    """
    assert applicant.id is not None
    ids = {applicant.telegram_id, applicant.chat_id}
    asked = select(UnansweredQuestion.id).where(
        col(UnansweredQuestion.applicant_id) == applicant.id
    )
    question_ids = [question_id for question_id in (await db.exec(asked)).all() if question_id]
    about_questions = [
        key
        for question_id in question_ids
        for key in (
            OUTBOX.c.dedupe_key == f"{OFFICE_POST_KEY}{question_id}",
            OUTBOX.c.dedupe_key.like(f"{OFFICE_EDIT_KEY}{question_id}:%"),
        )
    ]
    sent_posts = await _sent_question_posts(db, question_ids)
    theirs = or_(
        OUTBOX.c.applicant_id == applicant.id, OUTBOX.c.chat_id.in_(ids), *about_questions
    )
    connection = await db.connection()
    await connection.execute(
        update(OUTBOX)
        .where(theirs)
        .values(
            chat_id=0,
            applicant_id=None,
            registration_id=None,
            content=[],
            dedupe_key=literal(f"{ERASED}:").concat(cast(OUTBOX.c.id, String)),
            last_error=None,
            status=case(
                (OUTBOX.c.status == OutboxStatus.PENDING.value, OutboxStatus.SKIPPED.value),
                else_=OUTBOX.c.status,
            ),
        )
    )
    # A phrasing staff taught from their question is their wording: it goes too.
    if question_ids:
        await db.exec(
            delete(TaughtPhrasing).where(col(TaughtPhrasing.question_id).in_(question_ids))
        )
    await db.exec(
        delete(UnansweredQuestion).where(col(UnansweredQuestion.applicant_id) == applicant.id)
    )
    await db.exec(
        update(FaqFeedback)
        .where(col(FaqFeedback.applicant_id) == applicant.id)
        .values(applicant_id=None)
    )
    await db.exec(
        delete(ConversationState).where(col(ConversationState.applicant_id) == applicant.id)
    )
    await db.exec(delete(ChatPace).where(col(ChatPace.chat_id).in_(ids)))
    await _forget_in_audit_trail(db, applicant.telegram_id)
    for registration in (
        await db.exec(select(Registration).where(col(Registration.applicant_id) == applicant.id))
    ).all():
        assert registration.id is not None
        registration.applicant_id, registration.code = None, erased_code(registration.id)
        db.add(registration)
    await db.delete(applicant)
    await db.flush()
    return sent_posts


async def _sent_question_posts(db: AsyncSession, question_ids: list[int]) -> list[SentPost]:
    if not question_ids:
        return []
    keys = {f"{OFFICE_POST_KEY}{question_id}": question_id for question_id in question_ids}
    rows = await db.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.dedupe_key).in_(keys),
            col(OutboxMessage.telegram_message_id).is_not(None),
        )
    )
    return [
        SentPost(row.chat_id, row.telegram_message_id, keys[row.dedupe_key])
        for row in rows.all()
        if row.telegram_message_id is not None
    ]


async def _forget_in_audit_trail(db: AsyncSession, telegram_id: int) -> None:
    """Their refused attempts go; what staff did to or as them stays, without their number."""
    actor = f"telegram:{telegram_id}"
    await db.exec(
        delete(AuditEntry).where(col(AuditEntry.actor) == actor, col(AuditEntry.action) == REFUSED)
    )
    await db.exec(update(AuditEntry).where(col(AuditEntry.actor) == actor).values(actor=ERASED))
    await db.exec(
        update(AuditEntry).where(col(AuditEntry.target) == str(telegram_id)).values(target=ERASED)
    )
