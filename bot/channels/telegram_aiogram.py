"""The aiogram channel: Telegram updates in, the conversation's actions out.

Long polling against TELEGRAM_API_URL, or updates fed one by one by the webhook
server. Each polled update runs as its own task; the conversation keeps one user's
updates in order. aiogram's errors are mapped to delivery outcomes in `outcome`; the
policy that acts on them (429 waits, 403 marks the applicant unreachable, network and
server errors are retried with backoff, a bad request is logged and skipped) is shared
with the other Telegram channel in `bot.channels.telegram`.
"""

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from pydantic import ValidationError

from bot.channels.telegram import (
    ALLOWED_UPDATES,
    Request,
    TelegramCalls,
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


def _html_of(message: Message) -> str:
    return message.html_text


def to_incoming(update: Update) -> Incoming | None:
    """The conversation's event for an aiogram update, or None when there is none."""
    return shared_to_incoming(update, _html_of)


def to_markup(keyboard: Keyboard | None) -> Any:
    """aiogram's reply_markup for a keyboard of the core."""
    if keyboard is None:
        return None
    if isinstance(keyboard, InlineKeyboard):
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=button.label, callback_data=button.data)
                    for button in row
                ]
                for row in keyboard.rows
            ]
        )
    if isinstance(keyboard, ReplyKeyboard):
        rows = [[KeyboardButton(text=label) for label in row] for row in keyboard.rows]
        if keyboard.contact:
            rows.insert(0, [KeyboardButton(text=keyboard.contact, request_contact=True)])
        return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)
    return ReplyKeyboardRemove()


class AiogramChannel:
    """Runs the conversation on Telegram through aiogram."""

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
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
        self.bot = Bot(
            token,
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
        )
        self.dispatcher = Dispatcher()
        self.dispatcher.message.register(self._on_update)
        self.dispatcher.edited_message.register(self._on_update)
        self.dispatcher.callback_query.register(self._on_update)

    async def run(self, handle_signals: bool = False) -> None:
        """Sets the command menus, then polls until stopped (or SIGINT/SIGTERM, if asked)."""
        await self.calls.call(self.bot.delete_webhook, user_id=None)
        await self.start()
        await self.dispatcher.start_polling(
            self.bot,
            handle_as_tasks=True,
            allowed_updates=list(ALLOWED_UPDATES),
            handle_signals=handle_signals,
        )

    async def start(self) -> None:
        """Learns the bot's username (for deep links) and sets the command menus."""
        me = await self.calls.call(self.bot.get_me, user_id=None)
        if me is not None and me.username:
            self.conversation.services.account.learn(me.username)
        await self.set_commands()

    async def stop(self) -> None:
        await self.dispatcher.stop_polling()

    async def close(self) -> None:
        await self.bot.session.close()

    async def set_commands(self) -> None:
        """The command menu in each language, and the default language's for everyone else."""
        for language, menu in command_menus(self.translators, self.default_locale):
            commands = [BotCommand(command=name, description=text) for name, text in menu]
            await self.calls.call(
                partial(self.bot.set_my_commands, commands, language_code=language), None
            )

    # --- webhook mode: the webhook server (bot/webhook.py) feeds updates one by one --------

    async def feed(self, payload: dict[str, Any]) -> None:
        """Handles one update as Telegram posted it; returns when its replies are sent."""
        try:
            update = Update.model_validate(payload, context={"bot": self.bot})
        except ValidationError as error:
            logger.warning("ignored a webhook payload that is no update (%s)", error.error_count())
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

    async def _on_update(self, _: Message | CallbackQuery, event_update: Update) -> None:
        await self._handle(event_update)

    async def _handle(self, update: Update) -> None:
        query_id = update.callback_query.id if update.callback_query else None
        await self.calls.handle(to_incoming(update), query_id)

    # --- replies out -----------------------------------------------------------------------

    async def send(self, event: Incoming, actions: list[Outgoing], query_id: str | None) -> None:
        """Renders the actions in order; a button press is always answered, first."""
        await self.calls.send(event, actions, query_id)

    async def send_one(self, chat_id: int, action: Outgoing) -> Delivery:
        """One request for a queued message, without retrying: the outbox sender decides."""
        return await self.calls.send_one(chat_id, action)

    def outcome(self, error: Exception) -> Delivery | None:
        """What an aiogram error comes to; None when it is not one of Telegram's."""
        if not isinstance(error, TelegramAPIError):
            return None
        if isinstance(error, TelegramRetryAfter):
            return Delivery(Outcome.RETRY_AFTER, retry_after=float(error.retry_after))
        if isinstance(error, TelegramForbiddenError):
            return Delivery(Outcome.BLOCKED, error=error.message)
        if isinstance(error, TelegramBadRequest):
            gone = "chat not found" in error.message.lower()
            return Delivery(Outcome.CHAT_GONE if gone else Outcome.REFUSED, error=error.message)
        if isinstance(error, TelegramEntityTooLarge):
            return Delivery(Outcome.REFUSED, error=error.message)
        if isinstance(error, TelegramNetworkError | TelegramServerError):
            return Delivery(Outcome.TRANSIENT, error=type(error).__name__)
        return Delivery(Outcome.REFUSED, error=f"{type(error).__name__}: {error.message}")

    def answer(self, query_id: str, text: str | None = None, alert: bool = False) -> Request:
        return answer_request(self.bot, query_id, text, alert)

    def request(self, chat_id: int, action: Outgoing) -> Request:
        return action_request(self.bot, chat_id, action, to_markup, BufferedInputFile)
