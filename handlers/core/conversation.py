"""The update runner: one event in, the replies out, with one transaction in between.

Steps for each event: drop a flood, take the user's lock (one user's events run in
order, different users concurrently), open the transaction, wait for the user's turn
across instances (PostgreSQL), drop a duplicate update, load the applicant and their
step, route, run the handler, commit, and only then hand the replies back to the channel.

While the database is away an event is not answered with an apology: it waits, still
holding the user's lock, and is handled when the database is back (or, for a channel
that can have Telegram send it again, raises `DatabaseAway`).
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.context import Context
from handlers.core.events import Incoming, Kind, Notify, Outgoing, SendText
from handlers.core.routing import Router
from handlers.core.services import Services, UpdateOutcome
from handlers.core.texts import Texts, resolve_locale
from models.applicants import mark_unreachable, meet_applicant
from models.db import DatabaseAway, DatabaseWatch
from models.turns import claim_update_in_turn

logger = logging.getLogger(__name__)

# An event whose connection dropped while the database still answers is tried this often.
DROPPED_CONNECTION_TRIES = 3
# Users remembered as being in a wizard, for `_read_ahead` (a hint, cleared when full).
ON_A_STEP_REMEMBERED = 100_000

Deliver = Callable[[list[Outgoing]], Awaitable[None]]


class UserLocks:
    """One lock per user, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (asyncio.Lock(), 0))
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[user_id]
            if users == 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class FloodGuard:
    """Slows down a user who sends more than `limit` events in `window` seconds.

    One such user must not cost everyone else: their extra events are dropped before
    they reach the database, and they are told once to slow down.
    """

    def __init__(
        self,
        limit: int = 20,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}
        self._warned: set[int] = set()

    def admit(self, user_id: int) -> bool | None:
        """True to handle the event; False to drop it after a warning; None to drop it."""
        now = self._clock()
        if len(self._recent) > 10_000:
            self._forget_quiet_users(now)
        recent = self._recent.setdefault(user_id, deque())
        while recent and now - recent[0] > self.window:
            recent.popleft()
        if len(recent) < self.limit:
            recent.append(now)
            self._warned.discard(user_id)
            return True
        if user_id in self._warned:
            return None
        self._warned.add(user_id)
        return False

    def _forget_quiet_users(self, now: float) -> None:
        for user_id in [u for u, times in self._recent.items() if now - times[-1] > self.window]:
            del self._recent[user_id]
            self._warned.discard(user_id)


class Conversation:
    """The conversation core every channel feeds."""

    def __init__(
        self,
        router: Router,
        sessions: async_sessionmaker[AsyncSession],
        services: Services,
        flood_guard: FloodGuard | None = None,
        watch: DatabaseWatch | None = None,
    ) -> None:
        self.router = router
        self.sessions = sessions
        self.services = services
        self.flood_guard = flood_guard or FloodGuard()
        self.watch = watch
        self.locks = UserLocks()
        self._on_a_step: set[int] = set()  # users this instance last left in a wizard

    async def handle(
        self, event: Incoming, deliver: Deliver | None = None, *, wait_for_database: bool = True
    ) -> list[Outgoing]:
        """Handles one event and returns what to send back, after the commit.

        A channel that passes `deliver` has the replies sent while the user's lock is
        still held, so one user's replies leave in the order of their messages. While the
        database is away the event waits for it, unless `wait_for_database` is False: then
        it raises DatabaseAway, and nothing was done.
        """
        started = time.perf_counter()
        tally = self.services.tally
        if not event.private and not self._answers_in_staff_group(event):
            tally.update_handled(event.kind, UpdateOutcome.IGNORED, 0.0)
            return []  # groups are not the place for an applicant's conversation
        admitted = self.flood_guard.admit(event.user_id)
        if admitted is None:
            tally.update_handled(event.kind, UpdateOutcome.FLOOD, 0.0)
            return []
        async with self.locks.hold(event.user_id):
            if admitted is False:
                outcome, actions = UpdateOutcome.FLOOD, self._slow_down(event)
            else:
                try:
                    handled = await self._handle_once_database_answers(event, wait_for_database)
                except DatabaseAway:
                    tally.update_handled(
                        event.kind, UpdateOutcome.DATABASE_AWAY, time.perf_counter() - started
                    )
                    raise
                except Exception:
                    # A bug, not bad input: log it without the user's text, say sorry, go on.
                    logger.exception(
                        "update %s (%s) from user %s failed",
                        event.update_id,
                        event.kind,
                        event.user_id,
                    )
                    outcome, actions = UpdateOutcome.ERROR, self._apologise(event)
                else:
                    outcome = UpdateOutcome.OK if handled is not None else UpdateOutcome.DUPLICATE
                    actions = handled or []
            if deliver is not None and actions:
                await deliver(actions)
        tally.update_handled(event.kind, outcome, time.perf_counter() - started)
        return actions

    async def _handle_once_database_answers(
        self, event: Incoming, wait_for_database: bool
    ) -> list[Outgoing] | None:
        """The event handled; tried again, as it was, while the database is away."""
        tries = 0
        while True:
            tries += 1
            try:
                return await self._handle_in_transaction(event)
            except Exception as error:
                if self.watch is None or not await self.watch.explains(error):
                    raise
                if not wait_for_database:
                    raise DatabaseAway from error
                if self.watch.away:
                    await self.watch.until_back()
                    tries = 0
                elif tries >= DROPPED_CONNECTION_TRIES:
                    raise

    async def _handle_in_transaction(self, event: Incoming) -> list[Outgoing] | None:
        """The replies to one event, after its commit; None when it was handled before."""
        read_ahead = await self._read_ahead(event)
        async with self.sessions() as db, db.begin():
            # Another instance may be handling this user's previous update (or the same
            # one, sent again): wait for it, so their state is read after its commit.
            if not await claim_update_in_turn(db, event.user_id, event.update_id):
                logger.info("update %s delivered twice; handled once", event.update_id)
                return None
            # In the staff group the chat is the group's; the person's own chat is their id.
            chat_id = event.chat_id if event.private else event.user_id
            meeting = await meet_applicant(db, event.user_id, chat_id)
            applicant, state = meeting.applicant, meeting.state
            locale = resolve_locale(
                applicant.locale, event.language_hint, self.services.default_locale
            )
            context = Context(
                event,
                db,
                applicant,
                self.services,
                locale,
                step=state.step if state else None,
                data=dict(state.data) if state else {},
                first_contact=meeting.first_contact,
                read_ahead=read_ahead,
            )
            if event.kind is Kind.TEXT and self.services.lessons is not None:
                # A question may be one another instance was just taught to answer.
                await self.services.lessons.catch_up(db)
            handler = self.router.route(event, context.step, meeting.first_contact)
            await handler(context)
        self._note_step(event.user_id, context.step)
        for faq_outcome in context.faq_outcomes:
            self.services.tally.faq_replied(faq_outcome)
        for make in context.after_commit:
            context.actions.extend(await make())
        return context.actions

    async def _read_ahead(self, event: Incoming) -> object:
        """The free-text journey's slow work on a typed text, before the transaction (the
        FAQ's meaning model: 15 ms of CPU that would otherwise hold SQLite's one writer).

        Skipped in the staff group, and for someone this instance last left on a wizard
        step: their text is most likely an answer to it. A guess either way only costs
        time, never correctness.
        """
        if event.kind is not Kind.TEXT or self.router.read_ahead is None:
            return None
        if not event.private or event.user_id in self._on_a_step:
            return None  # a staff reply in the group, or an answer to a wizard step
        return await self.router.read_ahead(self.services, event.text)

    def _note_step(self, user_id: int, step: str | None) -> None:
        if step is None:
            self._on_a_step.discard(user_id)
            return
        if len(self._on_a_step) >= ON_A_STEP_REMEMBERED:
            self._on_a_step.clear()  # only a hint: forgetting it costs a little time
        self._on_a_step.add(user_id)

    def _answers_in_staff_group(self, event: Incoming) -> bool:
        """A staff member's reply to one of the bot's posts in the staff group, or a press
        of a button under one."""
        return (
            self.services.staff_chat_id is not None
            and event.chat_id == self.services.staff_chat_id
            and (
                (event.reply_to_message_id is not None and event.kind is Kind.TEXT)
                or event.kind is Kind.BUTTON
            )
        )

    async def mark_unreachable(self, user_id: int) -> None:
        """Remembers that a user blocked the bot (a channel saw Telegram's 403)."""
        async with self.sessions() as db, db.begin():
            await mark_unreachable(db, user_id)

    def _slow_down(self, event: Incoming) -> list[Outgoing]:
        _ = self._texts_for(event)
        text = _("You are sending messages very fast. Please wait a few seconds, then try again.")
        return [Notify(text)] if event.button_data else [SendText(text)]

    def _apologise(self, event: Incoming) -> list[Outgoing]:
        _ = self._texts_for(event)
        text = _("Sorry, something went wrong on our side. Please try again in a moment.")
        return [Notify(text)] if event.button_data else [SendText(text)]

    def _texts_for(self, event: Incoming) -> Texts:
        locale = resolve_locale(None, event.language_hint, self.services.default_locale)
        return self.services.texts(locale)
