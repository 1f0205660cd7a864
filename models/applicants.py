"""Applicants: the people who talk to the bot."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from sqlalchemy import BigInteger, Column, Date, bindparam, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from models.columns import UtcDateTime, utcnow
from models.conversations import ConversationState
from models.outbox import skip_pending_for
from models.registrations import Registration, RegistrationStatus

SOURCE_MAX_LENGTH = 64


class Applicant(SQLModel, table=True):
    """A Telegram user who has written to the bot."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # None until the applicant picks a language; until then it is guessed per update.
    locale: str | None = Field(default=None, max_length=8)
    # Where they came from: the deep-link payload of their first /start (poster, school, agency).
    source: str | None = Field(default=None, max_length=SOURCE_MAX_LENGTH, index=True)
    reachable: bool = Field(default=True)
    reminders: bool = Field(default=True)  # the applicant can turn test reminders off
    # Identity, given in the registration wizard and offered for reuse the next time.
    name_latin: str | None = Field(default=None, max_length=80)  # as in the passport
    name_khmer: str | None = Field(default=None, max_length=80)
    date_of_birth: date | None = Field(default=None, sa_column=Column(Date))
    sex: str | None = Field(default=None, max_length=16)
    phone: str | None = Field(default=None, max_length=20)  # E.164
    id_number: str | None = Field(default=None, max_length=20)  # national ID or passport
    province: str | None = Field(default=None, max_length=32)
    # When they agreed to the use of their details, and to which text (its version).
    consented_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    consent_version: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    last_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


# How exactly "last seen" is kept: finer would cost a write on every update.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


async def find_applicant(db: AsyncSession, telegram_id: int) -> Applicant | None:
    """The applicant with this Telegram id, if they have written before."""
    result = await db.exec(select(Applicant).where(Applicant.telegram_id == telegram_id))
    return result.first()


@dataclass(frozen=True)
class Meeting:
    """An applicant as an update finds them: who, on which step, and whether they are new."""

    applicant: Applicant
    state: ConversationState | None
    first_contact: bool


async def meet_applicant(db: AsyncSession, telegram_id: int, chat_id: int) -> Meeting:
    """The applicant for this user and their step, created on first contact.

    One query reads both (an update's hot path). Writing again also means they can be
    reached again.
    """
    found = await db.exec(_applicant_and_step(), params={"telegram_id": telegram_id})
    row = found.first()
    applicant, state = row if row is not None else (None, None)
    now = utcnow()
    first_contact = applicant is None
    if applicant is None:
        applicant = Applicant(telegram_id=telegram_id, chat_id=chat_id, created_at=now)
        db.add(applicant)
    elif not applicant.reachable:
        # They unblocked the bot: the reconcile job plans their skipped reminders again.
        await db.exec(
            update(Registration)
            .where(
                col(Registration.applicant_id) == applicant.id,
                col(Registration.status) == RegistrationStatus.CONFIRMED.value,
            )
            .values(reminders_for=None)
        )
    elif applicant.chat_id == chat_id and now - applicant.last_seen_at < LAST_SEEN_RESOLUTION:
        # Seen a moment ago: nothing to write, a write less per update.
        return Meeting(applicant, state, first_contact=False)
    applicant.chat_id = chat_id
    applicant.last_seen_at = now
    applicant.reachable = True
    await db.flush()
    return Meeting(applicant, state, first_contact)


@cache
def _applicant_and_step() -> Select[Applicant, ConversationState]:
    """The applicant with a Telegram id and their step, built once (every update reads it)."""
    return (
        select(Applicant, ConversationState)
        .outerjoin(ConversationState, col(ConversationState.applicant_id) == col(Applicant.id))
        .where(col(Applicant.telegram_id) == bindparam("telegram_id"))
    )


def record_source(applicant: Applicant, source: str) -> None:
    """Keeps the first deep-link source an applicant arrived with."""
    if applicant.source is None and source:
        applicant.source = source[:SOURCE_MAX_LENGTH]


async def mark_unreachable(db: AsyncSession, telegram_id: int) -> None:
    """`applicant_blocked`, by Telegram user id (a reply met Telegram's 403)."""
    applicant = await find_applicant(db, telegram_id)
    if applicant is not None and applicant.id is not None:
        await applicant_blocked(db, applicant.id)


async def applicant_blocked(db: AsyncSession, applicant_id: int) -> None:
    """The applicant blocked the bot: marked unreachable, and what is queued for them skipped."""
    await db.exec(
        update(Applicant).where(col(Applicant.id) == applicant_id).values(reachable=False)
    )
    await skip_pending_for(db, applicant_id, "blocked the bot")


def has_consented(applicant: Applicant, version: str) -> bool:
    """Whether the applicant agreed to this version of the consent text."""
    return applicant.consented_at is not None and applicant.consent_version == version


def record_consent(applicant: Applicant, version: str, now: datetime) -> None:
    """Remembers that the applicant agreed to this version of the consent text, now."""
    applicant.consented_at, applicant.consent_version = now, version
