"""Apps for tests: the real factory's app on a fresh SQLite file or PostgreSQL database."""

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from bot.app import App, build_app
from bot.config import Settings, load_settings
from models.columns import utcnow
from models.db import upgrade_database
from tests.support.postgres import database_url


def settings_for_test(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: a fresh SQLite file, no .env from the developer's machine."""
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


async def new_postgres_database(socket: str) -> str:
    """A fresh, empty database on the test cluster; returns its URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(host=socket, user="postgres", database="postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return database_url(socket, name)


async def start_app(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    engine: str,
    now: Callable[[], datetime] = utcnow,
    **overrides: object,
) -> App:
    """The app on SQLite or on a fresh PostgreSQL database (upgraded as `db upgrade` does)."""
    if engine == "postgresql":
        socket = request.getfixturevalue("postgres_socket")
        overrides["database_url"] = await new_postgres_database(socket)
    app = build_app(settings_for_test(tmp_path, **overrides), now=now)
    if engine == "postgresql":
        await upgrade_database(app.engine)
    await app.prepare_database()
    return app
