"""Fixtures: the real app from the real factory, on a fresh database per test."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from bot.app import App, build_app
from bot.config import Settings, load_settings
from models.columns import utcnow
from models.db import upgrade_database
from tests.driver import Applicant
from tests.postgres import database_url, postgres_cluster


def settings_for_test(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: a fresh SQLite file, no .env from the developer's machine."""
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(autouse=True)
def ptb_timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns (an error under our filterwarnings) each time it makes a RetryAfter,
    unless told to give timedeltas already, as PTB 23 will; the PTB channel reads either."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(scope="session")
def postgres_socket() -> Iterator[str]:
    """One throwaway PostgreSQL cluster for the whole run."""
    with postgres_cluster() as socket:
        yield socket


async def new_postgres_database(socket: str) -> str:
    """A fresh, empty database on the test cluster; returns its URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(host=socket, user="postgres", database="postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return database_url(socket, name)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    """The app on SQLite, upgraded by itself at start as in production."""
    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    yield app
    await app.close()


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


@pytest.fixture(params=["sqlite", "postgresql"])
async def app_on_each_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    """The app on SQLite, then on PostgreSQL."""
    app = await start_app(request, tmp_path, request.param)
    yield app
    await app.close()


@pytest.fixture
def applicant(app: App) -> Applicant:
    """An applicant whose Telegram is in English."""
    return Applicant(app.conversation, user_id=100, language="en")
