"""Webhook mode: an aiohttp server that feeds Telegram's POSTs to any channel.

Framework-neutral: it knows a `feed` coroutine (one update as Telegram sends it) and a
`health` coroutine, nothing of aiogram or python-telegram-bot. It answers Telegram only
after the update was handled and its replies sent: Telegram waits for that answer
before it sends the same chat's next update, so one chat's updates stay in order even
across several instances behind a load balancer, and an update whose instance died is
sent again instead of lost (the database drops the duplicate by update_id). While the
database is away it answers 503 at once, and Telegram sends the update again later.
"""

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from bot.channels.telegram import WebhookSpec
from bot.metrics import Page, metrics_route
from models.db import DatabaseAway, DatabaseWatch

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
VERSION_PARAMETER = "v"
HEALTH_TIMEOUT = 2.0
HEALTH_MAX_AGE = 1.0
HEALTH_KEYS = ("database", "scheduler")

Feed = Callable[[dict[str, Any]], Awaitable[None]]
Health = Callable[[], Awaitable[dict[str, bool]]]


class WebhookChannel(Protocol):
    """What `ensure_webhook` needs of a channel."""

    async def webhook_spec(self) -> WebhookSpec: ...

    async def set_webhook(self, spec: WebhookSpec, secret: str) -> None: ...


def secret_version(secret: str) -> str:
    """A short hash of the secret: shows a changed secret without revealing it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def registered_url(webhook_url: str, secret: str) -> str:
    """WEBHOOK_URL as registered at Telegram, with `?v=<hash of the secret>` added.

    getWebhookInfo never returns the secret; this makes a new secret a new URL, so
    `ensure_webhook` sees the change. The server ignores the query string.
    """
    parts = urlsplit(webhook_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != VERSION_PARAMETER]
    query.append((VERSION_PARAMETER, secret_version(secret)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def webhook_path(webhook_url: str) -> str:
    """The path the server listens on for WEBHOOK_URL."""
    return urlsplit(webhook_url).path or "/"


def same_spec(a: WebhookSpec, b: WebhookSpec) -> bool:
    """Whether two registrations are the same (allowed_updates compared as sets)."""
    return (
        a.url == b.url
        and set(a.allowed_updates) == set(b.allowed_updates)
        and a.max_connections == b.max_connections
    )


async def ensure_webhook(channel: WebhookChannel, spec: WebhookSpec, secret: str) -> bool:
    """Registers the webhook unless Telegram already has it; True when it set it.

    `spec.url` is WEBHOOK_URL; the secret's hash is added to it here. Instances that
    start together find it set already and leave it alone instead of fighting.
    """
    wanted = replace(spec, url=registered_url(spec.url, secret))
    current = await channel.webhook_spec()
    if same_spec(current, wanted):
        return False
    await channel.set_webhook(wanted, secret)
    logger.info("webhook registered at %s", urlsplit(wanted.url)._replace(query="").geturl())
    return True


def app_health(watch: DatabaseWatch, scheduler_running: Callable[[], bool]) -> Health:
    """A health check: the database answers `SELECT 1` and the scheduler runs. The
    database's answer is at most a second old: probes come often, and must not crowd the
    pool that updates need."""

    async def health() -> dict[str, bool]:
        database_ok = await watch.answers(max_age=HEALTH_MAX_AGE)
        return {"database": database_ok, "scheduler": bool(scheduler_running())}

    return health


class WebhookServer:
    """Serves POST <path> for Telegram, GET /healthz for the load balancer and, given a
    `metrics` page, GET /metrics for Prometheus."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        secret: str,
        feed: Feed,
        health: Health,
        *,
        health_timeout: float = HEALTH_TIMEOUT,
        shutdown_timeout: float = 10.0,
        metrics: Page | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret token")
        self.host, self.port, self.path = host, port, path or "/"
        self._secret = secret.encode()
        self.feed, self.health = feed, health
        self.health_timeout = health_timeout
        self.shutdown_timeout = shutdown_timeout
        self.metrics = metrics
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The webhook's address on this server (after start, with the bound port)."""
        return f"http://{self.host}:{self.port}{self.path}"

    async def start(self) -> None:
        """Listens; with port 0 the bound port is in `self.port` afterwards."""
        app = web.Application()
        app.router.add_post(self.path, self._update)
        app.router.add_get("/healthz", self._healthz)
        if self.metrics is not None:
            app.router.add_get("/metrics", metrics_route(self.metrics))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            for address in self._runner.addresses:
                self.port = int(address[1])
                break
        logger.info("webhook server listening on %s:%s%s", self.host, self.port, self.path)

    async def stop(self) -> None:
        """Stops listening; updates in flight are finished first (up to shutdown_timeout)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), self._secret
        ):
            logger.warning(
                "webhook request from %s refused: %s secret token",
                request.remote,
                "no" if given is None else "wrong",
            )
            return web.Response(status=401, text="Unauthorized")
        try:
            payload = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
            payload = None
        if not isinstance(payload, dict):
            logger.warning("webhook request from %s refused: not a JSON object", request.remote)
            return web.Response(status=400, text="Bad Request")
        try:
            await self.feed(payload)
        except DatabaseAway:
            logger.warning(
                "update %s not handled: the database is away; Telegram will send it again",
                payload.get("update_id"),
            )
            return web.Response(status=503, text="Service Unavailable")
        except Exception as error:
            # Telegram sends the update again; the log names it, never what the user wrote.
            logger.error(
                "update %s failed: %s at %s",
                payload.get("update_id"),
                type(error).__name__,
                _where(error),
            )
            return web.Response(status=500, text="Internal Server Error")
        return web.Response(text="OK")

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            report = await asyncio.wait_for(self.health(), self.health_timeout)
            report = {key: bool(value) for key, value in report.items()}
        except Exception as error:
            logger.warning("health check failed: %s", type(error).__name__)
            report = dict.fromkeys(HEALTH_KEYS, False)  # unknown counts as not healthy
        healthy = bool(report) and all(report.values())
        return web.json_response(report, status=200 if healthy else 503)


def _where(error: BaseException) -> str:
    """file:line where an exception was raised, for a log line without its message."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    if traceback is None:
        return "?"
    code = traceback.tb_frame.f_code
    return f"{code.co_filename}:{traceback.tb_lineno} in {code.co_name}"
