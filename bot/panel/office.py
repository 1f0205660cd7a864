"""The office's desk pages: applicant lookup (opening one is audited), the audit trail,
and the staff (owners add, remove and change roles, as /staff does in the chat)."""

from datetime import datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.panel.auth import needs, staff_of
from bot.panel.sessions import in_transaction, pop_notice, tell
from handlers.core.commands import end_staff, make_staff
from handlers.core.services import Services
from models.applicants import Applicant
from models.lookup import audit_actions, audit_entries, find_applicants, outbox_history
from models.registrations import registrations_of
from models.sessions import TestSession
from models.staff import Role, audit, list_staff


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/applicants", lookup_page)
    router.add_post("/applicants", lookup)
    router.add_get("/applicants/{id:\\d+}", applicant_page)
    router.add_get("/audit", audit_page)
    router.add_get("/staff", staff_page)
    router.add_post("/staff", add_or_change_staff)
    router.add_post("/staff/{id:\\d+}/remove", remove_staff_member)


async def lookup_page(request: web.Request) -> web.Response:
    """The search box: a code, a name or a phone number."""
    return aiohttp_jinja2.render_template("applicants.html", request, {"found": None, "q": ""})


@needs(Role.OPERATOR)
async def lookup(request: web.Request) -> web.Response:
    """Applicants matching what was typed (sent by POST: it stays out of addresses and logs)."""
    typed = str((await request.post()).get("q", ""))[:80]

    async def search(db: AsyncSession, services: Services) -> list[Applicant]:
        return await find_applicants(db, typed)

    found = await in_transaction(request, search)
    return aiohttp_jinja2.render_template("applicants.html", request, {"found": found, "q": typed})


@needs(Role.OPERATOR)
async def applicant_page(request: web.Request) -> web.Response:
    """One applicant: details, registrations, messages sent, reachability; audited."""
    staff, applicant_id = staff_of(request), int(request.match_info["id"])

    async def read(db: AsyncSession, services: Services) -> dict[str, Any] | None:
        applicant = await db.get(Applicant, applicant_id)
        if applicant is None:
            return None
        await audit(db, staff.actor, "open_applicant", f"applicant:{applicant_id}")
        registrations = list(await registrations_of(db, applicant_id))
        sessions = {r.session_id: await db.get(TestSession, r.session_id) for r in registrations}
        return {
            "applicant": applicant,
            "registrations": registrations,
            "sessions": sessions,
            "messages": list(await outbox_history(db, applicant)),
        }

    context = await in_transaction(request, read)
    if context is None:
        raise web.HTTPNotFound()
    return aiohttp_jinja2.render_template("applicant.html", request, context)


@needs(Role.ADMIN)
async def audit_page(request: web.Request) -> web.Response:
    """What staff did, newest first, by staff member, action and dates."""
    staff = staff_of(request)
    actor = request.query.get("actor", "")
    action = request.query.get("action", "")
    since = _local_day(request.query.get("from", ""), staff.texts.zone)
    until = _local_day(request.query.get("to", ""), staff.texts.zone)

    async def read(db: AsyncSession, services: Services) -> dict[str, Any]:
        return {
            "entries": await audit_entries(
                db, actor, action, since, until + timedelta(days=1) if until else None
            ),
            "actions": await audit_actions(db),
        }

    context = await in_transaction(request, read)
    context |= {"actor": actor, "action": action, "filters": dict(request.query)}
    return aiohttp_jinja2.render_template("audit.html", request, context)


def _local_day(text: str, zone: Any) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=zone)
    except ValueError:
        return None


@needs(Role.OWNER)
async def staff_page(request: web.Request) -> web.Response:
    """The owners (ADMIN_IDS) and the staff with their roles."""

    async def read(db: AsyncSession, services: Services) -> dict[str, Any]:
        return {"members": list(await list_staff(db)), "owners": sorted(services.owner_ids)}

    context = await in_transaction(request, read)
    context["notice"] = await pop_notice(request)
    return aiohttp_jinja2.render_template("staff.html", request, context)


@needs(Role.OWNER)
async def add_or_change_staff(request: web.Request) -> web.StreamResponse:
    """Makes someone staff with a role, or changes their role (at their next request)."""
    staff = staff_of(request)
    _ = staff.texts
    form = await request.post()
    number, role = str(form.get("telegram_id", "")).strip(), str(form.get("role", ""))
    if not number.isdigit() or role not in (Role.ADMIN, Role.OPERATOR):
        await tell(request, _("Write a Telegram id and choose a role."), error=True)
        raise web.HTTPSeeOther("/staff")

    async def add(db: AsyncSession, services: Services) -> None:
        await make_staff(db, services, int(number), Role(role), staff.actor)

    await in_transaction(request, add)
    await tell(request, _("{id} is now staff ({role}).").format(id=number, role=role))
    raise web.HTTPSeeOther("/staff")


@needs(Role.OWNER)
async def remove_staff_member(request: web.Request) -> web.StreamResponse:
    """Takes someone's staff role away; their open panel sessions end with it."""
    staff, number = staff_of(request), int(request.match_info["id"])
    _ = staff.texts

    async def remove(db: AsyncSession, services: Services) -> bool:
        return await end_staff(db, services, number, staff.actor)

    removed = await in_transaction(request, remove)
    line = _("{id} is no longer staff.") if removed else _("{id} was not staff.")
    await tell(request, line.format(id=number), error=not removed)
    raise web.HTTPSeeOther("/staff")
