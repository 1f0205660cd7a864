"""Draws the README's pictures: the test ticket an applicant gets and the /stats chart
staff get, in Khmer, English and Japanese, with the bot's own drawing code and
catalogs. The records are made up (the demo exam and venue, a fictional applicant).

    python docs/screenshots.py     # writes docs/ticket-<locale>.png and docs/stats-<locale>.png
"""

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo import DEMO_EXAMS, VENUES  # noqa: E402
from bot.i18n import load_translations  # noqa: E402
from handlers.applicant.ticket import ticket_png  # noqa: E402
from handlers.core.texts import LOCALES, Texts  # noqa: E402
from handlers.staff.statistics import registrations_chart  # noqa: E402
from models.applicants import Applicant  # noqa: E402
from models.registrations import Registration, RegistrationStatus  # noqa: E402
from models.sessions import TestSession  # noqa: E402
from models.statistics import DayCount, Statistics  # noqa: E402

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
STARTS_AT = datetime(2027, 10, 17, 1, 0, tzinfo=UTC)  # 08:00 in Phnom Penh
# Registrations per day over a fortnight: a broadcast on day 6, the weekend dip after it.
FORTNIGHT = (3, 5, 4, 8, 6, 31, 24, 12, 9, 4, 3, 11, 9, 7)


def ticket(texts: Texts) -> bytes:
    exam = DEMO_EXAMS[0]
    session = TestSession(
        id=1,
        exam_id=exam.id,
        starts_at=STARTS_AT,
        capacity=40,
        **VENUES[0],  # type: ignore[arg-type]
    )
    applicant = Applicant(
        id=1, telegram_id=1, chat_id=1, name_latin="SOK DARA", name_khmer="សុខ ដារា"
    )
    registration = Registration(
        id=1,
        applicant_id=1,
        session_id=1,
        exam_id=exam.id,
        status=RegistrationStatus.CONFIRMED,
        code="K7M2QX",
    )
    return ticket_png(texts, applicant, registration, session, exam, "https://t.me/your_bot")


def chart(texts: Texts) -> bytes:
    today = date(2027, 9, 30)
    days = [today - timedelta(days=len(FORTNIGHT) - 1 - i) for i in range(len(FORTNIGHT))]
    stats = Statistics(
        now=datetime(2027, 9, 30, 9, 0, tzinfo=UTC),
        sessions=(),
        more_sessions=0,
        applicants_by_locale=(),
        reachable=0,
        unreachable=0,
        per_day=tuple(DayCount(day, count) for day, count in zip(days, FORTNIGHT, strict=True)),
        sources=(),
        questions=(),
    )
    return registrations_chart(texts, stats)


def main() -> None:
    translations = load_translations()
    folder = Path(__file__).resolve().parent
    for locale in LOCALES:
        texts = Texts(locale, translations[locale], PHNOM_PENH)
        (folder / f"ticket-{locale}.png").write_bytes(ticket(texts))
        (folder / f"stats-{locale}.png").write_bytes(chart(texts))
        print(f"docs/ticket-{locale}.png, docs/stats-{locale}.png")


if __name__ == "__main__":
    main()
