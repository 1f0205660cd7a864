"""The Bot API through python-telegram-bot 22, for the Telegram channel (`bot.channels.telegram`).

Long polling through PTB's Updater against TELEGRAM_API_URL. PTB's own update processing
stays sequential; one handler turns each update into its own task, created in update
order, and the conversation's per-user lock keeps one user's updates in order while
different users run concurrently. PTB's types for keyboards, uploads and command menus;
PTB's errors in the channel's words.
"""

import asyncio
import logging
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import telegram
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults, TypeHandler
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.telegram import ApiErrors, NotAnUpdate, OnUpdate, ReplyKey
from handlers.core.events import Button

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
UPDATE_QUEUE_SIZE = 1


class PtbApi:
    """PTB's Application and Bot, as the Telegram channel uses them."""

    def __init__(self, token: str, api_url: str) -> None:
        api_url = api_url.rstrip("/")
        # A burst beyond the pool waits for a free connection rather than failing at once.
        # No wait is endless: httpcore 1.0.9 never frees the slot of a request cancelled
        # while connecting (encode/httpcore#1093), and stopping cancels the long poll. So
        # the poller has a spare connection for PTB's last getUpdates on stop, and a wait
        # that runs out is an ordinary network error (retried, or logged at stop).
        self._requests = (
            HTTPXRequest(connection_pool_size=CONNECTION_POOL_SIZE, pool_timeout=POOL_WAIT),
            # PTB's last getUpdates on stop repeats the offset of the poll it gave up on,
            # and Telegram answers it only when that poll ends: wait longer than a poll.
            HTTPXRequest(
                connection_pool_size=2, pool_timeout=POOL_WAIT, read_timeout=POLL_TIMEOUT + 5
            ),
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
                    link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
                )
            )
            .job_queue(None)  # the scheduler is APScheduler's, in bot.scheduler
            # The channel takes polled updates in one at a time and may hold one back
            # (the database away, too many in hand): a full queue then stops the updater
            # from confirming more, so they stay with Telegram.
            .update_queue(asyncio.Queue(maxsize=UPDATE_QUEUE_SIZE))
            .build()
        )
        self.application.add_error_handler(self._on_error)
        self.bot = self.application.bot
        self.connections = CONNECTION_POOL_SIZE
        self.errors = ApiErrors(
            any=(TelegramError,),
            flood=(RetryAfter,),
            forbidden=(Forbidden,),
            bad_request=(BadRequest,),
            # Also TimedOut, and 5xx answers: PTB raises NetworkError for both, so /metrics
            # counts PTB's 5xx as "network".
            network=(NetworkError,),
            # PTB builds its objects with their fields as arguments: one missing is a TypeError.
            unreadable=(TypeError, KeyError, ValueError),
        )
        self._stopping = asyncio.Event()

    def inline_keyboard(self, rows: Sequence[Sequence[Button]]) -> telegram.InlineKeyboardMarkup:
        return telegram.InlineKeyboardMarkup(
            [
                [telegram.InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                for row in rows
            ]
        )

    def reply_keyboard(self, rows: Sequence[Sequence[ReplyKey]]) -> telegram.ReplyKeyboardMarkup:
        keyboard = [
            [
                telegram.KeyboardButton(label, request_contact=contact or None)
                for label, contact in row
            ]
            for row in rows
        ]
        return telegram.ReplyKeyboardMarkup(keyboard, resize_keyboard=True, one_time_keyboard=True)

    def remove_keyboard(self) -> telegram.ReplyKeyboardRemove:
        return telegram.ReplyKeyboardRemove()

    def upload(self, data: bytes, filename: str) -> telegram.InputFile:
        return telegram.InputFile(data, filename=filename)

    def chat_scope(self, chat_id: int) -> telegram.BotCommandScopeChat:
        return telegram.BotCommandScopeChat(chat_id)

    def bot_command(self, name: str, description: str) -> telegram.BotCommand:
        return telegram.BotCommand(name, description)

    async def call(self, method: str, /, **params: Any) -> Any:
        # PTB's Bot names its methods and their fields as the Bot API does.
        return await getattr(self.bot, method)(**params)

    def error_message(self, error: Exception) -> str:
        return error.message if isinstance(error, TelegramError) else str(error)

    def retry_after(self, error: Exception) -> float:
        """The wait Telegram asked for: PTB 22 gives an int, or a timedelta once opted in."""
        if not isinstance(error, RetryAfter):
            return 0.0
        with warnings.catch_warnings():
            # Reading it as an int warns that it will become a timedelta; both are handled.
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value: int | float | timedelta = error.retry_after
        return value.total_seconds() if isinstance(value, timedelta) else float(value)

    def html_of(self, message: telegram.Message) -> str:
        return message.text_html if message.text is not None else message.caption_html

    def update_of(self, payload: dict[str, Any]) -> telegram.Update:
        try:
            return telegram.Update.de_json(payload, self.bot)
        except Exception as error:  # whatever was posted, it is not an update
            raise NotAnUpdate(type(error).__name__) from None

    async def start(self) -> telegram.User:
        """Readies PTB's Application (which webhook mode needs without PTB's own server)."""
        await self.application.initialize()  # calls getMe once, and readies the HTTP clients
        return self.bot.bot

    async def poll(self, on_update: OnUpdate, allowed_updates: Sequence[str]) -> None:
        async def handle(update: object, _: ContextTypes.DEFAULT_TYPE) -> None:
            if isinstance(update, telegram.Update):
                await on_update(update)

        # PTB hands updates over one at a time (its concurrent_updates was slower here);
        # `on_update` returns once the channel has taken the update in, in update order.
        self.application.add_handler(TypeHandler(telegram.Update, handle))
        updater = self.application.updater
        assert updater is not None  # the builder makes one unless told not to
        await updater.start_polling(
            timeout=POLL_TIMEOUT, allowed_updates=list(allowed_updates), bootstrap_retries=-1
        )
        await self.application.start()
        try:
            await self._stopping.wait()
        finally:
            if updater.running:
                await updater.stop()
            if self.application.running:
                await self.application.stop()  # waits for the update being taken in
            self._stopping.clear()  # for a next poll; a stop asked before this one ended it

    async def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        for request in self._requests:  # also when the Application never got initialized
            await request.shutdown()

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """What escaped an update's task: logged with its id, never with what the user sent."""
        update_id = update.update_id if isinstance(update, telegram.Update) else None
        error = context.error
        logger.error("update %s failed: %s", update_id, type(error).__name__, exc_info=error)
