"""The conversation: one module per journey, assembled here in one ordered list.

`core/` is the machinery every journey uses (events, routing, the runner, texts);
`applicant/`, `staff/` and `faq/` hold the journeys, grouped by who uses them.

Order matters where routes overlap: the journeys with wizard steps come before the
FAQ, whose free-text answer catches whatever nobody else claimed, and the
fallback for everything else comes last.
"""

from handlers.applicant import (
    fallback,
    handoff,
    language,
    my_data,
    my_registrations,
    registration,
    settings,
    start,
)
from handlers.core.routing import Journey, Router
from handlers.faq import answers
from handlers.staff import broadcast, office, replies, teaching

JOURNEYS: list[Journey] = [
    start.journey,
    office.journey,  # staff only: to anyone else these routes do not exist
    office.owners,  # staff only (owners): managing staff
    office.admins,  # staff only (admins): exports
    replies.journey,  # staff only: answers given by replying in the staff group
    teaching.journey,  # staff only: attaching unanswered questions to FAQ entries
    broadcast.journey,  # staff only (admins): its wizard steps take typed text
    handoff.journey,
    language.journey,
    registration.journey,  # its wizard steps take typed text before the FAQ does
    my_registrations.journey,
    settings.journey,
    my_data.journey,
    answers.journey,  # free text: answers typed questions
    fallback.journey,  # anything else: stickers, unknown commands, stale buttons
]


def build_router() -> Router:
    """All journeys, merged in order."""
    return Router(JOURNEYS)
