"""The ticket: a PNG staff can scan at check-in, and a calendar file that replaces itself."""

from datetime import UTC, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from babel.support import Translations
from icalendar import Calendar, Event
from PIL import Image, features
from sqlmodel import SQLModel

from bot.i18n import load_translations
from handlers.applicant.ticket import (
    HEADER,
    MARGIN,
    WIDTH,
    calendar_filename,
    ticket_filename,
    ticket_ics,
    ticket_png,
)
from handlers.core.texts import LOCALES, Texts
from models.applicants import Applicant
from models.registrations import Registration, RegistrationStatus
from models.sessions import Exam, TestSession

CODE = "K7M4QX"
LINK = f"https://t.me/applicant_test_bot?start=ticket_{CODE}"
STARTS_AT = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 08:30 in Phnom Penh


@pytest.fixture(scope="module")
def translations() -> dict[str, Translations]:
    return load_translations()


def texts_in(translations: dict[str, Translations], locale: str) -> Texts:
    return Texts(locale, translations[locale], ZoneInfo("Asia/Phnom_Penh"))


def make_exam() -> Exam:
    return Exam(
        id="jft-basic",
        name_km="តេស្តភាសាជប៉ុនមូលដ្ឋាន JFT-Basic",
        name_en="Japan Foundation Test for Basic Japanese (JFT-Basic)",
        name_ja="国際交流基金日本語基礎テスト（JFT-Basic）",
    )


def make_session(session_id: int = 1, starts_at: datetime = STARTS_AT) -> TestSession:
    return TestSession(
        id=session_id,
        exam_id="jft-basic",
        starts_at=starts_at,
        venue_name_km="មជ្ឈមណ្ឌលប្រឡង ភ្នំពេញ",
        venue_name_en="Phnom Penh Test Centre",
        venue_name_ja="プノンペン試験会場",
        venue_address_km="ផ្ទះលេខ ១២៣ មហាវិថីព្រះមុនីវង្ស ខណ្ឌដូនពេញ រាជធានីភ្នំពេញ",
        venue_address_en="No. 123, Preah Monivong Blvd, Khan Daun Penh, Phnom Penh",
        venue_address_ja="プノンペン都ドンペン区モニボン通り123番地",
        latitude=11.5564,
        longitude=104.9282,
        capacity=30,
        registration_opens_at=starts_at - timedelta(days=60),
        registration_closes_at=starts_at - timedelta(days=3),
    )


def make_registration(
    session_id: int = 1,
    updated_at: datetime = datetime(2026, 10, 5, 9, 0, tzinfo=UTC),
    status: RegistrationStatus = RegistrationStatus.CONFIRMED,
) -> Registration:
    return Registration(
        id=7,
        applicant_id=1,
        session_id=session_id,
        exam_id="jft-basic",
        status=status,
        code=CODE,
        created_at=datetime(2026, 10, 5, 9, 0, tzinfo=UTC),
        updated_at=updated_at,
    )


def make_applicant(name_latin: str = "SOK DARA", name_khmer: str | None = "សុខ ដារា") -> Applicant:
    return Applicant(
        id=1, telegram_id=1001, chat_id=1001, name_latin=name_latin, name_khmer=name_khmer
    )


def png_for(texts: Texts, **changes: str) -> Image.Image:
    """The ticket of the usual applicant, with fields changed, e.g. `exam__name_ja="試"`."""
    applicant, registration = make_applicant(), make_registration()
    session, exam = make_session(), make_exam()
    records: dict[str, SQLModel] = {
        "applicant": applicant,
        "registration": registration,
        "session": session,
        "exam": exam,
    }
    for path, value in changes.items():
        record, field = path.split("__")
        setattr(records[record], field, value)
    return Image.open(BytesIO(ticket_png(texts, applicant, registration, session, exam, LINK)))


def calendar_event(data: bytes) -> Event:
    calendar = Calendar.from_ical(data)
    (event,) = calendar.walk("VEVENT")
    assert isinstance(event, Event)
    return event


def test_pillow_can_shape_khmer() -> None:
    # Without libraqm, Khmer subscripts and vowels are drawn in the wrong places.
    assert features.check("raqm")


@pytest.mark.parametrize("locale", LOCALES)
def test_ticket_is_a_small_png(translations: dict[str, Translations], locale: str) -> None:
    data = ticket_png(
        texts_in(translations, locale),
        make_applicant(),
        make_registration(),
        make_session(),
        make_exam(),
        LINK,
    )
    image = Image.open(BytesIO(data))
    image.load()
    assert image.format == "PNG"
    assert image.width == WIDTH
    assert 600 <= image.height <= 1200
    assert len(data) < 150_000


@pytest.mark.parametrize("locale", LOCALES)
def test_the_qr_code_opens_the_ticket_in_the_bot(
    translations: dict[str, Translations], locale: str
) -> None:
    image = png_for(texts_in(translations, locale))
    found = zxingcpp.read_barcodes(image)
    assert [(code.format, code.text) for code in found] == [(zxingcpp.BarcodeFormat.QRCode, LINK)]


@pytest.mark.parametrize(
    ("locale", "field", "one", "other"),
    [
        ("km", "applicant__name_khmer", "ក", "ស"),
        ("en", "applicant__name_khmer", "ក", "ស"),
        ("ja", "exam__name_ja", "試", "験"),
        ("ja", "session__venue_name_ja", "プ", "ノ"),
        ("en", "applicant__name_latin", "A", "B"),
    ],
)
def test_khmer_and_japanese_are_drawn_as_glyphs_not_boxes(
    translations: dict[str, Translations], locale: str, field: str, one: str, other: str
) -> None:
    # A font without these letters draws the same empty box for both of them.
    texts = texts_in(translations, locale)
    first, second = png_for(texts, **{field: one}), png_for(texts, **{field: other})
    assert first.size == second.size
    assert first.tobytes() != second.tobytes()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("applicant__name_latin", "SOK DARA CHANTHAVY MONIROTH KEOSAMBATH PHALLY SOPHEAKTRA"),
        ("session__venue_address_en", "Building B, 4th floor, room 402, " * 6),
        ("session__venue_address_km", "ផ្ទះលេខ១២៣មហាវិថីព្រះមុនីវង្សខណ្ឌដូនពេញរាជធានីភ្នំពេញ" * 3),
        ("session__venue_address_ja", "プノンペン都ドンペン区モニボン通り123番地" * 5),
    ],
)
def test_long_texts_wrap_inside_the_margins(
    translations: dict[str, Translations], field: str, value: str
) -> None:
    locale = field.rsplit("_", 1)[-1] if field.startswith("session") else "en"
    image = png_for(texts_in(translations, locale), **{field: value})
    right_margin = image.crop((WIDTH - MARGIN + 4, HEADER + 1, WIDTH, image.height))
    assert right_margin.getextrema() == (255, 255)
    assert image.height <= 1200


@pytest.mark.parametrize("locale", LOCALES)
def test_calendar_event_has_the_test_in_the_applicants_language(
    translations: dict[str, Translations], locale: str
) -> None:
    exam, session = make_exam(), make_session()
    data = ticket_ics(
        texts_in(translations, locale),
        make_applicant(),
        make_registration(),
        session,
        exam,
        LINK,
    )
    event = calendar_event(data)
    assert event.decoded("dtstart") == STARTS_AT
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert b"DTSTART:20261124T013000Z" in data
    assert event.decoded("dtend") == STARTS_AT + timedelta(hours=2)
    assert str(event["uid"]) == f"registration-{CODE}@applicant-bot"
    assert str(event["summary"]) == getattr(exam, f"name_{locale}")
    location = str(event["location"])
    assert getattr(session, f"venue_name_{locale}") in location
    assert getattr(session, f"venue_address_{locale}") in location
    assert event.decoded("geo") == (11.5564, 104.9282)
    assert CODE in str(event["description"])
    assert LINK in str(event["description"])
    assert str(event["status"]) == "CONFIRMED"
    (alarm,) = event.walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(days=-1)
    assert str(alarm["action"]) == "DISPLAY"


def test_a_rescheduled_test_replaces_the_calendar_event(
    translations: dict[str, Translations],
) -> None:
    texts = texts_in(translations, "km")
    booked = calendar_event(
        ticket_ics(texts, make_applicant(), make_registration(), make_session(), make_exam(), LINK)
    )
    later = STARTS_AT + timedelta(days=7)
    moved = calendar_event(
        ticket_ics(
            texts,
            make_applicant(),
            make_registration(session_id=2, updated_at=datetime(2026, 10, 9, 14, 5, tzinfo=UTC)),
            make_session(session_id=2, starts_at=later),
            make_exam(),
            LINK,
        )
    )
    assert moved["uid"] == booked["uid"]
    assert moved.decoded("sequence") > booked.decoded("sequence")
    assert moved.decoded("dtstart") == later


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RegistrationStatus.CONFIRMED, "CONFIRMED"),
        (RegistrationStatus.WAITLISTED, "TENTATIVE"),
        (RegistrationStatus.CANCELLED, "CANCELLED"),
    ],
)
def test_calendar_event_status_follows_the_registration(
    translations: dict[str, Translations], status: RegistrationStatus, expected: str
) -> None:
    data = ticket_ics(
        texts_in(translations, "en"),
        make_applicant(),
        make_registration(status=status),
        make_session(),
        make_exam(),
        LINK,
    )
    assert str(calendar_event(data)["status"]) == expected


def test_file_names_carry_the_code() -> None:
    registration = make_registration()
    assert ticket_filename(registration) == f"ticket-{CODE}.png"
    assert calendar_filename(registration) == f"ticket-{CODE}.ics"
