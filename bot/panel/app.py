"""The panel's factory: the bot's app in, an aiohttp application out, nothing started."""

import asyncio
import logging
from pathlib import Path

import aiohttp_jinja2
import aiohttp_session
import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from bot.app import App
from bot.config import Settings
from bot.panel import auth, pages
from bot.panel.auth import APP_KEY, SETTINGS_KEY
from handlers.core.typesetting import KHMER, font_file

logger = logging.getLogger(__name__)
# Not aiohttp's access logger, which bot.logs holds at WARNING: these lines carry no path.
access_logger = logging.getLogger("bot.panel.access")
HERE = Path(__file__).resolve().parent


class RouteAccessLogger(AbstractAccessLogger):
    """Logs the route's pattern (`/login/{token}`), never the path or query: no token and
    no personal data reaches the log."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        route = getattr(request, "match_info", None)
        resource = route.route.resource if route is not None else None
        pattern = resource.canonical if resource is not None else "-"
        self.logger.info("%s %s %s %.0f ms", request.method, pattern, response.status, time * 1000)


def build_panel(app: App, settings: Settings) -> web.Application:
    """Wires the panel's routes, templates, sessions and access checks for `app`."""
    panel_url, secret = settings.require_panel()
    web_app = web.Application(client_max_size=2 * 1024 * 1024)
    web_app[APP_KEY] = app
    web_app[SETTINGS_KEY] = settings
    aiohttp_session.setup(
        web_app, auth.DatabaseStorage(app, secret, secure=auth.secure_cookies(panel_url))
    )
    web_app.middlewares.append(auth.staff_only)
    aiohttp_jinja2.setup(
        web_app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        context_processors=[pages.template_context],
    )
    web_app.router.add_get("/healthz", _healthz)
    web_app.router.add_get("/static/font/khmer.ttf", _khmer_font)
    web_app.router.add_static("/static/", HERE / "static")
    pages.add_routes(web_app.router)
    return web_app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _khmer_font(request: web.Request) -> web.FileResponse:
    """The Noto Sans Khmer the bot draws tickets with: Khmer reads the same on every screen."""
    response = web.FileResponse(font_file(KHMER))
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


async def serve_panel(app: App, settings: Settings, stop: asyncio.Event) -> None:
    """Serves the panel on PANEL_LISTEN until `stop` is set."""
    host, port = settings.panel_address
    runner = web.AppRunner(
        build_panel(app, settings),
        access_log_class=RouteAccessLogger,
        access_log=access_logger,
        shutdown_timeout=5,
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logger.info("panel listening on %s:%s", host, port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
