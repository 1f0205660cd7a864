"""Fixtures: the real app from the real factory, on a fresh database per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.i18n import LOCALES_DIR
from handlers.faq.book import FaqBook
from handlers.faq.meaning import classifier_cache_path, default_cache_path, load_embedder
from tests.support.app import settings_for_test, start_app
from tests.support.core import Applicant
from tests.support.panel import panel_office
from tests.support.postgres import postgres_cluster


def pytest_configure(config: pytest.Config) -> None:
    """Fills the FAQ's vector cache once, before any test: on a fresh machine (CI) every
    bot process would otherwise embed every phrasing itself (about 45 s of CPU each) until
    one of them had written the cache. xdist's workers find it filled."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    cache = default_cache_path()
    embedder = load_embedder(cache)
    if embedder is not None:
        FaqBook.load(LOCALES_DIR).use_meaning(embedder, classifier_cache_path(cache))


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


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    """The app on SQLite, upgraded by itself at start as in production."""
    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    yield app
    await app.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def app_on_each_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    """The app on SQLite, then on PostgreSQL."""
    app = await start_app(request, tmp_path, request.param)
    yield app
    await app.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def app_with_office(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    """The app with an owner (900) and a staff group (-100123), on SQLite and PostgreSQL."""
    app = await start_app(request, tmp_path, request.param, admin_ids=[900], staff_chat_id=-100123)
    yield app
    await app.close()


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[tuple[App, str]]:
    """The bot's app and a running web panel (`applicant-bot panel`) on one database, with
    an owner, an operator and an admin (tests/support/panel.py)."""
    async with panel_office(tmp_path) as running:
        yield running


@pytest.fixture
def applicant(app: App) -> Applicant:
    """An applicant whose Telegram is in English."""
    return Applicant(app.conversation, user_id=100, language="en")
