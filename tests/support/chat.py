"""One vocabulary for every chat driver: what a user does, and what they see.

A `Chat` is one user's private chat with the bot; `Chats` are the users of one channel
(the core itself, the console, aiogram or PTB), with the staff group and the outbox that
reaches them. Each implementation only does the user's actions and shows the bot's
messages with `_see`; the tests read every chat the same way.
"""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Button:
    """A button under a message: inline (with its data, on Telegram) or on the reply keyboard."""

    label: str
    data: str | None = None  # callback data; None on the console and for reply-keyboard buttons
    inline: bool = True
    contact: bool = False


@dataclass
class Message:
    """A bot message as the user sees it now."""

    message_id: int
    kind: str  # text, photo, document, venue
    text: str  # the plain text; a file's caption; a venue's title
    buttons: list[Button] = field(default_factory=list)
    filename: str = ""  # photo, document
    data: bytes = b""  # photo, document: what was uploaded (nothing when sent on by file id)
    address: str = ""  # venue
    location: tuple[float, float] | None = None  # venue: latitude, longitude (not on the console)
    html: str = ""  # text: as the bot wrote it, in Telegram HTML (the core driver keeps it)

    @property
    def labels(self) -> list[str]:
        return [button.label for button in self.buttons]


class Chat:
    """One user's private chat with the bot: what they do, and what they see."""

    def __init__(self, user_id: int, language: str | None) -> None:
        self.user_id = user_id
        self.language = language
        self.screens: dict[int, Message] = {}  # message id -> the message as it reads now
        self.changes: list[Message] = []  # every message sent or edited, in order
        self.notices: list[str] = []  # the texts of button presses' answers (toasts, alerts)
        self.last: Message | None = None  # the text message sent or edited last

    # --- what the user does (each channel implements these) ----------------------------------

    async def send(self, text: str) -> None:
        """Types a message (a /command when it starts with "/")."""
        raise NotImplementedError

    async def share_contact(self, phone: str) -> None:
        """Shares their own phone number with the contact button."""
        raise NotImplementedError

    async def _press(self, message: Message, button: Button) -> None:
        raise NotImplementedError

    async def press(self, label: str) -> None:
        """Presses the button labelled `label` (or containing it) on the newest message with it."""
        message, button = self.find_button(label)
        if button.contact:
            raise AssertionError("the contact button shares a number: use share_contact()")
        await self._press(message, button)

    # --- what the user sees --------------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        return [self.screens[key] for key in sorted(self.screens)]

    @property
    def texts(self) -> list[str]:
        """The text of every text message in the chat, as it reads now, oldest first."""
        return [m.text for m in self.messages if m.kind == "text"]

    @property
    def files(self) -> list[Message]:
        return [m for m in self.messages if m.kind in ("photo", "document")]

    @property
    def venues(self) -> list[Message]:
        return [m for m in self.messages if m.kind == "venue"]

    def find_button(self, label: str) -> tuple[Message, Button]:
        """The button labelled `label` (else containing it), on the newest message having one."""
        for message in reversed(self.messages):
            for exact in (True, False):
                for button in message.buttons:
                    if button.label == label if exact else label in button.label:
                        return message, button
        shown = self.last.labels if self.last else None
        raise AssertionError(f"no button {label!r}; the last message has {shown}")

    def _see(self, message: Message) -> None:
        self.screens[message.message_id] = message
        self.changes.append(message)
        if message.kind == "text":
            self.last = message


class StaffGroup(Protocol):
    """The staff group chat: the bot's posts there, and staff replying to them."""

    chat_id: int

    @property
    def posts(self) -> list[Message]: ...

    async def reply(self, staff_id: int, message_id: int, text: str, name: str = "") -> None: ...


class Chats(Protocol):
    """Users of one channel, and the outbox that reaches them."""

    name: str

    def user(self, user_id: int, language: str | None = "en") -> Chat: ...

    async def staff_group(self, chat_id: int, member: int) -> StaffGroup: ...

    async def deliver_outbox(self) -> int: ...
