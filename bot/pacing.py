"""Telegram's sending limits, kept on our side: one budget for every message the bot sends.

Global: at most `rate` requests in any one second *as the server sees them*. A request
reaches the server somewhere between the moment it starts and the moment its answer
comes back, so a request may start only while fewer than `rate` requests are in flight
or answered within the last second. Spacing requests evenly on the client is not
enough: a slow answer followed by quick ones arrives bunched, and the server counts
arrivals. This rule never lets more than `rate` arrive in one second, and loses only
the round trip of one request per second of throughput.

Per chat: a token bucket of `chat_rate` per second with a small burst, so a reply of
two messages is not held back, while a chat never gets a stream faster than Telegram
allows. A 429 pauses everything for its `retry_after`. Replies to users go first:
while one waits, background senders (the outbox) leave the next slot to it.
"""

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from models.send_budget import free_slot, pause_all, provide_slots, take_chat_token, take_slot

# Our clock and Telegram's differ by the request's travel time; a hair of slack keeps
# our per-chat view from running ahead of the server's.
CHAT_SLACK = 0.05


class SendPacer:
    """Decides when the next request may start; shared by replies and the outbox."""

    def __init__(
        self,
        rate: float = 30,
        chat_rate: float = 1.0,
        chat_burst: float = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = max(int(rate), 1)
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.clock = clock
        self._answered: deque[float] = deque()  # when recent requests got their answer
        self._in_flight = 0
        self._chat_tokens: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at)
        self._paused_until = 0.0
        self._replies_waiting = 0
        self.paused_total = 0.0  # seconds spent paused by 429s, for the figures

    @asynccontextmanager
    async def slot(self, chat_id: int | None, reply: bool = True) -> AsyncIterator[None]:
        """Waits for a free slot for one request to `chat_id`, then holds it until it ends."""
        queued = False  # a reply held back by the global budget, which bulk sends must yield
        try:
            while True:
                shared = self._global_wait()
                if not reply and self._replies_waiting:
                    shared = max(shared, 0.002)
                wait = max(shared, self.chat_wait(chat_id) if chat_id is not None else 0.0)
                if wait <= 0:
                    break
                if reply and shared > 0 and not queued:
                    queued = True
                    self._replies_waiting += 1
                await asyncio.sleep(wait)
        finally:
            if queued:
                self._replies_waiting -= 1
        self._take(chat_id)
        try:
            yield
        finally:
            self._in_flight -= 1
            self._answered.append(self.clock())

    def chat_wait(self, chat_id: int) -> float:
        """Seconds until `chat_id` may get another message (0 when it may now)."""
        tokens, _ = self._tokens(chat_id, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.chat_rate + CHAT_SLACK

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nothing is sent by anyone until `seconds` have passed."""
        until = self.clock() + seconds
        if until > self._paused_until:
            self.paused_total += until - max(self._paused_until, self.clock())
            self._paused_until = until

    def _global_wait(self) -> float:
        now = self.clock()
        if now < self._paused_until:
            return self._paused_until - now
        while self._answered and self._answered[0] <= now - 1.0:
            self._answered.popleft()
        if len(self._answered) + self._in_flight >= self.rate:
            # The oldest answer leaves the window first; with all in flight, poll briefly.
            return (self._answered[0] + 1.0 - now) if self._answered else 0.002
        return 0.0

    def _take(self, chat_id: int | None) -> None:
        self._in_flight += 1
        if chat_id is not None:
            now = self.clock()
            tokens, _ = self._tokens(chat_id, now)
            self._chat_tokens[chat_id] = (tokens - 1, now)
            if len(self._chat_tokens) > 50_000:
                self._forget_quiet_chats(now)

    def _tokens(self, chat_id: int, now: float) -> tuple[float, float]:
        tokens, at = self._chat_tokens.get(chat_id, (self.chat_burst, now))
        return min(self.chat_burst, tokens + (now - at) * self.chat_rate), now

    def _forget_quiet_chats(self, now: float) -> None:
        full = [c for c in self._chat_tokens if self._tokens(c, now)[0] >= self.chat_burst]
        for chat_id in full:
            del self._chat_tokens[chat_id]


class SharedSendPacer(SendPacer):
    """The same rules for several instances: the bot-wide budget and each chat's turn are
    kept in PostgreSQL (models/send_budget.py), so all instances spend from one budget.

    The local rules still apply first: they keep this instance's own requests in line and
    its replies ahead of its outbox, so only requests about to start ask the database.
    """

    # While every slot is taken, ask again this often (a slot frees within a second).
    POLL = 0.02

    def __init__(
        self,
        engine: AsyncEngine,
        rate: float = 30,
        chat_rate: float = 1.0,
        chat_burst: float = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(rate, chat_rate, chat_burst, clock)
        # Each statement stands alone: nothing to roll back, and no connection held waiting.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._pauses: set[asyncio.Task[None]] = set()

    async def prepare(self) -> None:
        """Makes sure the database has a slot for every request a second allows."""
        async with self.engine.connect() as connection:
            await provide_slots(connection, self.rate)

    @asynccontextmanager
    async def slot(self, chat_id: int | None, reply: bool = True) -> AsyncIterator[None]:
        async with super().slot(chat_id, reply):
            if chat_id is not None:
                await self._wait_for_chat_turn(chat_id)
            taken = await self._take_shared_slot()
            try:
                yield
            finally:
                # Whether or not it was answered, the request may have reached Telegram.
                async with self.engine.connect() as connection:
                    await free_slot(connection, taken)

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        task = asyncio.get_running_loop().create_task(self._pause_everyone(seconds))
        self._pauses.add(task)
        task.add_done_callback(self._pauses.discard)

    async def _pause_everyone(self, seconds: float) -> None:
        async with self.engine.connect() as connection:
            await pause_all(connection, seconds)

    async def _wait_for_chat_turn(self, chat_id: int) -> None:
        while True:
            async with self.engine.connect() as connection:
                wait = await take_chat_token(connection, chat_id, self.chat_rate, self.chat_burst)
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _take_shared_slot(self) -> int:
        while True:
            async with self.engine.connect() as connection:
                taken, wait = await take_slot(connection, self.rate)
            if taken is not None:
                return taken
            await asyncio.sleep(min(max(wait, 0.001), self.POLL))
