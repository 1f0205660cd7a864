"""Web panel page times with 10,000 applicants and 40 sessions, on SQLite.

Builds the data through the tables (the booking itself is measured in bench/booking.py),
serves the real panel (the factory's app and `build_panel`) on 127.0.0.1, logs in with a
one-time link as an owner and times, one request at a time, the dashboard, a session's
registrations (a page of 50) and a search by name. Prints p50 and p95 per page.

    python bench/panel.py [--applicants 10000] [--sessions 40] [--requests 60]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.app import build_app, settle_heap  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.panel.app import build_panel  # noqa: E402
from models import Applicant, Exam, Registration, TestSession  # noqa: E402
from models.columns import utcnow  # noqa: E402
from models.panel import issue_login_link  # noqa: E402
from models.registrations import new_code  # noqa: E402
from tests.support.panel import CSRF  # noqa: E402
from tests.support.process import free_port  # noqa: E402

OWNER = 900


async def fill(app: object, applicants: int, sessions: int) -> None:
    """Applicants spread over the sessions: confirmed up to capacity, then waitlisted."""
    now = utcnow()
    per_session = applicants // sessions
    async with app.conversation.sessions() as db, db.begin():  # type: ignore[attr-defined]
        db.add(Exam(id="jft-basic", name_km="JFT", name_en="JFT-Basic", name_ja="JFT"))
        for n in range(sessions):
            db.add(TestSession(
                exam_id="jft-basic", starts_at=now + timedelta(days=10 + n),
                venue_name_km="v", venue_name_en=f"Centre {n}", venue_name_ja="v",
                venue_address_km="a", venue_address_en="a", venue_address_ja="a",
                latitude=11.5, longitude=104.9, capacity=per_session - 10,
                seats_taken=per_session - 10,
                registration_opens_at=now - timedelta(days=5),
                registration_closes_at=now + timedelta(days=5 + n),
            ))  # fmt: skip
        await db.flush()
        people = [
            Applicant(
                telegram_id=1_000_000 + n, chat_id=1_000_000 + n, locale=("km", "en", "ja")[n % 3],
                name_latin=f"SOK DARA {n:05d}", name_khmer="សុខ ដារា",
                date_of_birth=date(2000, 1, 1) + timedelta(days=n % 3000),
                phone=f"+8551{n:07d}", created_at=now - timedelta(days=n % 14),
            )
            for n in range(applicants)
        ]  # fmt: skip
        db.add_all(people)
        await db.flush()
        for n, person in enumerate(people):
            session_id, place = n // per_session + 1, n % per_session
            db.add(Registration(
                applicant_id=person.id, session_id=min(session_id, sessions), exam_id="jft-basic",
                status="confirmed" if place < per_session - 10 else "waitlisted",
                code=new_code(), created_at=now - timedelta(days=n % 14),
            ))  # fmt: skip


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def measure(applicants: int, sessions: int, requests: int) -> None:
    folder = Path(tempfile.mkdtemp())
    port = free_port()
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{folder}/panel.sqlite3",
        admin_ids=[OWNER], panel_url=f"http://127.0.0.1:{port}",
        panel_secret="bench-secret-0123456789abcdefghijklmnop", _env_file=None,
    )  # fmt: skip
    app = build_app(settings)
    await app.prepare_database()
    settle_heap()  # as the bot's own process does after start-up
    started = time.perf_counter()
    await fill(app, applicants, sessions)
    print(f"{applicants} applicants in {sessions} sessions written in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    token = await app.in_transaction(lambda db, s: issue_login_link(db, OWNER, utcnow()))
    runner = web.AppRunner(build_panel(app, settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = settings.require_panel()[0]
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        async with client.post(f"{base}/login", data={"token": token}) as response:
            csrf = CSRF.search(await response.text())
            assert csrf, "login failed"
        pages = {
            "dashboard": ("GET", "/", None),
            "registrations (page of 50)": ("GET", f"/sessions/{sessions // 2}?page=3", None),
            "search by name": (
                "POST", f"/sessions/{sessions // 2}/search",
                {"q": f"dara {applicants // 2:05d}", "csrf": csrf.group(1)},
            ),
        }  # fmt: skip
        print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8}")
        for name, (method, path, form) in pages.items():
            times = []
            for _ in range(requests):
                began = time.perf_counter()
                async with client.request(method, base + path, data=form) as response:
                    await response.read()
                    assert response.status == 200, (name, response.status)
                times.append(time.perf_counter() - began)
            print(f"{name:<28} {p(times, 50):>8.1f} {p(times, 95):>8.1f}")
    await runner.cleanup()
    await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--requests", type=int, default=60)
    arguments = parser.parse_args()
    asyncio.run(measure(arguments.applicants, arguments.sessions, arguments.requests))


if __name__ == "__main__":
    main()
