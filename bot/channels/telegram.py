"""The Telegram channel: updates in, the conversation's actions out, under one error policy.

A `TelegramApi` is what a Telegram library (aiogram or python-telegram-bot) gives the
channel: its keyboard, upload and command types, one Bot API request by method name,
its exceptions sorted by what they mean (`ApiErrors`), and long polling. Everything else
lives here, once: translating updates, rendering actions, command menus, the webhook's
registration, and the error policy every reply is sent under: 429 waits `retry_after`
(and pauses the bot-wide budget), 403 marks the applicant unreachable, network errors
and 5xx are retried with exponential backoff, a bad request is logged and given up; an
edit that changes nothing is fine, an edit Telegram refuses otherwise is sent as a new
message.
"""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from bot.channels.screen import Screen, Screens, screen_on_telegram
from bot.delivery import Delivery, Outcome
from bot.metrics import Metrics
from bot.pacing import SendPacer
from handlers.core.commands import menu, staff_menus
from handlers.core.conversation import Conversation
from handlers.core.events import (
    Button,
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
from handlers.core.services import BotAccount, Services
from handlers.core.texts import LOCALES

logger = logging.getLogger(__name__)

T = TypeVar("T")
Request = Callable[[], Awaitable[Any]]
# An update as aiogram or PTB parsed it: both mirror the Bot API, so it is read by field name.
Update = Any
OnUpdate = Callable[[Update], Awaitable[None]]

ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
# Polled updates handled at once; beyond that (as while the database is away) the rest
# stay with Telegram instead of piling up here.
UPDATE_CONCURRENCY = 128
# At stop, how long updates being handled (or waiting for the database) are given to end.
STOP_GRACE = 10.0
MAX_ATTEMPTS = 5
# At start, getMe is tried until Telegram answers, waiting at most this long in between.
GET_ME_MAX_DELAY = 60.0
# Telegram's own default when setWebhook is given no max_connections.
DEFAULT_MAX_CONNECTIONS = 40
# What a user may send that the bot cannot read, by the name of the message's field;
# the first present one names it (a venue also carries a location: it reads "location").
UNSUPPORTED_CONTENT = (
    "sticker",
    "photo",
    "voice",
    "video",
    "video_note",
    "audio",
    "document",
    "animation",
    "location",
    "venue",
    "poll",
    "dice",
)


@dataclass(frozen=True)
class WebhookSpec:
    """What is registered with Telegram for webhook delivery."""

    url: str
    allowed_updates: tuple[str, ...]
    max_connections: int


class TelegramUnavailable(RuntimeError):
    """A call the bot cannot do without (getMe, setting the webhook) failed under the policy."""


class NotAnUpdate(ValueError):
    """A webhook payload the library cannot read as an update."""


Errors = tuple[type[Exception], ...]


@dataclass(frozen=True)
class ApiErrors:
    """A library's exceptions, by what each means to the channel (the neutral `Outcome`s)."""

    any: Errors  # every error Telegram answered with, or that kept the request from it
    flood: Errors  # 429: wait retry_after
    forbidden: Errors  # 403: the user blocked the bot
    bad_request: Errors  # 400 (and 413): sending it again cannot help
    network: Errors  # no answer, or a 5xx; checked after bad_request, which PTB derives from it
    unreadable: Errors  # an answer that is not what the Bot API promises (a faulty server)
    server: Errors = ()  # the 5xx among `network`, where the library tells them apart


# A reply-keyboard button: its label, and whether it asks to share the phone number.
ReplyKey = tuple[str, bool]


class TelegramApi(Protocol):
    """What a Telegram library gives the channel: its types, its requests, its errors, polling."""

    errors: ApiErrors
    connections: int  # requests the library's HTTP pool carries at once

    def inline_keyboard(self, rows: Sequence[Sequence[Button]]) -> object:
        """The library's inline keyboard markup."""
        ...

    def reply_keyboard(self, rows: Sequence[Sequence[ReplyKey]]) -> object:
        """The library's reply keyboard markup, shown once and fitted to the buttons."""
        ...

    def remove_keyboard(self) -> object:
        """The library's markup that puts the phone's own keyboard back."""
        ...

    def upload(self, data: bytes, filename: str) -> object:
        """The library's file to upload with a request."""
        ...

    def chat_scope(self, chat_id: int) -> object:
        """The library's BotCommandScopeChat."""
        ...

    def bot_command(self, name: str, description: str) -> object:
        """The library's entry of a command menu."""
        ...

    async def call(self, method: str, /, **params: Any) -> Any:
        """One Bot API request: `method` and `params` named as the Bot API names them, in
        snake case (send_message, chat_id); raises the library's errors."""
        ...

    def error_message(self, error: Exception) -> str:
        """What Telegram (or the way to it) said, for one of `errors.any`."""
        ...

    def retry_after(self, error: Exception) -> float:
        """The seconds a flood error asks to wait."""
        ...

    def html_of(self, message: Any) -> str:
        """A message's text (or caption) as Telegram HTML."""
        ...

    def update_of(self, payload: dict[str, Any]) -> Update:
        """An update as Telegram posted it to the webhook; raises NotAnUpdate."""
        ...

    async def start(self) -> Any:
        """Readies the client and returns the bot's own user (getMe)."""
        ...

    async def poll(self, on_update: OnUpdate, allowed_updates: Sequence[str]) -> None:
        """Long-polls for the updates allowed until `stop`, awaiting `on_update` for each in
        update order before taking the next (so it may hold the rest back at Telegram)."""
        ...

    async def stop(self) -> None:
        """Ends `poll`."""
        ...

    async def close(self) -> None:
        """Closes the client's connections."""
        ...


def _one_line(error: Exception, limit: int = 200) -> str:
    """An error's text on one line, clipped: for a start-up failure that ends in one line."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unsupported_content(message: object) -> str:
    """The name of what a message carries that the bot cannot read ("other" when unknown)."""
    return next((name for name in UNSUPPORTED_CONTENT if getattr(message, name, None)), "other")


# How a library gives a message's text (or caption) as Telegram HTML (`TelegramApi.html_of`);
# the rest of an update reads the same in both libraries.
HtmlOf = Callable[[Any], str]


def to_incoming(update: Update, html_of: HtmlOf) -> Incoming | None:
    """The conversation's event for a Telegram update (aiogram's or PTB's, which mirror the
    Bot API alike), or None when there is none."""
    if update.callback_query is not None:
        return _from_button(update.update_id, update.callback_query)
    if update.message is not None:
        return _from_message(update.update_id, update.message, html_of, edited=False)
    if update.edited_message is not None:
        return _from_message(update.update_id, update.edited_message, html_of, edited=True)
    return None


def _from_message(update_id: int, message: Any, html_of: HtmlOf, edited: bool) -> Incoming | None:
    user = message.from_user
    if user is None or user.is_bot:
        return None
    base: dict[str, Any] = {
        "user_id": user.id,
        "chat_id": message.chat.id,
        "language_hint": user.language_code,
        "user_name": user.full_name,
        "private": message.chat.type == "private",
        "update_id": update_id,
    }
    if edited:
        return Incoming(kind=Kind.UNSUPPORTED, content="edit", **base)
    if message.contact is not None:
        return Incoming(
            kind=Kind.CONTACT,
            contact_phone=message.contact.phone_number,
            contact_is_own=message.contact.user_id == user.id,
            **base,
        )
    if message.text is not None:
        if command := split_command(message.text):
            return Incoming(
                kind=Kind.COMMAND,
                text=message.text,
                command=command[0],
                argument=command[1],
                **base,
            )
        reply_to = message.reply_to_message.message_id if message.reply_to_message else None
        return Incoming(
            kind=Kind.TEXT,
            text=message.text,
            html=html_of(message),
            reply_to_message_id=reply_to,
            **base,
        )
    if message.photo or message.document:
        file_id = message.photo[-1].file_id if message.photo else message.document.file_id
        return Incoming(
            kind=Kind.MEDIA,
            content="photo" if message.photo else "document",
            file_id=file_id,
            text=message.caption or "",
            html=html_of(message) if message.caption else "",
            **base,
        )
    return Incoming(kind=Kind.UNSUPPORTED, content=unsupported_content(message), **base)


def _from_button(update_id: int, query: Any) -> Incoming | None:
    if query.message is None:
        return None  # a button under an inline-mode message: not ours
    return Incoming(
        kind=Kind.BUTTON,
        user_id=query.from_user.id,
        chat_id=query.message.chat.id,
        button_data=query.data or "",
        button_message_id=query.message.message_id,
        language_hint=query.from_user.language_code,
        user_name=query.from_user.full_name,
        private=query.message.chat.type == "private",
        update_id=update_id,
    )


def command_menus(services: Services) -> list[tuple[str | None, list[tuple[str, str]]]]:
    """(language, [(command, description)]) for each language, and None for everyone else."""
    return [
        (locale, list(menu(services.texts(locale or services.default_locale), None)))
        for locale in (*LOCALES, None)
    ]


class TelegramChannel:
    """Runs the conversation on Telegram, through aiogram or python-telegram-bot."""

    def __init__(
        self,
        api: TelegramApi,
        conversation: Conversation,
        retry_delay: float = 1.0,
        pacer: SendPacer | None = None,
        account: BotAccount | None = None,
        metrics: Metrics | None = None,
        update_concurrency: int = UPDATE_CONCURRENCY,
    ) -> None:
        self.api = api
        self.conversation = conversation
        self.metrics = metrics or Metrics()  # the app's, for /metrics
        self.account = account  # None for a channel that only sends (no deep links to make)
        self.retry_delay = retry_delay
        self.pacer = pacer or SendPacer()
        self.screens = Screens()  # edits that would change nothing are not sent
        self._slots = asyncio.Semaphore(update_concurrency)
        self._handling: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    async def run(self, handle_signals: bool = False) -> None:
        """Sets the command menus, then polls until stopped (or SIGINT/SIGTERM, if asked)."""
        await self.call(self._request("delete_webhook"), user_id=None)  # polling needs none
        await self.start()
        self._stopping.clear()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        stopping: set[asyncio.Task[None]] = set()  # held, so that the task is not collected
        for number in signals:
            loop.add_signal_handler(number, lambda: stopping.add(loop.create_task(self.stop())))
        try:
            await self.api.poll(self._take_in, ALLOWED_UPDATES)
        finally:
            for number in signals:
                loop.remove_signal_handler(number)
            await self._finish_handling()

    async def start(self) -> None:
        """Learns who the bot is (getMe, for deep links) and sets the command menus. Webhook
        mode starts here, without polling."""
        me = await self.who_am_i()
        if self.account is not None:
            self.account.learn(me.username)
        await self.set_commands()

    async def who_am_i(self) -> Any:
        """The bot's own user: getMe, tried again until Telegram answers. Raises
        TelegramUnavailable when the answer is a refusal or cannot be read."""
        delay = self.retry_delay
        while True:
            try:
                me, delivery = await self.attempt(self.api.start)
            except self.api.errors.unreadable as error:
                raise TelegramUnavailable(
                    f"answered getMe with what cannot be read ({_one_line(error)})"
                ) from None
            match delivery.outcome:
                case Outcome.SENT if getattr(me, "username", None):
                    return me
                case Outcome.SENT:
                    raise TelegramUnavailable("answered getMe without the bot's username")
                case Outcome.RETRY_AFTER:
                    await asyncio.sleep(delivery.retry_after)
                case Outcome.TRANSIENT:
                    # Starting without knowing the username would put another bot's name
                    # in every ticket and calendar link, so wait for Telegram instead.
                    logger.warning(
                        "Telegram did not answer getMe (%s); trying again in %.0f s",
                        delivery.error,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, GET_ME_MAX_DELAY)
                case _:
                    raise TelegramUnavailable(f"refused getMe ({delivery.error})")

    async def stop(self) -> None:
        """Ends polling; updates being handled are given STOP_GRACE to finish."""
        self._stopping.set()
        await self.api.stop()

    async def close(self) -> None:
        await self.api.close()

    async def set_commands(self) -> None:
        """The command menu in each language, the default language's for everyone else, and
        each staff member's own (their staff commands too)."""
        services = self.conversation.services
        for language, listed in command_menus(services):
            commands = [self.api.bot_command(name, text) for name, text in listed]
            await self.call(
                self._request("set_my_commands", commands=commands, language_code=language),
                user_id=None,
            )
        async with self.conversation.sessions() as db:
            for staff_member in await staff_menus(db, services):
                await self._set_chat_commands(staff_member)

    async def _set_chat_commands(self, menu: SetCommands) -> None:
        await self.call(self._menu_request(menu), user_id=None)

    def _menu_request(self, menu: SetCommands) -> Request:
        """One user's own menu (BotCommandScopeChat); an empty one returns them to everyone's."""
        scope = self.api.chat_scope(menu.user_id)
        if menu.commands:
            commands = [self.api.bot_command(name, text) for name, text in menu.commands]
            return self._request("set_my_commands", commands=commands, scope=scope)
        return self._request("delete_my_commands", scope=scope)

    # --- webhook mode: the webhook server (bot/webhook.py) feeds updates one by one --------

    async def feed(self, payload: dict[str, Any]) -> None:
        """Handles one update as Telegram posted it; returns when its replies are sent."""
        try:
            update = self.api.update_of(payload)
        except NotAnUpdate as error:
            logger.warning("ignored a webhook payload that is no update (%s)", error)
            return
        await self._on_update(update, wait_for_database=False)

    async def webhook_spec(self) -> WebhookSpec:
        """The webhook Telegram has now (url "" when none)."""
        info = await self.call(self._request("get_webhook_info"), user_id=None)
        if info is None:
            raise TelegramUnavailable("getWebhookInfo failed")
        return WebhookSpec(
            url=info.url,
            allowed_updates=tuple(info.allowed_updates or ()),
            max_connections=info.max_connections or DEFAULT_MAX_CONNECTIONS,
        )

    async def set_webhook(self, spec: WebhookSpec, secret: str) -> None:
        """Has Telegram post updates to `spec.url`, signed with `secret`."""
        request = self._request(
            "set_webhook",
            url=spec.url,
            secret_token=secret,
            allowed_updates=list(spec.allowed_updates),
            max_connections=spec.max_connections,
        )
        if not await self.call(request, user_id=None):
            raise TelegramUnavailable("setWebhook failed")

    async def delete_webhook(self) -> None:
        """Stops webhook delivery (updates wait for getUpdates again)."""
        if not await self.call(self._request("delete_webhook"), user_id=None):
            raise TelegramUnavailable("deleteWebhook failed")

    # --- updates in ------------------------------------------------------------------------

    async def _take_in(self, update: Update) -> None:
        """Starts handling a polled update in a task of its own, once the database answers
        and fewer than `update_concurrency` are in hand; until then, the updates after it
        stay with Telegram."""
        # Only a wait that may be long races the stop (two tasks): the usual path is direct.
        watch = self.conversation.watch
        if watch is not None and watch.away:
            waited = await self._unless_stopping(watch.until_back())
        else:
            waited = True
        if waited and self._slots.locked():
            waited = await self._unless_stopping(self._slots.acquire())
        elif waited:
            await self._slots.acquire()  # a slot is free: at once
        if not waited:
            return  # stopping: never handed to the conversation
        task = asyncio.create_task(self._on_update(update))  # takes the user's lock first
        self._handling.add(task)
        task.add_done_callback(self._handled)

    async def _unless_stopping(self, waiting: Awaitable[object]) -> bool:
        """Waits for `waiting`; False, with it cancelled, if the channel stops first."""
        done = asyncio.ensure_future(waiting)
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait((done, stop), return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if done.done():
            return True
        done.cancel()
        return False

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        self._slots.release()
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("an update failed: %s", type(error).__name__, exc_info=error)

    async def _finish_handling(self) -> None:
        """At stop: the updates in hand get STOP_GRACE seconds to finish."""
        if not self._handling:
            return
        _, unfinished = await asyncio.wait(self._handling, timeout=STOP_GRACE)
        for task in unfinished:
            task.cancel()
        if unfinished:
            logger.warning(
                "%s update(s) still waiting (for the database) were left at stop", len(unfinished)
            )

    async def _on_update(self, update: Update, *, wait_for_database: bool = True) -> None:
        """Runs one update through the conversation and sends its replies; while the
        database is away it waits, or raises DatabaseAway if told not to.

        Must be awaited without an await before it in the caller, so that the user's
        lock is taken in the order the updates came.
        """
        query_id = update.callback_query.id if update.callback_query else None
        event = to_incoming(update, self.api.html_of)
        if event is None:
            if query_id is not None:  # not ours, but the button must stop spinning
                await self.call(self.answer(query_id), None)
            return

        shown = self._screen_pressed(update)

        async def deliver(actions: list[Outgoing]) -> None:
            await self.send(event, actions, query_id, shown)

        actions = await self.conversation.handle(
            event, deliver, wait_for_database=wait_for_database
        )
        if query_id is not None and not actions:
            await self.call(self.answer(query_id), event.user_id)

    # --- replies out -----------------------------------------------------------------------

    def _screen_pressed(self, update: Update) -> tuple[int, Screen] | None:
        """The message whose button was pressed, as the user sees it (None for a message
        the bot cannot see, such as one older than 48 hours)."""
        message = update.callback_query.message if update.callback_query else None
        if message is None or getattr(message, "text", None) is None:
            return None
        html = self.api.html_of(message)
        return message.message_id, screen_on_telegram(html, message.reply_markup)

    async def send(
        self,
        event: Incoming,
        actions: list[Outgoing],
        query_id: str | None,
        shown: tuple[int, Screen] | None = None,
    ) -> None:
        """Renders the actions in order; a button press is always answered, first. An edit
        of the pressed message to what it `shown` already is not sent."""
        if query_id is not None:
            notice = next((a for a in actions if isinstance(a, Notify)), None)
            answer = (
                self.answer(query_id, notice.text[:200], notice.alert)
                if notice
                else self.answer(query_id)
            )
            await self.call(answer, event.user_id)
        for action in actions:
            if isinstance(action, SetCommands):
                await self._set_chat_commands(action)
                continue
            if isinstance(action, EditText):
                if shown is not None and self.screens.changes_nothing(
                    event.chat_id, shown, action
                ):
                    continue
                edited = await self._edit(event.chat_id, action, event.user_id)
                if shown is not None and edited:
                    self.screens.edited(event.chat_id, shown, action)
                shown = None  # what the press showed is not on screen any more
            elif not isinstance(action, Notify) or query_id is None:
                await self.render(event.chat_id, action, event.user_id)

    async def send_one(self, chat_id: int, action: Outgoing) -> Delivery:
        """One request for a queued message, without retrying: the outbox sender decides."""
        if isinstance(action, SetCommands):  # queued by the command line's staff changes
            _, delivery = await self.attempt(self._menu_request(action))
            return delivery
        _, delivery = await self.attempt(self.request(chat_id, action), shows_message=True)
        return delivery

    async def render(self, chat_id: int, action: Outgoing, user_id: int) -> bool:
        """Sends one new message as a reply, under the error policy."""
        sent = await self.call(self.request(chat_id, action), user_id, paced_chat=chat_id)
        return sent is not None

    def request(self, chat_id: int, action: Outgoing) -> Request:
        """The Bot API call for one action: a text, a notice as text, a venue, a file, an edit."""
        if isinstance(action, EditText):
            return self._request(
                "edit_message_text",
                text=action.text,
                chat_id=chat_id,
                message_id=action.message_id,
                reply_markup=self.markup(action.keyboard),
            )
        if isinstance(action, SendMedia):
            field = "photo" if action.kind == "photo" else "document"
            return self._send(field, chat_id, action.file_id, action.caption)
        if isinstance(action, SendFile):
            file = self.api.upload(action.data, filename=action.filename)
            return self._send(
                "photo" if action.photo else "document", chat_id, file, action.caption
            )
        if isinstance(action, SendVenue):
            return self._request(
                "send_venue",
                chat_id=chat_id,
                latitude=action.latitude,
                longitude=action.longitude,
                title=action.title,
                address=action.address,
            )
        if isinstance(action, SendText | Notify):
            keyboard = action.keyboard if isinstance(action, SendText) else None
            return self._request(
                "send_message",
                chat_id=chat_id,
                text=action.text,
                reply_markup=self.markup(keyboard),
            )
        raise ValueError(f"{type(action).__name__} is not a new message")

    def answer(self, query_id: str, text: str | None = None, alert: bool = False) -> Request:
        """The answer to a button press (stops its spinner), with a notice when there is one."""
        return self._request(
            "answer_callback_query", callback_query_id=query_id, text=text, show_alert=alert
        )

    def markup(self, keyboard: Keyboard | None) -> object:
        """The library's reply_markup for a keyboard of the core."""
        if keyboard is None:
            return None
        if isinstance(keyboard, InlineKeyboard):
            return self.api.inline_keyboard(keyboard.rows)
        if isinstance(keyboard, ReplyKeyboard):
            rows = [[(label, False) for label in row] for row in keyboard.rows]
            if keyboard.contact:
                rows.insert(0, [(keyboard.contact, True)])
            return self.api.reply_keyboard(rows)
        return self.api.remove_keyboard()

    def _send(self, field: str, chat_id: int, file: object, caption: str) -> Request:
        """sendPhoto or sendDocument: a file by Telegram's id, or one to upload."""
        return self._request(
            f"send_{field}", chat_id=chat_id, caption=caption or None, **{field: file}
        )

    def _request(self, method: str, **params: Any) -> Request:
        return partial(self.api.call, method, **params)

    # --- the error policy ------------------------------------------------------------------

    async def call(
        self,
        request: Callable[[], Awaitable[T]],
        user_id: int | None,
        paced_chat: int | None = None,
    ) -> T | None:
        """One Bot API call under the error policy; None when it could not be made."""
        result, delivery = await self._with_policy(request, user_id, paced_chat)
        if delivery.outcome in (Outcome.REFUSED, Outcome.CHAT_GONE):
            logger.warning("Telegram refused a request: %s", delivery.error)
        return result if delivery.outcome is Outcome.SENT else None

    async def attempt(
        self,
        request: Callable[[], Awaitable[T]],
        paced_chat: int | None = None,
        shows_message: bool = False,
    ) -> tuple[T | None, Delivery]:
        """One try: the result and how it went. A call that shows a message to
        `paced_chat` waits for its slot in the bot-wide budget first (replies go before
        the outbox). A call that shows a message is counted for /metrics by its answer."""
        try:
            if paced_chat is None:
                result = await request()
            else:
                async with self.pacer.slot(paced_chat, reply=True):
                    result = await request()
        except Exception as error:
            failed = self.outcome(error)
            if failed is None:
                raise
            delivery: Delivery = failed
            result = None
        else:
            delivery = Delivery(Outcome.SENT, message_id=getattr(result, "message_id", None))
        if shows_message or paced_chat is not None:
            self.metrics.sent(delivery.figure)
        return result, delivery

    def outcome(self, error: Exception) -> Delivery | None:
        """What a failed request comes to; None when the error is none of Telegram's."""
        errors = self.api.errors
        if not isinstance(error, errors.any):
            return None
        message, name = self.api.error_message(error), type(error).__name__
        if isinstance(error, errors.flood):
            return Delivery(Outcome.RETRY_AFTER, retry_after=self.api.retry_after(error))
        if isinstance(error, errors.forbidden):
            return Delivery(Outcome.BLOCKED, error=message)
        if isinstance(error, errors.bad_request):
            gone = "chat not found" in message.lower()
            return Delivery(Outcome.CHAT_GONE if gone else Outcome.REFUSED, error=message)
        if isinstance(error, errors.network):
            return Delivery(
                Outcome.TRANSIENT, error=name, server_error=isinstance(error, errors.server)
            )
        return Delivery(Outcome.REFUSED, error=f"{name}: {message}")

    async def _edit(self, chat_id: int, action: EditText, user_id: int) -> bool:
        """Edits the message; True when Telegram shows the edit on it."""
        request = self.request(chat_id, action)
        _, delivery = await self._with_policy(request, user_id, paced_chat=chat_id)
        if delivery.outcome is Outcome.SENT:
            return True
        if delivery.outcome not in (Outcome.REFUSED, Outcome.CHAT_GONE):
            return False
        if "not modified" in delivery.error:
            return True  # another instance put it there: the screen is already right
        # Too old to edit, or deleted: show the screen as a new message instead.
        await self.render(chat_id, SendText(action.text, action.keyboard), user_id)
        return False

    async def _with_policy(
        self,
        request: Callable[[], Awaitable[T]],
        user_id: int | None,
        paced_chat: int | None,
    ) -> tuple[T | None, Delivery]:
        """Tries until the call goes through, is refused, or MAX_ATTEMPTS are spent."""
        delivery = Delivery(Outcome.TRANSIENT)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result, delivery = await self.attempt(request, paced_chat)
            match delivery.outcome:
                case Outcome.SENT | Outcome.REFUSED | Outcome.CHAT_GONE:
                    return result, delivery
                case Outcome.RETRY_AFTER:
                    logger.warning(
                        "Telegram asks to wait %s s (flood control)", delivery.retry_after
                    )
                    self.pacer.pause(delivery.retry_after)
                    await asyncio.sleep(delivery.retry_after)
                case Outcome.BLOCKED:
                    if user_id is not None:
                        logger.info("user %s blocked the bot; marked unreachable", user_id)
                        await self.conversation.mark_unreachable(user_id)
                    return None, delivery
                case Outcome.TRANSIENT:
                    logger.warning(
                        "Telegram call failed (attempt %s): %s", attempt, delivery.error
                    )
                    await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        logger.error("Telegram call abandoned after %s attempts", MAX_ATTEMPTS)
        return None, delivery
