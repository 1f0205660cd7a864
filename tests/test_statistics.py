"""/stats: seats, applicants, registrations per local day, sources, questions, text and chart."""

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.support import Translations
from PIL import Image
from sqlmodel import func, select

from bot.app import App
from bot.i18n import load_translations
from handlers.core.texts import LOCALES, Texts
from handlers.staff.statistics import (
    MESSAGE_LIMIT,
    registrations_chart,
    statistics_text,
)
from models import Applicant, Registration, UnansweredQuestion
from models.registrations import RegistrationStatus, book_seat, cancel_registration
from models.statistics import (
    DayCount,
    QuestionCount,
    SessionFigures,
    SourceCount,
    Statistics,
    gather_statistics,
)
from tests.support.sessions import NOW, make_session

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
TODAY = date(2026, 10, 1)  # NOW is 10:00 on 1 October in Phnom Penh


@pytest.fixture
def app(app_on_each_engine: App) -> App:
    """Every counting test runs on SQLite and on PostgreSQL."""
    return app_on_each_engine


@pytest.fixture(scope="module")
def translations() -> dict[str, Translations]:
    return load_translations()


def texts_in(translations: dict[str, Translations], locale: str) -> Texts:
    return Texts(locale, translations[locale], PHNOM_PENH)


async def make_applicant(app: App, number: int, **changes: Any) -> int:
    async with app.conversation.sessions() as db, db.begin():
        person = Applicant(telegram_id=20_000 + number, chat_id=20_000 + number, **changes)
        db.add(person)
        await db.flush()
        assert person.id is not None
        return person.id


async def add_registrations(
    app: App, session_id: int, rows: list[tuple[int | None, datetime]]
) -> None:
    """Registrations written as rows, for counts that do not depend on booking rules."""
    async with app.conversation.sessions() as db, db.begin():
        start = (await db.exec(select(func.count()).select_from(Registration))).one()
        db.add_all(
            Registration(
                applicant_id=applicant_id,
                session_id=session_id,
                exam_id="jft-basic",
                status=RegistrationStatus.CANCELLED,  # not live: any number per applicant
                code=f"R{start + i:05d}",
                created_at=created_at,
                updated_at=created_at,
            )
            for i, (applicant_id, created_at) in enumerate(rows)
        )


async def gather(app: App, zone: ZoneInfo = PHNOM_PENH) -> Statistics:
    async with app.conversation.sessions() as db:
        return await gather_statistics(db, NOW, zone, LOCALES)


async def test_seats_taken_left_and_waiting_per_session(app: App) -> None:
    full = await make_session(app, capacity=2)
    roomy = await make_session(app, capacity=10, starts_at=NOW + timedelta(days=10))
    recent = await make_session(
        app,
        capacity=5,
        starts_at=NOW - timedelta(days=3),
        registration_opens_at=NOW - timedelta(days=20),
        registration_closes_at=NOW - timedelta(days=4),
        status="closed",
    )
    await make_session(
        app,
        capacity=5,
        starts_at=NOW - timedelta(days=30),
        registration_opens_at=NOW - timedelta(days=40),
        registration_closes_at=NOW - timedelta(days=31),
    )
    people = [await make_applicant(app, i) for i in range(7)]
    async with app.conversation.sessions() as db, db.begin():
        booked = [await book_seat(db, person, full, NOW) for person in people[:4]]
        for person in people[4:]:
            await book_seat(db, person, roomy, NOW)
        # A freed seat is held for the first in line, who no longer counts as waiting.
        assert await cancel_registration(db, booked[0], NOW) is not None

    stats = await gather(app)
    assert [s.session_id for s in stats.sessions] == [recent, roomy, full]  # soonest first
    assert stats.more_sessions == 0
    figures = {s.session_id: s for s in stats.sessions}
    seats = {key: (s.seats_taken, s.seats_left, s.waiting) for key, s in figures.items()}
    assert seats[full] == (2, 0, 1)
    assert seats[roomy] == (3, 7, 0)
    assert figures[recent].status == "closed"
    assert figures[full].capacity == 2
    assert figures[full].exam_id == "jft-basic"
    assert figures[full].venue == "v"


async def test_applicants_by_language_and_reachability(app: App) -> None:
    for i, (locale, reachable) in enumerate(
        [
            ("km", True),
            ("km", True),
            ("km", False),
            ("en", True),
            ("en", True),
            ("ja", False),
            (None, True),
            (None, True),
        ]
    ):
        await make_applicant(app, i, locale=locale, reachable=reachable)
    stats = await gather(app)
    assert stats.applicants_by_locale == (("km", 3), ("en", 2), ("ja", 1), ("none", 2))
    assert (stats.reachable, stats.unreachable, stats.applicants) == (6, 2, 8)


async def test_registrations_per_phnom_penh_day(app: App) -> None:
    session_id = await make_session(app, capacity=5)
    await add_registrations(
        app,
        session_id,
        [
            (None, datetime(2026, 9, 30, 23, 30, tzinfo=UTC)),  # 06:30 on 1 October locally
            (None, datetime(2026, 10, 1, 2, 0, tzinfo=UTC)),
            (None, datetime(2026, 9, 30, 16, 59, tzinfo=UTC)),  # 23:59 on 30 September
            (None, datetime(2026, 9, 17, 17, 0, tzinfo=UTC)),  # midnight, 18 September
            (None, datetime(2026, 9, 17, 16, 59, tzinfo=UTC)),  # 17 September: too old
        ],
    )
    stats = await gather(app)
    assert [count.day for count in stats.per_day] == [
        TODAY - timedelta(days=13 - i) for i in range(14)
    ]
    counts = {count.day: count.registrations for count in stats.per_day}
    assert counts[TODAY] == 2
    assert counts[date(2026, 9, 30)] == 1
    assert counts[date(2026, 9, 18)] == 1
    assert sum(counts.values()) == 4  # every other day is there, with zero

    in_utc = await gather(app, ZoneInfo("UTC"))
    utc_counts = {count.day: count.registrations for count in in_utc.per_day}
    assert (utc_counts[TODAY], utc_counts[date(2026, 9, 30)]) == (1, 2)


async def test_registrations_by_source(app: App) -> None:
    session_id = await make_session(app, capacity=5)
    kampot = await make_applicant(app, 1, source="poster_school_kampot")
    kampot_too = await make_applicant(app, 2, source="poster_school_kampot")
    facebook = await make_applicant(app, 3, source="facebook")
    direct = await make_applicant(app, 4)
    await make_applicant(app, 5, source="never_registered")
    when = NOW - timedelta(days=40)  # sources count every registration, not the last 14 days
    await add_registrations(
        app,
        session_id,
        [
            (kampot, when),
            (kampot, when),
            (kampot_too, when),
            (facebook, when),
            (direct, when),
            (direct, when),
            (None, when),  # an erased applicant: no source left to count
        ],
    )
    stats = await gather(app)
    assert stats.sources == (
        SourceCount("poster_school_kampot", 3),
        SourceCount(None, 2),
        SourceCount("facebook", 1),
    )


async def test_top_unanswered_questions_grouped_by_normalized_text(app: App) -> None:
    asked = [
        ("When is the test?", "when is the test"),
        ("when is the test", "when is the test"),
        ("How much does it cost", "how much does it cost"),
        ("WHEN IS THE TEST", "when is the test"),
        ("<b>visa</b>?", "visa"),
        ("visa", "visa"),
    ]
    async with app.conversation.sessions() as db, db.begin():
        for i, (text, normalized) in enumerate(asked):
            db.add(
                UnansweredQuestion(
                    locale="en",
                    text=text,
                    normalized=normalized,
                    asked_at=NOW - timedelta(minutes=len(asked) - i),
                )
            )
    stats = await gather(app)
    assert stats.questions == (
        QuestionCount("WHEN IS THE TEST", "when is the test", 3),  # the latest wording
        QuestionCount("visa", "visa", 2),
        QuestionCount("How much does it cost", "how much does it cost", 1),
    )


async def test_an_empty_database_still_reads(
    app: App, translations: dict[str, Translations]
) -> None:
    stats = await gather(app)
    assert stats.sessions == stats.sources == stats.questions == ()
    assert len(stats.per_day) == 14
    text = statistics_text(texts_in(translations, "en"), stats)
    assert "No upcoming or recent test sessions." in text
    assert "No unanswered questions." in text


async def test_300_sessions_and_sources_fit_in_one_message(
    app: App, translations: dict[str, Translations]
) -> None:
    session_ids = [
        await make_session(app, capacity=40, starts_at=NOW + timedelta(days=2, hours=i))
        for i in range(300)
    ]
    people = [await make_applicant(app, i, source=f"poster_school_{i:03d}") for i in range(300)]
    await add_registrations(
        app, session_ids[0], [(person, NOW - timedelta(hours=1)) for person in people]
    )
    async with app.conversation.sessions() as db, db.begin():
        db.add(
            UnansweredQuestion(
                locale="en", text="Is <b>this</b> & that free? " * 40, normalized="free"
            )
        )
    stats = await gather(app)
    assert len(stats.sessions) == 30
    assert stats.more_sessions == 270
    assert len(stats.sources) == 10
    assert stats.per_day[-1].registrations == 300
    for locale in LOCALES:
        text = statistics_text(texts_in(translations, locale), stats)
        assert len(text) <= MESSAGE_LIMIT
        assert "Is &lt;b&gt;this&lt;/b&gt; &amp; that free?" in text
        assert "<b>this</b>" not in text
        assert text.count("<b>") == text.count("</b>")


def many(count: int) -> Statistics:
    """Far more of everything than the gatherer ever returns, with long user-made text."""
    return Statistics(
        now=NOW,
        sessions=tuple(
            SessionFigures(
                session_id=i,
                exam_id="ssw-food-service",
                starts_at=NOW + timedelta(hours=i),
                venue="A very long venue name in Siem Reap province " * 5,
                capacity=1000,
                seats_taken=999,
                seats_left=1,
                waiting=12345,
                status="open",
            )
            for i in range(count)
        ),
        more_sessions=count,
        applicants_by_locale=(("km", 123456), ("en", 1), ("ja", 2), ("none", 3)),
        reachable=123000,
        unreachable=462,
        per_day=tuple(DayCount(TODAY - timedelta(days=13 - i), 1000 + i) for i in range(14)),
        sources=tuple(SourceCount(f"<source_{i}>" + "x" * 60, count - i) for i in range(count)),
        questions=tuple(
            QuestionCount("<b>Where</b> is the test? " * 300, f"q{i}", 50 - i)
            for i in range(count)
        ),
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_the_text_is_cut_cleanly_at_4096_characters(
    translations: dict[str, Translations], locale: str
) -> None:
    texts = texts_in(translations, locale)
    text = statistics_text(texts, many(300))
    assert len(text) <= MESSAGE_LIMIT
    assert len(text.encode("utf-16-le")) // 2 <= MESSAGE_LIMIT
    assert "&lt;b&gt;Where&lt;/b&gt;" in text
    assert "&lt;source_0&gt;" in text
    assert "<b>Where" not in text
    assert text.count("<b>") == text.count("</b>")
    assert texts("…and {n} more").split("{n}")[0] in text  # lists cut, and it says so
    assert not re.search(r"&(?!amp;|lt;|gt;|quot;|#x27;)", text)  # no entity cut in half


@pytest.mark.parametrize("locale", LOCALES)
def test_the_chart_is_a_small_png(translations: dict[str, Translations], locale: str) -> None:
    png = registrations_chart(texts_in(translations, locale), many(3))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < 60_000
    image = Image.open(BytesIO(png))
    image.verify()
    assert image.format == "PNG"
    assert 300 <= image.width <= 1200
    assert 150 <= image.height <= 800


def test_the_chart_is_titled_and_its_days_written_in_each_language_over_the_same_bars(
    translations: dict[str, Translations],
) -> None:
    charts = {
        locale: Image.open(BytesIO(registrations_chart(texts_in(translations, locale), many(3))))
        for locale in LOCALES
    }
    titles = {
        locale: chart.crop((0, 0, chart.width, 36)).tobytes() for locale, chart in charts.items()
    }
    bars = {
        chart.crop((0, 36, chart.width, chart.height - 30)).tobytes() for chart in charts.values()
    }
    days = {
        chart.crop((0, chart.height - 30, chart.width, chart.height)).tobytes()
        for chart in charts.values()
    }
    assert len(set(titles.values())) == len(LOCALES)  # Khmer and Japanese are set, not English
    assert all(title.count(0xFF) < len(title) for title in titles.values())  # ink in each
    assert len(bars) == 1
    assert len(days) == len(LOCALES)  # "30/9" in Khmer, "Sep 30" in English, "9/30" in Japanese


def test_the_chart_draws_an_empty_fortnight(translations: dict[str, Translations]) -> None:
    stats = replace(
        many(0), per_day=tuple(DayCount(TODAY - timedelta(days=13 - i), 0) for i in range(14))
    )
    png = registrations_chart(texts_in(translations, "en"), stats)
    assert Image.open(BytesIO(png)).size == (640, 320)


@pytest.mark.parametrize(
    ("locale", "day"), [("km", "30 កញ្ញា: "), ("en", "Sep 30: "), ("ja", "9月30日: ")]
)
def test_each_day_is_written_as_the_staff_members_language_writes_it(
    translations: dict[str, Translations], locale: str, day: str
) -> None:
    """ "30/09" reads as a month that does not exist to someone who writes the month first."""
    text = statistics_text(texts_in(translations, locale), many(3))
    assert day in text
    assert "30/09" not in text
