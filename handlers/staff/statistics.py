"""The staff's /stats: seats per session, who the applicants are, and what they ask.

`gather_statistics` counts with aggregate queries only (GROUP BY, COUNT, a correlated
count per listed session), so it costs the same with ten applicants or a hundred thousand;
`statistics_text` and `registrations_chart` are pure functions of what it returns.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from io import BytesIO
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.texts import LANGUAGE_NAMES, LOCALES, Texts
from models.applicants import Applicant
from models.questions import UnansweredQuestion
from models.registrations import Registration, RegistrationStatus
from models.sessions import SessionStatus, TestSession

DAYS = 14  # registrations per day, today included
RECENT_SESSIONS = timedelta(days=7)  # sessions that started this long ago are still listed
MAX_SESSIONS = 30
MAX_SOURCES = 10
MAX_QUESTIONS = 10
NO_LOCALE = "none"
MESSAGE_LIMIT = 4096  # Telegram's limit for one message
# Clipped before escaping, so no entity is ever cut in half.
VENUE_CLIP, SOURCE_CLIP, QUESTION_CLIP = 60, 64, 160
DAYS_PER_LINE = 7


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
    applicants_by_locale: tuple[tuple[str, int], ...]  # km, en, ja, "none", then any other
    reachable: int
    unreachable: int
    per_day: tuple[DayCount, ...]  # the last DAYS local days, oldest first, zeros included
    sources: tuple[SourceCount, ...]  # most registrations first
    questions: tuple[QuestionCount, ...]  # most asked first

    @property
    def applicants(self) -> int:
        return self.reachable + self.unreachable


async def gather_statistics(db: AsyncSession, now: datetime, zone: ZoneInfo) -> Statistics:
    """Counts everything /stats shows, with aggregate queries on either engine."""
    sessions, more_sessions = await _sessions(db, now)
    by_locale, reachable, unreachable = await _applicants(db)
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


async def _applicants(db: AsyncSession) -> tuple[tuple[tuple[str, int], ...], int, int]:
    by_locale = dict.fromkeys((*LOCALES, NO_LOCALE), 0)
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


def short_day(day: date) -> str:
    """A day as "07/10": short, and digits only, for lists and the chart."""
    return day.strftime("%d/%m")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())  # user text may hold newlines; a list item stays one line
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def telegram_length(text: str) -> int:
    """Telegram counts UTF-16 code units; counting the HTML tags too keeps a margin."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Section:
    """A heading, lines that always show, and a list that can be shortened to fit."""

    lines: list[str]
    items: list[str]
    more: Callable[[int], str]
    hidden: int = 0  # items the gatherer already left out
    shown: int = -1

    def __post_init__(self) -> None:
        if self.shown < 0:
            self.shown = len(self.items)

    def render(self) -> str:
        lines = self.lines + self.items[: self.shown]
        if hidden := self.hidden + len(self.items) - self.shown:
            lines.append(self.more(hidden))
        return "\n".join(lines)


def _fit(sections: Sequence[_Section], limit: int = MESSAGE_LIMIT) -> str:
    """Joins the sections, dropping items from the longest lists until the text fits."""
    while True:
        text = "\n\n".join(section.render() for section in sections)
        if telegram_length(text) <= limit:
            return text
        shrinkable = [s for s in sections if s.shown > 0]
        if not shrinkable:
            # Cannot happen with the clipped items above; cut at a line as a last resort.
            return text[: text.rfind("\n", 0, limit - 1)] if "\n" in text else text[:limit]
        max(shrinkable, key=lambda s: telegram_length(s.render())).shown -= 1


def statistics_text(texts: Texts, stats: Statistics) -> str:
    """/stats as one Telegram HTML message of at most 4096 characters."""
    _ = texts  # the name pybabel extracts messages by (babel.cfg)

    def more(n: int) -> str:
        return _("…and {n} more").format(n=_.number(n))

    statuses = {
        SessionStatus.OPEN.value: _("open"),
        SessionStatus.CLOSED.value: _("closed"),
        SessionStatus.CANCELLED.value: _("cancelled"),
    }
    session_items = [
        "• {when} · {exam} · {venue} · {status}\n   {seats}".format(
            when=_.brief_moment(session.starts_at),
            exam=escape(session.exam_id),
            venue=escape(clip(session.venue, VENUE_CLIP)),
            status=statuses.get(session.status, escape(session.status)),
            seats=_("Seats: {taken}/{capacity} taken, {left} left, {waiting} waiting").format(
                taken=_.number(session.seats_taken),
                capacity=_.number(session.capacity),
                left=_.number(session.seats_left),
                waiting=_.number(session.waiting),
            ),
        )
        for session in stats.sessions
    ]
    sessions = _Section([_("<b>Test sessions</b>")], session_items, more, stats.more_sessions)
    if not stats.sessions and not stats.more_sessions:
        sessions.lines.append(_("No upcoming or recent test sessions."))

    languages = " · ".join(
        "{language}: {n}".format(
            language=LANGUAGE_NAMES.get(locale)
            or (_("not chosen") if locale == NO_LOCALE else escape(locale)),
            n=_.number(count),
        )
        for locale, count in stats.applicants_by_locale
    )
    applicants = _Section(
        [
            _("<b>Applicants</b>: {total}").format(total=_.number(stats.applicants)),
            languages,
            _("Reachable: {reachable}, blocked the bot: {unreachable}").format(
                reachable=_.number(stats.reachable), unreachable=_.number(stats.unreachable)
            ),
        ],
        [],
        more,
    )

    per_day = [
        f"{short_day(count.day)}: {_.number(count.registrations)}" for count in stats.per_day
    ]
    days = _Section(
        [
            _("<b>Registrations in the last {days} days</b>: {total}").format(
                days=_.number(len(stats.per_day)),
                total=_.number(sum(count.registrations for count in stats.per_day)),
            ),
            *(
                " · ".join(per_day[i : i + DAYS_PER_LINE])
                for i in range(0, len(per_day), DAYS_PER_LINE)
            ),
        ],
        [],
        more,
    )

    source_items = [
        "• {source}: {n}".format(
            source=escape(clip(count.source, SOURCE_CLIP)) if count.source else _("direct"),
            n=_.number(count.registrations),
        )
        for count in stats.sources
    ]
    sources = _Section([_("<b>Registrations by source</b>")], source_items, more)
    if not source_items:
        sources.lines.append(_("No registrations yet."))

    question_items = [
        f"• {_.number(question.times)}× {escape(clip(question.text, QUESTION_CLIP))}"
        for question in stats.questions
    ]
    questions = _Section(
        [_("<b>Most asked questions without an answer</b>")], question_items, more
    )
    if not question_items:
        questions.lines.append(_("No unanswered questions."))

    header = _Section(
        [_("📊 <b>Statistics</b> · {when}").format(when=_.moment(stats.now))], [], more
    )
    return _fit([header, sessions, applicants, days, sources, questions])


def registrations_chart(texts: Texts, stats: Statistics) -> bytes:
    """Registrations per day as a small PNG bar chart; blocking, so run it off the loop."""
    # Imported here: matplotlib is slow to import, and only staff asking for /stats need it.
    # Figure with the Agg canvas, never pyplot: no global state, safe from a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    _ = texts  # the name pybabel extracts messages by (babel.cfg)
    title = _("Registrations per day")
    if not _latin(title):
        # The chart's font has Latin letters and digits only: Khmer needs shaping that
        # matplotlib does not do, so other scripts keep the English title.
        title = "Registrations per day"
    labels = [short_day(count.day) for count in stats.per_day]
    values = [count.registrations for count in stats.per_day]

    figure = Figure(figsize=(6.4, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bars = axes.bar(range(len(values)), values, color="#2f6db5", width=0.7)
    axes.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=7, padding=2)
    axes.set_xticks(range(len(labels)), labels, fontsize=7)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(axis="y", labelsize=7)
    axes.set_ylim(0, max([1, *values]) * 1.15)
    axes.set_title(title, fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    output = BytesIO()
    figure.savefig(output, format="png", metadata={"Software": None})
    return output.getvalue()


def _latin(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
