"""Telegram's sending limits, kept on our side: one budget for every message the bot sends.

Global: at most `rate` requests in any one second *as the server sees them*. A request
reaches the server somewhere between the moment it starts and the moment its answer
comes back, so a request counts from its start, while in flight, and after its answer
until no later request can arrive within a second of it. Spacing requests evenly on
the client is not enough: a slow answer followed by quick ones arrives bunched, and
the server counts arrivals.

How long after its answer a request still counts depends on the way there and back.
Each way takes at least `floor`: a share (`FLOOR_SHARE`) of half the shortest round trip
seen in the last five minutes, less `ONE_WAY_SLACK`. The share and the slack are there
because a measured round trip also holds our own event loop's delays, and under load
they need not fall evenly on both ways. (At a round trip of a few milliseconds, all
delay, the floor is 0.) The request arrived at least `floor` before its answer came
back, and the next one will arrive at least `floor` after it starts; so an answered
request stops counting `1 - 2 x floor` seconds after its answer. At a steady 250 ms
round trip a request thus counts for about 1.02 s from its start, and a distant
Telegram still gets about 97% of the budget. A round trip that suddenly grows is safe
(the floor stays where it was); one that falls below the floor within five minutes
could bunch arrivals until its first answer teaches the new floor; from then on, the
requests answered before it count as long as the new floor says. The floor starts at 0
(a second after the answer) and rises no faster than `FLOOR_RISE`: the first requests
of a burst open connections and queue, slow both ways, and a floor learned from them
alone drew 429s. (Guessing that a request arrived halfway through its round trip would
count it less long, but the halves are not equal: that brought 429s.)

Per chat: a token bucket of `chat_rate` per second with a small burst, so a reply of
two messages is not held back, while a chat never gets a stream faster than Telegram
allows. Telegram counts a message when it arrives, which may be as late as its answer:
once answered, a message counts against its chat as if taken from the bucket then, so a
slow first message (the one that starts the bucket refilling) does not let the fourth
arrive too soon. A group (a negative chat id: the staff group) gets about 20 a minute, as
Telegram allows groups: a burst of 3, then 17 a minute, so never more than 20 in any
minute.

A 429 pauses everything for its `retry_after`. Telegram's answer does not say which limit
was hit, the bot's or a chat's (the fake server in tests/ answers the same way for both),
so a 429 from the staff group pauses all sending too: pacing the group at its own limit
is what keeps it from happening. Replies to users go first: while one waits, background
senders (the outbox) leave the next slot to it.
"""

import asyncio
import heapq
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from models.send_budget import (
    count_chat_from_answer,
    free_slot,
    pause_all,
    provide_slots,
    take_chat_token,
    take_slot,
)

logger = logging.getLogger(__name__)

# Our clock and Telegram's differ by the request's travel time; a hair of slack keeps
# our per-chat view from running ahead of the server's.
CHAT_SLACK = 0.05
# A group's pace: at most 20 messages in any minute (the burst and a minute's refill).
GROUP_BURST = 3.0
GROUP_RATE = (20 - GROUP_BURST) / 60
# The floor of each way: this share of half the shortest round trip, less the slack (our
# own event loop's delays are in every measured round trip, not always half on each way).
# bench/delivery.py: 0.95 and 5 ms drew no 429 at 30 and 300 a second, 100 and 250 ms;
# 0.9 and 10 ms cost 2-3% of the budget at 250 ms.
FLOOR_SHARE = 0.95
ONE_WAY_SLACK = 0.005
# The floor follows the round trips down at once, but up by at most this many seconds a
# second, from 0 at start: the first requests of a burst open connections and queue,
# and a floor learned from them alone was too high (the next, quicker requests arrived
# early enough to draw a 429). Quicker ones have come back before the floor gets there.
FLOOR_RISE = 0.1
# The shortest round trip is the shortest within this many seconds, in buckets of ten.
FLOOR_MEMORY = 300.0
FLOOR_BUCKET = 10.0


class RoundTrips:
    """What the round trips to Telegram have been: the shortest lately, and a recent one."""

    def __init__(self) -> None:
        self._shortest: deque[tuple[float, float]] = deque()  # (bucket start, shortest in it)
        self.recent = 0.0  # a moving average that follows a rise at once
        self.seen = 0

    def add(self, seconds: float, now: float) -> None:
        self.seen += 1
        bucket = now - now % FLOOR_BUCKET
        if self._shortest and self._shortest[-1][0] == bucket:
            self._shortest[-1] = (bucket, min(self._shortest[-1][1], seconds))
        else:
            self._shortest.append((bucket, seconds))
        while self._shortest[0][0] < now - FLOOR_MEMORY:
            self._shortest.popleft()
        self.recent = seconds if seconds > self.recent else 0.9 * self.recent + 0.1 * seconds

    def shortest(self) -> float | None:
        return min(s for _, s in self._shortest) if self._shortest else None


@dataclass
class Ticket:
    """One request's hold on the budget, from its start until it is released."""

    chat_id: int | None
    started: float
    shared_slot: int | None = None
    counted_until: float = 0.0  # once answered: when it stops counting against the budget


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
        self._counted_until: list[float] = []  # heap: when answered requests stop counting
        self._in_flight = 0
        self._chat_tokens: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at)
        self._chat_in_flight: Counter[int] = Counter()
        self._paused_until = 0.0
        self._replies_waiting = 0
        self.round_trips = RoundTrips()
        self._floor = 0.0  # see `floor`
        self._floor_at: float | None = None
        self.paused_total = 0.0  # seconds spent paused by 429s, for the figures

    @asynccontextmanager
    async def slot(self, chat_id: int | None, reply: bool = True) -> AsyncIterator[None]:
        """Waits for a free slot for one request to `chat_id`, then holds it until it ends."""
        ticket = await self.acquire(chat_id, reply)
        try:
            yield
        finally:
            await self.release(ticket)

    async def acquire(self, chat_id: int | None, reply: bool = True) -> Ticket:
        """Waits until a request to `chat_id` may start, and counts it; `release` it after."""
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
        return Ticket(chat_id, self.clock())

    async def release(self, ticket: Ticket) -> None:
        """The request's answer came (or it failed): it counts a little longer, then not."""
        now = self.clock()
        round_trip = now - ticket.started
        floor_before = self._floor
        self.round_trips.add(round_trip, now)
        self._in_flight -= 1
        if ticket.chat_id is not None:
            self._chat_in_flight[ticket.chat_id] -= 1
            if not self._chat_in_flight[ticket.chat_id]:
                del self._chat_in_flight[ticket.chat_id]
            self._count_chat_from_answer(ticket.chat_id, now)
        floor = self.floor()
        if floor < floor_before:
            # The way was quicker than we thought: the requests answered so far may have
            # arrived later than counted on, so they count as long as the new floor says
            # (a uniform shift keeps the heap in order).
            shift = 2 * (floor_before - floor)
            self._counted_until = [until + shift for until in self._counted_until]
        ticket.counted_until = now + max(0.0, 1.0 - 2 * floor)
        heapq.heappush(self._counted_until, ticket.counted_until)

    def floor(self) -> float:
        """The least time each way to Telegram takes, as far as we can tell (see above)."""
        shortest, now = self.round_trips.shortest(), self.clock()
        if shortest is None or self._floor_at is None:  # it rises from the first answer on
            self._floor, self._floor_at = 0.0, now
            return 0.0
        measured = FLOOR_SHARE * shortest / 2 - ONE_WAY_SLACK
        risen = self._floor + FLOOR_RISE * (now - self._floor_at)
        self._floor, self._floor_at = max(0.0, min(measured, risen)), now
        return self._floor

    def chat_wait(self, chat_id: int) -> float:
        """Seconds until `chat_id` may get another message (0 when it may now)."""
        tokens, _ = self._tokens(chat_id, self.clock())
        rate, _ = self.pace_of(chat_id)
        return 0.0 if tokens >= 1 else (1 - tokens) / rate + CHAT_SLACK

    def pace_of(self, chat_id: int) -> tuple[float, float]:
        """The chat's refill per second and burst: a group's are Telegram's for groups."""
        if chat_id < 0:
            return min(GROUP_RATE, self.chat_rate), min(GROUP_BURST, self.chat_burst)
        return self.chat_rate, self.chat_burst

    def _count_chat_from_answer(self, chat_id: int, now: float) -> None:
        """The answered message may have arrived just now: the chat's bucket holds at most
        what it would if the message had been taken from a full bucket now."""
        tokens, _ = self._tokens(chat_id, now)
        self._chat_tokens[chat_id] = (min(tokens, self._tokens_after_answer(chat_id)), now)

    def _tokens_after_answer(self, chat_id: int) -> float:
        """The most a chat's bucket holds once a message is answered: a full one, less that
        message and those still in flight."""
        _, burst = self.pace_of(chat_id)
        return burst - 1 - self._chat_in_flight[chat_id]

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
        counted = self._counted_until
        while counted and counted[0] <= now:
            heapq.heappop(counted)
        if len(counted) + self._in_flight >= self.rate:
            # The earliest to stop counting frees the next turn; with all in flight, poll.
            return (counted[0] - now) if counted else 0.002
        return 0.0

    def _take(self, chat_id: int | None) -> None:
        self._in_flight += 1
        if chat_id is not None:
            self._chat_in_flight[chat_id] += 1
            now = self.clock()
            tokens, _ = self._tokens(chat_id, now)
            self._chat_tokens[chat_id] = (tokens - 1, now)
            if len(self._chat_tokens) > 50_000:
                self._forget_quiet_chats(now)

    def _tokens(self, chat_id: int, now: float) -> tuple[float, float]:
        rate, burst = self.pace_of(chat_id)
        tokens, at = self._chat_tokens.get(chat_id, (burst, now))
        return min(burst, tokens + (now - at) * rate), now

    def _forget_quiet_chats(self, now: float) -> None:
        full = [c for c in self._chat_tokens if self._tokens(c, now)[0] >= self.pace_of(c)[1]]
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

    def floor(self) -> float:
        """0: with several instances, a slot counts until a full second after its answer.

        The floor assumes the round trip's delay is shared between both ways; on a busy
        machine it is mostly our own event loops', unevenly, and two instances each
        trusting their own floor drew 429s. Each slot still serves many chats at once.
        """
        return 0.0

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

    async def acquire(self, chat_id: int | None, reply: bool = True) -> Ticket:
        ticket = await super().acquire(chat_id, reply)
        try:
            if chat_id is not None:
                await self._wait_for_chat_turn(chat_id)
            ticket.shared_slot = await self._take_shared_slot()
        except BaseException:
            await super().release(ticket)
            raise
        ticket.started = self.clock()  # the round trip starts now, not in the local queue
        return ticket

    async def release(self, ticket: Ticket) -> None:
        await super().release(ticket)
        if ticket.shared_slot is not None:
            # Whether or not it was answered, the request may have reached Telegram.
            async with self.engine.connect() as connection:
                hold = ticket.counted_until - self.clock()
                await free_slot(connection, ticket.shared_slot, hold)
                if ticket.chat_id is not None:
                    rate, _ = self.pace_of(ticket.chat_id)
                    most = self._tokens_after_answer(ticket.chat_id)
                    await count_chat_from_answer(connection, ticket.chat_id, rate, most)

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        task = asyncio.get_running_loop().create_task(self._pause_everyone(seconds))
        self._pauses.add(task)
        task.add_done_callback(self._paused_everyone)

    def _paused_everyone(self, task: asyncio.Task[None]) -> None:
        self._pauses.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "a 429 could not pause the other instances: %s", task.exception(), exc_info=False
            )

    async def _pause_everyone(self, seconds: float) -> None:
        async with self.engine.connect() as connection:
            await pause_all(connection, seconds)

    async def _wait_for_chat_turn(self, chat_id: int) -> None:
        while True:
            async with self.engine.connect() as connection:
                wait = await take_chat_token(connection, chat_id, *self.pace_of(chat_id))
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
