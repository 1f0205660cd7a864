"""The aiogram channel: Telegram updates in, the conversation's actions out.

Long polling against TELEGRAM_API_URL. Each update runs as its own task; the
conversation keeps one user's updates in order. Telegram's errors are handled
here, in one place: 429 waits, 403 marks the applicant unreachable, network and
server errors are retried with backoff, a bad request is logged and skipped.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
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

from bot.delivery import Delivery, Outcome
from bot.pacing import SendPacer
from handlers.conversation import Conversation
from handlers.events import (
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
    split_command,
)
from handlers.texts import LOCALES, Translator

logger = logging.getLogger(__name__)

T = TypeVar("T")
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
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
MAX_ATTEMPTS = 5


def to_incoming(update: Update) -> Incoming | None:
    """The conversation's event for a Telegram update, or None when there is none."""
    if update.callback_query is not None:
        return _from_button(update.update_id, update.callback_query)
    if update.message is not None:
        return _from_message(update.update_id, update.message, edited=False)
    if update.edited_message is not None:
        return _from_message(update.update_id, update.edited_message, edited=True)
    return None


def _from_message(update_id: int, message: Message, edited: bool) -> Incoming | None:
    user = message.from_user
    if user is None or user.is_bot:
        return None
    base: dict[str, Any] = {
        "user_id": user.id,
        "chat_id": message.chat.id,
        "language_hint": user.language_code,
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
            html=message.html_text,
            reply_to_message_id=reply_to,
            **base,
        )
    if message.photo or message.document:
        file_id = message.photo[-1].file_id if message.photo else message.document.file_id  # type: ignore[union-attr]
        return Incoming(
            kind=Kind.MEDIA,
            content="photo" if message.photo else "document",
            file_id=file_id,
            text=message.caption or "",
            html=message.html_text if message.caption else "",
            **base,
        )
    content = next((name for name in UNSUPPORTED_CONTENT if getattr(message, name, None)), "other")
    return Incoming(kind=Kind.UNSUPPORTED, content=content, **base)


def _from_button(update_id: int, query: CallbackQuery) -> Incoming | None:
    if query.message is None:
        return None  # a button under an inline-mode message: not ours
    return Incoming(
        kind=Kind.BUTTON,
        user_id=query.from_user.id,
        chat_id=query.message.chat.id,
        button_data=query.data or "",
        button_message_id=query.message.message_id,
        language_hint=query.from_user.language_code,
        private=query.message.chat.type == "private",
        update_id=update_id,
    )


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
        await self._call(self.bot.delete_webhook, user_id=None)
        me = await self._call(self.bot.get_me, user_id=None)
        if me is not None and me.username:
            self.conversation.services.account.username = me.username  # for deep links
        await self.set_commands()
        await self.dispatcher.start_polling(
            self.bot,
            handle_as_tasks=True,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=handle_signals,
        )

    async def stop(self) -> None:
        await self.dispatcher.stop_polling()

    async def close(self) -> None:
        await self.bot.session.close()

    async def set_commands(self) -> None:
        """The command menu in each language, and the default language's for everyone else."""
        for locale in (*LOCALES, None):
            _ = self.translators[locale or self.default_locale].gettext
            commands = [
                BotCommand(command="start", description=_("Main menu")),
                BotCommand(command="book", description=_("Book a test seat")),
                BotCommand(command="mybookings", description=_("My registrations")),
                BotCommand(command="faq", description=_("Questions and answers")),
                BotCommand(command="language", description=_("Change the language")),
                BotCommand(command="help", description=_("What this bot can do")),
            ]
            await self._call(
                partial(self.bot.set_my_commands, commands, language_code=locale), user_id=None
            )

    async def _on_update(self, _: Message | CallbackQuery, event_update: Update) -> None:
        query_id = event_update.callback_query.id if event_update.callback_query else None
        event = to_incoming(event_update)
        if event is None:
            if query_id is not None:  # not ours, but the button must stop spinning
                await self._call(lambda: self.bot.answer_callback_query(query_id), None)
            return

        async def deliver(actions: list[Outgoing]) -> None:
            await self.send(event, actions, query_id)

        actions = await self.conversation.handle(event, deliver)
        if query_id is not None and not actions:
            await self._call(lambda: self.bot.answer_callback_query(query_id), event.user_id)

    async def send(self, event: Incoming, actions: list[Outgoing], query_id: str | None) -> None:
        """Renders the actions in order; a button press is always answered, first."""
        if query_id is not None:
            notice = next((a for a in actions if isinstance(a, Notify)), None)
            await self._call(
                lambda: self.bot.answer_callback_query(
                    query_id,
                    text=notice.text[:200] if notice else None,
                    show_alert=notice.alert if notice else False,
                ),
                event.user_id,
            )
        for action in actions:
            if isinstance(action, EditText):
                await self._edit_text(event.chat_id, action, event.user_id)
            elif not isinstance(action, Notify) or query_id is None:
                await self._render(event.chat_id, action, event.user_id)

    async def send_one(self, chat_id: int, action: Outgoing) -> Delivery:
        """One request for a queued message, without retrying: the outbox sender decides."""
        try:
            sent = await self._request(chat_id, action)()
        except TelegramRetryAfter as error:
            return Delivery(Outcome.RETRY_AFTER, retry_after=float(error.retry_after))
        except TelegramForbiddenError as error:
            return Delivery(Outcome.BLOCKED, error=error.message)
        except TelegramBadRequest as error:
            gone = "chat not found" in error.message.lower()
            return Delivery(Outcome.CHAT_GONE if gone else Outcome.REFUSED, error=error.message)
        except (TelegramNetworkError, TelegramServerError) as error:
            return Delivery(Outcome.TRANSIENT, error=type(error).__name__)
        return Delivery(Outcome.SENT, message_id=getattr(sent, "message_id", None))

    async def _render(self, chat_id: int, action: Outgoing, user_id: int) -> bool:
        """Sends one new message as a reply, under the error policy."""
        sent = await self._call(self._request(chat_id, action), user_id, paced_chat=chat_id)
        return sent is not None

    def _request(self, chat_id: int, action: Outgoing) -> Callable[[], Awaitable[Any]]:
        """The Bot API call for one action: a text, a notice as text, a venue, a file, an edit."""
        if isinstance(action, EditText):
            return lambda: self.bot.edit_message_text(
                text=action.text,
                chat_id=chat_id,
                message_id=action.message_id,
                reply_markup=to_markup(action.keyboard),
            )
        if isinstance(action, SendMedia):
            caption = action.caption or None
            if action.kind == "photo":
                return lambda: self.bot.send_photo(chat_id, action.file_id, caption=caption)
            return lambda: self.bot.send_document(chat_id, action.file_id, caption=caption)
        if isinstance(action, SendFile):
            upload = BufferedInputFile(action.data, filename=action.filename)
            if action.photo:
                return lambda: self.bot.send_photo(chat_id, upload, caption=action.caption or None)
            return lambda: self.bot.send_document(chat_id, upload, caption=action.caption or None)
        if isinstance(action, SendVenue):
            return lambda: self.bot.send_venue(
                chat_id, action.latitude, action.longitude, action.title, action.address
            )
        if isinstance(action, SendText | Notify):
            keyboard = action.keyboard if isinstance(action, SendText) else None
            return lambda: self.bot.send_message(
                chat_id, action.text, reply_markup=to_markup(keyboard)
            )
        raise ValueError(f"{type(action).__name__} is not a new message")

    async def _edit_text(self, chat_id: int, action: EditText, user_id: int) -> None:
        try:
            await self._call(
                lambda: self.bot.edit_message_text(
                    text=action.text,
                    chat_id=chat_id,
                    message_id=action.message_id,
                    reply_markup=to_markup(action.keyboard),
                ),
                user_id,
                raise_bad_request=True,
                paced_chat=chat_id,
            )
        except TelegramBadRequest as error:
            if "not modified" in error.message:
                return  # the user pressed the same button twice: the screen is already right
            # Too old to edit, or deleted: show the screen as a new message instead.
            await self._render(chat_id, SendText(action.text, action.keyboard), user_id)

    async def _call(
        self,
        request: Callable[[], Awaitable[T]],
        user_id: int | None,
        raise_bad_request: bool = False,
        paced_chat: int | None = None,
    ) -> T | None:
        """One Bot API call under the error policy; None when it could not be made.

        A call that shows a message to `paced_chat` waits for its slot in the bot-wide
        budget first (replies go before the outbox).
        """
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                if paced_chat is None:
                    return await request()
                async with self.pacer.slot(paced_chat, reply=True):
                    return await request()
            except TelegramRetryAfter as error:
                logger.warning("Telegram asks to wait %s s (flood control)", error.retry_after)
                self.pacer.pause(error.retry_after)
                await asyncio.sleep(error.retry_after)
            except TelegramForbiddenError:
                if user_id is not None:
                    logger.info("user %s blocked the bot; marked unreachable", user_id)
                    await self.conversation.mark_unreachable(user_id)
                return None
            except (TelegramNetworkError, TelegramServerError) as error:
                logger.warning(
                    "Telegram call failed (attempt %s): %s", attempt, type(error).__name__
                )
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
            except TelegramBadRequest as error:
                if raise_bad_request:
                    raise
                logger.warning("Telegram refused a request: %s", error.message)
                return None
        logger.error("Telegram call abandoned after %s attempts", MAX_ATTEMPTS)
        return None
