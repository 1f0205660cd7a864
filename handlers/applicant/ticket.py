"""The test ticket: a PNG to show at check-in, and an .ics file for the phone's calendar.

Both are pure functions of the stored records, so they can be sent again at any time; a
reschedule keeps the code, so the calendar entry is replaced rather than duplicated.
"""

import asyncio
import unicodedata
from collections.abc import Iterator
from datetime import UTC, timedelta
from functools import cache
from importlib.resources import files
from io import BytesIO

import qrcode
from icalendar import Alarm, Calendar, Event
from PIL import Image, ImageDraw, ImageFont

from handlers.core.context import Context
from handlers.core.events import SendFile
from handlers.core.texts import Texts
from models.applicants import Applicant
from models.registrations import Registration, RegistrationStatus, session_and_exam
from models.sessions import Exam, TestSession

# Long enough for the test itself and the check-in before it.
TEST_DURATION = timedelta(hours=2)
REMINDER_BEFORE = timedelta(days=1)

WIDTH = 720
MARGIN = 40
HEADER = 88
QR_SIZE = 300  # about 8 pixels a module for a ticket link: easy to scan from a phone screen
QR_BORDER = 4  # the quiet zone scanners need, in modules
INK, GREY, PAPER = 0, 96, 255
REGULAR, BOLD = 400, 700

KHMER, CJK, NEUTRAL = "khmer", "cjk", "neutral"
COENG = "\u17d2"  # joins the next consonant below this one: no line break after it
BREAK_AFTER = " \u200b"  # Khmer writes a zero-width space between words
NO_LINE_START = "、。，．・：；？！）」』】〉》ー々ゝゞぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ"
ELLIPSIS = "…"

TICKET_LINK = "ticket_"  # the QR code on a ticket opens the bot with /start ticket_<code>


# A value on the ticket: its text, size, weight and most lines; a line adds its ink.
Value = tuple[str, int, int, int]
Line = tuple[str, int, int, int]
TEXT_WIDTH = WIDTH - 2 * MARGIN
FIELD_GAP = 14


def ticket_png(
    texts: Texts,
    applicant: Applicant,
    registration: Registration,
    session: TestSession,
    exam: Exam,
    deep_link: str,
) -> bytes:
    """The ticket as a small grayscale PNG: who, which test, when, where, the code and a QR."""
    _ = texts  # the name pybabel extracts messages by (babel.cfg)
    blocks = [
        _field_lines(label, values) for label, values in _fields(texts, applicant, session, exam)
    ]
    qr, quiet = _qr_image(deep_link, QR_SIZE)
    bottom = HEADER + 24 + sum(_block_height(lines) for lines in blocks) + 10
    height = bottom + 4 + qr.height + 2 * _line_height(18) + 24

    image = Image.new("L", (WIDTH, height), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, HEADER), fill=INK)
    (title,) = _wrap(_("Test ticket"), 34, BOLD, TEXT_WIDTH, 1)
    _draw_line(draw, (MARGIN, HEADER // 2 + 12), title, 34, BOLD, PAPER)
    _draw_blocks(draw, HEADER + 24, blocks)
    draw.line((MARGIN, bottom, WIDTH - MARGIN, bottom), fill=GREY, width=2)
    _draw_code_beside_qr(image, draw, bottom, texts, registration.code, qr, quiet)
    notice = _("Show this ticket and your identity document at the entrance.")
    _draw_notice(draw, bottom + 4 + qr.height, notice)

    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _fields(
    _: Texts, applicant: Applicant, session: TestSession, exam: Exam
) -> list[tuple[str, list[Value]]]:
    """What the ticket says: each field's label, then its values."""
    locale = _.locale
    fields = [(_("Name (passport)"), [(applicant.name_latin or "", 34, BOLD, 3)])]
    if applicant.name_khmer:
        fields.append((_("Name in Khmer"), [(applicant.name_khmer, 30, BOLD, 2)]))
    venue = [
        (_localized(session, "venue_name", locale), 28, BOLD, 2),
        (_localized(session, "venue_address", locale), 22, REGULAR, 3),
    ]
    return [
        *fields,
        (_("Test"), [(_localized(exam, "name", locale), 28, BOLD, 2)]),
        (_("Date and time"), [(_.moment(session.starts_at), 28, BOLD, 2)]),
        (_("Venue"), venue),
    ]


def _field_lines(label: str, values: list[Value]) -> list[Line]:
    """A field as the lines it takes: its label in grey, then its values wrapped."""
    lines = [(label, 20, REGULAR, GREY)]
    for value, size, weight, max_lines in values:
        for line in _wrap(value, size, weight, TEXT_WIDTH, max_lines):
            lines.append((line, size, weight, INK))
    return lines


def _block_height(lines: list[Line]) -> int:
    return sum(_line_height(size) for _text, size, _weight, _ink in lines) + FIELD_GAP


def _draw_blocks(draw: ImageDraw.ImageDraw, y: int, blocks: list[list[Line]]) -> None:
    for lines in blocks:
        for text, size, weight, ink in lines:
            y += _line_height(size)
            _draw_line(draw, (MARGIN, y - _descent(size)), text, size, weight, ink)
        y += FIELD_GAP


def _draw_code_beside_qr(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    top: int,
    _: Texts,
    code: str,
    qr: Image.Image,
    quiet: int,
) -> None:
    """The confirmation code on the left, the QR of the ticket link on the right."""
    # The QR's white quiet zone may reach into the page margin: its dark part lines up.
    image.paste(qr, (WIDTH - MARGIN + quiet - qr.width, top + 4))
    code_width = WIDTH - 2 * MARGIN - (qr.width - 2 * quiet) - 24
    y = top + quiet + _line_height(20) - _descent(20)
    for line in _wrap(_("Confirmation code"), 20, REGULAR, code_width, 3):
        _draw_line(draw, (MARGIN, y), line, 20, REGULAR, GREY)
        y += _line_height(20)
    _draw_code(draw, (MARGIN, y + 64), code, code_width)


def _draw_notice(draw: ImageDraw.ImageDraw, y: int, notice: str) -> None:
    for line in _wrap(notice, 18, REGULAR, TEXT_WIDTH, 2):
        y += _line_height(18)
        _draw_line(draw, (MARGIN, y - _descent(18)), line, 18, REGULAR, GREY)


def ticket_ics(
    texts: Texts,
    applicant: Applicant,
    registration: Registration,
    session: TestSession,
    exam: Exam,
    deep_link: str,
) -> bytes:
    """The test as one calendar event with a reminder the day before.

    The UID comes from the registration code, and SEQUENCE from the last change, so an
    updated file replaces the event in the applicant's calendar instead of adding one.
    """
    _ = texts  # the name pybabel extracts messages by (babel.cfg)
    summary = _localized(exam, "name", texts.locale)
    starts_at = session.starts_at.astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", "-//Applicant Bot//Test ticket//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")

    event = Event()
    event.add("uid", f"registration-{registration.code}@applicant-bot")
    event.add("sequence", int(registration.updated_at.timestamp()))
    event.add("dtstamp", registration.updated_at.astimezone(UTC))
    event.add("dtstart", starts_at)
    event.add("dtend", starts_at + TEST_DURATION)
    event.add("summary", summary, parameters={"LANGUAGE": texts.locale})
    event.add(
        "location",
        "{name}, {address}".format(
            name=_localized(session, "venue_name", texts.locale),
            address=_localized(session, "venue_address", texts.locale),
        ),
        parameters={"LANGUAGE": texts.locale},
    )
    event.add("geo", (session.latitude, session.longitude))
    event.add(
        "description",
        _("Name (passport): {name}\nConfirmation code: {code}\nYour ticket: {link}").format(
            name=applicant.name_latin or "", code=registration.code, link=deep_link
        ),
    )
    event.add("url", deep_link)
    event.add("status", _event_status(registration))

    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -REMINDER_BEFORE)
    alarm.add("description", _("Your test is tomorrow: {exam}").format(exam=summary))
    event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical()


def ticket_filename(registration: Registration) -> str:
    """The PNG's file name, e.g. "ticket-ABC123.png"."""
    return f"ticket-{registration.code}.png"


def calendar_filename(registration: Registration) -> str:
    """The .ics file's name, e.g. "ticket-ABC123.ics"."""
    return f"ticket-{registration.code}.ics"


def _localized(record: Exam | TestSession, field: str, locale: str) -> str:
    return str(getattr(record, f"{field}_{locale}", None) or getattr(record, f"{field}_en"))


def _event_status(registration: Registration) -> str:
    if registration.status == RegistrationStatus.CANCELLED:
        return "CANCELLED"
    if registration.status == RegistrationStatus.WAITLISTED:
        return "TENTATIVE"
    return "CONFIRMED"


# Fonts: Noto Sans Khmer also covers Latin, so it sets everything but Japanese.


def _font_file(script: str) -> str:
    if script == CJK:
        return str(files("justmytype_intl_cjk") / "fonts/ofl/notosansjp/NotoSansJP[wght].ttf")
    return str(files("fontpkg_noto_sans_khmer") / "files/NotoSansKhmer[wdth,wght].ttf")


@cache
def _font(script: str, size: int, weight: int) -> ImageFont.FreeTypeFont:
    """One font at one size and weight, opened once; both files are variable fonts."""
    font = ImageFont.truetype(_font_file(script), size)
    # Noto Sans JP's default instance is Thin: the weight is always set explicitly.
    font.set_variation_by_axes(
        [
            float(weight)
            if axis.get("name", b"").lower() == b"weight"
            else float(axis["default"] or 0)
            for axis in font.get_variation_axes()
        ]
    )
    return font


@cache
def _metrics(size: int) -> tuple[int, int]:
    """The tallest ascent and descent of both fonts: Khmer stacks reach far up and down."""
    pairs = [_font(script, size, REGULAR).getmetrics() for script in (KHMER, CJK)]
    return max(ascent for ascent, _d in pairs), max(descent for _a, descent in pairs)


def _line_height(size: int) -> int:
    return sum(_metrics(size))


def _descent(size: int) -> int:
    return _metrics(size)[1]


# Text: split into runs by script so each run gets a font that has its glyphs.


def _script(char: str) -> str:
    code = ord(char)
    if 0x1780 <= code <= 0x17FF or 0x19E0 <= code <= 0x19FF:
        return KHMER
    if (
        0x3000 <= code <= 0x30FF
        or 0x31F0 <= code <= 0x31FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
    ):
        return CJK
    return NEUTRAL


def _runs(text: str) -> Iterator[tuple[str, str]]:
    """(script, text) runs; spaces, digits and Latin join the run they stand in."""
    current, start = NEUTRAL, 0
    for index, char in enumerate(text):
        script = _script(char)
        if script in (NEUTRAL, current):
            continue
        if current == NEUTRAL:
            current = script  # leading Latin goes with the first script that follows
            continue
        yield current, text[start:index]
        current, start = script, index
    if text:
        yield (KHMER if current == NEUTRAL else current), text[start:]


def _width(text: str, size: int, weight: int) -> float:
    return sum(_font(script, size, weight).getlength(run) for script, run in _runs(text))


def _draw_line(
    draw: ImageDraw.ImageDraw, at: tuple[int, int], text: str, size: int, weight: int, ink: int
) -> None:
    """One line of text on its baseline at `at`, run by run."""
    x, y = at
    for script, run in _runs(text):
        font = _font(script, size, weight)
        draw.text((x, y), run, font=font, fill=ink, anchor="ls")
        x += round(font.getlength(run))


def _draw_code(draw: ImageDraw.ImageDraw, at: tuple[int, int], code: str, width: int) -> None:
    """The confirmation code, large and spaced out so it can be read aloud or typed."""
    size = 72
    while size > 24 and _width(code, size, BOLD) + 8 * (len(code) - 1) > width:
        size -= 4
    font = _font(KHMER, size, BOLD)
    x, y = at
    for char in code:
        draw.text((x, y), char, font=font, fill=INK, anchor="ls")
        x += round(font.getlength(char)) + 8


def _pieces(text: str) -> list[str]:
    """Splits where a line may break: after a space, and around Japanese characters."""
    pieces, start = [], 0
    for index in range(1, len(text)):
        before, char = text[index - 1], text[index]
        if (before in BREAK_AFTER and char not in BREAK_AFTER) or (
            (_script(before) == CJK or _script(char) == CJK)
            and char not in NO_LINE_START
            and before not in BREAK_AFTER
            and char not in BREAK_AFTER
        ):
            pieces.append(text[start:index])
            start = index
    pieces.append(text[start:])
    return pieces


def _clusters(text: str) -> list[str]:
    """Splits a word where a line can break without tearing a Khmer syllable apart."""
    clusters: list[str] = []
    for char in text:
        joined = unicodedata.category(char).startswith("M") or char in "\u200c\u200d"
        if clusters and (joined or clusters[-1].endswith(COENG) or char == COENG):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _wrap(text: str, size: int, weight: int, width: int, max_lines: int) -> list[str]:
    """Greedy line breaking to `width`; what does not fit in `max_lines` ends in an ellipsis."""
    lines: list[str] = []
    line = ""
    for piece in _pieces(" ".join(text.split())):
        if _width((line + piece).rstrip(), size, weight) <= width:
            line += piece
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        for cluster in _clusters(piece):  # a word wider than the line is broken anywhere
            if line and _width(line + cluster, size, weight) > width:
                lines.append(line)
                line = ""
            line += cluster
    if line.strip():
        lines.append(line.rstrip())
    if len(lines) <= max_lines:
        return lines
    last = _clusters(lines[max_lines - 1])
    while last and _width("".join(last) + ELLIPSIS, size, weight) > width:
        last.pop()
    return [*lines[: max_lines - 1], "".join(last).rstrip() + ELLIPSIS]


def _qr_image(data: str, size: int) -> tuple[Image.Image, int]:
    """The QR code at a whole number of pixels a module, so every module stays sharp.

    Returns the image and the width of its white quiet zone in pixels.
    """
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QR_BORDER)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    small = Image.frombytes(
        "L", (modules, modules), bytes(INK if dark else PAPER for row in matrix for dark in row)
    )
    scale = max(size // modules, 1)
    return small.resize((modules * scale, modules * scale), Image.Resampling.NEAREST), (
        QR_BORDER * scale
    )


async def ticket_files(
    texts: Texts,
    applicant: Applicant,
    registration: Registration,
    session: TestSession,
    exam: Exam,
    deep_link: str,
) -> list[SendFile]:
    """The ticket image and the calendar file, ready to send (drawn off the event loop)."""
    args = (texts, applicant, registration, session, exam, deep_link)
    png, ics = await asyncio.gather(
        asyncio.to_thread(ticket_png, *args), asyncio.to_thread(ticket_ics, *args)
    )
    _ = texts
    return [
        SendFile(
            ticket_filename(registration),
            png,
            _("Show this ticket and your identity document at the entrance."),
            photo=True,
        ),
        SendFile(calendar_filename(registration), ics, _("Add the test to your calendar.")),
    ]


async def send_ticket(ctx: Context, registration: Registration) -> None:
    """Adds the ticket image (its QR code is for check-in) and the calendar file to the reply."""
    session, exam = await session_and_exam(ctx.db, registration)
    link = ctx.services.account.deep_link(f"{TICKET_LINK}{registration.code}")
    texts, applicant = ctx.texts, ctx.applicant
    ctx.send_files_made_after_commit(
        lambda: ticket_files(texts, applicant, registration, session, exam, link)
    )
