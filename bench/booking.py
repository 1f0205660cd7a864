"""Booking throughput end to end through the conversation core, on SQLite and PostgreSQL.

Each simulated applicant runs the whole wizard (12 events: /book, the test, the session,
seven details, consent, confirm) against the real factory-built app; many applicants run
at once. Prints completed bookings per second and the p50/p99 time of one wizard step.

    python bench/booking.py [--applicants 300] [--concurrency 50] [--engine sqlite|postgresql]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import update  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from bot.app import build_app, settle_heap  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.demo import seed_demo  # noqa: E402
from models import Registration, TestSession  # noqa: E402
from models.db import upgrade_database  # noqa: E402
from tests.support.core import Applicant  # noqa: E402


async def one_booking(person: Applicant, session_data: str, steps: list[float]) -> None:
    """The whole wizard for one applicant, timing every step."""

    async def timed(action: object) -> None:
        started = time.perf_counter()
        await action  # type: ignore[misc]
        steps.append(time.perf_counter() - started)

    await timed(person.send("/book"))
    await timed(person.press_data("book:exam:jft-basic"))
    await timed(person.press_data(session_data))
    await timed(person.press_data("reg:consent:yes"))
    await timed(person.send(f"Sok Dara {chr(65 + person.user_id % 26)}"))
    await timed(person.press_data("reg:skip"))
    await timed(person.send("15/03/2001"))
    await timed(person.press_data("reg:sex:female"))
    await timed(person.share_contact("+85512345678"))
    await timed(person.send("N01234567"))
    await timed(person.press_data("reg:prov:kampot"))
    await timed(person.press_data("reg:confirm"))
    assert "Confirmation code" in person.last.text or "waitlist" in person.last.text, (
        person.last.text
    )


async def measure(database_url: str, applicants: int, concurrency: int, upgrade: bool) -> None:
    app = build_app(load_settings(database_url=database_url, _env_file=None))
    if upgrade:
        await upgrade_database(app.engine)
    await app.prepare_database()
    settle_heap()  # as the bot's own process does after start-up
    async with app.conversation.sessions() as db, db.begin():
        await seed_demo(db, app.settings.zone)
        first = (
            await db.exec(
                select(TestSession)
                .where(col(TestSession.exam_id) == "jft-basic")
                .order_by(col(TestSession.starts_at))
            )
        ).first()
        assert first is not None
        await db.exec(
            update(TestSession).where(col(TestSession.id) == first.id).values(capacity=100_000)
        )
    # The flood guard is for people; the benchmark's applicants are many, each quick.
    app.conversation.flood_guard.limit = 10_000
    steps: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def run(user_id: int) -> None:
        async with gate:
            person = Applicant(app.conversation, user_id=user_id, language="en")
            await one_booking(person, f"book:ses:{first.id}", steps)

    started = time.perf_counter()
    await asyncio.gather(*(run(1000 + i) for i in range(applicants)))
    elapsed = time.perf_counter() - started
    async with app.conversation.sessions() as db:
        booked = (await db.exec(select(func.count()).select_from(Registration))).one()
    await app.close()
    ordered = sorted(steps)
    engine = database_url.split("+")[0]
    print(
        f"{engine:<11} {applicants} applicants, {concurrency} at a time: "
        f"{booked / elapsed:7.1f} bookings/s ({booked} booked in {elapsed:.1f} s); "
        f"one wizard step p50 {statistics.median(ordered) * 1000:.1f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f} ms"
    )
    assert booked == applicants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applicants", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
            asyncio.run(measure(url, args.applicants, args.concurrency, upgrade=False))
    if args.engine in ("postgresql", "both"):
        from tests.support.postgres import database_url, postgres_cluster

        with postgres_cluster() as socket:
            url = database_url(socket, "postgres")
            asyncio.run(measure(url, args.applicants, args.concurrency, upgrade=True))


if __name__ == "__main__":
    main()
