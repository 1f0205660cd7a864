"""A channel-neutral test driver: plays one applicant against the conversation core."""

import re
from dataclasses import dataclass, field
from html import escape, unescape
from itertools import count

from handlers.core.conversation import Conversation
from handlers.core.events import (
    Button,
    EditText,
    Incoming,
    InlineKeyboard,
    Kind,
    Notify,
    Outgoing,
    SendFile,
    SendMedia,
    SendText,
    SendVenue,
    split_command,
)

TAG = re.compile(r"<[^>]+>")
_update_ids = count(1)


@dataclass
class Screen:
    """A message as the applicant sees it now."""

    message_id: int
    html: str
    keyboard: InlineKeyboard | None

    @property
    def text(self) -> str:
        return unescape(TAG.sub("", self.html))

    @property
    def labels(self) -> list[str]:
        return [button.label for button in self.keyboard.buttons()] if self.keyboard else []


@dataclass
class Applicant:
    """One applicant's chat: what they send, and what they see."""

    conversation: Conversation
    user_id: int = 100
    language: str | None = "en"
    screens: dict[int, Screen] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    venues: list[SendVenue] = field(default_factory=list)
    files: list[SendFile] = field(default_factory=list)
    media: list[SendMedia] = field(default_factory=list)
    last: Screen | None = None
    _ids: count = field(default_factory=lambda: count(1))

    async def send(self, text: str) -> list[Outgoing]:
        """Types a message (a /command when it starts with "/")."""
        if command := split_command(text):
            return await self._do(
                kind=Kind.COMMAND, text=text, command=command[0], argument=command[1]
            )
        return await self._do(kind=Kind.TEXT, text=text, html=escape(text, quote=False))

    async def press(self, label: str) -> list[Outgoing]:
        """Presses the button with this label (or containing it) on the latest screen."""
        screen, button = self.find_button(label)
        return await self.press_data(button.data, screen.message_id)

    async def press_data(self, data: str, message_id: int | None = None) -> list[Outgoing]:
        """Presses a button with this data, as a forged or stale press would."""
        if message_id is None:
            message_id = self.last.message_id if self.last else 1
        return await self._do(kind=Kind.BUTTON, button_data=data, button_message_id=message_id)

    async def share_contact(self, phone: str) -> list[Outgoing]:
        return await self._do(kind=Kind.CONTACT, contact_phone=phone)

    async def send_media(self, kind: str, file_id: str, caption: str = "") -> list[Outgoing]:
        """Sends a photo or a document with a caption."""
        return await self._do(
            kind=Kind.MEDIA, content=kind, file_id=file_id, text=caption, html=caption
        )

    async def send_other(self, content: str) -> list[Outgoing]:
        """Sends a sticker, photo, voice note, location or an edit."""
        return await self._do(kind=Kind.UNSUPPORTED, content=content)

    def find_button(self, label: str) -> tuple[Screen, Button]:
        for screen in sorted(self.screens.values(), key=lambda s: -s.message_id):
            if screen.keyboard is None:
                continue
            for button in screen.keyboard.buttons():
                if button.label == label:
                    return screen, button
            for button in screen.keyboard.buttons():
                if label in button.label:
                    return screen, button
        raise AssertionError(
            f"no button {label!r}; the last screen has {self.last and self.last.labels}"
        )

    async def _do(self, **fields: object) -> list[Outgoing]:
        event = Incoming(
            user_id=self.user_id,
            chat_id=self.user_id,
            language_hint=self.language,
            update_id=next(_update_ids),
            **fields,  # type: ignore[arg-type]
        )
        return self.receive(await self.conversation.handle(event))

    async def share_contact_of_someone_else(self, phone: str) -> list[Outgoing]:
        return await self._do(kind=Kind.CONTACT, contact_phone=phone, contact_is_own=False)

    def receive(self, actions: list[Outgoing]) -> list[Outgoing]:
        """Shows the bot's actions in this chat, as the phone would."""
        for action in actions:
            if isinstance(action, SendText):
                message_id = next(self._ids)
                keyboard = action.keyboard if isinstance(action.keyboard, InlineKeyboard) else None
                self.last = self.screens[message_id] = Screen(message_id, action.text, keyboard)
            elif isinstance(action, EditText):
                assert action.message_id in self.screens, "edited a message the user never got"
                self.last = self.screens[action.message_id] = Screen(
                    action.message_id, action.text, action.keyboard
                )
            elif isinstance(action, Notify):
                self.notices.append(action.text)
            elif isinstance(action, SendVenue):
                self.venues.append(action)
            elif isinstance(action, SendFile):
                self.files.append(action)
            elif isinstance(action, SendMedia):
                self.media.append(action)
        return actions


@dataclass
class StaffGroup:
    """The staff group chat: the bot's posts there, and staff replying to them."""

    conversation: Conversation
    chat_id: int = -1000
    posts: dict[int, str] = field(default_factory=dict)
    keyboards: dict[int, InlineKeyboard | None] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    _ids: count = field(default_factory=lambda: count(1))

    def receive(self, actions: list[Outgoing]) -> int | None:
        message_id = None
        for action in actions:
            if isinstance(action, SendText):
                message_id = next(self._ids)
                self.posts[message_id] = unescape(TAG.sub("", action.text))
                keyboard = action.keyboard
                self.keyboards[message_id] = (
                    keyboard if isinstance(keyboard, InlineKeyboard) else None
                )
            elif isinstance(action, EditText):
                assert action.message_id in self.posts, "edited a post the group never got"
                self.posts[action.message_id] = unescape(TAG.sub("", action.text))
                self.keyboards[action.message_id] = action.keyboard
            elif isinstance(action, Notify):
                self.notices.append(action.text)
        return message_id

    def labels(self, message_id: int) -> list[str]:
        keyboard = self.keyboards.get(message_id)
        return [button.label for button in keyboard.buttons()] if keyboard else []

    async def press(self, user_id: int, message_id: int, label: str) -> list[Outgoing]:
        """Someone in the group presses the button with (or containing) this label on a post."""
        keyboard = self.keyboards.get(message_id)
        buttons = keyboard.buttons() if keyboard else []
        found = [b for b in buttons if b.label == label] or [
            b for b in buttons if label in b.label
        ]
        assert found, f"no button {label!r} on post {message_id}: {self.labels(message_id)}"
        event = Incoming(
            user_id=user_id,
            chat_id=self.chat_id,
            kind=Kind.BUTTON,
            button_data=found[0].data,
            button_message_id=message_id,
            private=False,
            update_id=next(_update_ids),
        )
        actions = await self.conversation.handle(event)
        self.receive(actions)
        return actions

    async def reply(self, staff_id: int, message_id: int, text: str) -> list[Outgoing]:
        """A staff member replies to one of the bot's posts."""
        event = Incoming(
            user_id=staff_id,
            chat_id=self.chat_id,
            kind=Kind.TEXT,
            text=text,
            private=False,
            reply_to_message_id=message_id,
            update_id=next(_update_ids),
        )
        return await self.conversation.handle(event)


async def deliver_outbox(conversation: Conversation, *chats: Applicant | StaffGroup) -> int:
    """Sends every due outbox message to the driven chats; returns how many."""
    from bot.delivery import Delivery, OutboxSender, Outcome

    by_id = {chat.user_id if isinstance(chat, Applicant) else chat.chat_id: chat for chat in chats}

    async def send_one(chat_id: int, action: Outgoing) -> Delivery:
        chat = by_id.get(chat_id)
        if chat is None:
            return Delivery(Outcome.CHAT_GONE, error="Bad Request: chat not found")
        if isinstance(chat, StaffGroup):
            return Delivery(Outcome.SENT, message_id=chat.receive([action]))
        chat.receive([action])
        return Delivery(Outcome.SENT, message_id=chat.last.message_id if chat.last else None)

    services = conversation.services
    sender = OutboxSender(
        conversation.sessions, send_one, quiet=services.quiet, clock=services.now
    )
    return await sender.send_due()
