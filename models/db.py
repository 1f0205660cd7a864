"""The database engine: creation, SQLite pragmas, sessions and migrations."""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

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
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite has one writer and every transaction here writes (BEGIN IMMEDIATE): one
    # connection, handed out in turn by the pool, serves waiting updates first come first
    # served, instead of SQLite's busy handler waking them in sleeps of up to 100 ms.
    engine = create_async_engine(
        url, pool_size=1, max_overflow=0, pool_timeout=60, hide_parameters=True
    )
    _use_sqlite_sanely(engine)
    return engine


def _use_sqlite_sanely(engine: AsyncEngine) -> None:
    """Sets the pragmas and makes every transaction take the write lock up front.

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
        connection.exec_driver_sql("BEGIN IMMEDIATE")


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
