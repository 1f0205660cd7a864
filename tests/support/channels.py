"""The chats of every channel, in the one vocabulary of `tests.support.chat`: the behaviour
suite is written once against it.

`Chats` plays users (and, but for the console, the staff group) on one channel:

- `CoreChats` (tests.support.core): the conversation core itself, without a channel.
- `ConsoleChats`: one ConsoleChannel per user, in script mode, reading one line per action
  through its own `run()`; what the user sees is parsed back from the JSON lines it prints.
- `TelegramChats`: the real channel (aiogram or python-telegram-bot) polling the fake Bot
  API server over HTTP; what the user sees is what the fake server holds for the chat.

Each action returns once the bot has handled it and sent its replies: on Telegram the
conversation's `handle` is wrapped to record the update ids it finished, and the action
waits for its own update id (and, for a button press, for the press to be answered).
Messages that are not replies (reminders, broadcasts, staff answers) arrive only when
the test calls `deliver_outbox()`, which sends what is due with the channel's `send_one`.
"""

import asyncio
import io
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.channels.libraries import telegram_api
from bot.channels.telegram import TelegramChannel
from bot.delivery import OutboxSender
from bot.pacing import SendPacer
from handlers.core.events import Incoming
from tests.support.chat import Button, Chat, Chats, Message, StaffGroup
from tests.support.core import CoreChats
from tests.support.fake_telegram import ChatMessage, FakeTelegram

CHANNELS = ("core", "console", "aiogram", "ptb")
TIMEOUT = 10.0
SEND_METHODS = {
    "sendMessage", "sendDocument", "sendPhoto", "sendVenue", "editMessageText",
    "editMessageReplyMarkup",
}  # fmt: skip


# --- The console ---------------------------------------------------------------------------------


class ConsoleChat(Chat):
    """A terminal of `applicant-bot shell --script`: one line in per action, JSON lines out."""

    def __init__(self, app: App, user_id: int, language: str | None) -> None:
        super().__init__(user_id, language)
        services = app.conversation.services
        self.stdout = io.StringIO()
        self.channel = ConsoleChannel(
            app.conversation,
            user_id=user_id,
            language_hint=language,
            script=True,
            stdout=self.stdout,
        )
        # As `applicant-bot shell` wires it, on the app's clock (a test may move it).
        self.channel.outbox = OutboxSender(
            app.conversation.sessions, self.channel.send_one, clock=services.now, only_chat=user_id
        )
        self._read = 0

    async def send(self, text: str) -> None:
        if not text.startswith("/"):
            text = "\\" + text  # typed text, never read as a button's number or label
        await self._line(text)

    async def share_contact(self, phone: str) -> None:
        await self._line(f"contact:{phone}")

    async def _press(self, message: Message, button: Button) -> None:
        for number, choice in enumerate(self.channel.chat.choices, start=1):
            if choice.label == button.label and choice.message_id in (message.message_id, None):
                if choice.contact:
                    raise AssertionError("the contact button shares a number: use share_contact()")
                await self._line(str(number))
                return
        raise AssertionError(
            f"the console shows only the latest keyboard's buttons; {button.label!r} is on "
            f"an older message"
        )

    async def _line(self, line: str) -> None:
        """The channel reads the line, answers it, then shows what the outbox has for the user."""
        self.channel.stdin = io.StringIO(line + "\n")
        await self.channel.run()
        self._read_output()

    async def deliver_outbox(self) -> int:
        assert self.channel.outbox is not None
        sent = await self.channel.outbox.send_due()
        self._read_output()
        return sent

    def _read_output(self) -> None:
        output = self.stdout.getvalue()
        new, self._read = output[self._read :], len(output)
        for line in new.splitlines():
            self._show(json.loads(line))

    def _show(self, record: dict[str, Any]) -> None:
        kind, text = record["kind"], record["text"]
        if kind == "notice":
            self.notices.append(text)
            return
        buttons = [Button(label) for row in record["buttons"] for label in row]
        message_id = record["message_id"]
        if kind in ("message", "edit"):
            self._see(Message(message_id, "text", text, buttons))
        elif kind == "venue":
            title, _, address = text.removeprefix("📍 ").partition("\n")
            self._see(Message(message_id, "venue", title, buttons, address=address))
        else:  # photo, document: "📎 filename\ncaption"
            filename, _, caption = text.removeprefix("📎 ").partition("\n")
            self._see(Message(message_id, kind, caption, buttons, filename=filename))


class ConsoleChats:
    """Each user at a terminal of their own, on one database; the console has no group chat."""

    name = "console"

    def __init__(self, app: App) -> None:
        self.app = app
        self.chats: dict[int, ConsoleChat] = {}

    def user(self, user_id: int, language: str | None = "en") -> Chat:
        chat = self.chats[user_id] = ConsoleChat(self.app, user_id, language)
        return chat

    async def staff_group(self, chat_id: int, member: int) -> StaffGroup:
        raise AssertionError("the console has no group chat: mark the journey applies_to")

    async def deliver_outbox(self) -> int:
        return sum([await chat.deliver_outbox() for chat in self.chats.values()])


# --- Telegram, over HTTP against the fake Bot API server -----------------------------------------


class Finished:
    """The update ids the conversation has finished handling (replies sent)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self._changed = asyncio.Event()

    @contextmanager
    def recording(self, app: App) -> Iterator[None]:
        """Wraps the conversation's `handle`, on this instance only, to record each update id.

        Both Telegram channels hand their replies to `handle` (its `deliver`), which sends
        them under the user's lock: when `handle` returns, the replies are out.
        """
        conversation = app.conversation
        handle = conversation.handle

        async def recording(event: Incoming, *args: Any, **kwargs: Any) -> Any:
            try:
                return await handle(event, *args, **kwargs)
            finally:
                if event.update_id is not None:
                    self.ids.add(event.update_id)
                    self._changed.set()

        conversation.handle = recording  # type: ignore[method-assign]
        try:
            yield
        finally:
            del conversation.handle  # the class's own method again

    async def wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done():
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the bot did not finish {what} in {TIMEOUT} s")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


class TelegramChat(Chat):
    """A private chat on Telegram: the user's updates pushed to the fake server."""

    def __init__(self, chats: "TelegramChats", user_id: int, language: str | None) -> None:
        super().__init__(user_id, language)
        self.chats = chats
        self.telegram = chats.telegram

    async def send(self, text: str) -> None:
        await self.chats.act(
            lambda: self.telegram.user_sends(self.user_id, text, language_code=self.language)
        )

    async def share_contact(self, phone: str) -> None:
        await self.chats.act(
            lambda: self.telegram.user_shares_contact(
                self.user_id, phone, language_code=self.language
            )
        )

    async def _press(self, message: Message, button: Button) -> None:
        if not button.inline:  # a reply-keyboard button sends its label as a message
            await self.send(button.label)
            return
        assert button.data is not None
        await self.chats.act(
            lambda: self.telegram.user_presses(
                self.user_id, message.message_id, str(button.data), language_code=self.language
            ),
            press=self,
        )


class TelegramGroup:
    """The staff group on Telegram."""

    def __init__(self, chats: "TelegramChats", chat_id: int) -> None:
        self.chats = chats
        self.chat_id = chat_id
        self.chat = Chat(chat_id, None)

    @property
    def posts(self) -> list[Message]:
        return self.chat.messages

    async def reply(self, staff_id: int, message_id: int, text: str, name: str = "") -> None:
        await self.chats.act(
            lambda: self.chats.telegram.user_sends(
                staff_id,
                text,
                chat_type="group",
                chat_id=self.chat_id,
                reply_to=message_id,
                first_name=name or "Dara",
            )
        )


class TelegramChats:
    """Users of the real channel polling the fake Bot API server."""

    def __init__(
        self,
        name: str,
        app: App,
        telegram: FakeTelegram,
        channel: TelegramChannel,
        finished: Finished,
    ) -> None:
        self.name = name
        self.app = app
        self.telegram = telegram
        self.channel = channel
        self.finished = finished
        self.chats: dict[int, Chat] = {}
        self.user_message_ids = itertools.count(1_000_000)
        self._read: dict[int, int] = {}  # chat -> changes read from the fake server
        self._presses = 0
        services = app.conversation.services
        # The outbox sender as `applicant-bot run` wires it: the channel's send_one and pacer.
        self.sender = OutboxSender(
            app.conversation.sessions,
            channel.send_one,
            channel.pacer,
            services.quiet,
            clock=services.now,
        )

    def user(self, user_id: int, language: str | None = "en") -> Chat:
        chat = self.chats[user_id] = TelegramChat(self, user_id, language)
        return chat

    async def staff_group(self, chat_id: int, member: int) -> StaffGroup:
        group = TelegramGroup(self, chat_id)
        self.chats[chat_id] = group.chat
        # The group exists for Telegram once someone wrote in it; the bot does not answer that.
        await self.act(
            lambda: self.telegram.user_sends(member, "hello", chat_type="group", chat_id=chat_id)
        )
        return group

    async def deliver_outbox(self) -> int:
        sent = await self.sender.send_due()
        await self._sync()
        return sent

    async def act(self, push: Callable[[], int], press: Chat | None = None) -> None:
        """Pushes one update and returns when the bot has handled it and sent its replies."""
        asked = len(self.telegram.requests)
        update_id = push()
        await self.finished.wait(lambda: update_id in self.finished.ids, f"update {update_id}")
        if press is not None:
            # Every press is answered, with a notice or without, perhaps just after the update.
            self._presses += 1
            await self.telegram.wait_for(
                lambda f: (
                    sum(r.method == "answerCallbackQuery" for r in f.requests) >= self._presses
                ),
                TIMEOUT,
            )
            for request in self.telegram.requests[asked:]:
                if request.method == "answerCallbackQuery" and request.params.get("text"):
                    press.notices.append(str(request.params["text"]))
        await self._sync()

    async def _sync(self) -> None:
        """Reads every message the bot sent or edited in the played chats, in order."""
        done = [r for r in self.telegram.requests if r.method in SEND_METHODS and r.status == 200]
        for chat_id, chat in self.chats.items():
            changes = sum(_chat_of(r.params) == chat_id for r in done)
            for _ in range(self._read.get(chat_id, 0), changes):
                chat._see(_as_message(await self.telegram.next_message(chat_id, timeout=1)))
                self._read[chat_id] = self._read.get(chat_id, 0) + 1


def _chat_of(params: dict[str, Any]) -> int | None:
    try:
        return int(params.get("chat_id", ""))
    except (TypeError, ValueError):
        return None


def _as_message(change: ChatMessage) -> Message:
    buttons: list[Button] = []
    markup = change.reply_markup or {}
    for row in markup.get("inline_keyboard", []):
        buttons += [Button(b["text"], b.get("callback_data")) for b in row]
    for row in markup.get("keyboard", []):
        for b in row:
            label = b if isinstance(b, str) else b["text"]
            contact = isinstance(b, dict) and bool(b.get("request_contact"))
            buttons.append(Button(label, inline=False, contact=contact))
    if change.kind == "venue":
        payload = change.payload
        return Message(
            change.message_id, "venue", payload["title"], buttons, address=payload["address"]
        )
    if change.kind in ("photo", "document"):
        upload = change.payload.get(change.kind)
        filename = upload.get("file", "") if isinstance(upload, dict) else ""
        return Message(change.message_id, change.kind, change.text, buttons, filename=filename)
    return Message(change.message_id, change.kind, change.text, buttons)


def channel_on_fake(
    name: str, app: App, telegram: FakeTelegram, api_url: str | None = None, **options: Any
) -> TelegramChannel:
    """The channel on aiogram or PTB (`name`) on `app`, talking to the fake (retrying after
    50 ms)."""
    api = telegram_api(name, telegram.token, api_url or telegram.base_url)
    return TelegramChannel(
        api, app.conversation, account=app.account, **{"retry_delay": 0.05, **options}
    )


@asynccontextmanager
async def open_chats(name: str, app: App) -> AsyncIterator[Chats]:
    """The chats of one channel on the app, started; stopped and closed afterwards."""
    if name == "core":
        yield CoreChats(app.conversation)
        return
    if name == "console":
        yield ConsoleChats(app)
        return
    # A person types far slower than a test: the per-chat burst is raised so a whole wizard
    # runs in a second without flood waits a real user would never meet.
    telegram = FakeTelegram(global_rate=1000, chat_burst=100)
    await telegram.start()
    finished = Finished()
    with finished.recording(app):  # before the channel exists, whatever it keeps of the core
        channel = channel_on_fake(name, app, telegram, pacer=SendPacer(rate=900, chat_burst=100))
        polling = asyncio.create_task(channel.run())
        try:
            await telegram.wait_for(lambda f: any(r.method == "getUpdates" for r in f.requests))
            yield TelegramChats(name, app, telegram, channel, finished)
        finally:
            await channel.stop()
            await asyncio.wait_for(polling, TIMEOUT)
            await channel.close()
            await telegram.stop()
