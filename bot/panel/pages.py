"""The panel's pages that every staff member has: logging in and out, the language, the
dashboard. Each page's work runs in one transaction through the domain operations."""

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from bot.panel import office, outreach, sessions
from bot.panel.auth import (
    APP_KEY,
    SETTINGS_KEY,
    fields_of,
    log_in,
    redeem,
    staff_of,
    widget_login_id,
)
from handlers.core.texts import LANGUAGE_NAMES, LOCALES, Texts
from handlers.staff.exports import status_label
from handlers.staff.statistics import registrations_chart, session_status_label
from models.lookup import desk_figures
from models.outbox import count_by_status
from models.staff import Role, audit
from models.statistics import gather_statistics


async def template_context(request: web.Request) -> dict[str, Any]:
    """What every template may use: the texts, the staff member and their CSRF token."""
    staff = request.get("staff")
    if staff is not None:
        texts = staff.texts
    else:
        services = request.app[APP_KEY].conversation.services
        texts = services.texts(services.staff_locale)
    return {
        "_": texts,
        "texts": texts,
        "request": request,
        "staff": staff,
        "csrf": staff.csrf if staff else "",
        "Role": Role,
        "languages": LANGUAGE_NAMES,
        "widget_bot": request.app[SETTINGS_KEY].panel_login_widget,
        "status_label": lambda status: status_label(texts, status),
        "session_status": lambda status: session_status_label(texts, status),
    }


def add_routes(router: web.UrlDispatcher) -> None:
    """Every page of the panel."""
    router.add_get("/login", login_page)
    router.add_get("/login/{token}", confirm_login_page)
    router.add_post("/login", log_in_with_link)
    router.add_post("/login/telegram", log_in_with_widget)
    router.add_post("/logout", log_out)
    router.add_post("/language", change_language)
    router.add_get("/", dashboard)
    router.add_get("/chart.png", registrations_per_day)
    sessions.add_routes(router)
    office.add_routes(router)
    outreach.add_routes(router)


def _texts(request: web.Request) -> Texts:
    return staff_of(request).texts


async def login_page(request: web.Request) -> web.Response:
    """How to get in: /panel in the bot, or the Telegram Login Widget when it is set up."""
    return aiohttp_jinja2.render_template("login.html", request, {})


async def confirm_login_page(request: web.Request) -> web.Response:
    """A login link's page: a button that uses the link (a link preview must not use it)."""
    return aiohttp_jinja2.render_template(
        "login_confirm.html", request, {"token": request.match_info["token"]}
    )


async def log_in_with_link(request: web.Request) -> web.StreamResponse:
    """Uses up the login link and opens a session for the staff member it was sent to."""
    form = await request.post()
    token = form.get("token")
    telegram_id = await redeem(request, token) if isinstance(token, str) and token else None
    if telegram_id is None or not await log_in(request, telegram_id, "link"):
        return _refused_login(request)
    raise web.HTTPSeeOther("/")  # log_in has gone there already


async def log_in_with_widget(request: web.Request) -> web.StreamResponse:
    """Checks the Login Widget's signature with the bot token and opens a session."""
    settings = request.app[SETTINGS_KEY]
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    now = request.app[APP_KEY].conversation.services.now()
    telegram_id = widget_login_id(fields_of(await request.post()), token, now) if token else None
    if telegram_id is None or not await log_in(request, telegram_id, "widget"):
        return _refused_login(request)
    raise web.HTTPSeeOther("/")


def _refused_login(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("login.html", request, {"refused": True}, status=403)


async def log_out(request: web.Request) -> web.StreamResponse:
    """Ends the session on every panel process."""
    app, staff = request.app[APP_KEY], staff_of(request)
    async with app.conversation.sessions() as db, db.begin():
        await audit(db, staff.actor, "panel_logout")
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


async def change_language(request: web.Request) -> web.StreamResponse:
    """Shows the panel in another language from the next page on."""
    form = await request.post()
    locale = form.get("locale")
    if locale in LOCALES:
        session = await get_session(request)
        session["locale"] = locale
    back = form.get("back")
    local = isinstance(back, str) and back.startswith("/") and not back.startswith("//")
    raise web.HTTPSeeOther(back if local and isinstance(back, str) else "/")


async def dashboard(request: web.Request) -> web.Response:
    """Seats per session, the outbox and questions at a glance, and registrations per day."""
    app, staff = request.app[APP_KEY], staff_of(request)
    services = app.conversation.services
    now = services.now()
    local = now.astimezone(services.zone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    async with app.conversation.sessions() as db:
        stats = await gather_statistics(db, now, services.zone, LOCALES)
        outbox = await count_by_status(db)
        desk = await desk_figures(db, day_start, now)
    upcoming = [s for s in stats.sessions if s.starts_at >= now]
    return aiohttp_jinja2.render_template(
        "dashboard.html",
        request,
        {"stats": stats, "upcoming": upcoming, "outbox": outbox, "desk": desk, "role": staff.role},
    )


async def registrations_per_day(request: web.Request) -> web.Response:
    """The /stats chart of registrations per day, drawn by the same code, in this language."""
    app, staff = request.app[APP_KEY], staff_of(request)
    services = app.conversation.services
    async with app.conversation.sessions() as db, db.begin():
        stats = await gather_statistics(db, services.now(), services.zone, LOCALES)
        await audit(db, staff.actor, "stats", "panel")
    png = await asyncio.to_thread(registrations_chart, staff.texts, stats)
    return web.Response(body=png, content_type="image/png")
