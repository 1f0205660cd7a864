"""The web panel as its own process (`applicant-bot panel`), and a staff member's browser
session against it over HTTP."""

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bot.app import App, build_app
from models.staff import Role, add_staff
from tests.support.app import settings_for_test
from tests.support.core import Applicant
from tests.support.process import free_port

OWNER, OPERATOR, ADMIN = 900, 300, 301

SECRET = "panel-secret-for-tests-0123456789abcdef"
BOT_TOKEN = "123456:ABCdefGhIJKlmnoPQRstuVWxyz0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+)")


def panel_environment(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """The settings of a panel on 127.0.0.1:`port` over the test's SQLite file."""
    return {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3",
        "PANEL_URL": f"http://127.0.0.1:{port}",
        "PANEL_SECRET": SECRET,
        "PANEL_LISTEN": f"127.0.0.1:{port}",
        "ADMIN_IDS": "900",
        "BOT_TOKEN": BOT_TOKEN,
        "LOG_LEVEL": "INFO",
        **extra,
    }


@asynccontextmanager
async def running_panel(environment: dict[str, str], cwd: Path) -> AsyncIterator[str]:
    """Runs `applicant-bot panel` until the block ends; yields its base URL. It must stop
    cleanly on SIGTERM; its log is then in `cwd`/panel.log."""
    base = environment["PANEL_URL"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "panel",
        env=environment, cwd=cwd, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as client:
            for _ in range(600):
                try:
                    async with client.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                if process.returncode is not None:
                    break
                await asyncio.sleep(0.1)
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    (cwd / "panel.log").write_text(log)  # for tests that read what the panel logged
    assert process.returncode == 0, log
    assert "Traceback" not in log


@asynccontextmanager
async def panel_office(tmp_path: Path) -> AsyncIterator[tuple[App, str]]:
    """The bot's app and a running panel on one database: an owner (ADMIN_IDS), an
    operator and an admin."""
    environment = panel_environment(tmp_path, free_port())
    app = build_app(
        settings_for_test(tmp_path, admin_ids=[OWNER], panel_url=environment["PANEL_URL"])
    )
    await app.prepare_database()

    async def staff(db, _services):  # type: ignore[no-untyped-def]
        await add_staff(db, OPERATOR, Role.OPERATOR, "test")
        await add_staff(db, ADMIN, Role.ADMIN, "test")

    await app.in_transaction(staff)
    try:
        async with running_panel(environment, tmp_path) as base:
            yield app, base
    finally:
        await app.close()


async def login_link(app: App, telegram_id: int) -> str:
    """The link the bot sends a staff member who types /panel."""
    chat = Applicant(app.conversation, user_id=telegram_id, language="en")
    await chat.send("/panel")
    found = LINK.search(chat.last.text)
    assert found, chat.last.text
    return found.group(1)


async def as_staff(office: tuple[App, str], telegram_id: int) -> "Browser":
    """A browser logged in to the panel as this staff member, with a link from the bot."""
    app, base = office
    browser = Browser(base)
    await browser.log_in(await login_link(app, telegram_id))
    return browser


class Browser:
    """One staff member's cookies against the panel; no redirect is followed unasked."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.client.close()

    async def get(self, path: str, follow: bool = False) -> tuple[int, str, str]:
        """Status, body and Location of a GET."""
        async with self.client.get(self.base + path, allow_redirects=follow) as response:
            body = await response.text() if response.content_type.startswith("text") else ""
            if found := CSRF.search(body):
                self.csrf = found.group(1)
            return response.status, body, response.headers.get("Location", "")

    async def post(
        self, path: str, data: dict[str, str] | None = None, csrf: bool = True
    ) -> tuple[int, str, str]:
        """Status, body and Location of a form POST (with the page's CSRF token)."""
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf
        async with self.client.post(self.base + path, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")

    async def upload(self, path: str, name: str, data: bytes) -> tuple[int, str, str]:
        """Status, body and Location of a file sent in a form."""
        form = aiohttp.FormData()
        form.add_field("csrf", self.csrf)
        form.add_field("file", data, filename=name, content_type="text/csv")
        async with self.client.post(self.base + path, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")

    async def download(self, path: str) -> tuple[int, bytes, str]:
        """Status, bytes and Content-Disposition of a file."""
        async with self.client.get(self.base + path, allow_redirects=False) as response:
            disposition = response.headers.get("Content-Disposition", "")
            return response.status, await response.read(), disposition

    async def log_in(self, link: str) -> tuple[int, str]:
        """Opens the login link and presses Log in: status and the Set-Cookie header."""
        status, body, _ = await self.get(link.removeprefix(self.base))
        assert status == 200, body
        token = link.rsplit("/", 1)[1]
        async with self.client.post(
            f"{self.base}/login", data={"token": token}, allow_redirects=False
        ) as response:
            cookie = response.headers.get("Set-Cookie", "")
            status = response.status
        if status == 303:
            await self.get("/")  # picks up the session's CSRF token
        return status, cookie
