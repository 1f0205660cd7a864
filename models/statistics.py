"""What the staff's /stats counts: seats per session, who the applicants are, what they ask.

Aggregate queries only (GROUP BY, COUNT, a correlated count per listed session), so
counting costs the same with ten applicants or a hundred thousand.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.applicants import Applicant
from models.questions import UnansweredQuestion
from models.registrations import Registration, RegistrationStatus
from models.sessions import TestSession

DAYS = 14  # registrations per day, today included
RECENT_SESSIONS = timedelta(days=7)  # sessions that started this long ago are still listed
MAX_SESSIONS = 30
MAX_SOURCES = 10
MAX_QUESTIONS = 10
NO_LOCALE = "none"


@dataclass(frozen=True)
class SessionFigures:
    """Seats at one test session."""

    session_id: int
    exam_id: str
    starts_at: datetime
    venue: str  # the English venue name, as typed by staff (not escaped)
    capacity: int
    seats_taken: int  # confirmed, plus seats held for someone on the waitlist
    seats_left: int
    waiting: int  # on the waitlist without a seat offered yet
    status: str


@dataclass(frozen=True)
class DayCount:
    day: date  # a local day in the bot's time zone
    registrations: int


@dataclass(frozen=True)
class SourceCount:
    source: str | None  # the deep-link payload of the first /start; None: came directly
    registrations: int


@dataclass(frozen=True)
class QuestionCount:
    text: str  # the latest wording of the question, as typed (not escaped)
    normalized: str
    times: int


@dataclass(frozen=True)
class Statistics:
    """Everything /stats shows, counted at `now`."""

    now: datetime
    sessions: tuple[SessionFigures, ...]  # soonest first, recent ones included
    more_sessions: int  # upcoming sessions beyond the listed ones
    applicants_by_locale: tuple[tuple[str, int], ...]  # the locales given, "none", then others
    reachable: int
    unreachable: int
    per_day: tuple[DayCount, ...]  # the last DAYS local days, oldest first, zeros included
    sources: tuple[SourceCount, ...]  # most registrations first
    questions: tuple[QuestionCount, ...]  # most asked first

    @property
    def applicants(self) -> int:
        return self.reachable + self.unreachable


async def gather_statistics(
    db: AsyncSession, now: datetime, zone: ZoneInfo, locales: Sequence[str]
) -> Statistics:
    """Counts everything /stats shows; `locales` are listed first, even with nobody."""
    sessions, more_sessions = await _sessions(db, now)
    by_locale, reachable, unreachable = await _applicants(db, locales)
    return Statistics(
        now=now,
        sessions=sessions,
        more_sessions=more_sessions,
        applicants_by_locale=by_locale,
        reachable=reachable,
        unreachable=unreachable,
        per_day=await _per_day(db, now, zone),
        sources=await _sources(db),
        questions=await _questions(db),
    )


async def _sessions(db: AsyncSession, now: datetime) -> tuple[tuple[SessionFigures, ...], int]:
    recent = col(TestSession.starts_at) >= now - RECENT_SESSIONS
    waiting = (
        select(func.count())
        .select_from(Registration)
        .where(
            col(Registration.session_id) == col(TestSession.id),
            col(Registration.status) == RegistrationStatus.WAITLISTED.value,
            col(Registration.offered_at).is_(None),
        )
        .correlate(TestSession)
        .scalar_subquery()
    )
    rows = (
        await db.exec(
            select(TestSession, waiting)
            .where(recent)
            .order_by(col(TestSession.starts_at), col(TestSession.id))
            .limit(MAX_SESSIONS)
        )
    ).all()
    total = (await db.exec(select(func.count()).select_from(TestSession).where(recent))).one()
    figures = []
    for session, waiting_count in rows:
        assert session.id is not None
        figures.append(
            SessionFigures(
                session_id=session.id,
                exam_id=session.exam_id,
                starts_at=session.starts_at,
                venue=session.venue_name_en,
                capacity=session.capacity,
                seats_taken=session.seats_taken,
                seats_left=max(session.capacity - session.seats_taken, 0),
                waiting=int(waiting_count or 0),
                status=str(session.status),
            )
        )
    return tuple(figures), max(int(total) - len(figures), 0)


async def _applicants(
    db: AsyncSession, locales: Sequence[str]
) -> tuple[tuple[tuple[str, int], ...], int, int]:
    by_locale = dict.fromkeys((*locales, NO_LOCALE), 0)
    rows = await db.exec(select(Applicant.locale, func.count()).group_by(col(Applicant.locale)))
    for locale, count in rows.all():
        key = locale or NO_LOCALE
        by_locale[key] = by_locale.get(key, 0) + int(count)
    reach = dict.fromkeys((True, False), 0)
    rows_reach = await db.exec(
        select(Applicant.reachable, func.count()).group_by(col(Applicant.reachable))
    )
    for reachable, count in rows_reach.all():
        reach[bool(reachable)] += int(count)
    return tuple(by_locale.items()), reach[True], reach[False]


def local_days(now: datetime, zone: ZoneInfo, days: int = DAYS) -> list[date]:
    """The last `days` days in the zone, oldest first, ending today."""
    today = now.astimezone(zone).date()
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


async def _per_day(db: AsyncSession, now: datetime, zone: ZoneInfo) -> tuple[DayCount, ...]:
    days = local_days(now, zone)
    # Each local midnight as a UTC instant: exact in any zone, daylight saving included,
    # so the database only compares instants and needs no time-zone support of its own.
    bounds = [
        datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
        for day in [*days, days[-1] + timedelta(days=1)]
    ]
    created = col(Registration.created_at)
    day_index = case(*((created < bounds[i + 1], i) for i in range(len(days))))
    # Grouped outside a subquery: PostgreSQL would not see the CASE in SELECT and in
    # GROUP BY as the same expression, since each carries its own bound parameters.
    inner = (
        select(day_index.label("day")).where(created >= bounds[0], created < bounds[-1]).subquery()
    )
    rows = await db.exec(select(inner.c.day, func.count()).group_by(inner.c.day))
    counts = {int(index): int(count) for index, count in rows.all()}
    return tuple(DayCount(day, counts.get(i, 0)) for i, day in enumerate(days))


async def _sources(db: AsyncSession) -> tuple[SourceCount, ...]:
    # Every registration ever made, cancelled ones included; erased applicants' rows have
    # no applicant left to tell where they came from, so the inner join leaves them out.
    count = func.count().label("registrations")
    rows = await db.exec(
        select(Applicant.source, count)
        .select_from(Registration)
        .join(Applicant, col(Applicant.id) == col(Registration.applicant_id))
        .group_by(col(Applicant.source))
        .order_by(count.desc(), func.coalesce(col(Applicant.source), ""))
        .limit(MAX_SOURCES)
    )
    return tuple(SourceCount(source, int(n)) for source, n in rows.all())


async def _questions(db: AsyncSession) -> tuple[QuestionCount, ...]:
    times = func.count().label("times")
    latest = func.max(col(UnansweredQuestion.id)).label("latest")
    top = (
        await db.exec(
            select(UnansweredQuestion.normalized, times, latest)
            .where(col(UnansweredQuestion.resolution).is_(None))  # settled by the office
            .group_by(col(UnansweredQuestion.normalized))
            .order_by(times.desc(), latest.desc())
            .limit(MAX_QUESTIONS)
        )
    ).all()
    if not top:
        return ()
    wording = dict(
        (
            await db.exec(
                select(UnansweredQuestion.id, UnansweredQuestion.text).where(
                    col(UnansweredQuestion.id).in_([row[2] for row in top])
                )
            )
        ).all()
    )
    return tuple(
        QuestionCount(text=wording.get(latest_id, normalized), normalized=normalized, times=n)
        for normalized, n, latest_id in top
    )
