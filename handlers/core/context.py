"""What a handler gets: the event, the applicant, their words, the database, and a reply."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.events import (
    EditText,
    Incoming,
    InlineKeyboard,
    Keyboard,
    Kind,
    Notify,
    Outgoing,
    SendFile,
    SendText,
    SendVenue,
)
from handlers.core.letters import Compose, tell
from handlers.core.services import FaqOutcome, Services
from models.applicants import Applicant
from models.conversations import end_conversation, save_conversation
from models.staff import Role, role_of


class Context:
    """One event being handled, inside its transaction."""

    def __init__(
        self,
        event: Incoming,
        db: AsyncSession,
        applicant: Applicant,
        services: Services,
        locale: str,
        step: str | None,
        data: dict[str, Any],
        first_contact: bool = False,
        read_ahead: object = None,
    ) -> None:
        self.event = event
        self.read_ahead = read_ahead  # what the free-text journey read before the transaction
        self.first_contact = first_contact  # their first update ever, without /start
        self.db = db
        self.applicant = applicant
        self.services = services
        self.texts = services.texts(locale)
        self.step = step
        self.data = data
        self.actions: list[Outgoing] = []
        self.after_commit: list[Callable[[], Awaitable[list[SendFile]]]] = []
        self.faq_outcomes: list[FaqOutcome] = []  # counted once the transaction commits
        self._role: Role | bool | None = False  # False: not looked up yet

    async def staff_role(self) -> Role | None:
        """The user's staff role, or None for an applicant (looked up once per event)."""
        if self._role is False:
            self._role = await role_of(self.db, self.event.user_id, self.services.owner_ids)
        return self._role  # type: ignore[return-value]

    @property
    def actor(self) -> str:
        """Who acts, as the audit trail names them."""
        return f"telegram:{self.event.user_id}"

    @property
    def now(self) -> datetime:
        """The present moment, from the bot's clock (which tests move)."""
        return self.services.now()

    @property
    def locale(self) -> str:
        return self.texts.locale

    def _(self, message: str) -> str:
        """The message in the applicant's language."""
        return self.texts(message)

    def use_locale(self, locale: str) -> None:
        """Speaks another language from now on (after the applicant chose one)."""
        self.texts = self.services.texts(locale)

    def say(self, text: str, keyboard: Keyboard | None = None) -> None:
        """Sends a new message."""
        self.actions.append(SendText(text, keyboard))

    def show(self, text: str, keyboard: InlineKeyboard | None = None) -> None:
        """Shows a screen: in place of the pressed message for a button, else as a new one."""
        if self.event.kind is Kind.BUTTON and self.event.button_message_id is not None:
            self.actions.append(EditText(self.event.button_message_id, text, keyboard))
        else:
            self.actions.append(SendText(text, keyboard))

    def show_venue(self, venue: SendVenue) -> None:
        """Sends a place as a map pin."""
        self.actions.append(venue)

    def send_files(self, files: list[SendFile]) -> None:
        """Sends files the bot made (an export read from the database)."""
        self.actions.extend(files)

    def send_files_made_after_commit(self, make: Callable[[], Awaitable[list[SendFile]]]) -> None:
        """Sends files the bot makes once the transaction is over (drawing a ticket takes
        tens of milliseconds, and SQLite's one writer must not wait for it)."""
        self.after_commit.append(make)

    def count_faq_outcome(self, outcome: FaqOutcome) -> None:
        """Counts what the FAQ gave a typed question (for /metrics), if this update commits."""
        self.faq_outcomes.append(outcome)

    async def tell(
        self,
        recipient: Applicant,
        dedupe_key: str,
        compose: Compose,
        **options: Any,
    ) -> None:
        """Queues a message for someone else, in their language, in this transaction."""
        await tell(self.db, self.services, recipient, dedupe_key, compose, **options)

    def out_of_date(self) -> None:
        """A stale, forged or misplaced button: said politely, and nothing changes."""
        self.notify(self._("This button is out of date. Send /start to see the menu."))

    def notify(self, text: str, alert: bool = False) -> None:
        """A short notice over the chat, for a button press."""
        self.actions.append(Notify(text, alert))

    async def go_to(self, step: str, **data: Any) -> None:
        """Moves the applicant to a wizard step, keeping what they answered so far."""
        self.step = step
        self.data.update(data)
        await save_conversation(self.db, self._applicant_id, step, self.data)

    async def finish(self) -> None:
        """Ends the wizard: the applicant is back at the menu."""
        self.step = None
        self.data = {}
        await end_conversation(self.db, self._applicant_id)

    @property
    def _applicant_id(self) -> int:
        assert self.applicant.id is not None
        return self.applicant.id
