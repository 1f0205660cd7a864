"""The Bot API through aiogram, for the Telegram channel (`bot.channels.telegram`).

Long polling against TELEGRAM_API_URL with aiogram's Dispatcher, each polled update handed
to the channel in order (it runs each in a task of its own); aiogram's types
for keyboards, uploads and command menus; aiogram's errors in the channel's words.
"""

from collections.abc import Sequence
from typing import Any

from aiogram import Bot, Dispatcher, types
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from pydantic import ValidationError

from bot.channels.telegram import ApiErrors, NotAnUpdate, OnUpdate, ReplyKey
from handlers.core.events import Button

# aiohttp's pool: replies, button answers and the outbox's window (SEND_WINDOW, 256 by default).
CONNECTIONS = 300


class AiogramApi:
    """aiogram's Bot and Dispatcher, as the Telegram channel uses them."""

    def __init__(self, token: str, api_url: str) -> None:
        self.connections = CONNECTIONS
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(api_url.rstrip("/")), limit=CONNECTIONS
        )
        self.bot = Bot(
            token,
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
        )
        self.dispatcher = Dispatcher()
        self.errors = ApiErrors(
            any=(TelegramAPIError,),
            flood=(TelegramRetryAfter,),
            forbidden=(TelegramForbiddenError,),
            bad_request=(TelegramBadRequest, TelegramEntityTooLarge),
            network=(TelegramNetworkError, TelegramServerError),
            unreadable=(ClientDecodeError,),
            server=(TelegramServerError,),
        )

    def inline_keyboard(self, rows: Sequence[Sequence[Button]]) -> types.InlineKeyboardMarkup:
        return types.InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    types.InlineKeyboardButton(text=button.label, callback_data=button.data)
                    for button in row
                ]
                for row in rows
            ]
        )

    def reply_keyboard(self, rows: Sequence[Sequence[ReplyKey]]) -> types.ReplyKeyboardMarkup:
        keyboard = [
            [
                types.KeyboardButton(text=label, request_contact=contact or None)
                for label, contact in row
            ]
            for row in rows
        ]
        return types.ReplyKeyboardMarkup(
            keyboard=keyboard, resize_keyboard=True, one_time_keyboard=True
        )

    def remove_keyboard(self) -> types.ReplyKeyboardRemove:
        return types.ReplyKeyboardRemove()

    def upload(self, data: bytes, filename: str) -> types.BufferedInputFile:
        return types.BufferedInputFile(data, filename=filename)

    def chat_scope(self, chat_id: int) -> types.BotCommandScopeChat:
        return types.BotCommandScopeChat(chat_id=chat_id)

    def bot_command(self, name: str, description: str) -> types.BotCommand:
        return types.BotCommand(command=name, description=description)

    async def call(self, method: str, /, **params: Any) -> Any:
        # aiogram's Bot names its methods and their fields as the Bot API does.
        return await getattr(self.bot, method)(**params)

    def error_message(self, error: Exception) -> str:
        return error.message if isinstance(error, TelegramAPIError) else str(error)

    def retry_after(self, error: Exception) -> float:
        return float(error.retry_after) if isinstance(error, TelegramRetryAfter) else 0.0

    def html_of(self, message: types.Message) -> str:
        return message.html_text

    def update_of(self, payload: dict[str, Any]) -> types.Update:
        try:
            return types.Update.model_validate(payload, context={"bot": self.bot})
        except ValidationError as error:
            raise NotAnUpdate(f"{error.error_count()} validation errors") from None

    async def start(self) -> types.User:
        return await self.bot.get_me()

    async def poll(self, on_update: OnUpdate, allowed_updates: Sequence[str]) -> None:
        async def handle(
            _: types.Message | types.CallbackQuery, event_update: types.Update
        ) -> None:
            await on_update(event_update)

        for observer in (
            self.dispatcher.message,
            self.dispatcher.edited_message,
            self.dispatcher.callback_query,
        ):
            observer.register(handle)
        await self.dispatcher.start_polling(
            self.bot,
            # `on_update` returns once the channel has taken the update in; while it holds
            # one back (the database away, too many in hand) the rest stay with Telegram.
            handle_as_tasks=False,
            allowed_updates=list(allowed_updates),
            handle_signals=False,  # the channel handles them
        )

    async def stop(self) -> None:
        await self.dispatcher.stop_polling()

    async def close(self) -> None:
        await self.bot.session.close()
