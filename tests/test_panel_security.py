"""The web panel's doors, over HTTP against the real `applicant-bot panel` process: login
links, sessions kept in the database, CSRF tokens and roles checked on the server."""

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App, build_app
from models.columns import utcnow
from models.panel import issue_login_link
from models.staff import Role, add_staff, remove_staff
from tests.support.app import settings_for_test
from tests.support.panel import Browser, login_link, panel_environment, running_panel
from tests.support.process import free_port

OWNER, OPERATOR, ADMIN = 900, 300, 301
PAGES = ["/", "/sessions", "/chart.png"]


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[tuple[App, str]]:
    """The bot's app and a running panel on one database; an operator and an admin."""
    port = free_port()
    environment = panel_environment(tmp_path, port)
    app = build_app(
        settings_for_test(tmp_path, admin_ids=[OWNER], panel_url=environment["PANEL_URL"])
    )
    await app.prepare_database()

    async def staff(db, _services):  # type: ignore[no-untyped-def]
        await add_staff(db, OPERATOR, Role.OPERATOR, "test")
        await add_staff(db, ADMIN, Role.ADMIN, "test")

    await app.in_transaction(staff)
    async with running_panel(environment, tmp_path) as base:
        yield app, base
    await app.close()


@pytest.fixture
async def browser(office: tuple[App, str]) -> AsyncIterator[Browser]:
    browser = Browser(office[1])
    yield browser
    await browser.close()


async def test_every_page_without_login_goes_to_the_login_page(
    office: tuple[App, str], browser: Browser
) -> None:
    for path in PAGES:
        status, _, location = await browser.get(path)
        assert (status, location) == (303, "/login"), path
    status, body, _ = await browser.get("/login")
    assert status == 200
    assert "/panel" in body


async def test_a_login_link_from_the_bot_logs_in_once(
    office: tuple[App, str], browser: Browser
) -> None:
    app, base = office
    link = await login_link(app, OWNER)
    status, cookie = await browser.log_in(link)
    assert status == 303
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # on loopback only
    status, body, _ = await browser.get("/")
    assert status == 200
    assert "Dashboard" in body
    again = Browser(base)
    try:
        status, _ = await again.log_in(link)
        assert status == 403
        assert (await again.get("/"))[0] == 303
    finally:
        await again.close()


async def test_an_expired_login_link_is_refused(office: tuple[App, str], browser: Browser) -> None:
    app, base = office

    async def old_link(db, _services):  # type: ignore[no-untyped-def]
        return await issue_login_link(db, OWNER, utcnow() - timedelta(minutes=6))

    token = await app.in_transaction(old_link)
    status, _ = await browser.log_in(f"{base}/login/{token}")
    assert status == 403
    assert (await browser.get("/"))[0] == 303


async def test_a_link_for_someone_no_longer_staff_is_refused(
    office: tuple[App, str], browser: Browser
) -> None:
    app, _ = office
    link = await login_link(app, OPERATOR)

    async def remove(db, _services):  # type: ignore[no-untyped-def]
        await remove_staff(db, OPERATOR, "test")

    await app.in_transaction(remove)
    assert (await browser.log_in(link))[0] == 403


async def test_a_post_without_the_csrf_token_is_refused(
    office: tuple[App, str], browser: Browser
) -> None:
    app, _ = office
    await browser.log_in(await login_link(app, OWNER))
    status, _, _ = await browser.post("/language", {"locale": "ja"}, csrf=False)
    assert status == 403
    status, _, _ = await browser.post("/language", {"locale": "ja", "csrf": "forged"}, csrf=False)
    assert status == 403
    assert "概要" not in (await browser.get("/"))[1]
    status, _, _ = await browser.post("/language", {"locale": "ja"})
    assert status == 303
    assert "概要" in (await browser.get("/"))[1]


async def test_a_removed_staff_members_open_session_ends_at_the_next_request(
    office: tuple[App, str], browser: Browser
) -> None:
    app, _ = office
    await browser.log_in(await login_link(app, OPERATOR))
    assert (await browser.get("/"))[0] == 200

    async def remove(db, _services):  # type: ignore[no-untyped-def]
        await remove_staff(db, OPERATOR, "test")

    await app.in_transaction(remove)
    status, _, location = await browser.get("/")
    assert (status, location) == (303, "/login")


async def test_logging_out_ends_the_session(office: tuple[App, str], browser: Browser) -> None:
    app, _ = office
    await browser.log_in(await login_link(app, ADMIN))
    status, _, location = await browser.post("/logout")
    assert (status, location) == (303, "/login")
    assert (await browser.get("/"))[0] == 303


def test_the_panel_will_not_start_without_its_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "panel"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/s.db"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: PANEL_URL and PANEL_SECRET not set: the panel needs its public "
        "address (for login links) and a secret of 32+ characters (to sign its cookies)"
    ]
