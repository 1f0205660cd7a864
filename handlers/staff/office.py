"""The test office in the chat: who is staff, and checking people in on the test day.

Every route here sits behind a staff gate, one per group of routes by the role they need:
to anyone who is not staff these commands and buttons do not exist (they get the ordinary
"unknown command" answer), and the attempt is written to the audit trail; staff of a lower
role are told who may. Every staff action is audited too.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from html import escape

from handlers.applicant.describe import session_details, status_name
from handlers.applicant.details import sex_name
from handlers.applicant.ticket import TICKET_LINK
from handlers.core.buttons import ButtonData
from handlers.core.commands import staff_menu
from handlers.core.context import Context
from handlers.core.events import InlineKeyboard, SendFile
from handlers.core.routing import Journey, requires
from handlers.core.texts import LOCALES
from handlers.staff.exports import export_sheets
from handlers.staff.statistics import registrations_chart, statistics_text
from models.applicants import Applicant, find_applicant
from models.panel import LOGIN_LINK_LIFETIME, issue_login_link
from models.registrations import (
    Registration,
    RegistrationStatus,
    check_in,
    find_by_code,
    mark_absent,
    may_undo_check_in,
    session_and_exam,
    undo_check_in,
)
from models.sessions import TestSession
from models.staff import Role, add_staff, audit, list_staff, remove_staff
from models.statistics import gather_statistics

journey = Journey("staff", gate=requires(Role.OPERATOR))
owners = Journey(
    "staff members",
    gate=requires(Role.OWNER, lambda _: _("Only the owners of the bot can add or remove staff.")),
)
admins = Journey(
    "exports", gate=requires(Role.ADMIN, lambda _: _("Only admins can export applicants' data."))
)


@dataclass(frozen=True)
class CheckIn(ButtonData, prefix="checkin"):
    registration_id: int


@dataclass(frozen=True)
class CheckInAnyway(ButtonData, prefix="checkin:anyway"):
    """Confirms the check-in of someone whose session is on another day."""

    registration_id: int


@dataclass(frozen=True)
class UndoCheckIn(ButtonData, prefix="checkin:undo"):
    registration_id: int


@dataclass(frozen=True)
class ShowRegistration(ButtonData, prefix="checkin:show"):
    registration_id: int


# --- Who is staff -----------------------------------------------------------------------------


@owners.command("staff")
async def manage_staff(ctx: Context) -> None:
    """/staff list | /staff add <telegram id> <admin|operator> | /staff remove <telegram id>."""
    words = ctx.event.argument.split()
    action = words[0].lower() if words else "list"
    if (
        action == "add"
        and len(words) == 3
        and words[1].isdigit()
        and words[2] in ("admin", "operator")
    ):
        member = await add_staff(ctx.db, int(words[1]), Role(words[2]), ctx.actor)
        ctx.say(ctx._("{id} is now staff ({role}).").format(id=words[1], role=str(member.role)))
        await _give_menu(ctx, member.telegram_id, Role(member.role))
    elif action == "remove" and len(words) == 2 and words[1].isdigit():
        removed = await remove_staff(ctx.db, int(words[1]), ctx.actor)
        ctx.say(
            ctx._("{id} is no longer staff.").format(id=words[1])
            if removed
            else ctx._("{id} was not staff.").format(id=words[1])
        )
        if removed:
            await _give_menu(ctx, int(words[1]), None)
    elif action == "list":
        members = await list_staff(ctx.db)
        lines = [f"• <code>{m.telegram_id}</code> {m.role!s}" for m in members]
        owners = ", ".join(f"<code>{owner}</code>" for owner in sorted(ctx.services.owner_ids))
        ctx.say(
            ctx._("<b>Staff</b>\nOwners (ADMIN_IDS): {owners}\n{members}").format(
                owners=owners or "–", members="\n".join(lines) or ctx._("No other staff yet.")
            )
        )
    else:
        ctx.say(
            ctx._(
                "Use: /staff list, /staff add TELEGRAM_ID admin|operator, "
                "/staff remove TELEGRAM_ID"
            )
        )


async def _give_menu(ctx: Context, telegram_id: int, role: Role | None) -> None:
    """Their command menu with the staff commands of `role` (everyone's, for None), in the
    language they read."""
    person = await find_applicant(ctx.db, telegram_id)
    locale = (person.locale if person else None) or ctx.services.default_locale
    ctx.actions.append(staff_menu(ctx.services, telegram_id, role, locale))


# --- The web panel -----------------------------------------------------------------------------


@journey.command("panel")
async def send_panel_link(ctx: Context) -> None:
    """Sends a one-time link that logs this staff member in to the web panel."""
    if ctx.services.panel_url is None:
        ctx.say(ctx._("The web panel is not set up: PANEL_URL is empty."))
        return
    token = await issue_login_link(ctx.db, ctx.event.user_id, ctx.now)
    await audit(ctx.db, ctx.actor, "panel_link")
    minutes = int(LOGIN_LINK_LIFETIME.total_seconds() // 60)
    ctx.say(
        ctx._(
            "🖥 <b>Web panel</b>\n\nOpen this link within {minutes} minutes; it works once, "
            "and only for you. Do not share it.\n\n{link}"
        ).format(minutes=minutes, link=f"{ctx.services.panel_url}/login/{token}")
    )


# --- Check-in on the test day -----------------------------------------------------------------


@journey.command("checkin")
async def check_in_by_code(ctx: Context) -> None:
    """/checkin CODE: the registration, with the button that marks it attended."""
    code = ctx.event.argument.strip()
    registration = await find_by_code(ctx.db, code) if code else None
    if registration is None:
        ctx.say(
            ctx._("No registration has the code {code}. Check the code and try again.").format(
                code=escape(code[:16]) or "–"
            )
        )
        return
    await show_registration(ctx, registration)


async def show_registration(ctx: Context, registration: Registration) -> None:
    """Names, date of birth, ID number, session and status: what the door needs to see."""
    await audit(ctx.db, ctx.actor, "open_registration", registration.code)
    applicant = (
        await ctx.db.get(Applicant, registration.applicant_id)
        if registration.applicant_id
        else None
    )
    session, exam = await session_and_exam(ctx.db, registration)
    if applicant is None:
        person = ctx._("(the applicant erased their data)")
    else:
        person = ctx._(
            "Name (passport): <b>{name}</b>\nName in Khmer: {khmer}\nDate of birth: {born}\n"
            "Sex: {sex}\nID or passport no.: <b>{id_number}</b>"
        ).format(
            name=escape(applicant.name_latin or "–"),
            khmer=escape(applicant.name_khmer or "–"),
            born=ctx.texts.day(applicant.date_of_birth) if applicant.date_of_birth else "–",
            sex=sex_name(applicant.sex, ctx.texts) if applicant.sex else "–",
            id_number=escape(applicant.id_number or "–"),
        )
    text = ctx._(
        "🎫 <b>Registration {code}</b>\n\n{person}\n\n{session}\nStatus: <b>{status}</b>"
    ).format(
        code=registration.code,
        person=person,
        session=session_details(ctx.texts, exam, session),
        status=status_name(ctx.texts, registration),
    )
    # What the door must not miss goes first: a cancelled seat, or another day's session.
    if registration.status == RegistrationStatus.CANCELLED:
        text = ctx._("⛔ CANCELLED") + "\n\n" + text
    elif not _is_today(ctx, session.starts_at):
        text = _not_today_line(ctx, session.starts_at) + "\n\n" + text
    if registration.status == RegistrationStatus.ATTENDED and registration.checked_in_at:
        text += "\n" + _checked_in_line(ctx, registration)
    assert registration.id is not None
    buttons = []
    if registration.status == RegistrationStatus.CONFIRMED:
        buttons.append(CheckIn(registration.id).button(ctx._("✅ Checked in")))
    elif may_undo_check_in(registration, ctx.event.user_id, ctx.now):
        buttons.append(UndoCheckIn(registration.id).button(ctx._("↩️ Undo check-in")))
    ctx.show(text, InlineKeyboard.of(buttons) if buttons else None)


@journey.button(CheckIn)
async def mark_checked_in(ctx: Context, pressed: CheckIn) -> None:
    """Marks the registration attended, once; another day's session asks first."""
    registration = await _pressed_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    session, _exam = await session_and_exam(ctx.db, registration)
    if registration.status == RegistrationStatus.CONFIRMED and not _is_today(
        ctx, session.starts_at
    ):
        ctx.show(
            ctx._("{warning}\n\nCheck in {code} anyway?").format(
                warning=_not_today_line(ctx, session.starts_at), code=registration.code
            ),
            InlineKeyboard.of(
                [CheckInAnyway(pressed.registration_id).button(ctx._("✅ Yes, check in"))],
                [ShowRegistration(pressed.registration_id).button(ctx._("⬅️ Back"))],
            ),
        )
        return
    await _check_in(ctx, registration)


@journey.button(CheckInAnyway)
async def mark_checked_in_anyway(ctx: Context, pressed: CheckInAnyway) -> None:
    """The check-in of someone whose session is on another day, confirmed."""
    registration = await _pressed_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    await _check_in(ctx, registration)


async def _check_in(ctx: Context, registration: Registration) -> None:
    """Marks the registration attended; a second press says when and by whom."""
    if await check_in(ctx.db, registration, ctx.event.user_id, ctx.now, ctx.event.user_name):
        await audit(ctx.db, ctx.actor, "check_in", registration.code)
        ctx.notify(ctx._("Checked in."))
    elif registration.status == RegistrationStatus.ATTENDED:
        ctx.notify(_checked_in_line(ctx, registration), alert=True)
        return
    else:
        ctx.notify(ctx._("Only a confirmed registration can be checked in."), alert=True)
        return
    await show_registration(ctx, registration)


@journey.button(UndoCheckIn)
async def take_back_check_in(ctx: Context, pressed: UndoCheckIn) -> None:
    """Undoes a check-in made by mistake: by who made it, within ten minutes."""
    registration = await _pressed_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    if not await undo_check_in(ctx.db, registration, ctx.event.user_id, ctx.now):
        ctx.notify(
            ctx._(
                "Only the staff member who checked someone in can undo it, "
                "and only within 10 minutes."
            ),
            alert=True,
        )
        return
    await audit(ctx.db, ctx.actor, "undo_check_in", registration.code)
    ctx.notify(ctx._("Check-in undone."))
    await show_registration(ctx, registration)


@journey.button(ShowRegistration)
async def back_to_registration(ctx: Context, pressed: ShowRegistration) -> None:
    registration = await _pressed_registration(ctx, pressed.registration_id)
    if registration is None:
        return
    await show_registration(ctx, registration)


async def _pressed_registration(ctx: Context, registration_id: int) -> Registration | None:
    """The registration a check-in button is about; None (told "out of date") if it is gone."""
    registration = await ctx.db.get(Registration, registration_id)
    if registration is None:
        ctx.out_of_date()
    return registration


def _is_today(ctx: Context, starts_at: datetime) -> bool:
    zone = ctx.texts.zone
    return starts_at.astimezone(zone).date() == ctx.now.astimezone(zone).date()


def _not_today_line(ctx: Context, starts_at: datetime) -> str:
    return ctx._("⚠️ Not today's session ({day})").format(day=ctx.texts.day(starts_at))


def _checked_in_line(ctx: Context, registration: Registration) -> str:
    assert registration.checked_in_at is not None
    return ctx._("Already checked in at {time} by {staff}.").format(
        time=ctx.texts.brief_moment(registration.checked_in_at),
        staff=escape(registration.checked_in_by_name or str(registration.checked_in_by)),
    )


@journey.command("absent")
async def mark_the_rest_absent(ctx: Context) -> None:
    """/absent SESSION: after the test, everyone confirmed but not checked in is absent."""
    number = ctx.event.argument.strip()
    session = await ctx.db.get(TestSession, int(number)) if number.isdigit() else None
    if session is None:
        ctx.say(ctx._("Use: /absent SESSION_NUMBER (see `applicant-bot sessions list`)."))
        return
    if session.starts_at > ctx.now:
        ctx.say(ctx._("This session has not started yet; nobody can be absent from it."))
        return
    marked = await mark_absent(ctx.db, int(number), ctx.now)
    await audit(ctx.db, ctx.actor, "mark_absent", f"session:{number}", marked=marked)
    ctx.say(ctx._("{count} registration(s) marked absent.").format(count=marked))


@journey.deep_link(TICKET_LINK)
async def open_ticket_at_the_door(ctx: Context, code: str) -> None:
    """A ticket's QR code scanned by staff opens the check-in screen."""
    await ctx.finish()  # like any /start: whatever wizard was open is left
    registration = await find_by_code(ctx.db, code)
    if registration is None:
        ctx.say(
            ctx._("No registration has the code {code}. Check the code and try again.").format(
                code=escape(code[:16])
            )
        )
        return
    await show_registration(ctx, registration)


# --- Statistics and exports -------------------------------------------------------------------


@journey.command("stats")
async def show_statistics(ctx: Context) -> None:
    """Seats per session, applicants, registrations per day (with a chart), sources, questions."""
    now = ctx.now
    stats = await gather_statistics(ctx.db, now, ctx.texts.zone, LOCALES)
    await audit(ctx.db, ctx.actor, "stats")
    ctx.say(statistics_text(ctx.texts, stats))
    texts = ctx.texts

    async def chart() -> list[SendFile]:
        png = await asyncio.to_thread(registrations_chart, texts, stats)
        return [SendFile("registrations.png", png, photo=True)]

    ctx.send_files_made_after_commit(chart)


@admins.command("export")
async def export_sign_in_sheets(ctx: Context) -> None:
    """/export [SESSION]: the sign-in sheet as CSV and XLSX, for one session or all (admins)."""
    argument = ctx.event.argument.strip()
    session_id = int(argument) if argument.isdigit() else None
    files = None
    if not argument or session_id is not None:
        files = await export_sheets(ctx.db, ctx.texts, ctx.actor, session_id, ctx.now)
    if files is None:
        ctx.say(ctx._("Use: /export for every session, or /export SESSION_NUMBER for one."))
        return
    ctx.send_files(files)
