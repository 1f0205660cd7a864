"""How exams, test sessions and registrations read in each language.

Shared by the booking wizard, my registrations and the messages sent to the next
in line, so a session looks the same wherever an applicant meets it.
"""

from html import escape
from unicodedata import east_asian_width

from handlers.applicant.details import PROVINCES, province_name
from handlers.core.buttons import ButtonData
from handlers.core.events import Button, SendVenue
from handlers.core.texts import Texts
from models.registrations import Registration, RegistrationStatus
from models.sessions import Exam, TestSession


def exam_name(exam: Exam, locale: str) -> str:
    return escape(str(getattr(exam, f"name_{locale}", exam.name_en)))


def venue_name(session: TestSession, locale: str) -> str:
    return escape(str(getattr(session, f"venue_name_{locale}", session.venue_name_en)))


def venue_address(session: TestSession, locale: str) -> str:
    return escape(str(getattr(session, f"venue_address_{locale}", session.venue_address_en)))


def seats_left(session: TestSession) -> int:
    return max(session.capacity - session.seats_taken, 0)


# The widest label a phone shows whole on a button, in columns: a Japanese letter takes two.
BUTTON_WIDTH = {"en": 40, "km": 45, "ja": 44}


def width(text: str) -> int:
    """Columns `text` takes: two for a wide (Chinese or Japanese) letter, one for the rest."""
    return sum(2 if east_asian_width(char) in "WF" else 1 for char in text)


def session_button(_: Texts, session: TestSession, pressed: ButtonData) -> Button:
    """One session as a short button: date and time, town, and seats left or full.

    The full venue and its address are on the screen that follows.
    """
    left = seats_left(session)
    seats = _("{n} left").format(n=_.number(left)) if left else _("full")
    when = _.brief_moment(session.starts_at)
    room = BUTTON_WIDTH.get(_.locale, BUTTON_WIDTH["en"]) - width(f"{when} ·  · {seats}")
    return pressed.button(f"{when} · {venue_town(_, session, room)} · {seats}")


def venue_town(_: Texts, session: TestSession, room: int) -> str:
    """The province the venue names (or its address does), else its name cut to `room`."""
    name = getattr(session, f"venue_name_{_.locale}", session.venue_name_en)
    address = getattr(session, f"venue_address_{_.locale}", session.venue_address_en)
    for text in (name, address):
        found = [
            (text.find(province_name(slug, _)), province_name(slug, _))
            for slug in PROVINCES
            if province_name(slug, _) in text
        ]
        if found:
            return min(found, key=lambda at: (at[0], -len(at[1])))[1]
    if width(name) <= room:
        return name
    while name and width(name) > room - 1:
        name = name[:-1]
    return name.rstrip() + "…"


def session_line(_: Texts, exam: Exam, session: TestSession) -> str:
    """One session on one line of a list: when, which test, where, and its seats."""
    seats = (
        _("seats left: {n}").format(n=_.number(seats_left(session)))
        if seats_left(session)
        else _("full: waitlist")
    )
    when, venue = _.brief_moment(session.starts_at), venue_name(session, _.locale)
    return f"• {when} · {exam_name(exam, _.locale)} · {venue} · {seats}"


def session_details(_: Texts, exam: Exam, session: TestSession) -> str:
    """The exam, date and time, and the venue with its address."""
    return _("📝 {exam}\n🗓 {when}\n📍 {venue}, {address}").format(
        exam=exam_name(exam, _.locale),
        when=_.moment(session.starts_at),
        venue=venue_name(session, _.locale),
        address=venue_address(session, _.locale),
    )


def venue_pin(_: Texts, session: TestSession) -> SendVenue:
    """The venue as a map pin the applicant can open in their maps app."""
    return SendVenue(
        latitude=session.latitude,
        longitude=session.longitude,
        title=getattr(session, f"venue_name_{_.locale}", session.venue_name_en),
        address=getattr(session, f"venue_address_{_.locale}", session.venue_address_en),
    )


def status_name(_: Texts, registration: Registration) -> str:
    if registration.status == RegistrationStatus.WAITLISTED and registration.offered_at:
        return _("a seat is held for you: accept it")
    names = {
        RegistrationStatus.CONFIRMED: _("confirmed"),
        RegistrationStatus.WAITLISTED: _("on the waitlist"),
        RegistrationStatus.CANCELLED: _("cancelled"),
        RegistrationStatus.ATTENDED: _("attended"),
        RegistrationStatus.ABSENT: _("absent"),
    }
    return names[RegistrationStatus(registration.status)]


def registered(_: Texts, code: str, exam: Exam, session: TestSession) -> str:
    """The confirmation: the code, the session and what to bring on the day."""
    return _(
        "🎉 <b>You are registered!</b>\n\nConfirmation code: <b>{code}</b>\n{session}\n\n"
        "{bring}\n\nSee or change your registrations with /mybookings."
    ).format(code=code, session=session_details(_, exam, session), bring=what_to_bring(_))


def what_to_bring(_: Texts) -> str:
    """Test-day advice, as far as the published rules go (see shared/domain-facts.md)."""
    return _(
        "<b>On the test day</b>\n"
        "• Bring your original, valid identity document (a passport is the safest choice) "
        "and this confirmation code.\n"
        "• Arrive 15 to 30 minutes early: latecomers cannot sit the test.\n"
        "• Only your identity document and your papers for the test are allowed in the room."
    )
