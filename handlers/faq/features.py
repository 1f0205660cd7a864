"""What an answer leads to: the bot's features an FAQ entry names, as buttons under it.

An answer that says "book a seat in this bot" carries the Book button; one about the
test dates lists the sessions open for booking now. Which entry names which feature is
data, in `FEATURES` below; a test checks every entry id in it is in the FAQ.
"""

from collections.abc import Callable, Mapping
from enum import StrEnum

from handlers.applicant.buttons import (
    BookSeat,
    LanguageChoice,
    MyRegistrations,
    MyTicket,
    Settings,
)
from handlers.applicant.describe import session_line
from handlers.applicant.handoff import ask_the_office_button
from handlers.core.context import Context
from handlers.core.events import TEXT_MAX_LENGTH, Button
from handlers.faq.book import FaqEntry
from models.registrations import RegistrationStatus, registrations_of
from models.sessions import upcoming_bookable_sessions

SESSIONS_SHOWN = 5  # a list longer than this is for the booking screens


class Feature(StrEnum):
    SESSIONS = "sessions"  # the sessions open for booking, listed under the answer
    BOOK = "book"
    MY_REGISTRATIONS = "my-registrations"
    TICKET = "ticket"  # only for someone with a confirmed registration
    OFFICE = "office"  # only with a staff group
    SETTINGS = "settings"
    LANGUAGE = "language"


SESSIONS, BOOK, MINE, TICKET, OFFICE = (
    Feature.SESSIONS,
    Feature.BOOK,
    Feature.MY_REGISTRATIONS,
    Feature.TICKET,
    Feature.OFFICE,
)

# The features each entry's answer names, in the order its buttons appear.
FEATURES: Mapping[str, tuple[Feature, ...]] = {
    # When and where the test is, and how to book: the real sessions, and the way in.
    "ministry-tests": (SESSIONS, BOOK),
    "how-to-register": (SESSIONS, BOOK),
    "test-in-cambodia": (SESSIONS, BOOK, OFFICE),
    "mlvt-role": (BOOK,),
    "booking-deadline": (BOOK,),
    "weekend-deadline": (BOOK,),
    "registration-details": (BOOK,),
    "jft-eligibility": (BOOK,),
    # One's own bookings.
    "my-booking": (MINE, TICKET),
    "cancel-or-change": (MINE, OFFICE),
    "waitlist": (MINE,),
    "test-day-rules": (TICKET,),
    "id-on-test-day": (TICKET, OFFICE),
    "reminders": (Feature.SETTINGS,),
    "change-language": (Feature.LANGUAGE,),
    # Answers that send the applicant to the office ("menu → Ask the office").
    "contact-office": (OFFICE,),
    "results": (OFFICE,),
    "retake": (OFFICE,),
    "arriving-late": (OFFICE,),
    "skills-tests": (OFFICE,),
    "test-fee": (OFFICE,),
    "voucher": (OFFICE,),
    "agency-fees": (OFFICE,),
    "no-deposit": (OFFICE,),
    "complaints": (OFFICE,),
    "agreements": (OFFICE,),
    "cheating": (OFFICE,),
    "national-id-card": (OFFICE,),
    "ocwc": (OFFICE,),
    "coe-and-visa": (OFFICE,),
    "covid-support": (OFFICE,),
    "ssw-ii": (OFFICE,),
    "esd-current-interns": (OFFICE,),
}

# The plain buttons: the same for everyone who reads the answer.
BUTTONS: Mapping[Feature, Callable[[Context], list[Button]]] = {
    BOOK: lambda ctx: [BookSeat().button(ctx._("📝 Book a test seat"))],
    MINE: lambda ctx: [MyRegistrations().button(ctx._("📋 My registrations"))],
    Feature.SETTINGS: lambda ctx: [Settings().button(ctx._("⚙️ Settings"))],
    Feature.LANGUAGE: lambda ctx: [LanguageChoice().button(ctx._("🌐 Language"))],
    OFFICE: ask_the_office_button,
}


async def features_of(
    ctx: Context, entry: FaqEntry, answer: str
) -> tuple[str, list[list[Button]]]:
    """The answer with what it names: the sessions appended, and a row per feature button."""
    rows: list[list[Button]] = []
    for feature in FEATURES.get(entry.id, ()):
        if feature is SESSIONS:
            answer = await _with_sessions(ctx, answer)
        elif feature is TICKET:
            rows.append(await _ticket_button(ctx))
        else:
            rows.append(BUTTONS[feature](ctx))
    return answer, [row for row in rows if row]


async def _with_sessions(ctx: Context, answer: str) -> str:
    """The answer, and under it the sessions open for booking now, if any (and if it fits)."""
    found = await upcoming_bookable_sessions(ctx.db, ctx.now, SESSIONS_SHOWN + 1)
    if not found:
        return answer
    lines = [session_line(ctx.texts, exam, session) for session, exam in found[:SESSIONS_SHOWN]]
    if len(found) > SESSIONS_SHOWN:
        lines.append(ctx._("More dates: press 📝 Book a test seat."))
    listed = "{answer}\n\n{title}\n{lines}".format(
        answer=answer,
        title=ctx._("🗓 <b>Sessions open for booking now</b> (Phnom Penh time):"),
        lines="\n".join(lines),
    )
    return listed if len(listed) <= TEXT_MAX_LENGTH else answer


async def _ticket_button(ctx: Context) -> list[Button]:
    """ "🎫 My ticket", for someone who has a confirmed registration."""
    assert ctx.applicant.id is not None
    registrations = await registrations_of(ctx.db, ctx.applicant.id)
    if not any(r.status == RegistrationStatus.CONFIRMED for r in registrations):
        return []
    return [MyTicket().button(ctx._("🎫 My ticket"))]
