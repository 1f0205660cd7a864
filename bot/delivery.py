"""The outbox sender: due messages out, several at once, within Telegram's limits.

A pipeline of up to W requests in flight, each to a different chat. W is sized from
`SEND_RATE` x the measured round trip (so that a distant Telegram still gets the whole
budget), never more than `window_cap`. One loop keeps the books, in one transaction
at a time: it writes down how the finished requests went and claims the next due rows
(pending -> sending), a batch of each per transaction. Another starts requests from
the claimed rows, as the shared pacer allows. A row is claimed before its request
and its outcome recorded after it; a request holds its place in the window until its
outcome is committed, so at most W messages are ever sent and unrecorded: a crash can
repeat at most W. At start, `recover` puts the rows left "sending" back in line. A
chat never has two rows claimed (the database will not give out a chat's next row
while one is sending, due or held back), so its messages go one at a time, in order.

The outcome decides the row's fate: sent; 429 pauses every sender and the row waits
its turn again; 403 marks the applicant unreachable and skips their other rows; a
chat that does not exist or a request Telegram refuses fails the row; network errors
and 5xx are retried with exponential backoff, then fail. When the database cannot take
the outcomes, they are kept and written again (nothing sent twice, nothing stalled);
the window stays full meanwhile, so nothing more is sent until they are written.
"""

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.metrics import Metrics
from bot.pacing import SendPacer, Ticket
from handlers.core.content import from_content
from handlers.core.events import Outgoing
from models.applicants import applicant_blocked
from models.columns import utcnow
from models.db import DatabaseWatch
from models.outbox import (
    DueMessage,
    OutboxStatus,
    Settlement,
    claim_many,
    due_batch,
    postpone,
    release_claims,
    settle_many,
    unclaim,
)
from models.schedule import QuietHours

logger = logging.getLogger(__name__)

# A claimed row still "sending" after this long was left by an instance that died.
STALE_CLAIM = timedelta(minutes=5)
# A row claimed ahead and not started within this long (a long 429 pause) goes back in
# line, far from the time another instance would take it as left by a dead one.
CLAIMED_AHEAD_AT_MOST = 60.0
# The round trip W is sized from before any was measured.
FIRST_ROUND_TRIP = 0.05
# How long the bookkeeper waits before writing outcomes again after the database failed.
RECORD_RETRY = (0.2, 0.5, 1.0, 2.0, 5.0)


class Outcome(StrEnum):
    SENT = "sent"
    RETRY_AFTER = "retry_after"  # 429: flood control
    BLOCKED = "blocked"  # 403: the user blocked the bot
    CHAT_GONE = "chat_gone"  # 400: chat not found
    REFUSED = "refused"  # 400: any other bad request; sending it again cannot help
    TRANSIENT = "transient"  # network error or 5xx


@dataclass(frozen=True)
class Delivery:
    """What one request to Telegram came to."""

    outcome: Outcome
    retry_after: float = 0.0
    error: str = ""
    message_id: int | None = None  # the number Telegram gave the message it took
    server_error: bool = False  # TRANSIENT from a 5xx answer (not a network error)

    @property
    def figure(self) -> str:
        """How /metrics counts it: ok, 429, 403, 400, 5xx or network."""
        match self.outcome:
            case Outcome.SENT:
                return "ok"
            case Outcome.RETRY_AFTER:
                return "429"
            case Outcome.BLOCKED:
                return "403"
            case Outcome.CHAT_GONE | Outcome.REFUSED:
                return "400"
        return "5xx" if self.server_error else "network"


# One request for one action to one chat, without retrying: the sender decides what next.
SendOne = Callable[[int, Outgoing], Awaitable[Delivery]]


@dataclass
class _Claimed:
    message: DueMessage
    attempts: int
    at: float  # when it was claimed (monotonic)


@dataclass
class _Finished:
    message: DueMessage
    delivery: Delivery
    attempts: int
    retry_at: datetime | None


class OutboxSender:
    """Delivers the outbox through a channel; one per process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        send_one: SendOne,
        pacer: SendPacer | None = None,
        quiet: QuietHours | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 200,
        max_attempts: int = 5,
        backoff: float = 2.0,
        idle_interval: float = 1.0,
        only_chat: int | None = None,
        instance: str = "",
        window_cap: int = 256,
        metrics: Metrics | None = None,
        watch: DatabaseWatch | None = None,
    ) -> None:
        self.sessions = sessions
        self.send_one = send_one
        self.pacer = pacer or SendPacer(rate=1000, chat_burst=1000)
        self.quiet = quiet
        self.clock = clock
        self.batch = batch
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.idle_interval = idle_interval
        self.only_chat = only_chat  # the console sends only what is addressed to its user
        self.instance = instance  # its name on the rows it claims, to find them after a crash
        self.window_cap = max(1, window_cap)
        self.counts: dict[str, int] = {}
        self.metrics = metrics or Metrics()  # the app's, for /metrics
        self.watch = watch  # while the database is away, the sender waits for it quietly
        self.peak_in_flight = 0  # the most requests sent and unrecorded at once, for figures
        # chat -> (until, row id): that row waits until then, so the chat's later rows
        # (higher ids) wait at least as long and never overtake it.
        self._held: dict[int, tuple[datetime, int]] = {}
        self._stopping = False

    def window(self) -> int:
        """W: how many messages may be sent and not yet recorded at once."""
        trips = self.pacer.round_trips
        round_trip = trips.recent if trips.seen else FIRST_ROUND_TRIP
        # Twice a round trip's worth: a request keeps its place until its outcome is
        # committed, so the window also covers the bookkeeper's turn (1.5 left 300 a
        # second at 250 ms a few percent short, waiting for places).
        wanted = math.ceil(self.pacer.rate * round_trip * 2) + 2
        return max(1, min(self.window_cap, self.pacer.rate, wanted))

    async def recover(self) -> int:
        """At start: rows this instance left "sending" at a crash go back in line (the W
        at most that were in flight may repeat); so do rows left long ago by any instance
        that never came back."""
        stale_before = self.clock() - STALE_CLAIM
        async with self.sessions() as db, db.begin():
            released = await release_claims(db, instance=self.instance, stale_before=stale_before)
        if released:
            logger.warning(
                "%s outbox message(s) were claimed at a crash; sending them (again)", released
            )
        return released

    async def run(self) -> None:
        """Sends forever: drains what is due, naps briefly when nothing is."""
        while True:
            try:
                handled = await self.send_due()
            except Exception as error:
                if await self.waited_out_outage(error):
                    continue
                logger.exception("the outbox sender failed; trying again shortly")
                handled = 0
            if handled == 0:
                await asyncio.sleep(self.idle_interval)

    async def waited_out_outage(self, error: BaseException) -> bool:
        """True, once the database is back, if its being away explains `error`; the watch
        logs the outage once, instead of an error at every try."""
        if self.watch is None or not await self.watch.explains(error):
            return False
        await self.watch.until_back()
        return True

    async def send_due(self, limit: int | None = None) -> int:
        """Sends what is due now; returns how many rows were handled (sent or held back)."""
        async with self.sessions() as db:
            return await _Drain(self, db, limit).run()

    def request_stop(self) -> None:
        """Finishes the messages in flight, records them, and sends nothing more."""
        self._stopping = True

    def _retry_at(self, delivery: Delivery, attempts: int) -> datetime | None:
        """When a message that did not go out is tried again; None when it never is."""
        now = self.clock()
        if delivery.outcome is Outcome.RETRY_AFTER:
            return now + timedelta(seconds=delivery.retry_after)
        if delivery.outcome is Outcome.TRANSIENT and attempts < self.max_attempts:
            return now + timedelta(seconds=self.backoff * 2 ** (attempts - 1))
        return None

    def _hold(self, message: DueMessage, until: datetime) -> None:
        """The chat's rows after this one wait until it had its turn."""
        held_until, _ = self._held.get(message.chat_id, (until, message.id))
        self._held[message.chat_id] = (max(held_until, until), message.id)

    def _chat_free_at(self, message: DueMessage, now: datetime) -> datetime:
        """When the message's chat may have it: now, or later for its pace or a held row."""
        until = now + timedelta(seconds=self.pacer.chat_wait(message.chat_id))
        held_until, held_id = self._held.get(message.chat_id, (now, message.id))
        return max(until, held_until) if held_id < message.id else until

    async def _send(self, message: DueMessage) -> Delivery:
        delivery = Delivery(Outcome.SENT)
        for action in from_content(message.content):
            delivery = await self.send_one(message.chat_id, action)
            if delivery.outcome is not Outcome.SENT:
                break
        return delivery

    async def _deliver(self, claimed: _Claimed, ticket: Ticket) -> _Finished:
        """One request, holding its pacer slot; a 429 pauses everyone before it is released."""
        message = claimed.message
        try:
            ticket.started = self.pacer.clock()
            try:
                delivery = await self._send(message)
            except Exception as error:  # a bug or an unforeseen error: retried, then failed
                logger.exception("outbox message %s: unexpected error", message.id)
                delivery = Delivery(Outcome.TRANSIENT, error=f"{type(error).__name__}: {error}")
            if delivery.outcome is Outcome.RETRY_AFTER:
                self.pacer.pause(delivery.retry_after)  # before anyone's next request
        finally:
            try:
                await self.pacer.release(ticket)
            except Exception:
                logger.exception(
                    "outbox message %s: the pacer could not free its slot", message.id
                )
        retry_at = self._retry_at(delivery, claimed.attempts)
        if retry_at is not None:
            self._hold(message, retry_at)  # the chat's later rows must not overtake this one
        return _Finished(message, delivery, claimed.attempts, retry_at)

    async def _record(self, db: AsyncSession, finished: list[_Finished]) -> None:
        """Writes down how the finished messages went (in the caller's transaction)."""
        now = self.clock()
        settlements: list[Settlement] = []
        for done in finished:
            message, delivery = done.message, done.delivery
            match delivery.outcome:
                case Outcome.SENT:
                    settlements.append(
                        Settlement(
                            message.id, OutboxStatus.SENT, telegram_message_id=delivery.message_id
                        )
                    )
                case Outcome.BLOCKED:
                    settlements.append(Settlement(message.id, OutboxStatus.FAILED, delivery.error))
                case Outcome.CHAT_GONE | Outcome.REFUSED:
                    settlements.append(Settlement(message.id, OutboxStatus.FAILED, delivery.error))
                case _ if done.retry_at is not None:  # a 429, or a network error or 5xx
                    error = "429" if delivery.outcome is Outcome.RETRY_AFTER else delivery.error
                    settlements.append(
                        Settlement(message.id, OutboxStatus.PENDING, error, done.retry_at)
                    )
                case _:
                    settlements.append(Settlement(message.id, OutboxStatus.FAILED, delivery.error))
        await settle_many(db, settlements, now)
        for done in finished:
            if done.delivery.outcome is Outcome.BLOCKED and done.message.applicant_id is not None:
                await applicant_blocked(db, done.message.applicant_id)

    def _counted(self, finished: list[_Finished]) -> None:
        """After the commit: the figures, and the log lines of what went wrong."""
        for done in finished:
            outcome = done.delivery.outcome
            self.counts[outcome.value] = self.counts.get(outcome.value, 0) + 1
            if outcome is Outcome.SENT:
                self.metrics.outbox_delivered(done.message.dedupe_key)
            if outcome in (Outcome.CHAT_GONE, Outcome.REFUSED):
                logger.warning(
                    "outbox message %s refused: %s", done.message.id, done.delivery.error
                )
            elif outcome is Outcome.TRANSIENT and done.retry_at is None:
                logger.error("outbox message %s failed %s times", done.message.id, done.attempts)


class _Drain:
    """One `send_due`: the bookkeeping loop (this coroutine) and the starting loop (a task).

    The bookkeeper runs one transaction at a time: the outcomes finished so far, then a
    batch of claims. Outcomes are forgotten only after their commit; a failed commit is
    tried again, and until then their requests keep their places in the window.
    """

    def __init__(self, sender: OutboxSender, db: AsyncSession, limit: int | None) -> None:
        self.sender = sender
        self.db = db
        self.limit = limit
        self.handled = 0
        self.ready: deque[_Claimed] = deque()  # claimed, not started
        self.finished: list[_Finished] = []  # sent (or failed), not recorded
        self.unrecorded = 0  # started and not recorded: the window in use
        self.starting: _Claimed | None = None  # taken from `ready`, waiting for the pacer
        self.releasing: list[int] = []  # claimed, not started, to go back in line
        self.requests: set[asyncio.Task[None]] = set()
        self.dry = False  # the last look found nothing due
        self.wake = asyncio.Event()  # the bookkeeper has something to do
        self.room = asyncio.Event()  # the starter may find a row or a place in the window

    async def run(self) -> int:
        starter = asyncio.create_task(self._start_requests())
        failures = 0
        try:
            while True:
                self.wake.clear()
                if starter.done() and not starter.cancelled() and starter.exception():
                    starter.result()  # the starter failed: its error is this drain's
                if self._book_work():
                    try:
                        await self._book()
                        failures = 0
                    except Exception as error:
                        if await self.sender.waited_out_outage(error):
                            continue  # the outcomes in hand are written now
                        delay = RECORD_RETRY[min(failures, len(RECORD_RETRY) - 1)]
                        failures += 1
                        logger.exception(
                            "the outbox could not be written (%s outcome(s) waiting); "
                            "trying again in %s s",
                            len(self.finished),
                            delay,
                        )
                        await asyncio.sleep(delay)
                    continue
                if self._finished_all():
                    break
                await self.wake.wait()
        finally:
            await self._wind_down(starter)
        return self.handled

    def _book_work(self) -> bool:
        """Outcomes to write, rows to claim, or claims grown old to give back."""
        if self.finished or self.releasing:
            return True
        return bool(self._old_claims()) or self._claims_wanted() > 0

    def _claims_wanted(self) -> int:
        sender = self.sender
        if sender._stopping or self.dry:
            return 0
        if self.limit is not None and self.handled >= self.limit:
            return 0
        window = sender.window()
        target = min(sender.batch, max(2 * window, sender.pacer.rate // 10, 4))
        if len(self.ready) > target // 2:
            return 0
        wanted = target - len(self.ready)
        if self.limit is not None:
            wanted = min(wanted, self.limit - self.handled)
        return wanted

    def _old_claims(self) -> list[_Claimed]:
        oldest = time.monotonic() - CLAIMED_AHEAD_AT_MOST
        return [c for c in self.ready if c.at < oldest]

    def _finished_all(self) -> bool:
        if self.requests or self.finished or self.unrecorded or self.releasing:
            return False
        if self.sender._stopping:
            return True
        if self.ready or self.starting is not None:
            return False
        return self.dry or (self.limit is not None and self.handled >= self.limit)

    async def _book(self) -> None:
        """One transaction: record the finished, give back old claims, claim more."""
        sender = self.sender
        finished = list(self.finished)
        for old in self._old_claims():  # taken from the starter's reach before any await
            self.ready.remove(old)
            self.releasing.append(old.message.id)
        releasing = list(self.releasing)
        wanted = self._claims_wanted()
        now = sender.clock()
        sender._held = {c: held for c, held in sender._held.items() if held[0] > now}
        night = sender.quiet is not None and sender.quiet.contains(now)
        claimed: list[_Claimed] = []
        due: list[DueMessage] = []
        postponed = 0
        looked = False
        async with self.db.begin():
            await sender._record(self.db, finished)
            await unclaim(self.db, releasing)
            if wanted > 0:
                looked = True
                due = await due_batch(self.db, now, wanted, night, sender.only_chat)
                claimable = []
                for message in due:
                    until = sender._chat_free_at(message, now)
                    if until > now:  # this chat just had a message: its turn comes later
                        sender._hold(message, until)
                        await postpone(self.db, message.id, until)
                        postponed += 1
                    else:
                        claimable.append(message)
                ids = [m.id for m in claimable]
                attempts = await claim_many(self.db, ids, sender.clock(), sender.instance, night)
                at = time.monotonic()
                claimed = [_Claimed(m, attempts[m.id], at) for m in claimable if m.id in attempts]
        # Committed: only now are the outcomes forgotten and their places freed.
        del self.finished[: len(finished)]
        self.unrecorded -= len(finished)
        sender._counted(finished)
        del self.releasing[: len(releasing)]
        self.ready.extend(claimed)
        self.handled += len(claimed) + postponed
        if finished:
            self.dry = False  # a chat's next row may be due now that this one is written
        if looked and not due:
            self.dry = True
        self.room.set()

    async def _start_requests(self) -> None:
        """Starts requests from the claimed rows while the window has room."""
        sender = self.sender
        try:
            while not sender._stopping:
                if not self.ready or self.unrecorded >= sender.window():
                    if not self.ready and self._nothing_more_to_start():
                        break
                    self.room.clear()
                    self.wake.set()  # the bookkeeper may claim more, or record
                    await self.room.wait()
                    continue
                claimed = self.starting = self._next_ready()
                ticket = await sender.pacer.acquire(claimed.message.chat_id, reply=False)
                self.starting = None
                if sender._stopping:
                    await sender.pacer.release(ticket)
                    self.ready.appendleft(claimed)
                    break
                self.unrecorded += 1
                sender.peak_in_flight = max(sender.peak_in_flight, self.unrecorded)
                task = asyncio.create_task(self._request(claimed, ticket))
                self.requests.add(task)
                task.add_done_callback(self.requests.discard)
                if len(self.ready) <= sender.window():
                    self.wake.set()
        finally:
            self.wake.set()

    def _nothing_more_to_start(self) -> bool:
        return self.dry and not self.requests and not self.finished and not self.unrecorded

    def _next_ready(self) -> _Claimed:
        """The first claimed row whose chat may have a message now (else the first)."""
        pacer = self.sender.pacer
        for index, claimed in enumerate(self.ready):
            if index >= 16:
                break
            if pacer.chat_wait(claimed.message.chat_id) <= 0:
                del self.ready[index]
                return claimed
        return self.ready.popleft()

    async def _request(self, claimed: _Claimed, ticket: Ticket) -> None:
        self.finished.append(await self.sender._deliver(claimed, ticket))
        self.wake.set()

    async def _wind_down(self, starter: asyncio.Task[None]) -> None:
        """Stopped, finished or cancelled: the rows claimed and not started go back in
        line, and what finished is written down (a request cut off mid-way stays
        "sending", for `recover`)."""
        starter.cancel()
        for task in list(self.requests):
            task.cancel()
        await asyncio.gather(starter, *self.requests, return_exceptions=True)
        if not (self.finished or self.ready or self.releasing or self.starting):
            return
        finished = list(self.finished)
        unstarted = self.releasing + [c.message.id for c in self.ready]
        if self.starting is not None:
            unstarted.append(self.starting.message.id)
        for delay in (*RECORD_RETRY, None):
            try:
                async with self.db.begin():
                    await self.sender._record(self.db, finished)
                    await unclaim(self.db, unstarted)
            except Exception:
                if delay is None:
                    logger.exception("the outbox sender stopped with outcomes unwritten")
                    return
                logger.exception("the outbox could not be written; trying again in %s s", delay)
                await asyncio.sleep(delay)
                continue
            self.sender._counted(finished)
            self.finished.clear()
            self.ready.clear()
            self.releasing.clear()
            self.starting = None
            return
