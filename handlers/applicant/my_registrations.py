"""My registrations: see them, cancel one, move one to another date, answer a seat offer.

A seat freed here is held for the first in that session's line, who is told through
the outbox (written in this same transaction) and answers with Accept or Decline.
Every button names a registration; it is checked to be the presser's, every time.
"""

from handlers.applicant.buttons import (
    AcceptOffer,
    AskToCancel,
    BookSeat,
    CancelRegistration,
    ChangeDate,
    ConfirmMove,
    DeclineOffer,
    MoveTo,
    MyRegistrations,
    MyTicket,
)
from handlers.applicant.describe import (
    exam_name,
    registered,
    session_button,
    session_details,
    status_name,
    venue_name,
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


@journey.button(MyTicket)
async def ticket_button(ctx: Context, _: MyTicket) -> None:
    """Sends the tickets again, as /ticket does."""
    await send_tickets(ctx)


@journey.button(MyRegistrations)
async def registrations_button(ctx: Context, _: MyRegistrations) -> None:
    """Shows the registrations in place of the screen the button was on."""
    await list_registrations(ctx)


@journey.command("mybookings", "registrations")
async def list_registrations(ctx: Context) -> None:
    """Shows every registration with its status and code, and what can be done with each."""
    assert ctx.applicant.id is not None
    registrations = await registrations_of(ctx.db, ctx.applicant.id)
    if not registrations:
        ctx.show(
            ctx._("You have no registrations yet. Book a seat with /book."),
            InlineKeyboard.of(
                [BookSeat().button(ctx._("📝 Book a test seat"))], [home_button(ctx.texts)]
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


async def _own_registration(ctx: Context, registration_id: int) -> Registration | None:
    """The presser's own registration; anyone else's is a forged button, out of date."""
    registration = await ctx.db.get(Registration, registration_id)
    if registration is None or registration.applicant_id != ctx.applicant.id:
        ctx.out_of_date()
        return None
    return registration


async def _own_live_registration(ctx: Context, registration_id: int) -> Registration | None:
    """The presser's own registration, if it is still live; else says why, and None."""
    registration = await _own_registration(ctx, registration_id)
    if registration is None:
        return None
    if registration.status not in LIVE:
        ctx.notify(ctx._("This registration is no longer active."))
        return None
    return registration


# --- Cancelling -------------------------------------------------------------------------------


@journey.button(AskToCancel)
async def ask_to_cancel(ctx: Context, pressed: AskToCancel) -> None:
    """Asks before cancelling: a seat given up may go to the next in line."""
    registration = await _own_live_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    assert registration.id is not None
    session, exam = await session_and_exam(ctx.db, registration)
    ctx.show(
        ctx._("Cancel this registration?\n\n{session}\n\nCode: <b>{code}</b>").format(
            session=session_details(ctx.texts, exam, session), code=registration.code
        ),
        InlineKeyboard.of(
            [CancelRegistration(registration.id).button(ctx._("Yes, cancel it"))],
            [MyRegistrations().button(ctx._("No, keep it"))],
        ),
    )


@journey.button(CancelRegistration)
async def cancel(ctx: Context, pressed: CancelRegistration) -> None:
    """Cancels; the seat is offered to the first in line."""
    registration = await _own_live_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    await release_seat(ctx.db, ctx.services, registration, ctx.now)
    ctx.show(
        ctx._("Your registration {code} is cancelled.").format(code=registration.code),
        InlineKeyboard.of(
            [MyRegistrations().button(ctx._("📋 My registrations"))], [home_button(ctx.texts)]
        ),
    )


# --- Moving to another date -------------------------------------------------------------------


@journey.button(ChangeDate)
async def choose_new_session(ctx: Context, pressed: ChangeDate) -> None:
    """Lists the other open sessions of the same test that still have a seat."""
    registration = await _own_live_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    assert registration.id is not None
    _, exam = await session_and_exam(ctx.db, registration)
    sessions = [
        session
        for session in await bookable_sessions(ctx.db, registration.exam_id, ctx.now)
        if session.id != registration.session_id and session.seats_taken < session.capacity
    ]
    if not sessions:
        ctx.show(
            ctx._("There is no other session of this test with a free seat right now."),
            InlineKeyboard.of([MyRegistrations().button(ctx._("📋 My registrations"))]),
        )
        return
    ctx.show(
        ctx._(
            "🔁 Move <b>{exam}</b> to which session? Your code stays the same; your present "
            "seat is given up only once the new one is yours."
        ).format(exam=exam_name(exam, ctx.locale)),
        InlineKeyboard.of(
            *[
                [session_button(ctx.texts, s, MoveTo(registration.id, s.id))]
                for s in sessions
                if s.id is not None
            ],
            [MyRegistrations().button(ctx._("⬅️ Back"))],
        ),
    )


@journey.button(MoveTo)
async def confirm_move(ctx: Context, pressed: MoveTo) -> None:
    """Asks before moving, naming both dates, as cancelling and erasing do."""
    registration = await _own_live_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    now_at, exam = await session_and_exam(ctx.db, registration)
    new_at = await ctx.db.get(TestSession, pressed.session_id)
    if new_at is None or new_at.id is None or new_at.exam_id != registration.exam_id:
        ctx.out_of_date()
        return
    assert registration.id is not None
    ctx.show(
        ctx._("🔁 Move <b>{exam}</b>\nfrom {old}\nto <b>{new}</b>?").format(
            exam=exam_name(exam, ctx.locale),
            old=f"{ctx.texts.moment(now_at.starts_at)}, {venue_name(now_at, ctx.locale)}",
            new=f"{ctx.texts.moment(new_at.starts_at)}, {venue_name(new_at, ctx.locale)}",
        ),
        InlineKeyboard.of(
            [ConfirmMove(registration.id, new_at.id).button(ctx._("✅ Yes, move"))],
            [ChangeDate(pressed.registration_id).button(ctx._("⬅️ Back"))],
        ),
    )


@journey.button(ConfirmMove)
async def move(ctx: Context, pressed: ConfirmMove) -> None:
    """Takes the new seat, then releases the old one; if the new one is full, nothing changes."""
    registration = await _own_live_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    try:
        next_in_line = await reschedule(ctx.db, registration, pressed.session_id, ctx.now)
    except BookingRefused as refused:
        text = (
            ctx._("Sorry, that session has just filled up. Your registration has not changed.")
            if refused.reason == "full"
            else ctx._(
                "Sorry, that session no longer takes registrations. Your registration has not "
                "changed."
            )
        )
        ctx.show(text, InlineKeyboard.of([MyRegistrations().button(ctx._("📋 My registrations"))]))
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


async def _open_offer(ctx: Context, registration_id: int) -> Registration | None:
    """The presser's own seat offer, if it is still open; else says why, and None."""
    registration = await _own_registration(ctx, registration_id)
    if registration is None:
        return None
    if registration.status != RegistrationStatus.WAITLISTED or registration.offered_at is None:
        ctx.notify(ctx._("This offer is no longer open."))
        return None
    now = ctx.now
    if registration.offer_expires_at is not None and registration.offer_expires_at <= now:
        await expire_offer(ctx.db, ctx.services, registration, now)  # the job had not run yet
        ctx.notify(ctx._("This offer is no longer open."))
        return None
    return registration


@journey.button(AcceptOffer)
async def accept(ctx: Context, pressed: AcceptOffer) -> None:
    """Confirms the seat held for the applicant."""
    registration = await _open_offer(ctx, pressed.registration_id)
    if registration is None:
        return
    await accept_offer(ctx.db, registration, ctx.now)
    await plan_reminders(ctx.db, ctx.services, registration)
    session, exam = await session_and_exam(ctx.db, registration)
    ctx.show(registered(ctx.texts, registration.code, exam, session))
    ctx.show_venue(venue_pin(ctx.texts, session))
    await send_ticket(ctx, registration)


@journey.button(DeclineOffer)
async def decline(ctx: Context, pressed: DeclineOffer) -> None:
    """Passes the seat held for the applicant to the next in line."""
    registration = await _open_offer(ctx, pressed.registration_id)
    if registration is None:
        return
    await release_seat(ctx.db, ctx.services, registration, ctx.now)
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
    assert registration.id is not None
    rows = []
    if registration.offered_at is not None:
        rows.append(
            [
                AcceptOffer(registration.id).button(
                    _("✅ Accept seat {code}").format(code=registration.code)
                ),
            ]
        )
    rows.append(
        [
            ChangeDate(registration.id).button(
                _("🔁 Change date {code}").format(code=registration.code)
            ),
            AskToCancel(registration.id).button(
                _("✖ Cancel {code}").format(code=registration.code)
            ),
        ]
    )
    return rows
