"""The outbox sender: due messages out, one at a time, within Telegram's limits.

For each due row: claim it (pending -> sending) in the same transaction that records
how the previous one went, wait for a slot from the shared pacer, make one request.
Only one message is ever in flight or unrecorded, so a crash can repeat at most that
one: at start, `recover` puts a row left "sending" back in line. Rows are read a batch at a time,
never all, however many are queued.

The outcome decides the row's fate: sent; 429 pauses every sender and the row waits
its turn again; 403 marks the applicant unreachable and skips their other rows; a
chat that does not exist or a request Telegram refuses fails the row; network errors
and 5xx are retried with exponential backoff, then fail.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.pacing import SendPacer
from handlers.core.content import from_content
from handlers.core.events import Outgoing
from models.applicants import applicant_blocked
from models.columns import utcnow
from models.outbox import (
    DueMessage,
    OutboxStatus,
    claim,
    due_batch,
    postpone,
    release_claims,
    settle,
)
from models.schedule import QuietHours

logger = logging.getLogger(__name__)

# A claimed row still "sending" after this long was left by an instance that died.
STALE_CLAIM = timedelta(minutes=5)


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


# One request for one action to one chat, without retrying: the sender decides what next.
SendOne = Callable[[int, Outgoing], Awaitable[Delivery]]


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
        self.counts: dict[str, int] = {}
        # chat -> (until, row id): that row waits until then, so the chat's later rows
        # (higher ids) wait at least as long and never overtake it.
        self._held: dict[int, tuple[datetime, int]] = {}
        # The message sent last, whose outcome is written with the next claim.
        self._unrecorded: tuple[DueMessage, Delivery, int, datetime | None] | None = None
        self._stopping = False

    async def recover(self) -> int:
        """At start: a row this instance left "sending" at a crash goes back in line (it may
        repeat once); so do rows left long ago by any instance that never came back."""
        stale_before = self.clock() - STALE_CLAIM
        async with self.sessions() as db, db.begin():
            released = await release_claims(db, instance=self.instance, stale_before=stale_before)
        if released:
            logger.warning(
                "%s outbox message(s) were in flight at a crash; sending again", released
            )
        return released

    async def run(self) -> None:
        """Sends forever: drains what is due, naps briefly when nothing is."""
        while True:
            try:
                handled = await self.send_due()
            except Exception:
                logger.exception("the outbox sender failed; trying again shortly")
                handled = 0
            if handled == 0:
                await asyncio.sleep(self.idle_interval)

    async def send_due(self, limit: int | None = None) -> int:
        """Sends what is due now, batch after batch; returns how many rows were handled."""
        handled = 0
        # One session for the whole drain, a short transaction per message in it.
        async with self.sessions() as db:
            try:
                while (limit is None or handled < limit) and not self._stopping:
                    now = self.clock()
                    self._held = {c: held for c, held in self._held.items() if held[0] > now}
                    night = self.quiet is not None and self.quiet.contains(now)
                    async with db.begin():
                        # The last message's outcome first: while it reads "sending", its
                        # chat's next message would wait for a later batch.
                        await self._record_last(db)
                        due = await due_batch(db, now, self.batch, night, self.only_chat)
                    if not due:
                        break
                    for message in due:
                        if self._stopping:
                            break
                        await self._deliver(db, message, night)
                        handled += 1
            finally:
                if self._unrecorded is not None:
                    async with db.begin():
                        await self._record_last(db)
        return handled

    def request_stop(self) -> None:
        """Finishes the message in flight, records it, and sends nothing more."""
        self._stopping = True

    async def _deliver(self, db: AsyncSession, message: DueMessage, night: bool) -> None:
        """One row: wait its chat's turn, claim it, send it; the outcome is recorded with the
        next claim, in one transaction, so a crash can repeat at most one message."""
        now = self.clock()
        until = now + timedelta(seconds=self.pacer.chat_wait(message.chat_id))
        held_until, held_id = self._held.get(message.chat_id, (now, message.id))
        if held_id < message.id:
            until = max(until, held_until)
        async with db.begin():
            await self._record_last(db)
            if until > now:  # this chat just had a message: its turn comes later
                self._hold(message, until)
                await postpone(db, message.id, until)
                return
            attempts = await claim(db, message.id, self.clock(), self.instance, night)
            if attempts is None:
                return  # skipped or taken meanwhile
        async with self.pacer.slot(message.chat_id, reply=False):
            try:
                delivery = await self._send(message)
            except Exception as error:  # a bug or an unforeseen error: retried, then failed
                logger.exception("outbox message %s: unexpected error", message.id)
                delivery = Delivery(Outcome.TRANSIENT, error=f"{type(error).__name__}: {error}")
            if delivery.outcome is Outcome.RETRY_AFTER:
                self.pacer.pause(delivery.retry_after)  # before anyone's next request
        retry_at = self._retry_at(delivery, attempts)
        if retry_at is not None:
            self._hold(message, retry_at)  # the chat's later rows must not overtake this one
        self._unrecorded = (message, delivery, attempts, retry_at)

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

    async def _send(self, message: DueMessage) -> Delivery:
        delivery = Delivery(Outcome.SENT)
        for action in from_content(message.content):
            delivery = await self.send_one(message.chat_id, action)
            if delivery.outcome is not Outcome.SENT:
                break
        return delivery

    async def _record_last(self, db: AsyncSession) -> None:
        """Writes down how the last message went (in the caller's transaction)."""
        if self._unrecorded is None:
            return
        message, delivery, attempts, retry_at = self._unrecorded
        self._unrecorded = None
        now = self.clock()
        self.counts[delivery.outcome.value] = self.counts.get(delivery.outcome.value, 0) + 1
        match delivery.outcome:
            case Outcome.SENT:
                await settle(
                    db, message.id, OutboxStatus.SENT, now, telegram_message_id=delivery.message_id
                )
            case Outcome.BLOCKED:
                await settle(db, message.id, OutboxStatus.FAILED, now, delivery.error)
                if message.applicant_id is not None:
                    await applicant_blocked(db, message.applicant_id)
            case Outcome.CHAT_GONE | Outcome.REFUSED:
                await settle(db, message.id, OutboxStatus.FAILED, now, delivery.error)
                logger.warning("outbox message %s refused: %s", message.id, delivery.error)
            case _ if retry_at is not None:  # a 429, or a network error or 5xx to try again
                error = "429" if delivery.outcome is Outcome.RETRY_AFTER else delivery.error
                await settle(db, message.id, OutboxStatus.PENDING, now, error, retry_at)
            case _:
                await settle(db, message.id, OutboxStatus.FAILED, now, delivery.error)
                logger.error("outbox message %s failed %s times", message.id, attempts)
