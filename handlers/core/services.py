"""What every handler and scheduled job may use besides the database: built once by the factory."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from handlers.core.texts import Texts, Translator
from models.columns import utcnow
from models.schedule import QuietHours, ReminderPlan

if TYPE_CHECKING:
    from handlers.faq.book import FaqBook
    from handlers.faq.lessons import Lessons


class BotAccount:
    """The bot's own Telegram username: made by the factory, told by the channel once Telegram
    has answered getMe. The console has none, and its links are the command to type."""

    def __init__(self, username: str | None = None) -> None:
        self._username = username

    @property
    def username(self) -> str | None:
        return self._username

    def learn(self, username: str) -> None:
        """Takes the username Telegram gave the bot."""
        self._username = username

    def deep_link(self, payload: str) -> str:
        """A t.me link that opens the bot with /start <payload> (the command, without one)."""
        if self._username is None:
            return f"/start {payload}"
        return f"https://t.me/{self._username}?start={payload}"


class UpdateOutcome(StrEnum):
    """How the conversation dealt with one update."""

    OK = "ok"  # handled, and the transaction committed
    ERROR = "error"  # handling raised: the user got an apology
    DUPLICATE = "duplicate"  # an update_id handled before (Telegram sent it again)
    FLOOD = "flood"  # dropped: the user sent too many too fast
    IGNORED = "ignored"  # a group message not meant for the bot
    DATABASE_AWAY = "database_away"  # not handled: Telegram is to send it again


class FaqOutcome(StrEnum):
    """What a typed question got from the FAQ."""

    ANSWERED = "answered"
    DID_YOU_MEAN = "did_you_mean"
    UNANSWERED = "unanswered"


class Tally(Protocol):
    """What the conversation reports for the operators' figures; the bot layer counts it."""

    def update_handled(self, kind: str, outcome: UpdateOutcome, seconds: float) -> None:
        """One update of this kind ended so, taking `seconds` to handle and answer."""
        ...

    def faq_replied(self, outcome: FaqOutcome) -> None:
        """The FAQ replied so to a typed question (counted after the commit)."""
        ...


class NoTally:
    """Counts nothing: the conversation without an operator watching (shell, tests)."""

    def update_handled(self, kind: str, outcome: UpdateOutcome, seconds: float) -> None:
        pass

    def faq_replied(self, outcome: FaqOutcome) -> None:
        pass


@dataclass(frozen=True)
class Services:
    """What every handler may use besides the database; built once by the factory."""

    faq: "FaqBook"
    translators: Mapping[str, Translator]
    default_locale: str
    zone: ZoneInfo
    quiet: QuietHours | None = None
    reminders: ReminderPlan | None = None
    offer_hours: float = 12.0
    account: BotAccount = field(default_factory=BotAccount)
    owner_ids: frozenset[int] = frozenset()  # ADMIN_IDS: the owners of the bot
    staff_chat_id: int | None = None  # STAFF_CHAT_ID: the group where questions go
    staff_locale: str = "en"  # STAFF_LOCALE: the language of the bot's posts in that group
    panel_url: str | None = None  # PANEL_URL: where the web panel's login links point
    now: Callable[[], datetime] = utcnow  # tests move time by passing their own clock
    lessons: "Lessons | None" = None  # keeps `faq` up with the phrasings staff taught
    tally: Tally = field(default_factory=NoTally)  # the figures /metrics shows

    def texts(self, locale: str) -> Texts:
        return Texts(locale, self.translators[locale], self.zone)

    def staff_group_texts(self) -> Texts:
        """The texts of the bot's posts in the staff group (STAFF_LOCALE)."""
        return self.texts(self.staff_locale)
