"""Session buttons fit a phone's width in every language, and still say when, where and how full.

Width: code points in English and Khmer, a Japanese letter counting two.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.support import Translations

from bot.demo import SESSIONS, VENUES
from bot.i18n import load_translations
from handlers.applicant.buttons import PickSession
from handlers.applicant.describe import BUTTON_WIDTH, session_button, width
from handlers.core.texts import LOCALES, Texts
from models import TestSession

ZONE = ZoneInfo("Asia/Phnom_Penh")
TOWNS = {
    "en": ("Phnom Penh", "Siem Reap"),
    "km": ("ភ្នំពេញ", "សៀមរាប"),
    "ja": ("プノンペン", "シェムリアップ"),
}


@pytest.fixture(scope="module")
def translations() -> dict[str, Translations]:
    return load_translations()


def demo_session(index: int, seats_taken: int, **venue: str | float) -> TestSession:
    """One of the demo's sessions in October or November 2027, with its seats taken."""
    exam_id, place, month, day, hour, seats = SESSIONS[index]
    starts = datetime(2027, month, day, hour, tzinfo=ZONE)
    return TestSession(
        id=index + 1,
        exam_id=exam_id,
        starts_at=starts,
        capacity=seats,
        seats_taken=min(seats_taken, seats),
        registration_opens_at=starts - timedelta(days=60),
        registration_closes_at=starts - timedelta(days=3),
        **{**VENUES[place], **venue},
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_every_demo_session_button_is_short_with_the_year_and_the_town(
    translations: dict[str, Translations], locale: str
) -> None:
    texts = Texts(locale, translations[locale], ZONE)
    for index in range(len(SESSIONS)):
        for taken in (0, 1, 10_000):  # every seat free, some taken, full
            session = demo_session(index, taken)
            label = session_button(texts, session, PickSession(index + 1)).label
            assert width(label) <= BUTTON_WIDTH[locale], label
            assert "2027" in label, label
            assert TOWNS[locale][VENUES.index(VENUES[SESSIONS[index][1]])] in label, label
            if taken == 10_000:
                assert texts("full") in label, label
            else:
                assert texts.number(session.capacity - taken) in label, label


def test_the_english_button_reads_day_month_year_time_town_and_seats(
    translations: dict[str, Translations],
) -> None:
    texts = Texts("en", translations["en"], ZONE)
    button = session_button(texts, demo_session(0, 0), PickSession(1))
    assert button.label == "17 Oct 2027 08:00 · Phnom Penh · 40 left"


@pytest.mark.parametrize("locale", LOCALES)
def test_a_venue_naming_no_province_is_cut_to_fit(
    translations: dict[str, Translations], locale: str
) -> None:
    texts = Texts(locale, translations[locale], ZONE)
    long_name = "Institute of Technology, Building F, Examination Hall 3"
    session = demo_session(
        0, 0, **{f"venue_name_{locale}": long_name, f"venue_address_{locale}": "Street 271"}
    )
    label = session_button(texts, session, PickSession(1)).label
    assert width(label) <= BUTTON_WIDTH[locale]
    venue = label.split(" · ")[1]
    assert venue.startswith("Institute")
    assert venue.endswith("…")
