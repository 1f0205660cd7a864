"""Every process's FAQ book keeps up with the phrasings staff taught (and took back),
without a restart.

The phrasings live in the database (models/questions.py TaughtPhrasing). At start a
process loads them all; then, before answering a typed question, it looks for new ones
(one indexed query, at most every few seconds), so a phrasing taught on one instance, or
from the command line, is used by every instance within seconds.
"""

import logging
import time
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.faq.book import FaqBook
from models.questions import removed_phrasings, taught_phrasings

logger = logging.getLogger(__name__)

CHECK_EVERY = 3.0  # seconds between two looks for phrasings another process taught
# On PostgreSQL a row can commit after one with a higher id (ids are handed out before
# commit): each look reads again the last few rows it knows, to find such a late one.
OVERLAP = 50


class Lessons:
    """Keeps one process's FAQ book up to date with the phrasings taught in the database."""

    def __init__(
        self,
        book: FaqBook,
        every: float = CHECK_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.book = book
        self.every = every
        self._clock = clock
        self._last_id = 0
        self._known: set[int] = set()
        self._forgotten: set[int] = set()
        self._checked_at: float | None = None

    async def catch_up(self, db: AsyncSession, force: bool = False) -> int:
        """Adds the phrasings taught since the last look (one indexed query, at most every
        `every` seconds unless forced); returns how many it added."""
        now = self._clock()
        if not force and self._checked_at is not None and now - self._checked_at < self.every:
            return 0
        self._checked_at = now
        added = 0
        for phrasing in await taught_phrasings(db, after_id=max(0, self._last_id - OVERLAP)):
            assert phrasing.id is not None
            if phrasing.id in self._known:
                continue
            self._known.add(phrasing.id)
            self._last_id = max(self._last_id, phrasing.id)
            if phrasing.entry_key not in self.book.entries:
                # The entry left the FAQ files; `applicant-bot faq check` lists it.
                logger.warning(
                    "taught phrasing %s: no FAQ entry %r", phrasing.id, phrasing.entry_key
                )
                continue
            self.book.add_phrasing(phrasing.entry_key, phrasing.text)
            added += 1
        for phrasing in await removed_phrasings(db):
            if phrasing.id in self._known and phrasing.id not in self._forgotten:
                self._forgotten.add(phrasing.id)
                self.book.remove_phrasing(phrasing.entry_key, phrasing.text)
        return added

    def expect_news(self) -> None:
        """Something was taught in this process: look again at the very next question."""
        self._checked_at = None
