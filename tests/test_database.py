"""The schema: migrations match the models on both engines, and start-up checks them."""

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

import models  # noqa: F401  (all tables)
from bot.app import build_app
from bot.config import ConfigurationError
from models.db import create_engine, upgrade_database
from tests.support.app import new_postgres_database, settings_for_test


async def schema_drift(url: str) -> list:
    engine = create_engine(url)
    await upgrade_database(engine)
    async with engine.connect() as connection:
        drift = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
        )
    await engine.dispose()
    return drift


async def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    assert await schema_drift(f"sqlite+aiosqlite:///{tmp_path}/m.db") == []


async def test_migrations_match_the_models_on_postgresql(postgres_socket: str) -> None:
    assert await schema_drift(await new_postgres_database(postgres_socket)) == []


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/w.db")
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    await engine.dispose()


async def test_a_transaction_left_open_on_sqlite_is_undone_before_the_next_one(
    tmp_path: Path,
) -> None:
    # The pool rolls back only connections handed back in a transaction (not after every
    # commit): a write left open by the driver must neither stay nor block the next one.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE note (body TEXT)"))

    def leave_open(connection: Connection) -> bool:
        cursor = connection.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO note VALUES ('left open')")
        return bool(connection.connection.driver_connection.in_transaction)

    async with engine.connect() as connection:
        assert await connection.run_sync(leave_open)
    async with engine.begin() as connection:  # BEGIN IMMEDIATE again: no nested BEGIN
        await connection.execute(text("INSERT INTO note VALUES ('committed')"))
    async with engine.connect() as connection:
        bodies = (await connection.execute(text("SELECT body FROM note"))).scalars().all()
    assert bodies == ["committed"]
    await engine.dispose()


async def test_a_write_lock_held_too_long_on_sqlite_is_a_database_error(tmp_path: Path) -> None:
    # What the outage watch knows how to wait out, not an unexplained error: another
    # process (a backup, a staff command) holds SQLite's write lock past the busy timeout.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/l.db")
    async with engine.connect() as connection:
        await connection.execute(text("PRAGMA busy_timeout=100"))  # the pool's one connection
        await connection.commit()
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with engine.begin() as connection:  # free again: the next transaction goes on
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    await engine.dispose()


async def test_a_postgresql_database_not_upgraded_stops_start_up(
    tmp_path: Path, postgres_socket: str
) -> None:
    url = await new_postgres_database(postgres_socket)
    app = build_app(settings_for_test(tmp_path, database_url=url))
    with pytest.raises(ConfigurationError, match="applicant-bot db upgrade"):
        await app.prepare_database()
    await app.close()


async def test_db_upgrade_command_on_postgresql(tmp_path: Path, postgres_socket: str) -> None:
    url = await new_postgres_database(postgres_socket)
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    app = build_app(settings_for_test(tmp_path, database_url=url))
    await app.prepare_database()  # no complaint now
    await app.close()
