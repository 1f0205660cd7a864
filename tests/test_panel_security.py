"""The web panel's doors, over HTTP against the real `applicant-bot panel` process: login
links, sessions kept in the database, CSRF tokens and roles checked on the server."""

import hashlib
import hmac
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from models.columns import utcnow
from models.panel import issue_login_link
from models.staff import Role, add_staff, remove_staff
from tests.support.app import start_app
from tests.support.panel import (
    ADMIN,
    BOT_TOKEN,
    OPERATOR,
    OWNER,
    Browser,
    login_link,
    panel_environment,
    panel_office,
    running_panel,
)
from tests.support.process import free_port
from tests.support.sessions import make_session, open_session
from tests.test_panel_sessions import book

PAGES = ["/", "/sessions", "/chart.png", "/sessions/1", "/sessions/1/export.csv"]
ADMIN_ROUTES = [
    ("POST", "/sessions"),
    ("POST", "/sessions/import"),
    ("POST", "/sessions/1/capacity"),
    ("POST", "/sessions/1/move"),
    ("POST", "/sessions/1/cancel"),
    ("POST", "/sessions/1/close"),
    ("GET", "/sessions/1/export.csv"),
    ("GET", "/sessions/1/export.xlsx"),
]


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


async def test_an_operator_may_not_use_admin_routes(
    office: tuple[App, str], browser: Browser
) -> None:
    app, _ = office
    await make_session(app, 10)
    await browser.log_in(await login_link(app, OPERATOR))
    assert (await browser.get("/sessions/1"))[0] == 200
    for method, path in ADMIN_ROUTES:
        if method == "GET":
            status = (await browser.get(path))[0]
        else:
            status = (await browser.post(path, {"capacity": "99", "confirm": "yes"}))[0]
        assert status == 403, path
    assert (await browser.get("/sessions/1"))[1].count("/ 10") == 1  # nothing changed


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


async def test_no_token_name_or_phone_reaches_the_panels_log(tmp_path: Path) -> None:
    async with panel_office(tmp_path) as (app, base):
        session_id = await open_session(app, "Centre")
        await book(app, session_id, 1)
        link = await login_link(app, ADMIN)
        browser = Browser(base)
        await browser.log_in(link)
        await browser.post(f"/sessions/{session_id}/search", {"q": "SOK DARA 000"})
        await browser.post("/applicants", {"q": "+85512000000"})
        await browser.get("/applicants/2")
        await browser.close()
    log = (tmp_path / "panel.log").read_text()
    assert "GET /login/{token} 200" in log  # the access log names the route...
    assert "POST /sessions/{id}/search 200" in log
    assert link.rsplit("/", 1)[1] not in log  # ...never the token, a name or a phone
    assert "SOK" not in log
    assert "12000000" not in log


async def test_two_panel_processes_on_postgresql_share_logins_logouts_and_roles(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    app = await start_app(request, tmp_path, "postgresql", admin_ids=[OWNER],
                          panel_url="http://127.0.0.1:9")  # fmt: skip
    first, second = (
        panel_environment(tmp_path, free_port(), DATABASE_URL=app.settings.database_url)
        for _ in range(2)
    )

    async def make_admin(role: Role) -> None:
        async def change(db, _services):  # type: ignore[no-untyped-def]
            await add_staff(db, ADMIN, role, "test")

        await app.in_transaction(change)

    await make_admin(Role.ADMIN)
    try:
        async with running_panel(first, tmp_path) as a, running_panel(second, tmp_path) as b:
            token = (await login_link(app, ADMIN)).rsplit("/", 1)[1]
            browser = Browser(a)  # cookies for 127.0.0.1 go to both ports, as behind a balancer
            await browser.log_in(f"{a}/login/{token}")
            browser.base = b
            assert (await browser.get("/audit"))[0] == 200
            await make_admin(Role.OPERATOR)  # the owner changes their role
            assert (await browser.get("/audit"))[0] == 403
            browser.base = a
            assert (await browser.get("/audit"))[0] == 403
            await browser.get("/")
            assert (await browser.post("/logout"))[0] == 303
            browser.base = b
            assert (await browser.get("/"))[0] == 303
            await browser.close()
    finally:
        await app.close()


def signed(fields: dict[str, str], token: str = BOT_TOKEN) -> dict[str, str]:
    """The Login Widget's fields with their hash, as Telegram signs them."""
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hashlib.sha256(token.encode()).digest()
    return {**fields, "hash": hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()}


async def test_the_telegram_login_widget_is_checked_with_the_bot_token(
    office: tuple[App, str], browser: Browser
) -> None:
    now = str(int(time.time()))
    fields = {"id": str(ADMIN), "first_name": "Dara", "auth_date": now}
    forged = signed(fields, token="999:someone-elses-token")
    assert (await browser.post("/login/telegram", forged, csrf=False))[0] == 403
    stale = signed({**fields, "auth_date": str(int(time.time()) - 3600)})
    assert (await browser.post("/login/telegram", stale, csrf=False))[0] == 403
    not_staff = signed({**fields, "id": "12345"})
    assert (await browser.post("/login/telegram", not_staff, csrf=False))[0] == 403
    assert (await browser.get("/"))[0] == 303
    status, _, location = await browser.post("/login/telegram", signed(fields), csrf=False)
    assert (status, location) == (303, "/")
    assert (await browser.get("/"))[0] == 200


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
