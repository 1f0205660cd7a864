"""The core's own small language: what comes in from a channel and what goes out.

Channels translate platform updates into `Incoming` and render the `Outgoing`
actions; nothing here knows which platform that is.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

CALLBACK_DATA_MAX_BYTES = 64
TEXT_MAX_LENGTH = 4096
COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?", re.DOTALL)


def split_command(text: str) -> tuple[str, str] | None:
    """("start", "payload") for "/start payload" or "/start@bot payload"; None for other text."""
    match = COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()


class Kind(StrEnum):
    """What the user did."""

    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    MEDIA = "media"  # a photo or a document, with its caption as text
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a user did, as the conversation sees it."""

    user_id: int
    chat_id: int
    kind: Kind
    text: str = ""
    command: str = ""  # lower case, without "/" or "@botname"
    argument: str = ""  # what followed the command, e.g. a deep-link payload
    button_data: str = ""
    button_message_id: int | None = None  # the message whose button was pressed
    contact_phone: str = ""
    contact_is_own: bool = True
    content: str = ""  # for UNSUPPORTED: sticker, voice, location, edit...; MEDIA: photo, document
    file_id: str = ""  # for MEDIA: Telegram's id of the file, to send it on
    language_hint: str | None = None  # the Telegram client's language_code
    private: bool = True
    update_id: int | None = None
    html: str = ""  # for TEXT: the text with the sender's formatting, as Telegram HTML
    reply_to_message_id: int | None = None  # in a group: the message this one answers
    user_name: str = ""  # the sender's name as Telegram shows it (first and last name)


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button that sends `data` back when pressed."""

    label: str
    data: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.data.encode()) <= CALLBACK_DATA_MAX_BYTES:
            raise ValueError(f"callback data must be 1..64 bytes: {self.data!r}")


@dataclass(frozen=True, slots=True)
class InlineKeyboard:
    """Buttons under a message, row by row."""

    rows: tuple[tuple[Button, ...], ...]

    @classmethod
    def of(cls, *rows: list[Button] | tuple[Button, ...]) -> "InlineKeyboard":
        return cls(tuple(tuple(row) for row in rows if row))

    def buttons(self) -> list[Button]:
        return [button for row in self.rows for button in row]


@dataclass(frozen=True, slots=True)
class ReplyKeyboard:
    """Buttons that replace the phone's keyboard; `contact` asks to share the phone number."""

    rows: tuple[tuple[str, ...], ...]
    contact: str | None = None


@dataclass(frozen=True, slots=True)
class RemoveKeyboard:
    """Puts the phone's own keyboard back."""


Keyboard = InlineKeyboard | ReplyKeyboard | RemoveKeyboard


@dataclass(frozen=True, slots=True)
class SendText:
    """A new message. `text` is Telegram HTML: everything a user typed is escaped."""

    text: str
    keyboard: Keyboard | None = None


@dataclass(frozen=True, slots=True)
class EditText:
    """Replaces the text and buttons of a message the bot sent earlier."""

    message_id: int
    text: str
    keyboard: InlineKeyboard | None = None


@dataclass(frozen=True, slots=True)
class Notify:
    """A short notice over the chat after a button press (Telegram's toast)."""

    text: str
    alert: bool = False


@dataclass(frozen=True, slots=True)
class SendVenue:
    """A place on the map with its name and address (Telegram's venue message)."""

    latitude: float
    longitude: float
    title: str
    address: str


@dataclass(frozen=True, slots=True)
class SendFile:
    """A file the bot made: a photo (a ticket image) or a document (a calendar file)."""

    filename: str
    data: bytes
    caption: str = ""  # Telegram HTML, at most 1024 characters
    photo: bool = False


@dataclass(frozen=True, slots=True)
class SendMedia:
    """A photo or document Telegram already has (by its file id), with a caption."""

    kind: str  # "photo" or "document"
    file_id: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class SetCommands:
    """The command menu one user sees (a staff member's); empty: the menu everyone sees."""

    user_id: int
    commands: tuple[tuple[str, str], ...]  # (command, description)


Outgoing = SendText | EditText | Notify | SendVenue | SendFile | SendMedia | SetCommands
