"""The sign-in sheet staff print for test day, as CSV or as an Excel workbook.

The registrations are read in pages and written row by row, so a session of thousands
never sits in memory at once.
"""

import asyncio
import csv
import io
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.applicant.details import DetailRejected, format_phone, province_name, sex_name
from handlers.core.events import SendFile
from handlers.core.texts import Texts
from models.registrations import RegistrationStatus
from models.sessions import TestSession
from models.sign_in import SignInRow, sign_in_rows
from models.staff import audit

Kind = Literal["csv", "xlsx"]

KINDS: tuple[Kind, ...] = ("csv", "xlsx")
SHEET_TITLE = "Sign-in"
# Excel and LibreOffice read a cell starting with one of these as a formula (OWASP's list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Control characters an .xlsx file cannot hold at all.
_NOT_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_WIDTHS = (9, 28, 28, 12, 9, 18, 16, 18, 18, 17, 12, 17, 32)


def export_csv(texts: Texts, rows: Iterable[SignInRow]) -> bytes:
    """The sheet as UTF-8 CSV with a byte-order mark, so Excel shows the Khmer names."""
    sheet = _CsvSheet(texts)
    for row in rows:
        sheet.add(row)
    return sheet.finish()


def export_xlsx(texts: Texts, rows: Iterable[SignInRow]) -> bytes:
    """The sheet as an Excel workbook: bold frozen header, real dates, one page wide."""
    sheet = _XlsxSheet(texts)
    for row in rows:
        sheet.add(row)
    return sheet.finish()


async def sign_in_sheet(
    db: AsyncSession, texts: Texts, session_id: int | None, kind: Kind
) -> bytes:
    """The sign-in sheet file, written while the rows are read; zipped off the event loop."""
    sheet = _CsvSheet(texts) if kind == "csv" else _XlsxSheet(texts)
    async for row in sign_in_rows(db, session_id):
        sheet.add(row)
    return await asyncio.to_thread(sheet.finish)


async def export_sheets(
    db: AsyncSession, texts: Texts, actor: str, session_id: int | None, now: datetime
) -> list[SendFile] | None:
    """The sign-in sheet as CSV and XLSX, audited; None when there is no such session."""
    if session_id is not None and await db.get(TestSession, session_id) is None:
        return None
    await audit(db, actor, "export", f"session:{session_id or 'all'}")
    local_now = now.astimezone(texts.zone)
    return [
        SendFile(
            export_filename(session_id, kind, local_now),
            await sign_in_sheet(db, texts, session_id, kind),
        )
        for kind in KINDS
    ]


def export_filename(session_id: int | None, kind: str, now: datetime) -> str:
    """E.g. "sign-in-session-3-2027-10-01.csv" or "sign-in-all-2027-10-01.xlsx".

    Raises:
        ValueError: `kind` is neither "csv" nor "xlsx".
    """
    if kind not in ("csv", "xlsx"):
        raise ValueError(f"unknown export kind: {kind!r}")
    which = "all" if session_id is None else f"session-{session_id}"
    return f"sign-in-{which}-{now.date().isoformat()}.{kind}"


def _headers(_: Texts) -> list[str]:
    return [
        _("Code"),
        _("Name (passport)"),
        _("Name in Khmer"),
        _("Date of birth"),
        _("Sex"),
        _("Phone"),
        _("ID or passport no."),
        _("Province"),
        _("Status"),
        _("Registered at"),
        _("Test"),
        _("Session"),
        _("Venue"),
    ]


def _values(_: Texts, row: SignInRow) -> list[str | date | datetime | None]:
    """The row's cells in header order: text translated, dates as dates, times local."""
    return [
        row.code,
        row.name_latin,
        row.name_khmer,
        row.date_of_birth,
        _named(row.sex, sex_name, _),
        _phone(row.phone),
        row.id_number,
        _named(row.province, province_name, _),
        status_label(_, row.status),
        _local_minute(row.registered_at, _.zone),
        row.exam_id,
        _local_minute(row.starts_at, _.zone),
        row.venue,
    ]


def status_label(_: Texts, status: str) -> str:
    """A registration status in this language, as the sign-in sheet writes it."""
    names: dict[str, str] = {
        RegistrationStatus.CONFIRMED: _("confirmed"),
        RegistrationStatus.WAITLISTED: _("on the waitlist"),
        RegistrationStatus.CANCELLED: _("cancelled"),
        RegistrationStatus.ATTENDED: _("attended"),
        RegistrationStatus.ABSENT: _("absent"),
    }
    return names.get(status, status)


def _named(slug: str | None, name: Callable[[str, Texts], str], _: Texts) -> str | None:
    """The slug's translated name; an unknown slug (older data) is shown as it is."""
    if slug is None:
        return None
    try:
        return name(slug, _)
    except KeyError:
        return slug


def _phone(e164: str | None) -> str | None:
    if e164 is None:
        return None
    try:
        return format_phone(e164)
    except DetailRejected:
        return e164


def _local_minute(moment: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock time in the office's zone, to the minute, without a zone (as Excel wants)."""
    return moment.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)


def _defused(text: str) -> str:
    """The text, with an apostrophe in front if a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


class _CsvSheet:
    """CSV written row by row into one buffer."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts
        self._buffer = io.BytesIO()
        # "utf-8-sig" starts the file with the BOM; without it Excel reads the bytes as ANSI.
        self._text = io.TextIOWrapper(self._buffer, encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._text)
        self._writer.writerow([_defused(header) for header in _headers(texts)])

    def add(self, row: SignInRow) -> None:
        self._writer.writerow([self._cell(value) for value in _values(self._texts, row)])

    def finish(self) -> bytes:
        self._text.flush()
        return self._buffer.getvalue()

    @staticmethod
    def _cell(value: str | date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, date):
            return value.isoformat()
        return _defused(value)


class _XlsxSheet:
    """A write-only workbook: each row goes to a temporary file as it is added."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(SHEET_TITLE)
        # A write-only sheet takes its layout before the first row, not after.
        for number, width in enumerate(_WIDTHS, start=1):
            self._sheet.column_dimensions[get_column_letter(number)].width = width
        self._sheet.freeze_panes = "A2"
        self._sheet.print_title_rows = "1:1"  # the header on every printed page
        self._sheet.page_setup.orientation = "landscape"
        bold = Font(bold=True)
        self._sheet.append([self._text(header, font=bold) for header in _headers(texts)])

    def add(self, row: SignInRow) -> None:
        self._sheet.append([self._cell(value) for value in _values(self._texts, row)])

    def finish(self) -> bytes:
        buffer = io.BytesIO()
        self._book.save(buffer)
        return buffer.getvalue()

    def _cell(self, value: str | date | datetime | None) -> Cell | None:
        if value is None:
            return None
        if isinstance(value, date):  # a datetime is a date too
            cell = WriteOnlyCell(self._sheet, value)
            cell.number_format = (
                "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else "yyyy-mm-dd"
            )
            return cell
        return self._text(value)

    def _text(self, text: str, font: Font | None = None) -> Cell:
        """A cell that stays text: never a formula, even when it starts with "="."""
        cell = WriteOnlyCell(self._sheet, _NOT_IN_XLSX.sub("", text))
        cell.data_type = "s"
        if text.startswith(_FORMULA_START):
            # Excel's own leading apostrophe: kept as text when edited, and not shown.
            cell.quotePrefix = True
        if font is not None:
            cell.font = font
        return cell
