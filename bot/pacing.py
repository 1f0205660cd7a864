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
