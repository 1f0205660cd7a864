"""The test ticket: a PNG to show at check-in, and an .ics file for the phone's calendar.

Both are pure functions of the stored records, so they can be sent again at any time; a
reschedule keeps the code, so the calendar entry is replaced rather than duplicated.
"""

import asyncio
from datetime import UTC, timedelta
from io import BytesIO

import qrcode
from icalendar import Alarm, Calendar, Event
from PIL import Image, ImageDraw

from handlers.core.context import Context
from handlers.core.events import SendFile
from handlers.core.texts import Texts
from handlers.core.typesetting import (
    BOLD,
    KHMER,
    REGULAR,
    descent,
    draw_line,
    font,
    line_height,
    text_width,
    wrap,
)
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
    height = bottom + 4 + qr.height + 2 * line_height(18) + 24

    image = Image.new("L", (WIDTH, height), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, HEADER), fill=INK)
    (title,) = wrap(_("Test ticket"), 34, BOLD, TEXT_WIDTH, 1)
    draw_line(draw, (MARGIN, HEADER // 2 + 12), title, 34, BOLD, PAPER)
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
        for line in wrap(value, size, weight, TEXT_WIDTH, max_lines):
            lines.append((line, size, weight, INK))
    return lines


def _block_height(lines: list[Line]) -> int:
    return sum(line_height(size) for _text, size, _weight, _ink in lines) + FIELD_GAP


def _draw_blocks(draw: ImageDraw.ImageDraw, y: int, blocks: list[list[Line]]) -> None:
    for lines in blocks:
        for text, size, weight, ink in lines:
            y += line_height(size)
            draw_line(draw, (MARGIN, y - descent(size)), text, size, weight, ink)
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
    codetext_width = WIDTH - 2 * MARGIN - (qr.width - 2 * quiet) - 24
    y = top + quiet + line_height(20) - descent(20)
    for line in wrap(_("Confirmation code"), 20, REGULAR, codetext_width, 3):
        draw_line(draw, (MARGIN, y), line, 20, REGULAR, GREY)
        y += line_height(20)
    _draw_code(draw, (MARGIN, y + 64), code, codetext_width)


def _draw_notice(draw: ImageDraw.ImageDraw, y: int, notice: str) -> None:
    for line in wrap(notice, 18, REGULAR, TEXT_WIDTH, 2):
        y += line_height(18)
        draw_line(draw, (MARGIN, y - descent(18)), line, 18, REGULAR, GREY)


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


def _draw_code(draw: ImageDraw.ImageDraw, at: tuple[int, int], code: str, width: int) -> None:
    """The confirmation code, large and spaced out so it can be read aloud or typed."""
    size = 72
    while size > 24 and text_width(code, size, BOLD) + 8 * (len(code) - 1) > width:
        size -= 4
    face = font(KHMER, size, BOLD)
    x, y = at
    for char in code:
        draw.text((x, y), char, font=face, fill=INK, anchor="ls")
        x += round(face.getlength(char)) + 8


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
