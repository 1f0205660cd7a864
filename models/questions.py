"""What applicants asked: questions the FAQ could not answer, and feedback on answers."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rapidfuzz import fuzz, process
from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Text, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime, utcnow
from models.staff import audit

QUESTION_MAX_LENGTH = 4096
# Outbox keys in the staff group: a question's post ("handoff:<id>"), and the edits that mark
# it answered ("answered:<id>:<update>").
OFFICE_POST_KEY = "handoff:"
OFFICE_EDIT_KEY = "answered:"


class Resolution(StrEnum):
    """What the office decided an unanswered question is; it then leaves the lists."""

    ATTACHED = "attached"  # a new phrasing of an FAQ entry (a TaughtPhrasing)
    SMALL_TALK = "smalltalk"  # a greeting, thanks, chatter: not a question
    OFF_TOPIC = "offtopic"  # nothing the bot should answer


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
    # Settled by the office: attached to an entry, or set aside as small talk or off-topic.
    resolution: Resolution | None = Field(default=None, sa_column=Column(String(16)))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    resolved_by: str | None = Field(default=None, max_length=64)


class TaughtPhrasing(SQLModel, table=True):
    """A way of asking an FAQ entry that staff taught the bot, from an unanswered question."""

    __tablename__ = "taught_phrasing"

    id: int | None = Field(default=None, primary_key=True)
    entry_key: str = Field(max_length=64, index=True)
    locale: str = Field(max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))
    taught_by: str = Field(max_length=64)  # "telegram:<id>" or "cli:<user>", as audited
    taught_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    question_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("unanswered_question.id", ondelete="SET NULL"), index=True
        ),
    )
    # Taken back by staff: every process drops it from its FAQ within seconds.
    removed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    removed_by: str | None = Field(default=None, max_length=64)


@dataclass(frozen=True, slots=True)
class OpenQuestion:
    """Unanswered questions asked the same way: the latest wording, its id, how many times."""

    question_id: int
    text: str
    locale: str
    times: int


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
    db: AsyncSession, applicant_id: int, entry_id: str, helpful: bool, now: datetime | None = None
) -> None:
    """Keeps an applicant's verdict on an answer."""
    db.add(
        FaqFeedback(
            applicant_id=applicant_id, entry_id=entry_id, helpful=helpful, given_at=now or utcnow()
        )
    )
    await db.flush()


# Questions whose normalised wordings score this much (rapidfuzz's token-sort ratio, 0-100)
# are one question to the office: typos, word order and filler words apart.
SAME_QUESTION = 88


def _alike(text: str, wordings: list[str]) -> int | None:
    """The index of the wording most like `text`, if it is asked the same way or nearly."""
    found = process.extractOne(
        text, wordings, scorer=fuzz.token_sort_ratio, score_cutoff=SAME_QUESTION
    )
    return None if found is None else found[2]


async def _open_wordings(db: AsyncSession) -> list[tuple[str, int, int]]:
    """Each open question's normalised wording: how often, and its latest id; most first."""
    times = func.count().label("times")
    latest = func.max(col(UnansweredQuestion.id)).label("latest")
    rows = await db.exec(
        select(col(UnansweredQuestion.normalized), times, latest)
        .where(col(UnansweredQuestion.resolution).is_(None))
        .group_by(col(UnansweredQuestion.normalized))
        .order_by(times.desc(), latest.desc())
    )
    return [(text, int(n), int(latest_id or 0)) for text, n, latest_id in rows.all()]


async def most_asked_unanswered(db: AsyncSession, limit: int = 20) -> list[OpenQuestion]:
    """The questions still open (not settled by the office), most asked first; questions
    asked nearly the same way are one, shown by their most asked wording."""
    wordings: list[str] = []  # each group's most asked wording
    groups: list[tuple[int, int]] = []  # (times, id shown), beside its wording
    for text, n, latest_id in await _open_wordings(db):
        same = _alike(text, wordings)
        if same is None:
            wordings.append(text)
            groups.append((n, latest_id))
        else:
            times, shown = groups[same]
            groups[same] = (times + n, shown)
    groups.sort(key=lambda group: (-group[0], -group[1]))
    shown_ids = [shown for _, shown in groups[:limit]]
    questions = (
        await db.exec(select(UnansweredQuestion).where(col(UnansweredQuestion.id).in_(shown_ids)))
    ).all()
    by_id = {question.id: question for question in questions}
    return [
        OpenQuestion(shown, by_id[shown].text, by_id[shown].locale, times)
        for times, shown in groups[:limit]
    ]


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


@dataclass(frozen=True)
class OfficeLoad:
    """An applicant's questions with the office: still open, and handed over in a day."""

    open: int
    last_day: int


async def office_load(db: AsyncSession, applicant_id: int, now: datetime) -> OfficeLoad:
    """How many of the applicant's questions the office has open, and got in the last 24 h."""
    sent = col(UnansweredQuestion.sent_to_office_at)
    still_open = (
        sent.is_not(None)
        & col(UnansweredQuestion.answered_at).is_(None)
        & col(UnansweredQuestion.resolution).is_(None)
    )
    row = (
        await db.exec(
            select(
                func.count().filter(still_open),
                func.count().filter(sent >= now - timedelta(days=1)),
            ).where(col(UnansweredQuestion.applicant_id) == applicant_id)
        )
    ).one()
    return OfficeLoad(open=int(row[0]), last_day=int(row[1]))


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


async def same_questions(
    db: AsyncSession, question: UnansweredQuestion
) -> list[UnansweredQuestion]:
    """The open questions asked the same way as this one, or nearly (itself included)."""
    found = process.extract(
        question.normalized,
        [text for text, _, _ in await _open_wordings(db)],
        scorer=fuzz.token_sort_ratio,
        score_cutoff=SAME_QUESTION,
        limit=None,
    )
    wordings = [text for text, _, _ in found]
    result = await db.exec(
        select(UnansweredQuestion).where(
            col(UnansweredQuestion.normalized).in_(wordings or [question.normalized]),
            col(UnansweredQuestion.resolution).is_(None),
        )
    )
    return list(result.all())


async def resolve_question(
    db: AsyncSession,
    question: UnansweredQuestion,
    resolution: Resolution,
    actor: str,
    now: datetime,
    entry_key: str | None = None,
) -> int:
    """Settles an open question and every open one asked the same way, audited as `actor`;
    attaching also keeps its wording as a phrasing of `entry_key`. Returns how many it settled.
    """
    settled = await same_questions(db, question)
    if question not in settled:
        settled.append(question)  # settled already: the caller checked, but stay exact
    for each in settled:
        each.resolution, each.resolved_at, each.resolved_by = resolution, now, actor
        db.add(each)
    if resolution is Resolution.ATTACHED:
        assert entry_key is not None
        db.add(
            TaughtPhrasing(
                entry_key=entry_key,
                locale=question.locale,
                text=question.text,
                taught_by=actor,
                taught_at=now,
                question_id=question.id,
            )
        )
    await db.flush()
    await audit(
        db,
        actor,
        "attach_question" if resolution is Resolution.ATTACHED else "set_aside_question",
        f"question:{question.id}",
        now,
        resolution=str(resolution),
        entry=entry_key,
        settled=len(settled),
    )
    return len(settled)


async def taught_phrasings(db: AsyncSession, after_id: int = 0) -> Sequence[TaughtPhrasing]:
    """The phrasings staff taught and did not take back, oldest first; only those newer than
    `after_id` if given."""
    result = await db.exec(
        select(TaughtPhrasing)
        .where(col(TaughtPhrasing.id) > after_id, col(TaughtPhrasing.removed_at).is_(None))
        .order_by(col(TaughtPhrasing.id))
    )
    return result.all()


async def removed_phrasings(db: AsyncSession) -> Sequence[TaughtPhrasing]:
    """The phrasings staff took back (few: the processes drop them from their FAQ)."""
    result = await db.exec(
        select(TaughtPhrasing)
        .where(col(TaughtPhrasing.removed_at).is_not(None))
        .order_by(col(TaughtPhrasing.id))
    )
    return result.all()


async def remove_taught_phrasing(
    db: AsyncSession, phrasing_id: int, actor: str, now: datetime
) -> TaughtPhrasing | None:
    """Takes back a phrasing staff taught, audited; None when there is none to take back."""
    phrasing = await db.get(TaughtPhrasing, phrasing_id)
    if phrasing is None or phrasing.removed_at is not None:
        return None
    phrasing.removed_at, phrasing.removed_by = now, actor
    db.add(phrasing)
    await audit(db, actor, "phrasing_remove", f"phrasing:{phrasing_id}", entry=phrasing.entry_key)
    return phrasing
