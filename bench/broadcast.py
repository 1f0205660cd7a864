"""How long queuing a broadcast for 100,000 recipients takes, and the memory it needs.

The applicants are inserted first (not timed); then one broadcast with a text per
language is queued for everyone through `models.broadcasts.enqueue_broadcast`, the
function the /broadcast wizard and `applicant-bot broadcast` use.

    python bench/broadcast.py [--recipients 100000] [--engine sqlite|postgresql|both]
"""

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.app import build_app, settle_heap  # noqa: E402
from bot.config import load_settings  # noqa: E402
from handlers.core.content import to_content  # noqa: E402
from handlers.core.events import SendText  # noqa: E402
from models import Applicant, Broadcast  # noqa: E402
from models.broadcasts import broadcast_counts, enqueue_broadcast  # noqa: E402
from models.db import upgrade_database  # noqa: E402


async def measure(database_url: str, recipients: int, upgrade: bool) -> None:
    app = build_app(load_settings(database_url=database_url, _env_file=None))
    if upgrade:
        await upgrade_database(app.engine)
    await app.prepare_database()
    settle_heap()  # as the bot's own process does after start-up
    now = datetime.now(UTC)
    async with app.conversation.sessions() as db, db.begin():
        for start in range(0, recipients, 10_000):
            rows = [
                {
                    "telegram_id": 10**7 + i,
                    "chat_id": 10**7 + i,
                    "locale": ("km", "en", "ja")[i % 3],
                    "reachable": True,
                    "reminders": True,
                    "created_at": now,
                    "last_seen_at": now,
                }
                for i in range(start, min(start + 10_000, recipients))
            ]
            connection = await db.connection()
            await connection.execute(insert(Applicant), rows)
    contents = {
        locale: to_content([SendText(f"<b>Notice</b> ({locale}): the test is on 17 October.")])
        for locale in ("km", "en", "ja")
    }
    tracemalloc.start()
    started = time.perf_counter()
    async with app.conversation.sessions() as db, db.begin():
        broadcast = Broadcast(author_id=1, texts={}, audience="all", send_at=now)
        db.add(broadcast)
        await db.flush()
        queued = await enqueue_broadcast(db, broadcast, contents, "km")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    async with app.conversation.sessions() as db:
        assert broadcast.id is not None
        counts = await broadcast_counts(db, broadcast.id)
    await app.close()
    engine = database_url.split("+")[0]
    print(
        f"{engine:<11} {queued:,} recipients queued in {elapsed:.2f} s "
        f"({queued / elapsed:,.0f}/s); peak Python memory while queuing {peak / 1e6:.1f} MB"
    )
    assert counts == {"pending": recipients}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
            asyncio.run(measure(url, args.recipients, upgrade=False))
    if args.engine in ("postgresql", "both"):
        from tests.support.postgres import database_url, postgres_cluster

        with postgres_cluster() as socket:
            asyncio.run(measure(database_url(socket, "postgres"), args.recipients, upgrade=True))


if __name__ == "__main__":
    main()
