"""The core driver: a chat played straight against the conversation core, no channel between.

It speaks the same vocabulary as the channel drivers (`tests.support.chat`): the core's
actions are shown as the messages a phone would show. It can also do what no client
lets a user do (forged button data, a contact that is someone else's), and it keeps each
text as the bot wrote it, in Telegram HTML.
"""

from html import escape
from itertools import count

from bot.channels.console import plain
from bot.delivery import Delivery, OutboxSender, Outcome
from handlers.core.conversation import Conversation
from handlers.core.events import (
    EditText,
    Incoming,
    InlineKeyboard,
    Keyboard,
    Kind,
    Notify,
    Outgoing,
    ReplyKeyboard,
    SendFile,
    SendMedia,
    SendText,
    SendVenue,
    SetCommands,
    split_command,
)
from tests.support.chat import Button, Chat, Message, StaffGroup

_update_ids = count(1)


def buttons_of(keyboard: Keyboard | None) -> list[Button]:
    """The buttons a keyboard shows, as a phone shows them (the contact button first)."""
    if isinstance(keyboard, InlineKeyboard):
        return [Button(button.label, button.data) for button in keyboard.buttons()]
    if isinstance(keyboard, ReplyKeyboard):
        contact = (
            [Button(keyboard.contact, inline=False, contact=True)] if keyboard.contact else []
        )
        return contact + [Button(label, inline=False) for row in keyboard.rows for label in row]
    return []


class Applicant(Chat):
    """A user's chat with the core (an applicant's, or a staff member's)."""

    def __init__(
        self,
        conversation: Conversation,
        user_id: int = 100,
        language: str | None = "en",
        name: str = "",
    ):
        super().__init__(user_id, language)
        self.conversation = conversation
        self.name = name  # as Telegram would show it
        self.chat_id = user_id
        self.menus: dict[int, tuple[tuple[str, str], ...]] = {}  # user -> their own menu set
        self._ids = count(1)
        self.replies: list[Message] = []  # the messages the latest event brought, in order

    async def send(self, text: str) -> None:
        if command := split_command(text):
            await self._do(kind=Kind.COMMAND, text=text, command=command[0], argument=command[1])
        else:
            await self._do(kind=Kind.TEXT, text=text, html=escape(text, quote=False))

    async def share_contact(self, phone: str) -> None:
        await self._do(kind=Kind.CONTACT, contact_phone=phone)

    async def _press(self, message: Message, button: Button) -> None:
        if not button.inline:  # a reply-keyboard button sends its label as a message
            await self.send(button.label)
            return
        assert button.data is not None
        await self.press_data(button.data, message.message_id)

    async def press_data(self, data: str, message_id: int | None = None) -> None:
        """Presses a button with this data, as a forged or stale press would."""
        if message_id is None:
            message_id = self.last.message_id if self.last else 1
        await self._do(kind=Kind.BUTTON, button_data=data, button_message_id=message_id)

    async def share_contact_of_someone_else(self, phone: str) -> None:
        await self._do(kind=Kind.CONTACT, contact_phone=phone, contact_is_own=False)

    async def send_media(self, kind: str, file_id: str, caption: str = "") -> None:
        """Sends a photo or a document with a caption."""
        await self._do(kind=Kind.MEDIA, content=kind, file_id=file_id, text=caption, html=caption)

    async def send_other(self, content: str) -> None:
        """Sends a sticker, photo, voice note, location or an edit."""
        await self._do(kind=Kind.UNSUPPORTED, content=content)

    async def _do(self, **fields: object) -> None:
        self.replies = []
        event = Incoming(
            user_id=self.user_id,
            chat_id=self.chat_id,
            language_hint=self.language,
            user_name=self.name,
            update_id=next(_update_ids),
            **fields,  # type: ignore[arg-type]
        )
        self.receive(await self.conversation.handle(event))

    def receive(self, actions: list[Outgoing]) -> int | None:
        """Shows the bot's actions in this chat, as the phone would; the id of the message
        sent or edited last, as Telegram answers it (for the outbox sender)."""
        sent = None
        for action in actions:
            if isinstance(action, Notify):
                self.notices.append(action.text)
            elif isinstance(action, SetCommands):
                self.menus[action.user_id] = action.commands
            elif isinstance(action, EditText):
                assert action.message_id in self.screens, "edited a message the user never got"
                edited = self._text(action.message_id, action.text, action.keyboard)
                self._see(edited)
                self.replies.append(edited)
                sent = action.message_id
            else:
                sent = next(self._ids)
                message = self._new(sent, action)
                self._see(message)
                self.replies.append(message)
        return sent

    def _text(self, message_id: int, html: str, keyboard: Keyboard | None) -> Message:
        return Message(message_id, "text", plain(html), buttons_of(keyboard), html=html)

    def _new(self, message_id: int, action: Outgoing) -> Message:
        if isinstance(action, SendText):
            return self._text(message_id, action.text, action.keyboard)
        if isinstance(action, SendVenue):
            where = (action.latitude, action.longitude)
            return Message(
                message_id, "venue", action.title, address=action.address, location=where
            )
        if isinstance(action, SendFile):
            kind = "photo" if action.photo else "document"
            caption = plain(action.caption)
            return Message(message_id, kind, caption, filename=action.filename, data=action.data)
        if isinstance(action, SendMedia):
            return Message(message_id, action.kind, plain(action.caption))
        raise AssertionError(f"the core driver cannot show {type(action).__name__}")


class CoreGroup(Applicant):
    """The staff group on the core: the bot's posts there, and staff replying to them."""

    def __init__(self, conversation: Conversation, chat_id: int = -1000) -> None:
        super().__init__(conversation, user_id=chat_id, language=None)

    @property
    def posts(self) -> list[Message]:
        return self.messages

    async def reply(self, staff_id: int, message_id: int, text: str, name: str = "") -> None:
        """A staff member (called `name` on Telegram) replies to one of the bot's posts."""
        event = Incoming(
            user_id=staff_id,
            user_name=name,
            chat_id=self.chat_id,
            kind=Kind.TEXT,
            text=text,
            html=escape(text, quote=False),
            private=False,
            reply_to_message_id=message_id,
            update_id=next(_update_ids),
        )
        self.receive(await self.conversation.handle(event))

    async def press_as(self, staff_id: int, message_id: int, label: str) -> None:
        """Someone in the group presses the button with (or containing) `label` on a post."""
        buttons = self.screens[message_id].buttons
        found = [b for b in buttons if b.label == label] or [
            b for b in buttons if label in b.label
        ]
        assert found, f"no button {label!r} on post {message_id}: {[b.label for b in buttons]}"
        event = Incoming(
            user_id=staff_id,
            chat_id=self.chat_id,
            kind=Kind.BUTTON,
            button_data=found[0].data,
            button_message_id=message_id,
            private=False,
            update_id=next(_update_ids),
        )
        self.receive(await self.conversation.handle(event))


async def deliver_outbox(conversation: Conversation, *chats: Applicant) -> int:
    """Sends every due outbox message to the driven chats; returns how many. A message to
    any other chat finds no chat, as Telegram would answer."""
    by_id = {chat.chat_id: chat for chat in chats}

    async def send_one(chat_id: int, action: Outgoing) -> Delivery:
        chat = by_id.get(chat_id)
        if chat is None:
            return Delivery(Outcome.CHAT_GONE, error="Bad Request: chat not found")
        return Delivery(Outcome.SENT, message_id=chat.receive([action]))

    services = conversation.services
    sender = OutboxSender(
        conversation.sessions, send_one, quiet=services.quiet, clock=services.now
    )
    return await sender.send_due()


class CoreChats:
    """Users of the core itself, and its staff group; the outbox reaches the chats played."""

    name = "core"

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.played: dict[int, Applicant] = {}  # chat id -> its chat, the staff group's too

    def user(self, user_id: int, language: str | None = "en") -> Chat:
        self.played[user_id] = Applicant(self.conversation, user_id, language)
        return self.played[user_id]

    async def staff_group(self, chat_id: int, member: int) -> StaffGroup:
        group = CoreGroup(self.conversation, chat_id)  # the core needs no first message
        self.played[chat_id] = group
        return group

    async def deliver_outbox(self) -> int:
        return await deliver_outbox(self.conversation, *self.played.values())
