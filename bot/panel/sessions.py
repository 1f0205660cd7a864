"""The sessions pages: the list by exam and month."""

import aiohttp_jinja2
from aiohttp import web

from bot.panel.auth import APP_KEY
from models.sessions import list_exams, list_sessions


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/sessions", sessions_page)


async def sessions_page(request: web.Request) -> web.Response:
    """Every session, soonest first, filtered by exam and month."""
    app = request.app[APP_KEY]
    async with app.conversation.sessions() as db:
        exams = await list_exams(db)
        found = await list_sessions(db)
    return aiohttp_jinja2.render_template(
        "sessions.html", request, {"exams": exams, "sessions": found}
    )
