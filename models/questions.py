"""What applicants asked: questions the FAQ could not answer, and feedback on answers."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Text, delete, func, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, utcnow
from models.staff import audit

QUESTION_MAX_LENGTH = 4096


class UnansweredQuestion(SQLModel, table=True):
    """A question the FAQ had no good answer for, kept for the office."""

    __tablename__ = "unanswered_question"

    id: int | None = Field(default=None, primary_key=True)
    applicant_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("applicant.id", ondelete="SET NULL"), index=True),
    )
    locale: str = Field(max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))
    # The question after normalisation, so the same question typed differently counts once.
    normalized: str = Field(sa_column=Column(Text, nullable=False, index=True))
    asked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    # Handed to the office by the applicant, and the office's answer.
    sent_to_office_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    answered_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    answer: str | None = Field(default=None, sa_column=Column(Text))


class FaqFeedback(SQLModel, table=True):
    """An applicant's answer to "Was this helpful?" for one FAQ entry."""

    __tablename__ = "faq_feedback"

    id: int | None = Field(default=None, primary_key=True)
    applicant_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("applicant.id", ondelete="SET NULL"), index=True),
    )
    entry_id: str = Field(max_length=64, index=True)
    helpful: bool
    given_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


async def record_unanswered(
    db: AsyncSession, applicant_id: int, locale: str, text: str, normalized: str
) -> UnansweredQuestion:
    """Keeps a question the bot could not answer."""
    question = UnansweredQuestion(
        applicant_id=applicant_id,
        locale=locale,
        text=text[:QUESTION_MAX_LENGTH],
        normalized=normalized[:QUESTION_MAX_LENGTH],
    )
    db.add(question)
    await db.flush()
    return question


async def record_feedback(
    db: AsyncSession, applicant_id: int, entry_id: str, helpful: bool
) -> None:
    """Keeps an applicant's verdict on an answer."""
    db.add(FaqFeedback(applicant_id=applicant_id, entry_id=entry_id, helpful=helpful))
    await db.flush()


async def most_asked_unanswered(db: AsyncSession, limit: int = 20) -> Sequence[tuple[str, int]]:
    """The unanswered questions asked most often, with their counts."""
    count = func.count().label("times")
    result = await db.exec(
        select(UnansweredQuestion.normalized, count)
        .group_by(UnansweredQuestion.normalized)
        .order_by(count.desc())
        .limit(limit)
    )
    return [(text, int(times)) for text, times in result.all()]


async def count_questions(db: AsyncSession, applicant_id: int) -> tuple[int, int]:
    """How many unanswered questions and answer ratings this applicant has given."""
    questions = await db.exec(
        select(func.count())
        .select_from(UnansweredQuestion)
        .where(col(UnansweredQuestion.applicant_id) == applicant_id)
    )
    ratings = await db.exec(
        select(func.count())
        .select_from(FaqFeedback)
        .where(col(FaqFeedback.applicant_id) == applicant_id)
    )
    return int(questions.one()), int(ratings.one())


async def forget_questions_of(db: AsyncSession, applicant_id: int) -> None:
    """Deletes what an applicant typed; their answer ratings stay, anonymous."""
    await db.exec(
        delete(UnansweredQuestion).where(col(UnansweredQuestion.applicant_id) == applicant_id)
    )
    await db.exec(
        update(FaqFeedback)
        .where(col(FaqFeedback.applicant_id) == applicant_id)
        .values(applicant_id=None)
    )


async def hand_to_office(db: AsyncSession, question: UnansweredQuestion, now: datetime) -> bool:
    """Marks the question as handed to the office; False when it was already."""
    if question.sent_to_office_at is not None:
        return False
    question.sent_to_office_at = now
    db.add(question)
    return True


async def answer_question(
    db: AsyncSession,
    question: UnansweredQuestion,
    staff_id: int,
    answer: str,
    actor: str,
    now: datetime,
) -> None:
    """Records the office's answer to a question, audited as `actor`."""
    question.answered_at, question.answered_by, question.answer = now, staff_id, answer
    db.add(question)
    await audit(db, actor, "answer_question", f"question:{question.id}")
