"""The factory: settings in, a wired application out, nothing started."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import ConfigurationError, Settings
from bot.i18n import LOCALES_DIR, load_translations
from bot.metrics import Metrics
from handlers import build_router
from handlers.core.conversation import Conversation
from handlers.core.services import BotAccount, Services
from handlers.faq.book import FaqBook
from handlers.faq.lessons import Lessons
from handlers.faq.meaning import classifier_cache_path, default_cache_path, load_embedder
from models.columns import utcnow
from models.db import (
    DatabaseWatch,
    alembic_config,
    create_engine,
    session_factory,
    upgrade_database,
)
from models.updates import forget_old_updates

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class App:
    """The wired bot: its database and its conversation. Channels drive it."""

    settings: Settings
    engine: AsyncEngine
    conversation: Conversation
    account: BotAccount  # the channel tells it the bot's username once Telegram has answered
    metrics: Metrics = field(default_factory=Metrics)  # this app's figures, for /metrics

    @property
    def watch(self) -> DatabaseWatch:
        """Whether the database answers: for /healthz, the outbox and waiting updates."""
        assert self.conversation.watch is not None  # build_app gives it one
        return self.conversation.watch

    async def prepare_database(self, understanding: bool = True) -> None:
        """Upgrades an SQLite database in place (a PostgreSQL one must be upgraded already).

        Then, with `understanding`, readies the FAQ for questions in a worker thread: its
        wording index and its meaning model (staff commands that never match skip both).
        """
        if self.engine.dialect.name == "sqlite":
            await upgrade_database(self.engine)
        else:
            async with self.engine.connect() as connection:
                current = await connection.run_sync(_current_revision)
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            if current != head:
                raise ConfigurationError(
                    "DATABASE_URL: the database schema is not up to date; "
                    "run `applicant-bot db upgrade` first"
                )
        async with self.conversation.sessions() as db, db.begin():
            await forget_old_updates(db, older_than=timedelta(days=2))
            lessons = self.conversation.services.lessons
            if lessons is not None:
                await lessons.catch_up(db, force=True)  # every phrasing staff taught so far
        if understanding:
            await asyncio.to_thread(self.conversation.services.faq.warm_up)
            await self.load_meaning()

    async def load_meaning(self) -> None:
        """Loads the FAQ's meaning model once per process, off the event loop.

        Phrasing vectors come from the cache file when the content was seen before (fast);
        if the model cannot load, the FAQ keeps matching by wording (one warning).
        """
        faq = self.conversation.services.faq
        if faq.understands_meaning:
            return
        cache = default_cache_path()
        embedder = await asyncio.to_thread(load_embedder, cache)
        if embedder is not None:
            await asyncio.to_thread(faq.use_meaning, embedder, classifier_cache_path(cache))

    async def in_transaction(self, work: Callable[[AsyncSession, Services], Awaitable[T]]) -> T:
        """Runs `work` in one transaction with the bot's services (a staff command's work)."""
        async with self.conversation.sessions() as db, db.begin():
            return await work(db, self.conversation.services)

    async def close(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def running_app(settings: Settings, understanding: bool = True) -> AsyncIterator[App]:
    """The factory's app with its database prepared, closed however the work ends;
    `understanding` readies the FAQ for questions (see `App.prepare_database`)."""
    app = build_app(settings)
    try:
        await app.prepare_database(understanding)
        settle_heap()
        yield app
    finally:
        await app.close()


def settle_heap() -> None:
    """Takes what start-up loaded (the FAQ's index and model, the texts, the ORM's mappings)
    out of the garbage collector's sight, once the process is about to do its real work.

    These live as long as the process; a full collection walked them all and stopped the
    event loop for about 0.3 s every few seconds under load, long enough to stretch round
    trips to Telegram and cost a broadcast a tenth of its pace (bench/delivery.py).
    """
    gc.collect()
    gc.freeze()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def build_app(
    settings: Settings,
    locales_dir: Path = LOCALES_DIR,
    now: Callable[[], datetime] = utcnow,
    account: BotAccount | None = None,
) -> App:
    """Wires database, texts, FAQ and conversation from the settings."""
    engine = create_engine(settings.database_url)
    account = account or BotAccount()
    metrics = Metrics()
    faq = FaqBook.load(locales_dir)
    services = Services(
        faq=faq,
        translators=load_translations(locales_dir),
        default_locale=settings.default_locale,
        zone=settings.zone,
        quiet=settings.quiet,
        reminders=settings.reminder_plan,
        offer_hours=settings.offer_hours,
        account=account,
        owner_ids=frozenset(settings.admin_ids),
        staff_chat_id=settings.staff_chat_id,
        staff_locale=settings.staff_locale,
        panel_url=str(settings.panel_url).rstrip("/") if settings.panel_url else None,
        now=now,
        lessons=Lessons(faq),
        tally=metrics,
    )
    conversation = Conversation(
        build_router(), session_factory(engine), services, watch=DatabaseWatch(engine)
    )
    return App(settings, engine, conversation, account, metrics)
