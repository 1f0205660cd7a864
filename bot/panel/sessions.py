"""The sessions pages: the list by exam and month, adding and importing sessions, and one
session with its registrations (search, check-in, absent, export), seats, time and status.

Every change goes through handlers.staff.sessions or models operations, as the command line
and the bot do, in one transaction per request."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.panel.auth import APP_KEY, Staff, needs, staff_of
from handlers.core.services import Services
from handlers.staff import sessions as work
from handlers.staff.exports import KINDS, export_sheets
from models.registrations import (
    BookingRefused,
    Registration,
    check_in,
    mark_absent,
    undo_check_in,
)
from models.sessions import Exam, TestSession, list_exams, list_sessions
from models.sign_in import PAGE_SIZE, registrations_page
from models.staff import Role, audit

T = TypeVar("T")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/sessions", sessions_page)
    router.add_post("/sessions", add_session)
    router.add_post("/sessions/import", import_sessions)
    router.add_get("/sessions/{id:\\d+}", session_page)
    router.add_post("/sessions/{id:\\d+}/search", search_registrations)
    router.add_post("/sessions/{id:\\d+}/capacity", change_capacity)
    router.add_post("/sessions/{id:\\d+}/move", move_session)
    router.add_post("/sessions/{id:\\d+}/close", close_session)
    router.add_post("/sessions/{id:\\d+}/cancel", cancel_session)
    router.add_post("/sessions/{id:\\d+}/absent", mark_the_rest_absent)
    router.add_get("/sessions/{id:\\d+}/export.{kind}", export)
    router.add_post("/registrations/{id:\\d+}/checkin", check_in_registration)
    router.add_post("/registrations/{id:\\d+}/undo", undo_check_in_registration)


async def in_transaction(
    request: web.Request, job: Callable[[AsyncSession, Services], Awaitable[T]]
) -> T:
    """Runs `job` in one transaction of the bot's app, with its services."""
    return await request.app[APP_KEY].in_transaction(job)


async def tell(request: web.Request, notice: str, error: bool = False) -> None:
    """A line shown on the next page (kept in the session, not in the URL)."""
    session = await get_session(request)
    session["notice"] = {"text": notice, "error": error}


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


# --- The list ---------------------------------------------------------------------------------


async def sessions_page(request: web.Request, extra: dict[str, Any] | None = None) -> web.Response:
    """Every session, soonest first, filtered by exam and month."""
    exam_id = request.query.get("exam", "")
    month = request.query.get("month", "")
    staff = staff_of(request)

    async def read(db: AsyncSession, services: Services) -> tuple[list[Exam], list[TestSession]]:
        return list(await list_exams(db)), list(await list_sessions(db))

    exams, found = await in_transaction(request, read)
    months = sorted({s.starts_at.astimezone(staff.texts.zone).strftime("%Y-%m") for s in found})
    shown = [
        s
        for s in found
        if (not exam_id or s.exam_id == exam_id)
        and (not month or s.starts_at.astimezone(staff.texts.zone).strftime("%Y-%m") == month)
    ]
    context = {
        "exams": exams,
        "sessions": shown,
        "months": months,
        "exam_id": exam_id,
        "month": month,
        "form": {},
        "notice": await pop_notice(request),
        **(extra or {}),
    }
    return aiohttp_jinja2.render_template("sessions.html", request, context)


@needs(Role.ADMIN)
async def add_session(request: web.Request) -> web.StreamResponse:
    """Adds one session from the form, checked as a CSV row is."""
    staff = staff_of(request)
    _ = staff.texts
    form = {key: str(value) for key, value in (await request.post()).items()}
    row = {column: form.get(column, "").replace("T", " ") for column in work.CSV_COLUMNS}
    try:
        draft = work.draft_from_row(row, staff.texts.zone)
    except (ValueError, ValidationError) as error:
        problem = work.describe(error)
        return await sessions_page(request, {"form": form, "problems": [problem]})

    async def save(db: AsyncSession, services: Services) -> int | None:
        return await work.add_one_session(db, draft, staff.actor)

    session_id = await in_transaction(request, save)
    if session_id is None:
        return await sessions_page(request, {"form": form, "problems": [_("Unknown exam.")]})
    await tell(request, _("Session {number} added.").format(number=session_id))
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


@needs(Role.ADMIN)
async def import_sessions(request: web.Request) -> web.StreamResponse:
    """Adds every session of a CSV file, or none: the bad lines are listed by number."""
    staff = staff_of(request)
    _ = staff.texts
    upload = (await request.post()).get("file")
    raw = upload.file.read() if upload is not None and hasattr(upload, "file") else b""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
    drafts, problems = work.read_sessions_csv(text, staff.texts.zone)

    async def save(db: AsyncSession, services: Services) -> list[str]:
        return await work.import_sessions(db, drafts, problems, staff.actor)

    problems = await in_transaction(request, save) if drafts else problems
    if problems:
        return await sessions_page(
            request, {"problems": problems, "import_refused": _("Nothing imported.")}
        )
    await tell(request, _("Imported {count} session(s).").format(count=len(drafts)))
    raise web.HTTPSeeOther("/sessions")


# --- One session ------------------------------------------------------------------------------


async def session_page(request: web.Request) -> web.Response:
    """A session: its seats and status, its registrations 50 at a time."""
    return await _session_page(request, search="", page=_page(request.query.get("page")))


async def search_registrations(request: web.Request) -> web.Response:
    """The session's registrations matching a code, name or phone (sent by POST: no
    personal data in the address or the logs)."""
    form = await request.post()
    return await _session_page(
        request, search=str(form.get("q", "")), page=_page(form.get("page"))
    )


def _page(value: object) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() and int(value) > 0 else 1


async def _session_page(request: web.Request, search: str, page: int) -> web.Response:
    session_id = _id(request)

    async def read(db: AsyncSession, services: Services) -> dict[str, Any] | None:
        session = await db.get(TestSession, session_id)
        if session is None:
            return None
        lines, total = await registrations_page(db, session_id, search, page)
        return {
            "session": session,
            "exam": await db.get(Exam, session.exam_id),
            "lines": lines,
            "total": total,
            "told": await work.people_to_tell(db, session_id),
            "now": services.now(),
        }

    context = await in_transaction(request, read)
    if context is None:
        raise web.HTTPNotFound()
    pages = max((context["total"] + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    context |= {"search": search, "page": min(page, pages), "pages": pages}
    context["notice"] = await pop_notice(request)
    return aiohttp_jinja2.render_template("session.html", request, context)


async def pop_notice(request: web.Request) -> dict[str, Any] | None:
    session = await get_session(request)
    return session.pop("notice", None)


@needs(Role.ADMIN)
async def change_capacity(request: web.Request) -> web.StreamResponse:
    """More seats go to the waitlist in order; fewer than are taken is refused."""
    staff, session_id = staff_of(request), _id(request)
    _ = staff.texts
    value = str((await request.post()).get("capacity", ""))
    if not value.isdigit() or not 0 < int(value) <= 100_000:
        await tell(request, _("Write the number of seats, e.g. 40."), error=True)
        raise web.HTTPSeeOther(f"/sessions/{session_id}")

    async def resize(db: AsyncSession, services: Services) -> int:
        return await work.resize(db, services, session_id, int(value), staff.actor)

    try:
        offered = await in_transaction(request, resize)
    except BookingRefused:
        await tell(request, _("Refused: more seats are taken than that."), error=True)
    else:
        await tell(
            request,
            _("Seats changed to {capacity}; {offered} offered to the waitlist.").format(
                capacity=value, offered=offered
            ),
        )
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


async def _confirmation(
    request: web.Request, action: str, extra: dict[str, Any]
) -> web.Response | None:
    """The confirmation page, naming how many people will be told; None once confirmed."""
    form = await request.post()
    if form.get("confirm") == "yes":
        return None
    session_id = _id(request)

    async def count(db: AsyncSession, services: Services) -> tuple[TestSession | None, int]:
        return await db.get(TestSession, session_id), await work.people_to_tell(db, session_id)

    session, told = await in_transaction(request, count)
    if session is None:
        raise web.HTTPNotFound()
    context = {"session": session, "action": action, "told": told, **extra}
    return aiohttp_jinja2.render_template("confirm.html", request, context)


@needs(Role.ADMIN)
async def move_session(request: web.Request) -> web.StreamResponse:
    """Moves the session, after a confirmation naming how many will be told."""
    staff, session_id = staff_of(request), _id(request)
    _ = staff.texts
    typed = str((await request.post()).get("starts_at", "")).replace("T", " ")
    try:
        starts_at = work.local_time(typed, staff.texts.zone)
    except ValueError:
        await tell(request, _("Write the new date and time, e.g. 2027-10-18 08:00."), error=True)
        raise web.HTTPSeeOther(f"/sessions/{session_id}") from None
    if page := await _confirmation(request, "move", {"starts_at": starts_at, "typed": typed}):
        return page

    async def move(db: AsyncSession, services: Services) -> int | None:
        return await work.move(db, services, session_id, starts_at, staff.actor)

    told = await in_transaction(request, move)
    await tell(request, _("Session moved; {count} people will be told.").format(count=told))
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


@needs(Role.ADMIN)
async def close_session(request: web.Request) -> web.StreamResponse:
    """Stops registration for the session."""
    staff, session_id = staff_of(request), _id(request)
    _ = staff.texts
    if page := await _confirmation(request, "close", {}):
        return page

    async def close(db: AsyncSession, services: Services) -> None:
        await work.close(db, session_id, staff.actor)

    await in_transaction(request, close)
    await tell(request, _("Registration is closed for this session."))
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


@needs(Role.ADMIN)
async def cancel_session(request: web.Request) -> web.StreamResponse:
    """Cancels the session and its registrations; everyone registered is told."""
    staff, session_id = staff_of(request), _id(request)
    _ = staff.texts
    if page := await _confirmation(request, "cancel", {}):
        return page

    async def cancel(db: AsyncSession, services: Services) -> int | None:
        return await work.cancel(db, services, session_id, staff.actor)

    told = await in_transaction(request, cancel)
    await tell(request, _("Session cancelled; {count} people will be told.").format(count=told))
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


@needs(Role.OPERATOR)
async def mark_the_rest_absent(request: web.Request) -> web.StreamResponse:
    """After the session: everyone confirmed but not checked in is absent."""
    staff, session_id = staff_of(request), _id(request)
    _ = staff.texts

    async def absent(db: AsyncSession, services: Services) -> int | None:
        session = await db.get(TestSession, session_id)
        if session is None or session.starts_at > services.now():
            return None
        marked = await mark_absent(db, session_id, services.now())
        await audit(db, staff.actor, "mark_absent", f"session:{session_id}", marked=marked)
        return marked

    marked = await in_transaction(request, absent)
    if marked is None:
        await tell(
            request,
            _("This session has not started yet; nobody can be absent from it."),
            error=True,
        )
    else:
        await tell(request, _("{count} registration(s) marked absent.").format(count=marked))
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


@needs(Role.ADMIN)
async def export(request: web.Request) -> web.StreamResponse:
    """The sign-in sheet as the bot sends it: CSV or XLSX, Khmer intact, formula-safe."""
    staff, session_id, kind = staff_of(request), _id(request), request.match_info["kind"]
    if kind not in KINDS:
        raise web.HTTPNotFound()

    async def sheets(db: AsyncSession, services: Services) -> Any:
        return await export_sheets(db, staff.texts, staff.actor, session_id, services.now())

    files = await in_transaction(request, sheets)
    if files is None:
        raise web.HTTPNotFound()
    file = next(f for f in files if f.filename.endswith(f".{kind}"))
    return web.Response(
        body=file.data,
        content_type="text/csv"
        if kind == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


# --- Check-in ---------------------------------------------------------------------------------


async def _registration_job(
    request: web.Request,
    change: Callable[[AsyncSession, Registration, Staff, datetime], Awaitable[bool]],
    action: str,
) -> tuple[int, bool]:
    staff, registration_id = staff_of(request), _id(request)

    async def job(db: AsyncSession, services: Services) -> tuple[int, bool]:
        registration = await db.get(Registration, registration_id)
        if registration is None:
            raise web.HTTPNotFound()
        done = await change(db, registration, staff, services.now())
        if done:
            await audit(db, staff.actor, action, registration.code)
        return registration.session_id, done

    return await in_transaction(request, job)


@needs(Role.OPERATOR)
async def check_in_registration(request: web.Request) -> web.StreamResponse:
    """Marks a confirmed registration attended."""
    _ = staff_of(request).texts

    async def change(db: AsyncSession, r: Registration, staff: Staff, now: datetime) -> bool:
        return await check_in(db, r, staff.telegram_id, now, "panel")

    session_id, done = await _registration_job(request, change, "check_in")
    await tell(
        request,
        _("Checked in.") if done else _("Only a confirmed registration can be checked in."),
        error=not done,
    )
    raise web.HTTPSeeOther(f"/sessions/{session_id}")


@needs(Role.OPERATOR)
async def undo_check_in_registration(request: web.Request) -> web.StreamResponse:
    """Takes back a check-in made by mistake: by who made it, within ten minutes."""
    _ = staff_of(request).texts

    async def change(db: AsyncSession, r: Registration, staff: Staff, now: datetime) -> bool:
        return await undo_check_in(db, r, staff.telegram_id, now)

    session_id, done = await _registration_job(request, change, "undo_check_in")
    await tell(
        request,
        _("Check-in undone.")
        if done
        else _(
            "Only the staff member who checked someone in can undo it, and only within 10 minutes."
        ),
        error=not done,
    )
    raise web.HTTPSeeOther(f"/sessions/{session_id}")
