"""How exams, test sessions and registrations read in each language.

Shared by the booking wizard, my registrations and the messages sent to the next
in line, so a session looks the same wherever an applicant meets it.
"""

from html import escape

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


def session_button(_: Texts, session: TestSession, pressed: ButtonData) -> Button:
    """One session as a button: when, where, and whether it is full."""
    if seats_left(session):
        seats = _("seats left: {n}").format(n=_.number(seats_left(session)))
    else:
        seats = _("full: waitlist")
    label = "{when} · {venue} · {seats}".format(
        when=_.brief_moment(session.starts_at),
        venue=getattr(session, f"venue_name_{_.locale}", session.venue_name_en),
        seats=seats,
    )
    return pressed.button(label)


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
