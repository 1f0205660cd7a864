"""What an operator scrapes at GET /metrics: the bot's figures in Prometheus's text format.

Each app has its own `CollectorRegistry` (made by the factory), so several apps in one
process count apart. Labels name kinds and outcomes only, never a person, a chat or a
text. The outbox's depth is read from the database at scrape time, at most once a
second and within a timeout; a database that does not answer leaves those figures out
and sets `applicant_bot_database_up` to 0, and the page is served all the same.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.services import FaqOutcome, UpdateOutcome
from models.columns import utcnow
from models.outbox import OutboxStatus, depth_by_status

logger = logging.getLogger(__name__)

# The labels a send is counted under: what Telegram (or the way to it) answered.
SEND_OUTCOMES = ("ok", "429", "403", "400", "5xx", "network")
# The outbox's statuses as /metrics shows them: "pending" is due and waiting to be sent,
# "scheduled" is pending for later (a reminder for next week).
OUTBOX_STATUSES = ("pending", "scheduled", *(s.value for s in OutboxStatus if s != "pending"))
# Outbox kinds always shown, even before the first is sent.
OUTBOX_KINDS = ("reminder", "broadcast")
# Updates are answered in tens of milliseconds; a slow database or a ticket takes seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DEPTH_TIMEOUT = 1.5  # seconds the scrape waits for the outbox counts
DEPTH_CACHE = 1.0  # seconds one reading of the outbox serves, so scrapes cannot crowd the pool

Sessions = async_sessionmaker[AsyncSession]


class Metrics:
    """The bot's counters, in a registry of their own; also the conversation's `Tally`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)  # memory, CPU, open files of this process
        self.updates = Counter(
            "applicant_bot_updates",
            "Updates from Telegram, by kind and by how the conversation dealt with them",
            ["kind", "outcome"],
            registry=registry,
        )
        self.update_seconds = Histogram(
            "applicant_bot_update_seconds",
            "Time from an update's arrival to its replies sent (updates handled ok or failed)",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.sends = Counter(
            "applicant_bot_sends",
            "Requests that show a message in a chat (new or edited, replies and outbox), "
            "by Telegram's answer",
            ["outcome"],
            registry=registry,
        )
        self.outbox_sent = Counter(
            "applicant_bot_outbox_sent",
            "Outbox messages delivered, by kind (reminder, broadcast, offer...)",
            ["kind"],
            registry=registry,
        )
        self.faq = Counter(
            "applicant_bot_faq_replies",
            "Typed questions, by what the FAQ gave them",
            ["outcome"],
            registry=registry,
        )
        self.outbox = Gauge(
            "applicant_bot_outbox_messages",
            "Outbox messages by status (pending: due now; scheduled: pending for later), "
            "read from the database at scrape time",
            ["status"],
            registry=registry,
        )
        self.database_up = Gauge(
            "applicant_bot_database_up",
            "1 when the database answered this scrape's outbox count, else 0",
            registry=registry,
        )
        for outcome in SEND_OUTCOMES:
            self.sends.labels(outcome)
        for faq_outcome in FaqOutcome:
            self.faq.labels(faq_outcome.value)
        for kind in OUTBOX_KINDS:
            self.outbox_sent.labels(kind)
        self._read_at = -DEPTH_CACHE
        self._reading = asyncio.Lock()

    # --- the conversation's Tally --------------------------------------------------------

    def update_handled(self, kind: str, outcome: UpdateOutcome, seconds: float) -> None:
        self.updates.labels(kind, outcome.value).inc()
        if outcome in (UpdateOutcome.OK, UpdateOutcome.ERROR):
            self.update_seconds.observe(seconds)

    def faq_replied(self, outcome: FaqOutcome) -> None:
        self.faq.labels(outcome.value).inc()

    # --- the bot layer's own ---------------------------------------------------------------

    def sent(self, outcome: str) -> None:
        """One request that shows a message, answered so (one of SEND_OUTCOMES)."""
        self.sends.labels(outcome).inc()

    def outbox_delivered(self, dedupe_key: str) -> None:
        """An outbox message went out; its kind is its dedupe key's first part."""
        self.outbox_sent.labels(dedupe_key.partition(":")[0] or "other").inc()

    # --- the scrape ------------------------------------------------------------------------

    async def page(self, sessions: Sessions) -> bytes:
        """The text an operator's Prometheus scrapes, with the outbox counted afresh."""
        await self._read_outbox(sessions)
        return generate_latest(self.registry)

    async def _read_outbox(self, sessions: Sessions) -> None:
        async with self._reading:  # scrapes at once share one reading
            if time.monotonic() - self._read_at < DEPTH_CACHE:
                return
            try:
                counts = await asyncio.wait_for(_outbox_counts(sessions), DEPTH_TIMEOUT)
            except Exception as error:
                logger.warning("metrics: the outbox was not counted (%s)", type(error).__name__)
                self.outbox.clear()  # no figure rather than a stale one
                self.database_up.set(0)
            else:
                for status in OUTBOX_STATUSES:
                    self.outbox.labels(status).set(counts.get(status, 0))
                self.database_up.set(1)
            self._read_at = time.monotonic()


async def _outbox_counts(sessions: Sessions) -> dict[str, int]:
    async with sessions() as db:
        return await depth_by_status(db, utcnow())


Page = Callable[[], Awaitable[bytes]]


def metrics_route(page: Page) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of GET /metrics: the page in Prometheus's text format."""

    async def serve(request: web.Request) -> web.Response:
        body = await page()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return serve


class MetricsServer:
    """GET /metrics on its own address (METRICS_LISTEN), for polling mode."""

    def __init__(self, host: str, port: int, page: Page) -> None:
        self.host, self.port, self.page = host, port, page
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listens; with port 0 the bound port is in `self.port` afterwards."""
        app = web.Application()
        app.router.add_get("/metrics", metrics_route(self.page))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        logger.info("metrics served on http://%s:%s/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
