"""The outbox sender: claims due messages, sends them through the channel, records how it went.

This is the simple sender: one per process, batch by batch. The claim and the record
are short transactions of their own, so SQLite's single writer is never held while
Telegram answers; the channel's call policy (429 waits, 403 marks the applicant,
network errors retried with backoff) decides whether a send succeeded.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import Outgoing
from handlers.letters import from_content
from models.applicants import Applicant
from models.outbox import OutboxMessage, OutboxStatus, due_messages, record_failure, record_sent

logger = logging.getLogger(__name__)

# Sends one queued message's actions to a chat; True when Telegram took all of them.
SendToChat = Callable[[int, list[Outgoing]], Awaitable[bool]]


class OutboxSender:
    """Delivers outbox rows whose time has come."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        send: SendToChat,
        batch: int = 50,
        idle_interval: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.send = send
        self.batch = batch
        self.idle_interval = idle_interval

    async def run(self) -> None:
        """Sends forever: batch after batch while there is work, a short nap when there is none."""
        while True:
            try:
                sent = await self.send_due()
            except Exception:
                logger.exception("the outbox sender failed; trying again shortly")
                sent = 0
            if sent == 0:
                await asyncio.sleep(self.idle_interval)

    async def send_due(self, chat_id: int | None = None) -> int:
        """Sends one batch of due messages (only `chat_id`'s, if given); returns how many."""
        claimed = await self._claim(chat_id)
        outcomes: dict[int, bool] = {}
        for message_id, chat, content in claimed:
            outcomes[message_id] = await self.send(chat, from_content(content))
        if outcomes:
            await self._record(outcomes)
        return len(outcomes)

    async def _claim(self, chat_id: int | None) -> list[tuple[int, int, list[dict[str, Any]]]]:
        async with self.sessions() as db, db.begin():
            due = await due_messages(db, self.batch, chat_id=chat_id)
            unreachable = await _unreachable_among(db, [m.applicant_id for m in due])
            claimed = []
            for message in due:
                assert message.id is not None
                if message.applicant_id in unreachable:
                    message.status = OutboxStatus.SKIPPED
                    message.last_error = "the applicant cannot be reached"
                    db.add(message)
                else:
                    claimed.append((message.id, message.chat_id, message.content))
            return claimed

    async def _record(self, outcomes: dict[int, bool]) -> None:
        async with self.sessions() as db, db.begin():
            rows = await db.exec(
                select(OutboxMessage).where(col(OutboxMessage.id).in_(list(outcomes)))
            )
            for message in rows.all():
                assert message.id is not None
                if outcomes[message.id]:
                    record_sent(message)
                else:
                    record_failure(message, "Telegram did not take the message", give_up=True)
                    logger.warning("outbox message %s could not be delivered", message.id)
                db.add(message)


async def _unreachable_among(db: AsyncSession, applicant_ids: list[int | None]) -> set[int]:
    ids = [i for i in applicant_ids if i is not None]
    if not ids:
        return set()
    rows = await db.exec(
        select(Applicant.id).where(col(Applicant.id).in_(ids), col(Applicant.reachable).is_(False))
    )
    return {i for i in rows.all() if i is not None}
