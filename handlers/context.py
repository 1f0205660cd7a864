"""What a handler gets: the event, the applicant, their words, the database, and a reply."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.events import (
    EditText,
    Incoming,
    InlineKeyboard,
    Keyboard,
    Kind,
    Notify,
    Outgoing,
    SendText,
    SendVenue,
)
from handlers.letters import to_content
from handlers.texts import Texts, Translator
from models.applicants import Applicant
from models.conversations import end_conversation, save_conversation
from models.outbox import enqueue

if TYPE_CHECKING:
    from handlers.faq_book import FaqBook


@dataclass(frozen=True)
class Services:
    """What every handler may use besides the database; built once by the factory."""

    faq: "FaqBook"
    translators: Mapping[str, Translator]
    default_locale: str
    zone: ZoneInfo

    def texts(self, locale: str) -> Texts:
        return Texts(locale, self.translators[locale], self.zone)


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
    ) -> None:
        self.event = event
        self.db = db
        self.applicant = applicant
        self.services = services
        self.texts = services.texts(locale)
        self.step = step
        self.data = data
        self.actions: list[Outgoing] = []

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

    async def tell(
        self,
        recipient: Applicant,
        dedupe_key: str,
        compose: Callable[[Texts], list[Outgoing]],
        send_after: datetime | None = None,
    ) -> None:
        """Queues a message for someone else, in their language, in this transaction."""
        texts = self.services.texts(recipient.locale or self.services.default_locale)
        await enqueue(
            self.db,
            chat_id=recipient.chat_id,
            applicant_id=recipient.id,
            content=to_content(compose(texts)),
            dedupe_key=dedupe_key,
            send_after=send_after,
        )

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
