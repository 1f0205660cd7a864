"""The python-telegram-bot channel: the same bot as the aiogram channel, on PTB 22.

Long polling through PTB's Updater against TELEGRAM_API_URL, or updates fed one by
one by the webhook server. PTB's own update processing stays sequential; one handler
turns each update into its own task, created in update order, and the conversation's
per-user lock keeps one user's updates in order while different users run
concurrently. PTB's errors are mapped to delivery outcomes in `outcome`; the policy
that acts on them is shared with the aiogram channel in `bot.channels.telegram`.
"""

import asyncio
import logging
import signal
import warnings
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults, TypeHandler
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.telegram import (
    ALLOWED_UPDATES,
    Request,
    TelegramCalls,
    TelegramUnavailable,
    WebhookSpec,
    action_request,
    answer_request,
    command_menus,
)
from bot.channels.telegram import to_incoming as shared_to_incoming
from bot.delivery import Delivery, Outcome
from bot.pacing import SendPacer
from handlers.core.conversation import Conversation
from handlers.core.events import (
    Incoming,
    InlineKeyboard,
    Keyboard,
    Outgoing,
    ReplyKeyboard,
)
from handlers.core.texts import Translator

logger = logging.getLogger(__name__)

# Replies, button answers and the outbox share one HTTP pool. How many of them are in
# flight is bounded by our SendPacer (about 30 a second) plus the answers to buttons, so
# a few dozen connections are all the bot can use; and PTB's httpx pool scans every
# connection on each request, so a larger pool only costs time on every request (PTB's
# default of 256 with concurrent updates made an echo bot twice as slow here).
CONNECTION_POOL_SIZE = 32
POOL_WAIT = 30.0  # seconds a request may wait for a free connection
# The long poll holds its connection for the whole poll: it gets a request object of its own.
POLL_TIMEOUT = 10


def _html_of(message: Message) -> str:
    return message.text_html if message.text is not None else message.caption_html


def to_incoming(update: Update) -> Incoming | None:
    """The conversation's event for a PTB update, or None when there is none."""
    return shared_to_incoming(update, _html_of)


def to_markup(keyboard: Keyboard | None) -> Any:
    """PTB's reply_markup for a keyboard of the core."""
    if keyboard is None:
        return None
    if isinstance(keyboard, InlineKeyboard):
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(button.label, callback_data=button.data) for button in row]
                for row in keyboard.rows
            ]
        )
    if isinstance(keyboard, ReplyKeyboard):
        rows = [[KeyboardButton(label) for label in row] for row in keyboard.rows]
        if keyboard.contact:
            rows.insert(0, [KeyboardButton(keyboard.contact, request_contact=True)])
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    return ReplyKeyboardRemove()


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for: PTB 22 gives an int, or a timedelta once opted in."""
    with warnings.catch_warnings():
        # Reading it as an int warns that it will become a timedelta; both are handled.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PtbChannel:
    """Runs the conversation on Telegram through python-telegram-bot."""

    def __init__(
        self,
        conversation: Conversation,
        token: str,
        api_url: str,
        translators: Mapping[str, Translator],
        default_locale: str,
        retry_delay: float = 1.0,
        pacer: SendPacer | None = None,
    ) -> None:
        self.conversation = conversation
        self.pacer = pacer or SendPacer()
        self.translators = translators
        self.default_locale = default_locale
        self.retry_delay = retry_delay
        self.calls = TelegramCalls(self, conversation, self.pacer, retry_delay)
        api_url = api_url.rstrip("/")
        # A burst beyond the pool waits for a free connection rather than failing at once.
        # No wait is endless: httpcore 1.0.9 never frees the slot of a request cancelled
        # while connecting (encode/httpcore#1093), and stopping cancels the long poll. So
        # the poller has a spare connection for PTB's last getUpdates on stop, and a wait
        # that runs out is an ordinary network error (retried, or logged at stop).
        self._requests = (
            HTTPXRequest(connection_pool_size=CONNECTION_POOL_SIZE, pool_timeout=POOL_WAIT),
            HTTPXRequest(connection_pool_size=2, pool_timeout=POOL_WAIT),
        )
        # PTB appends the token to both base URLs: "<api>/bot" becomes "<api>/bot<token>".
        self.application = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{api_url}/bot")
            .base_file_url(f"{api_url}/file/bot")
            .request(self._requests[0])
            .get_updates_request(self._requests[1])
            .defaults(
                Defaults(
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
            .job_queue(None)  # the scheduler is APScheduler's, in bot.scheduler
            .build()
        )
        # PTB processes updates one at a time (its concurrent_updates was slower here);
        # the handler only starts a task per update, in update order.
        self.application.add_handler(TypeHandler(Update, self._on_update, block=False))
        self.application.add_error_handler(self._on_error)
        self.bot = self.application.bot
        self._stopping = asyncio.Event()
        self._started = False

    async def run(self, handle_signals: bool = False) -> None:
        """Sets the command menus, then polls until stopped (or SIGINT/SIGTERM, if asked)."""
        self._stopping.clear()
        await self.start()
        if not self._started:
            raise TelegramUnavailable("getMe failed: the bot cannot start")
        updater = self.application.updater
        assert updater is not None  # the builder makes one unless told not to
        # PTB deletes any webhook before it polls (its bootstrap), as polling requires.
        await updater.start_polling(
            timeout=POLL_TIMEOUT, allowed_updates=list(ALLOWED_UPDATES), bootstrap_retries=-1
        )
        await self.application.start()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for number in signals:
            loop.add_signal_handler(number, self._stopping.set)
        try:
            await self._stopping.wait()
        finally:
            for number in signals:
                loop.remove_signal_handler(number)
            if updater.running:
                await updater.stop()
            if self.application.running:
                await self.application.stop()  # waits for the updates being handled

    async def start(self) -> None:
        """Learns the bot's username (for deep links) and sets the command menus.

        Also readies PTB's Application, which webhook mode needs without PTB's own server.
        """
        me = await self.calls.call(self._initialize, user_id=None)
        if me is not None:
            self._started = True
            if me.username:
                self.conversation.services.account.learn(me.username)
        await self.set_commands()

    async def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        for request in self._requests:  # also when the Application never got initialized
            await request.shutdown()

    async def set_commands(self) -> None:
        """The command menu in each language, and the default language's for everyone else."""
        for language, menu in command_menus(self.translators, self.default_locale):
            commands = [BotCommand(name, text) for name, text in menu]
            await self.calls.call(
                partial(self.bot.set_my_commands, commands, language_code=language), None
            )

    # --- webhook mode: the webhook server (bot/webhook.py) feeds updates one by one --------

    async def feed(self, payload: dict[str, Any]) -> None:
        """Handles one update as Telegram posted it; returns when its replies are sent."""
        try:
            update = Update.de_json(payload, self.bot)
        except Exception as error:  # whatever was posted, it is not an update
            logger.warning(
                "ignored a webhook payload that is no update (%s)", type(error).__name__
            )
            return
        await self._handle(update)

    async def webhook_spec(self) -> WebhookSpec:
        """The webhook Telegram has now (url "" when none)."""
        return await self.calls.webhook_spec(self.bot)

    async def set_webhook(self, spec: WebhookSpec, secret: str) -> None:
        """Has Telegram post updates to `spec.url`, signed with `secret`."""
        await self.calls.set_webhook(self.bot, spec, secret)

    async def delete_webhook(self) -> None:
        """Stops webhook delivery (updates wait for getUpdates again)."""
        await self.calls.delete_webhook(self.bot)

    # --- updates in ------------------------------------------------------------------------

    async def _initialize(self) -> User:
        await self.application.initialize()  # calls getMe once, and readies the HTTP clients
        return self.bot.bot

    async def _on_update(self, update: object, _: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(update, Update):
            await self._handle(update)

    async def _handle(self, update: Update) -> None:
        query_id = update.callback_query.id if update.callback_query else None
        await self.calls.handle(to_incoming(update), query_id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """What escaped an update's task: logged with its id, never with what the user sent."""
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        logger.error("update %s failed: %s", update_id, type(error).__name__, exc_info=error)

    # --- replies out -----------------------------------------------------------------------

    async def send(self, event: Incoming, actions: list[Outgoing], query_id: str | None) -> None:
        """Renders the actions in order; a button press is always answered, first."""
        await self.calls.send(event, actions, query_id)

    async def send_one(self, chat_id: int, action: Outgoing) -> Delivery:
        """One request for a queued message, without retrying: the outbox sender decides."""
        return await self.calls.send_one(chat_id, action)

    def outcome(self, error: Exception) -> Delivery | None:
        """What a PTB error comes to; None when it is not one of Telegram's."""
        if not isinstance(error, TelegramError):
            return None
        if isinstance(error, RetryAfter):
            return Delivery(Outcome.RETRY_AFTER, retry_after=retry_after_seconds(error))
        if isinstance(error, Forbidden):
            return Delivery(Outcome.BLOCKED, error=error.message)
        if isinstance(error, BadRequest):  # before NetworkError: PTB derives it from that
            gone = "chat not found" in error.message.lower()
            return Delivery(Outcome.CHAT_GONE if gone else Outcome.REFUSED, error=error.message)
        if isinstance(error, NetworkError):  # also TimedOut, and 5xx answers
            return Delivery(Outcome.TRANSIENT, error=type(error).__name__)
        return Delivery(Outcome.REFUSED, error=f"{type(error).__name__}: {error.message}")

    def answer(self, query_id: str, text: str | None = None, alert: bool = False) -> Request:
        return answer_request(self.bot, query_id, text, alert)

    def request(self, chat_id: int, action: Outgoing) -> Request:
        return action_request(self.bot, chat_id, action, to_markup, InputFile)
