"""The outbox sender against the fake Bot API server: rate held, 429s provoked, memory used.

Real OutboxSender, real TelegramChannel over HTTP, FakeTelegram in a child process (its
CPU is Telegram's, not the bot's: in one process on 2 cores the two compete, and the
server's own parsing caps the rate near 300/s) with its bot-wide limit held as a strict
one-second sliding window at R (by arrival time), one message to each of N chats (N = R
x --seconds), SQLite in a temporary folder. Each R runs at each round trip of
--latencies (every request takes that long there and back, as to the real Telegram).
For each it prints:
- the messages per second the server accepted in steady state (whole seconds, the first
  and the last left out) as a share of R; the pacer starts cautious and takes a second
  or two to learn the round trip, which a 15-second run still weighs at a few percent;
- the overall rate (N over the whole run) and the 429s the server returned;
- W, the most requests the sender had in flight and unrecorded at once;
- the round trips the pacer saw (mean, least) and the share of R they allow it
  (`bound`: a request counts from its start until 1 - 2 x floor after its answer).
Then it queues 5,000 and 100,000 rows and measures what Python allocates (tracemalloc
peak above the start) and the RSS growth while the sender works through the first
5,000 of each, the fake keeping no history: it must not grow with the queue.

    python bench/delivery.py [--rates 30 300] [--latencies 0 0.1 0.25] [--seconds 30]
                             [--memory-rate 300]
"""

import argparse
import asyncio
import gc
import multiprocessing
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App, build_app, settle_heap  # noqa: E402
from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.channels.telegram_aiogram import AiogramApi  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.delivery import OutboxSender  # noqa: E402
from bot.instance import outbox_window  # noqa: E402
from bot.pacing import SendPacer, Ticket  # noqa: E402
from handlers.core.content import to_content  # noqa: E402
from handlers.core.events import SendText  # noqa: E402
from models.columns import utcnow  # noqa: E402
from models.outbox import OutboxMessage  # noqa: E402
from tests.support.fake_telegram import FakeTelegram  # noqa: E402

FIRST_CHAT = 1_000_000
CONTENT = to_content([SendText("A seat has become free for you: <b>JFT-Basic</b>, 12 May.")])
MEMORY_SENDS = 5_000


@dataclass
class Rate:
    rate: int
    latency: float
    messages: int
    seconds: float
    steady: float  # messages a second the server received, whole seconds only
    too_many: int
    window: int  # the most requests in flight and unrecorded at once
    retried: int  # requests that did not go through (429, network errors, 5xx), tried again
    round_trip: float  # the mean round trip the sender saw, seconds
    shortest: float  # the shortest, from which the pacer takes its floor
    bound: float  # the share of R the pacer allows itself at those round trips


class LoggedPacer(SendPacer):
    """The bot's pacer, keeping every round trip it sees for the figures."""

    def __init__(self, rate: int) -> None:
        super().__init__(rate=rate)
        self.seen: list[float] = []

    async def release(self, ticket: Ticket) -> None:
        self.seen.append(self.clock() - ticket.started)
        await super().release(ticket)

    def bound(self) -> float:
        """The share of the rate the pacer allows itself at the mean round trip: each
        request counts from its start until `1 - 2 x floor` after its answer."""
        return 1 / (statistics.fmean(self.seen) + max(0.0, 1 - 2 * self.floor()))


async def queue_rows(app: App, count: int) -> None:
    """Bulk-inserts `count` due rows, one per chat, in one transaction."""
    due = utcnow() - timedelta(seconds=1)
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    async with app.engine.begin() as connection:
        for start in range(0, count, 10_000):
            await connection.execute(
                table.insert(),
                [
                    {
                        "chat_id": FIRST_CHAT + i,
                        "applicant_id": None,
                        "urgent": True,
                        "content": CONTENT,
                        "dedupe_key": f"bench:{i}",
                        "send_after": due,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": due,
                    }
                    for i in range(start, min(start + 10_000, count))
                ],
            )


async def _serve_fake(connection: Any, options: dict[str, Any]) -> None:
    """The child's side: runs the fake server and answers the bench's questions about it.

    The fake stands for Telegram, whose own pauses are not the bot's to measure: its
    garbage collector is off for the bench's short runs (a full collection over its
    growing request history stalled it for a third of a second every few seconds).
    """
    gc.disable()
    fake = FakeTelegram(**options)
    await fake.start()
    connection.send((fake.token, fake.base_url))
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, connection.recv)
        if command == "add_chats":
            fake.add_chats(range(*argument))
            connection.send(None)
        elif command == "delivered":
            connection.send(fake.delivered)
        elif command == "report":
            arrivals = [
                r.at for r in fake.requests if r.method == "sendMessage" and r.status == 200
            ]
            in_chats = sum(len(fake.messages(c)) for c in range(*argument))
            connection.send((arrivals, in_chats, fake.too_many))
        elif command == "stop":
            await fake.stop()
            connection.send(None)
            return


def _fake_process(connection: Any, options: dict[str, Any]) -> None:
    asyncio.run(_serve_fake(connection, options))


class FakeInChild:
    """FakeTelegram in its own process, asked over a pipe for what the bench needs."""

    def __init__(self, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_fake_process, args=(child_end, options))
        self.token = self.base_url = ""

    async def _ask(self, command: str, argument: Any = None) -> Any:
        self._connection.send((command, argument))
        return await asyncio.get_running_loop().run_in_executor(None, self._connection.recv)

    async def start(self) -> None:
        self._process.start()
        loop = asyncio.get_running_loop()
        self.token, self.base_url = await loop.run_in_executor(None, self._connection.recv)

    async def add_chats(self, first: int, end: int) -> None:
        await self._ask("add_chats", (first, end))

    async def delivered(self) -> int:
        return await self._ask("delivered")

    async def report(self, first: int, end: int) -> tuple[list[float], int, int]:
        """Accepted sendMessage arrival times, messages found in the chats, 429s returned."""
        return await self._ask("report", (first, end))

    async def stop(self) -> None:
        await self._ask("stop")
        self._process.join()


async def sending_setup(
    folder: Path, rate: int, rows: int, pacer: SendPacer | None = None, **fake_options: Any
) -> tuple[App, FakeInChild, TelegramChannel, OutboxSender]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{folder}/bench.db", send_rate=rate, _env_file=None
    )
    app = build_app(settings)
    await app.prepare_database()
    settle_heap()  # as the bot's own process does after start-up
    await queue_rows(app, rows)
    fake = FakeInChild(global_rate=rate, global_window=True, **fake_options)
    await fake.start()
    await fake.add_chats(FIRST_CHAT, FIRST_CHAT + rows)
    pacer = pacer or SendPacer(rate=rate)
    channel = TelegramChannel(AiogramApi(fake.token, fake.base_url), app.conversation, pacer=pacer)
    sender = OutboxSender(
        app.conversation.sessions,
        channel.send_one,
        pacer,
        window_cap=outbox_window(settings, channel),
    )
    return app, fake, channel, sender


async def teardown(app: App, fake: FakeInChild, channel: TelegramChannel) -> None:
    await channel.close()
    await fake.stop()
    await app.close()


async def measure_rate(rate: int, messages: int, latency: float = 0.0) -> Rate:
    with tempfile.TemporaryDirectory() as folder:
        pacer = LoggedPacer(rate)
        app, fake, channel, sender = await sending_setup(
            Path(folder), rate, messages, pacer, latency=latency
        )
        try:
            started = time.perf_counter()
            while await fake.delivered() < messages:  # a row tried again waits its backoff
                if not await sender.send_due():
                    await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
            # Accepted messages, by arrival: a refused one never reached a chat.
            arrivals, delivered, too_many = await fake.report(FIRST_CHAT, FIRST_CHAT + messages)
            assert delivered == messages, delivered
            per_second = Counter(int(at - arrivals[0]) for at in arrivals)
            whole = [per_second[s] for s in range(1, int(arrivals[-1] - arrivals[0]))]
            steady = sum(whole) / len(whole) if whole else float("nan")
            retried = sum(n for outcome, n in sender.counts.items() if outcome != "sent")
            return Rate(
                rate,
                latency,
                messages,
                seconds,
                steady,
                too_many,
                sender.peak_in_flight,
                retried,
                statistics.fmean(pacer.seen),
                min(pacer.seen),
                pacer.bound(),
            )
        finally:
            await teardown(app, fake, channel)


def rss_kib() -> int:
    """The resident set size of this process now (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4


async def measure_memory(rate: int, queued: int) -> tuple[float, float, float]:
    """KiB Python allocated at the peak above the start, RSS growth in KiB, seconds taken.

    The fake server keeps no history here, so what grows is the bot's.
    """
    with tempfile.TemporaryDirectory() as folder:
        app, fake, channel, sender = await sending_setup(Path(folder), rate, queued, history=False)
        try:
            await sender.send_due(limit=200)  # connections, caches and imports warmed up
            rss_before = rss_kib()
            tracemalloc.start()
            before, _ = tracemalloc.get_traced_memory()
            started = time.perf_counter()
            await sender.send_due(limit=MEMORY_SENDS - 200)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            delivered = await fake.delivered()
            assert delivered == MEMORY_SENDS, delivered
            return (peak - before) / 1024, rss_kib() - rss_before, seconds
        finally:
            await teardown(app, fake, channel)


async def main_async(
    rates: list[int], latencies: list[float], seconds: float, memory_rate: int
) -> None:
    header = (
        *("R", "RTT ms", "N", "time s", "overall/s", "steady/s", "of R", "429s", "W", "again"),
        *("RT mean", "least", "bound"),
    )
    print(
        "{:>5} {:>6} {:>6} {:>7} {:>9} {:>9} {:>6} {:>5} {:>4} {:>5} {:>8} {:>5} {:>6}".format(
            *header
        )
    )
    for rate in rates:
        for rtt in latencies:
            result = await measure_rate(rate, int(rate * seconds), rtt)
            print(
                f"{result.rate:>5} {result.latency * 1000:>6.0f} {result.messages:>6} "
                f"{result.seconds:>7.1f} {result.messages / result.seconds:>9.1f} "
                f"{result.steady:>9.1f} {result.steady / result.rate:>6.1%} "
                f"{result.too_many:>5} {result.window:>4} {result.retried:>5} "
                f"{result.round_trip * 1000:>8.0f} {result.shortest * 1000:>5.0f} "
                f"{result.bound:>6.1%}",
                flush=True,
            )
    print()
    print(f"memory while sending the first {MEMORY_SENDS} rows at R={memory_rate}")
    print(f"{'queued':>8} {'peak KiB':>9} {'RSS KiB':>8} {'time s':>7}")
    for queued in (MEMORY_SENDS, 100_000):
        peak, rss, taken = await measure_memory(memory_rate, queued)
        print(f"{queued:>8} {peak:>9.0f} {rss:>+8.0f} {taken:>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=int, nargs="+", default=[30, 300])
    parser.add_argument("--seconds", type=float, default=30, help="about how long each run")
    parser.add_argument(
        "--latencies", type=float, nargs="+", default=[0.0, 0.1, 0.25], help="round trips, s"
    )
    parser.add_argument("--memory-rate", type=int, default=300)
    args = parser.parse_args()
    if min([*args.rates, args.memory_rate]) < 1:
        parser.error("rates are messages per second the fake server allows: 1 or more")
    asyncio.run(main_async(args.rates, args.latencies, args.seconds, args.memory_rate))


if __name__ == "__main__":
    main()
