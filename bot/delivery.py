"""The outbox sender: due messages out, one at a time, within Telegram's limits.

For each due row: wait for a slot from the shared pacer, claim the row (pending ->
sending, committed), make one request, record the outcome (committed). Only one
message is ever in flight, so a crash can repeat at most that one: at start,
`recover` puts a row left "sending" back in line. Rows are read a batch at a time,
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
from handlers.events import Outgoing
from handlers.letters import from_content
from models.applicants import mark_applicant_unreachable
from models.columns import utcnow
from models.outbox import (
    DueMessage,
    OutboxStatus,
    attempts_of,
    claim,
    due_batch,
    postpone,
    release_claims,
    settle,
    skip_pending_for,
)
from models.schedule import QuietHours

logger = logging.getLogger(__name__)


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
        self.counts: dict[str, int] = {}

    async def recover(self) -> int:
        """At start: a row left "sending" by a crash goes back in line (it may repeat once)."""
        async with self.sessions() as db, db.begin():
            released = await release_claims(db)
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
        while limit is None or handled < limit:
            now = self.clock()
            night = self.quiet is not None and self.quiet.contains(now)
            async with self.sessions() as db:
                due = await due_batch(db, now, self.batch, night, self.only_chat)
            if not due:
                break
            for message in due:
                await self._deliver(message)
                handled += 1
        return handled

    async def _deliver(self, message: DueMessage) -> None:
        wait = self.pacer.chat_wait(message.chat_id)
        if wait > 0:  # this chat just had a message: its turn comes later, others go first
            async with self.sessions() as db, db.begin():
                await postpone(db, message.id, self.clock() + timedelta(seconds=wait))
            return
        async with self.sessions() as db, db.begin():
            if not await claim(db, message.id, self.clock()):
                return  # skipped or taken meanwhile
        async with self.pacer.slot(message.chat_id, reply=False):
            delivery = await self._send(message)
        await self._record(message, delivery)

    async def _send(self, message: DueMessage) -> Delivery:
        delivery = Delivery(Outcome.SENT)
        for action in from_content(message.content):
            delivery = await self.send_one(message.chat_id, action)
            if delivery.outcome is not Outcome.SENT:
                break
        return delivery

    async def _record(self, message: DueMessage, delivery: Delivery) -> None:
        now = self.clock()
        self.counts[delivery.outcome.value] = self.counts.get(delivery.outcome.value, 0) + 1
        async with self.sessions() as db, db.begin():
            match delivery.outcome:
                case Outcome.SENT:
                    await settle(db, message.id, OutboxStatus.SENT, now)
                case Outcome.RETRY_AFTER:
                    self.pacer.pause(delivery.retry_after)
                    retry_at = now + timedelta(seconds=delivery.retry_after)
                    await settle(db, message.id, OutboxStatus.PENDING, now, "429", retry_at)
                case Outcome.BLOCKED:
                    await settle(db, message.id, OutboxStatus.FAILED, now, delivery.error)
                    if message.applicant_id is not None:
                        await mark_applicant_unreachable(db, message.applicant_id)
                        await skip_pending_for(db, message.applicant_id, "blocked the bot")
                case Outcome.CHAT_GONE | Outcome.REFUSED:
                    await settle(db, message.id, OutboxStatus.FAILED, now, delivery.error)
                    logger.warning("outbox message %s refused: %s", message.id, delivery.error)
                case Outcome.TRANSIENT:
                    attempts = await attempts_of(db, message.id)
                    if attempts >= self.max_attempts:
                        await settle(db, message.id, OutboxStatus.FAILED, now, delivery.error)
                        logger.error("outbox message %s failed %s times", message.id, attempts)
                    else:
                        delay = timedelta(seconds=self.backoff * 2 ** (attempts - 1))
                        await settle(
                            db, message.id, OutboxStatus.PENDING, now, delivery.error, now + delay
                        )
