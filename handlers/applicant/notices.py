"""Messages nobody asked for just then: seat offers and their expiry, reminders, session changes.

Each is written to the outbox in the transaction of the change that caused it, with a
dedupe key derived from what it is about, so running the same step twice (a retried
job, a second instance) never queues it twice. Scheduled jobs call the functions at
the bottom; handlers call the ones at the top.
"""

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.applicant.buttons import AcceptOffer, DeclineOffer
from handlers.applicant.describe import session_details, venue_pin, what_to_bring
from handlers.core.events import InlineKeyboard, Outgoing, SendText
from handlers.core.letters import tell
from handlers.core.services import Services
from handlers.core.texts import Texts
from models.applicants import Applicant
from models.outbox import skip_pending_about
from models.registrations import (
    Registration,
    RegistrationStatus,
    cancel_registration,
    live_registrations_at,
    overdue_offers,
    registrations_of,
    session_and_exam,
)
from models.reminders import reminders_to_drop, reminders_to_plan
from models.schedule import offer_deadline
from models.sessions import Exam, TestSession

logger = logging.getLogger(__name__)


# --- A freed seat, offered to the next in line --------------------------------------------


async def release_seat(
    db: AsyncSession, services: Services, registration: Registration, now: datetime
) -> None:
    """Cancels a registration; a seat it held is offered to the first in line, who is told."""
    await drop_reminders(db, registration)
    next_in_line = await cancel_registration(db, registration, now)
    if next_in_line is not None:
        await offer_freed_seat(db, services, next_in_line)


async def offer_freed_seat(
    db: AsyncSession, services: Services, registration: Registration
) -> None:
    """Tells the first in line that a seat is held for them until a deadline."""
    applicant, session, exam = await _parties(db, registration)
    if applicant is None or registration.offered_at is None:
        return
    registration.offer_expires_at = offer_deadline(
        registration.offered_at, session.starts_at, services.offer_hours
    )
    db.add(registration)
    deadline = registration.offer_expires_at
    number = registration.id
    assert number is not None

    def compose(_: Texts) -> list[Outgoing]:
        return [
            SendText(
                _(
                    "🎉 <b>A seat has become free for you!</b>\n\n{session}\n\nIt is held for "
                    "you until {deadline}. Accept it to confirm your registration, or decline "
                    "to pass it to the next person in line."
                ).format(session=session_details(_, exam, session), deadline=_.moment(deadline)),
                InlineKeyboard.of(
                    [AcceptOffer(number).button(_("✅ Accept the seat"))],
                    [DeclineOffer(number).button(_("✖ Decline"))],
                ),
            )
        ]

    stamp = int(registration.offered_at.timestamp())
    key = f"offer:{registration.id}:{session.id}:{stamp}"
    await tell(db, services, applicant, key, compose, registration_id=registration.id)


async def expire_offer(
    db: AsyncSession, services: Services, registration: Registration, now: datetime
) -> None:
    """An offer not answered in time: the seat passes on, and the applicant is told."""
    applicant, session, exam = await _parties(db, registration)
    await release_seat(db, services, registration, now)
    if applicant is None:
        return

    def compose(_: Texts) -> list[Outgoing]:
        return [
            SendText(
                _(
                    "⌛ The seat held for you has passed to the next person in line, because "
                    "it was not accepted in time.\n\n{session}\n\nYou can book another "
                    "session with /book."
                ).format(session=session_details(_, exam, session))
            )
        ]

    await tell(db, services, applicant, f"offer-expired:{registration.id}", compose)


# --- Reminders ------------------------------------------------------------------------------


async def plan_reminders(db: AsyncSession, services: Services, registration: Registration) -> int:
    """Queues the reminders of a confirmed registration for its session's current start."""
    applicant, session, exam = await _parties(db, registration)
    plan = services.reminders
    if (
        plan is None
        or applicant is None
        or not applicant.reminders
        or registration.status != RegistrationStatus.CONFIRMED
    ):
        return 0
    assert registration.id is not None
    queued = 0
    stamp = int(session.starts_at.timestamp())
    for kind, due in plan.due_times(session.starts_at, services.now()).items():

        def compose(_: Texts, kind: str = kind) -> list[Outgoing]:
            return [SendText(_reminder_text(_, kind, registration.code, exam, session))]

        queued += await tell(
            db,
            services,
            applicant,
            f"reminder:{registration.id}:{kind}:{stamp}",
            compose,
            send_after=due,
            registration_id=registration.id,
            urgent=False,
            revive=True,
        )
    registration.reminders_for = session.starts_at
    db.add(registration)
    return queued


async def drop_reminders(db: AsyncSession, registration: Registration) -> None:
    """Skips the reminders still queued for a registration (cancelled, moved, switched off)."""
    assert registration.id is not None
    await skip_pending_about(db, registration.id, "no longer applies")
    registration.reminders_for = None
    db.add(registration)


async def replan_reminders(
    db: AsyncSession, services: Services, registration: Registration
) -> None:
    """After any change to a registration: the old reminders go, the right ones come."""
    await drop_reminders(db, registration)
    await plan_reminders(db, services, registration)


async def retell_reminders(db: AsyncSession, services: Services, applicant: Applicant) -> int:
    """The reminders still to come, written again in the applicant's language (just changed)."""
    assert applicant.id is not None
    planned = [r for r in await registrations_of(db, applicant.id) if r.reminders_for is not None]
    for registration in planned:
        await replan_reminders(db, services, registration)
    return len(planned)


def _reminder_text(_: Texts, kind: str, code: str, exam: Exam, session: TestSession) -> str:
    if kind == "day":
        headline = _("⏰ <b>Today is your test day!</b>")
    elif kind == "1d":
        headline = _("⏰ <b>Reminder: your test is tomorrow.</b>")
    else:
        headline = _("⏰ <b>Reminder: your test is in {days} days.</b>").format(
            days=kind.removesuffix("d")
        )
    return "{headline}\n\n{session}\n{code}\n\n{bring}".format(
        headline=headline,
        session=session_details(_, exam, session),
        code=_("Confirmation code: <b>{code}</b>").format(code=code),
        bring=what_to_bring(_),
    )


# --- Sessions changed by the office ---------------------------------------------------------


async def session_moved(
    db: AsyncSession, services: Services, session: TestSession, was: datetime
) -> int:
    """Tells everyone registered of the new time, with a new venue pin; reminders follow."""
    told = 0
    assert session.id is not None
    for registration in await live_registrations_at(db, session.id):
        applicant, _session, exam = await _parties(db, registration)
        await replan_reminders(db, services, registration)
        if applicant is None:
            continue

        def compose(
            _: Texts, registration: Registration = registration, exam: Exam = exam
        ) -> list[Outgoing]:
            return [
                SendText(
                    _(
                        "📢 <b>The test office has changed your test session.</b>\n\n"
                        "It was: {was}\nIt is now:\n{session}\n\nYour code stays "
                        "<b>{code}</b>. If you cannot come at the new time, cancel or "
                        "change it with /mybookings."
                    ).format(
                        was=_.moment(was),
                        session=session_details(_, exam, session),
                        code=registration.code,
                    )
                    + "\n"
                    + _("Send /ticket to get your updated ticket.")
                ),
                venue_pin(_, session),
            ]

        key = f"moved:{registration.id}:{int(session.starts_at.timestamp())}"
        told += bool(await tell(db, services, applicant, key, compose))
    return told


async def session_cancelled(db: AsyncSession, services: Services, session: TestSession) -> int:
    """Cancels every registration of a cancelled session and tells the people concerned."""
    told = 0
    assert session.id is not None
    for registration in await live_registrations_at(db, session.id):
        applicant, _session, exam = await _parties(db, registration)
        await drop_reminders(db, registration)
        await cancel_registration(db, registration, services.now())
        if applicant is None:
            continue

        def compose(_: Texts, exam: Exam = exam) -> list[Outgoing]:
            return [
                SendText(
                    _(
                        "📢 <b>The test office has cancelled this test session:</b>\n\n"
                        "{session}\n\nYour registration is cancelled. Please book another "
                        "session with /book. We are sorry for the trouble."
                    ).format(session=session_details(_, exam, session))
                )
            ]

        told += bool(await tell(db, services, applicant, f"cancelled:{registration.id}", compose))
    return told


# --- Scheduled jobs ---------------------------------------------------------------------------


async def expire_offers(db: AsyncSession, services: Services, now: datetime) -> int:
    """Passes on every held seat whose deadline has passed."""
    overdue = await overdue_offers(db, now)
    for registration in overdue:
        await expire_offer(db, services, registration, now)
    return len(overdue)


async def reconcile_reminders(
    db: AsyncSession, services: Services, now: datetime, batch: int = 500
) -> int:
    """Every confirmed registration has its reminders; nothing else keeps any.

    Only registrations whose reminders were not planned for their session's current start
    are touched, a batch at a time, so a quiet run costs two queries.
    """
    stale = await reminders_to_drop(db, batch)
    for registration in stale:
        await drop_reminders(db, registration)
    missing = await reminders_to_plan(db, now, batch)
    for registration in missing:
        await replan_reminders(db, services, registration)
    return len(stale) + len(missing)


# --- Shared pieces ----------------------------------------------------------------------------


async def _parties(
    db: AsyncSession, registration: Registration
) -> tuple[Applicant | None, TestSession, Exam]:
    applicant = (
        await db.get(Applicant, registration.applicant_id) if registration.applicant_id else None
    )
    session, exam = await session_and_exam(db, registration)
    return applicant, session, exam
