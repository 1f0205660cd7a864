"""What both Telegram channels share: the updates asked for, the command menus, and the
error policy under which every reply is sent.

Each channel maps its framework's errors to a `Delivery` outcome in one function
(`BotApi.outcome`) and gives its library's keyboard and upload types to the requests
built here (`action_request`); everything else about talking to Telegram lives here,
once: 429 waits `retry_after` (and pauses the
bot-wide budget), 403 marks the applicant unreachable, network errors and 5xx are
retried with exponential backoff, a bad request is logged and given up; an edit that
changes nothing is fine, an edit Telegram refuses otherwise is sent as a new message.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from bot.delivery import Delivery, Outcome
from bot.pacing import SendPacer
from handlers.core.conversation import Conversation
from handlers.core.events import (
    EditText,
    Incoming,
    Keyboard,
    Kind,
    Notify,
    Outgoing,
    SendFile,
    SendMedia,
    SendText,
    SendVenue,
    split_command,
)
from handlers.core.texts import LOCALES, Translator

logger = logging.getLogger(__name__)

T = TypeVar("T")
Request = Callable[[], Awaitable[Any]]

ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
MAX_ATTEMPTS = 5
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
    """A call the bot cannot do without (setting the webhook) failed under the error policy."""


def unsupported_content(message: object) -> str:
    """The name of what a message carries that the bot cannot read ("other" when unknown)."""
    return next((name for name in UNSUPPORTED_CONTENT if getattr(message, name, None)), "other")


# How a library gives a message's text (or caption) as Telegram HTML, e.g. aiogram's
# `message.html_text`; the rest of an update reads the same in both libraries.
HtmlOf = Callable[[Any], str]


def to_incoming(update: Any, html_of: HtmlOf) -> Incoming | None:
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
        private=query.message.chat.type == "private",
        update_id=update_id,
    )


def command_menus(
    translators: Mapping[str, Translator], default_locale: str
) -> list[tuple[str | None, list[tuple[str, str]]]]:
    """(language, [(command, description)]) for each language, and None for everyone else."""
    menus: list[tuple[str | None, list[tuple[str, str]]]] = []
    for locale in (*LOCALES, None):
        _ = translators[locale or default_locale].gettext
        commands = [
            ("start", _("Main menu")),
            ("book", _("Book a test seat")),
            ("mybookings", _("My registrations")),
            ("faq", _("Questions and answers")),
            ("language", _("Change the language")),
            ("help", _("What this bot can do")),
        ]
        menus.append((locale, commands))
    return menus


def action_request(
    bot: Any,
    chat_id: int,
    action: Outgoing,
    markup: Callable[[Keyboard | None], Any],
    upload: Callable[..., Any],
) -> Request:
    """The Bot API call for one action: a text, a notice as text, a venue, a file, an edit.

    aiogram's and PTB's bots name the methods and their fields as the Bot API does; only
    a keyboard (`markup`) and an uploaded file (`upload(data, filename=...)`) are each
    library's own types.
    """
    if isinstance(action, EditText):
        return partial(
            bot.edit_message_text,
            text=action.text,
            chat_id=chat_id,
            message_id=action.message_id,
            reply_markup=markup(action.keyboard),
        )
    if isinstance(action, SendMedia):
        send = bot.send_photo if action.kind == "photo" else bot.send_document
        return partial(send, chat_id, action.file_id, caption=action.caption or None)
    if isinstance(action, SendFile):
        file = upload(action.data, filename=action.filename)
        send = bot.send_photo if action.photo else bot.send_document
        return partial(send, chat_id, file, caption=action.caption or None)
    if isinstance(action, SendVenue):
        where = (action.latitude, action.longitude, action.title, action.address)
        return partial(bot.send_venue, chat_id, *where)
    if isinstance(action, SendText | Notify):
        keyboard = action.keyboard if isinstance(action, SendText) else None
        return partial(bot.send_message, chat_id, action.text, reply_markup=markup(keyboard))
    raise ValueError(f"{type(action).__name__} is not a new message")


def answer_request(bot: Any, query_id: str, text: str | None, alert: bool) -> Request:
    """The answer to a button press, with a notice over the chat when there is one."""
    return partial(bot.answer_callback_query, query_id, text=text, show_alert=alert)


class BotApi(Protocol):
    """What a Telegram channel gives the shared policy: its requests and its error mapping."""

    def outcome(self, error: Exception) -> Delivery | None:
        """The Delivery a framework error comes to; None when it is no Telegram error."""
        ...

    def request(self, chat_id: int, action: Outgoing) -> Request:
        """The Bot API call that shows one action in a chat."""
        ...

    def answer(self, query_id: str, text: str | None = None, alert: bool = False) -> Request:
        """The Bot API call that answers a button press (stops its spinner)."""
        ...


class TelegramCalls:
    """Bot API calls under the error policy, and the order in which replies go out."""

    def __init__(
        self,
        api: BotApi,
        conversation: Conversation,
        pacer: SendPacer,
        retry_delay: float,
    ) -> None:
        self.api = api
        self.conversation = conversation
        self.pacer = pacer
        self.retry_delay = retry_delay

    async def handle(self, event: Incoming | None, query_id: str | None) -> None:
        """Runs one event through the conversation and sends its replies.

        Must be awaited without an await before it in the caller, so that the user's
        lock is taken in the order the updates came.
        """
        if event is None:
            if query_id is not None:  # not ours, but the button must stop spinning
                await self.call(self.api.answer(query_id), None)
            return

        async def deliver(actions: list[Outgoing]) -> None:
            await self.send(event, actions, query_id)

        actions = await self.conversation.handle(event, deliver)
        if query_id is not None and not actions:
            await self.call(self.api.answer(query_id), event.user_id)

    async def send(self, event: Incoming, actions: list[Outgoing], query_id: str | None) -> None:
        """Renders the actions in order; a button press is always answered, first."""
        if query_id is not None:
            notice = next((a for a in actions if isinstance(a, Notify)), None)
            answer = (
                self.api.answer(query_id, notice.text[:200], notice.alert)
                if notice
                else self.api.answer(query_id)
            )
            await self.call(answer, event.user_id)
        for action in actions:
            if isinstance(action, EditText):
                await self._edit(event.chat_id, action, event.user_id)
            elif not isinstance(action, Notify) or query_id is None:
                await self.render(event.chat_id, action, event.user_id)

    async def send_one(self, chat_id: int, action: Outgoing) -> Delivery:
        """One request for a queued message, without retrying: the outbox sender decides."""
        _, delivery = await self.attempt(self.api.request(chat_id, action))
        return delivery

    async def render(self, chat_id: int, action: Outgoing, user_id: int) -> bool:
        """Sends one new message as a reply, under the error policy."""
        sent = await self.call(self.api.request(chat_id, action), user_id, paced_chat=chat_id)
        return sent is not None

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
        self, request: Callable[[], Awaitable[T]], paced_chat: int | None = None
    ) -> tuple[T | None, Delivery]:
        """One try: the result and how it went. A call that shows a message to
        `paced_chat` waits for its slot in the bot-wide budget first (replies go before
        the outbox)."""
        try:
            if paced_chat is None:
                result = await request()
            else:
                async with self.pacer.slot(paced_chat, reply=True):
                    result = await request()
        except Exception as error:
            delivery = self.api.outcome(error)
            if delivery is None:
                raise
            return None, delivery
        return result, Delivery(Outcome.SENT, message_id=getattr(result, "message_id", None))

    async def _edit(self, chat_id: int, action: EditText, user_id: int) -> None:
        request = self.api.request(chat_id, action)
        _, delivery = await self._with_policy(request, user_id, paced_chat=chat_id)
        if delivery.outcome not in (Outcome.REFUSED, Outcome.CHAT_GONE):
            return
        if "not modified" in delivery.error:
            return  # the user pressed the same button twice: the screen is already right
        # Too old to edit, or deleted: show the screen as a new message instead.
        await self.render(chat_id, SendText(action.text, action.keyboard), user_id)

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

    # --- the webhook registration, the same Bot API calls in both libraries ----------------

    async def webhook_spec(self, bot: Any) -> WebhookSpec:
        """The webhook Telegram has now (url "" when none)."""
        info = await self.call(bot.get_webhook_info, user_id=None)
        if info is None:
            raise TelegramUnavailable("getWebhookInfo failed")
        return WebhookSpec(
            url=info.url,
            allowed_updates=tuple(info.allowed_updates or ()),
            max_connections=info.max_connections or DEFAULT_MAX_CONNECTIONS,
        )

    async def set_webhook(self, bot: Any, spec: WebhookSpec, secret: str) -> None:
        """Has Telegram post updates to `spec.url`, signed with `secret`."""
        done = await self.call(
            partial(
                bot.set_webhook,
                spec.url,
                secret_token=secret,
                allowed_updates=list(spec.allowed_updates),
                max_connections=spec.max_connections,
            ),
            user_id=None,
        )
        if not done:
            raise TelegramUnavailable("setWebhook failed")

    async def delete_webhook(self, bot: Any) -> None:
        """Stops webhook delivery (updates wait for getUpdates again)."""
        if not await self.call(bot.delete_webhook, user_id=None):
            raise TelegramUnavailable("deleteWebhook failed")
