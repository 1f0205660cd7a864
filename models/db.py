"""The database engine: creation, SQLite pragmas, sessions, migrations, and whether it answers."""

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlmodel.ext.asyncio.session import AsyncSession

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers never wait for the writer
    "PRAGMA synchronous=NORMAL",  # safe with WAL, and much faster than FULL
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",  # wait for the writer instead of failing at once
)


def create_engine(database_url: str) -> AsyncEngine:
    """Builds the async engine for a SQLite file or a PostgreSQL server.

    Its errors never quote the statement's parameters (phones, ID numbers): they get logged.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        engine = create_async_engine(url, hide_parameters=True)
        _replace_closed_connections(engine)
        return engine
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite has one writer and every transaction here writes (BEGIN IMMEDIATE): one
    # connection, handed out in turn by the pool, serves waiting updates first come first
    # served, instead of SQLite's busy handler waking them in sleeps of up to 100 ms.
    engine = create_async_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=60,
        hide_parameters=True,
        pool_reset_on_return=None,  # `_use_sqlite_sanely` rolls back only what is open
    )
    _use_sqlite_sanely(engine)
    return engine


def _replace_closed_connections(engine: AsyncEngine) -> None:
    """A pooled connection the server closed (a restart, a failover) is replaced when it
    is checked out, before anyone uses it.

    Not the pool's pre-ping: with asyncpg that is three round trips (BEGIN, a query,
    ROLLBACK) before every transaction, a tenth of an update's CPU. asyncpg sees the
    server close the socket; a connection that dies unseen fails its statement, which
    invalidates the pool, and the update is tried again (`DatabaseWatch.explains`).
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")  # the pool retries


def _use_sqlite_sanely(engine: AsyncEngine) -> None:
    """Sets the pragmas, makes every transaction take the write lock up front, and
    rolls back a connection handed back to the pool only if it is in a transaction.

    A deferred SQLite transaction that reads, then writes, fails with "database is
    locked" when another writer got there first; BEGIN IMMEDIATE waits its turn instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        # Straight to aiosqlite, one trip to its thread: through a cursor it takes three
        # (open, execute, close), and every update begins a transaction.
        try:
            connection.connection.dbapi_connection.run_async(  # type: ignore[union-attr]
                lambda sqlite: sqlite.execute_fetchall("BEGIN IMMEDIATE")
            )
        except sqlite3.Error as error:  # raised as SQLAlchemy would (the watch knows those)
            raise DBAPIError.instance("BEGIN IMMEDIATE", None, error, sqlite3.Error) from error

    @event.listens_for(engine.sync_engine, "reset")
    def on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        # The pool's own reset rolls back every connection handed back, even after a
        # commit: a trip to aiosqlite's thread per transaction, one of a dozen. SQLite
        # says whether a transaction is open; only then is there anything to undo.
        if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()


class DatabaseAway(RuntimeError):
    """The database does not answer: what needed it was not done, and may be tried later."""


class DatabaseWatch:
    """Whether the database answers a `SELECT 1`: one probe at a time, its answer reused for
    a moment, so that health checks and everything waiting out an outage never crowd the
    pool. Logs when the database goes away and when it is back."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        timeout: float = 1.5,
        retry_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.timeout = timeout
        self.retry_every = retry_every
        self._clock = clock
        self._answer: tuple[float, bool] = (-float("inf"), True)
        self._probe: asyncio.Future[bool] | None = None
        self._away_since: float | None = None

    @property
    def away(self) -> bool:
        """Whether the last probe found the database away (no new probe)."""
        return self._away_since is not None

    async def answers(self, max_age: float = 1.0) -> bool:
        """Whether the database answers, by a probe at most `max_age` seconds old."""
        probed_at, answered = self._answer
        if self._clock() - probed_at <= max_age:
            return answered
        if self._probe is None:
            self._probe = asyncio.ensure_future(self._select_one())
            self._probe.add_done_callback(self._probed)
        return await asyncio.shield(self._probe)  # one caller giving up ends no one's probe

    async def explains(self, error: BaseException) -> bool:
        """Whether the database being away (or its connection dropping) explains `error`,
        rather than the statement: then what failed may be tried again as it was."""
        if not isinstance(error, (SQLAlchemyError, OSError, TimeoutError)):
            return False
        dropped = isinstance(error, DBAPIError) and error.connection_invalidated
        return not await self.answers(max_age=0.0) or dropped

    async def until_back(self) -> None:
        """Returns once the database answers; probes about once every `retry_every`."""
        while True:
            if await self.answers(max_age=self.retry_every):
                return
            await asyncio.sleep(self.retry_every)  # a probe, not an event: nothing tells us

    async def _select_one(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure to answer is the database being away
            if self._away_since is None:
                self._away_since = self._clock()
                logger.warning("the database does not answer (%s); waiting", type(error).__name__)
            return False
        if self._away_since is not None:
            away_for = self._clock() - self._away_since
            self._away_since = None
            logger.warning("the database answers again, after %.0f s away", away_for)
        return True

    def _probed(self, probe: asyncio.Future[bool]) -> None:
        self._probe = None
        if not probe.cancelled():
            self._answer = (self._clock(), probe.result())


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic's configuration pointing at migrations/, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade_database(engine: AsyncEngine) -> None:
    """Brings the schema to the newest migration."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)
