"""My registrations: see them, cancel one, move one to another date, answer a seat offer.

A seat freed here is held for the first in that session's line, who is told through
the outbox (written in this same transaction) and answers with Accept or Decline.
Every button names a registration; it is checked to be the presser's, every time.
"""

from handlers.applicant.describe import (
    exam_name,
    registered,
    session_button,
    session_details,
    status_name,
    venue_pin,
    what_to_bring,
)
from handlers.applicant.menus import home_button
from handlers.applicant.notices import (
    expire_offer,
    offer_freed_seat,
    plan_reminders,
    release_seat,
    replan_reminders,
)
from handlers.applicant.ticket import send_ticket
from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard
from handlers.core.routing import Journey
from handlers.core.texts import Texts
from models.registrations import (
    LIVE,
    BookingRefused,
    Registration,
    RegistrationStatus,
    accept_offer,
    registrations_of,
    reschedule,
    session_and_exam,
    waitlist_position,
)
from models.sessions import Exam, TestSession, bookable_sessions

journey = Journey("my_registrations")


@journey.command("ticket")
async def send_tickets(ctx: Context) -> None:
    """Sends the ticket image and calendar file of every confirmed registration again."""
    assert ctx.applicant.id is not None
    confirmed = [
        registration
        for registration in await registrations_of(ctx.db, ctx.applicant.id)
        if registration.status == RegistrationStatus.CONFIRMED
    ]
    if not confirmed:
        ctx.say(
            ctx._(
                "You have no confirmed registration, so there is no ticket yet. Book with /book."
            ),
            InlineKeyboard.of([home_button(ctx.texts)]),
        )
        return
    for registration in confirmed:
        await send_ticket(ctx, registration)


@journey.command("mybookings", "registrations")
@journey.button("mine")
async def list_registrations(ctx: Context) -> None:
    """Shows every registration with its status and code, and what can be done with each."""
    parts = [*ctx.event.button_data.split(":"), "", ""]
    if parts[1] and parts[2].isdigit():
        await _registration_action(ctx, parts[1], int(parts[2]), parts[3:])
        return
    assert ctx.applicant.id is not None
    registrations = await registrations_of(ctx.db, ctx.applicant.id)
    if not registrations:
        ctx.show(
            ctx._("You have no registrations yet. Book a seat with /book."),
            InlineKeyboard.of(
                [Button(ctx._("📝 Book a test seat"), "book")], [home_button(ctx.texts)]
            ),
        )
        return
    cards, rows = [], []
    for registration in registrations[:10]:
        session, exam = await session_and_exam(ctx.db, registration)
        cards.append(await _card(ctx, registration, session, exam))
        rows.extend(_buttons_for(ctx.texts, registration))
    ctx.show(
        ctx._("📋 <b>My registrations</b>") + "\n\n" + "\n\n".join(cards),
        InlineKeyboard.of(*rows, [home_button(ctx.texts)]),
    )


async def _registration_action(
    ctx: Context, action: str, registration_id: int, rest: list[str]
) -> None:
    """mine:<action>:<registration id>[:<more>], for the presser's own registration only."""
    registration = await ctx.db.get(Registration, registration_id)
    if registration is None or registration.applicant_id != ctx.applicant.id:
        ctx.out_of_date()
        return
    if registration.status not in LIVE:
        ctx.notify(ctx._("This registration is no longer active."))
        return
    if action == "cancel":
        await ask_to_cancel(ctx, registration)
    elif action == "cancel_yes":
        await cancel(ctx, registration)
    elif action == "move":
        await choose_new_session(ctx, registration)
    elif action == "to" and rest[0].isdigit():
        await move(ctx, registration, int(rest[0]))
    else:
        ctx.out_of_date()


# --- Cancelling -------------------------------------------------------------------------------


async def ask_to_cancel(ctx: Context, registration: Registration) -> None:
    """Asks before cancelling: a seat given up may go to the next in line."""
    session, exam = await session_and_exam(ctx.db, registration)
    ctx.show(
        ctx._("Cancel this registration?\n\n{session}\n\nCode: <b>{code}</b>").format(
            session=session_details(ctx.texts, exam, session), code=registration.code
        ),
        InlineKeyboard.of(
            [Button(ctx._("Yes, cancel it"), f"mine:cancel_yes:{registration.id}")],
            [Button(ctx._("No, keep it"), "mine")],
        ),
    )


async def cancel(ctx: Context, registration: Registration) -> None:
    """Cancels; the seat is offered to the first in line."""
    await release_seat(ctx.db, ctx.services, registration, ctx.services.now())
    ctx.show(
        ctx._("Your registration {code} is cancelled.").format(code=registration.code),
        InlineKeyboard.of(
            [Button(ctx._("📋 My registrations"), "mine")], [home_button(ctx.texts)]
        ),
    )


# --- Moving to another date -------------------------------------------------------------------


async def choose_new_session(ctx: Context, registration: Registration) -> None:
    """Lists the other open sessions of the same test that still have a seat."""
    _, exam = await session_and_exam(ctx.db, registration)
    sessions = [
        session
        for session in await bookable_sessions(ctx.db, registration.exam_id, ctx.services.now())
        if session.id != registration.session_id and session.seats_taken < session.capacity
    ]
    if not sessions:
        ctx.show(
            ctx._("There is no other session of this test with a free seat right now."),
            InlineKeyboard.of([Button(ctx._("📋 My registrations"), "mine")]),
        )
        return
    ctx.show(
        ctx._(
            "🔁 Move <b>{exam}</b> to which session? Your code stays the same; your present "
            "seat is given up only once the new one is yours."
        ).format(exam=exam_name(exam, ctx.locale)),
        InlineKeyboard.of(
            *[
                [session_button(ctx.texts, s, f"mine:to:{registration.id}:{s.id}")]
                for s in sessions
            ],
            [Button(ctx._("⬅️ Back"), "mine")],
        ),
    )


async def move(ctx: Context, registration: Registration, session_id: int) -> None:
    """Takes the new seat, then releases the old one; if the new one is full, nothing changes."""
    try:
        next_in_line = await reschedule(ctx.db, registration, session_id, ctx.services.now())
    except BookingRefused as refused:
        text = (
            ctx._("Sorry, that session has just filled up. Your registration has not changed.")
            if refused.reason == "full"
            else ctx._(
                "Sorry, that session no longer takes registrations. Your registration has not "
                "changed."
            )
        )
        ctx.show(text, InlineKeyboard.of([Button(ctx._("📋 My registrations"), "mine")]))
        return
    if next_in_line is not None:
        await offer_freed_seat(ctx.db, ctx.services, next_in_line)
    await replan_reminders(ctx.db, ctx.services, registration)
    session, exam = await session_and_exam(ctx.db, registration)
    ctx.show(
        ctx._("✅ <b>Moved.</b> Confirmation code: <b>{code}</b>\n{session}\n\n{bring}").format(
            code=registration.code,
            session=session_details(ctx.texts, exam, session),
            bring=what_to_bring(ctx.texts),
        )
    )
    ctx.show_venue(venue_pin(ctx.texts, session))
    await send_ticket(ctx, registration)


# --- Answering a seat offer -------------------------------------------------------------------


@journey.button("offer")
async def answer_offer(ctx: Context) -> None:
    """Accept confirms the held seat; Decline passes it to the next in line."""
    _, answer, number = [*ctx.event.button_data.split(":"), "", ""][:3]
    registration = await ctx.db.get(Registration, int(number)) if number.isdigit() else None
    if (
        registration is None
        or registration.applicant_id != ctx.applicant.id
        or answer not in ("yes", "no")
    ):
        ctx.out_of_date()
        return
    if registration.status != RegistrationStatus.WAITLISTED or registration.offered_at is None:
        ctx.notify(ctx._("This offer is no longer open."))
        return
    now = ctx.services.now()
    if registration.offer_expires_at is not None and registration.offer_expires_at <= now:
        await expire_offer(ctx.db, ctx.services, registration, now)  # the job had not run yet
        ctx.notify(ctx._("This offer is no longer open."))
        return
    session, exam = await session_and_exam(ctx.db, registration)
    if answer == "yes":
        await accept_offer(ctx.db, registration, ctx.services.now())
        await plan_reminders(ctx.db, ctx.services, registration)
        ctx.show(registered(ctx.texts, registration.code, exam, session))
        ctx.show_venue(venue_pin(ctx.texts, session))
        await send_ticket(ctx, registration)
        return
    await release_seat(ctx.db, ctx.services, registration, now)
    ctx.show(
        ctx._("You declined the seat; it passes to the next person in line."),
        InlineKeyboard.of([home_button(ctx.texts)]),
    )


# --- Shared pieces ----------------------------------------------------------------------------


async def _card(ctx: Context, registration: Registration, session: TestSession, exam: Exam) -> str:
    """One registration: the session, its status (with the place in line) and the code."""
    status = status_name(ctx.texts, registration)
    position = await waitlist_position(ctx.db, registration)
    if position is not None and registration.offered_at is None:
        status = ctx._("on the waitlist, number {position} in line").format(position=position)
    return ctx._("{session}\nStatus: <b>{status}</b> · Code: <b>{code}</b>").format(
        session=session_details(ctx.texts, exam, session), status=status, code=registration.code
    )


def _buttons_for(_: Texts, registration: Registration) -> list[list[Button]]:
    if registration.status not in LIVE:
        return []
    rows = []
    if registration.offered_at is not None:
        rows.append(
            [
                Button(
                    _("✅ Accept seat {code}").format(code=registration.code),
                    f"offer:yes:{registration.id}",
                ),
            ]
        )
    rows.append(
        [
            Button(
                _("🔁 Change date {code}").format(code=registration.code),
                f"mine:move:{registration.id}",
            ),
            Button(
                _("✖ Cancel {code}").format(code=registration.code),
                f"mine:cancel:{registration.id}",
            ),
        ]
    )
    return rows
