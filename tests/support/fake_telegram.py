"""A local fake of the Telegram Bot API, for tests: real HTTP on 127.0.0.1, Telegram's rules.

The real aiogram client talks to it through TELEGRAM_API_URL. It plays the users'
side (their messages and button presses become updates for getUpdates), records
every request, keeps each chat's messages as the user would see them, and refuses
what Telegram refuses: empty or over-long texts, broken HTML, callback data over
64 bytes, edits that change nothing, chats that never wrote, blocked users, and
more messages than the flood limits allow (429 with retry_after).

Options for measuring a sender: `global_window=True` holds the bot-wide limit as a
strict sliding window (a message is refused when `global_rate` were accepted within
the last second, by arrival), and `failure_rate` fails that fraction of send requests
with 500, drawn from a random generator seeded with `seed`; `latency` makes each
request take that round trip (half on the way in, half on the way back): a number of
seconds, or a function called once per request that returns them (a round trip that
varies; the attribute may also be changed while requests come); with
`history=False` it keeps neither the requests nor the chats' messages, only counts,
so a long benchmark measures the bot's memory and not the fake's. `too_many` counts
the 429s returned, `delivered` the messages accepted.

Webhook delivery, as Telegram does it: after `setWebhook` the users' updates are POSTed
to the webhook as JSON with the `X-Telegram-Bot-Api-Secret-Token` header, and
`getUpdates` answers 409. One chat's updates go one at a time, the next only after the
previous got a 2xx; different chats go concurrently, at most `max_connections` requests
in flight. A refusal, a connection error or no answer within `webhook_timeout` sends
the same update again after `webhook_retry_delay`. `webhook_requests`,
`webhook_failures` and `webhook_deliveries` ((update_id, status), status 0 when there was
no HTTP answer) record it; `redeliver(update_id)` sends an update once more.
`deleteWebhook` stops delivery and gives the pending updates back to getUpdates.

Long polling: a getUpdates with a `timeout` is held until an update comes or
`long_poll_cap` seconds pass (1 by default, so tests stop quickly); one made while an
earlier one is still held, as when a client gives up on a poll and asks again, is
answered only after that one ends, as Telegram does.
"""

import asyncio
import contextlib
import itertools
import json
import math
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from html import unescape
from typing import Any

import aiohttp
from aiohttp import web

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64
ALERT_LIMIT = 200
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip
TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
NEW_MESSAGE_METHODS = {"sendMessage", "sendDocument", "sendPhoto", "sendVenue"}
SEND_METHODS = NEW_MESSAGE_METHODS | {"editMessageText", "editMessageReplyMarkup"}
JSON_FIELDS = {
    "reply_markup",
    "entities",
    "commands",
    "scope",
    "allowed_updates",
    "caption_entities",
}


def _entities(message: "ChatMessage") -> list[dict]:
    """The entities of a message sent as HTML (none if it was plain text)."""
    try:
        text, entities = html_entities(message.html)
    except BadRequest:
        return []
    return entities if text == message.text else []


def _scope(params: dict) -> str:
    """A command menu's scope as `commands` keys it: its type, "chat:<id>" for one chat."""
    scope = params.get("scope") or {}
    if scope.get("type") == "chat":
        return f"chat:{scope.get('chat_id')}"
    return str(scope.get("type", "default"))


def _flag(value: Any) -> bool:
    """A boolean parameter as JSON or a form sends it."""
    return value is True or str(value).lower() in ("true", "1")


class BadRequest(Exception):
    """A request Telegram would refuse; carries its status and description."""

    def __init__(self, description: str, status: int = 400, retry_after: int | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after


ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "code": "code", "pre": "pre", "a": "text_link",
    "blockquote": "blockquote",
}  # fmt: skip
HREF = re.compile(r"""href=(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def parse_html(text: str) -> str:
    """The plain text of Telegram HTML; raises BadRequest where Telegram would."""
    return html_entities(text)[0]


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_entities(text: str) -> tuple[str, list[dict]]:
    """The plain text of Telegram HTML and its entities (UTF-16 offsets), as Telegram gives
    them back in a message; raises BadRequest where Telegram would refuse the HTML."""
    plain: list[str] = []
    entities: list[dict] = []
    stack: list[tuple[str, str, int]] = []  # tag, attributes, where it opened (UTF-16)
    at = 0  # UTF-16 units of plain text so far
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = TAG.match(text, position)
            offset = len(text[:position].encode())
            if tag is None:
                raise BadRequest(
                    "Bad Request: can't parse entities: Unsupported start tag "
                    f"at byte offset {offset}"
                )
            closing, name = tag.group(1) == "/", tag.group(2).lower()
            if name not in ALLOWED_TAGS:
                raise BadRequest(
                    f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" '
                    f"at byte offset {offset}"
                )
            if closing:
                if not stack or stack[-1][0] != name:
                    raise BadRequest(
                        "Bad Request: can't parse entities: Unexpected end tag at byte offset "
                        f"{offset}"
                    )
                _, attributes, opened = stack.pop()
                kind = "spoiler" if "tg-spoiler" in attributes else ENTITY_TYPES.get(name)
                if kind is not None and at > opened:
                    entity = {"type": kind, "offset": opened, "length": at - opened}
                    href = HREF.search(attributes)
                    if kind == "text_link" and href is not None:
                        entity["url"] = unescape(next(g for g in href.groups() if g is not None))
                    entities.append(entity)
            else:
                stack.append((name, tag.group(3) or "", at))
            position = tag.end()
        elif char == "&":
            entity_match = ENTITY.match(text, position)
            if entity_match is None:
                offset = len(text[:position].encode())
                raise BadRequest(
                    "Bad Request: can't parse entities: Character '&' is reserved and must be "
                    f"escaped with the preceding '\\' at byte offset {offset}"
                )
            character = unescape(entity_match.group(0))
            plain.append(character)
            at += _utf16_length(character)
            position = entity_match.end()
        elif char == ">":
            raise BadRequest("Bad Request: can't parse entities: Character '>' must be escaped")
        else:
            plain.append(char)
            at += _utf16_length(char)
            position += 1
    if stack:
        raise BadRequest(
            "Bad Request: can't parse entities: Can't find end tag corresponding to "
            f'start tag "{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(plain), entities


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_needed(self) -> float:
        """Seconds until a token is free (0 when one is free now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1


@dataclass
class Request:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    description: str = ""


@dataclass
class ChatMessage:
    """A bot message as the user sees it now."""

    message_id: int
    chat_id: int
    text: str
    html: str
    reply_markup: dict | None
    kind: str = "text"
    edits: int = 0
    deleted: bool = False
    payload: dict = field(default_factory=dict)


class FakeTelegram:
    """The fake Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        global_rate: float = 30,
        chat_rate: float = 1.0,
        chat_burst: float = 3,
        flood_control: bool = True,
        global_window: bool = False,
        failure_rate: float = 0.0,
        seed: int = 0,
        latency: float | Callable[[], float] = 0.0,
        history: bool = True,
        clock: Callable[[], float] = time.monotonic,
        webhook_timeout: float = 60.0,
        webhook_retry_delay: float = 0.1,
        long_poll_cap: float = 1.0,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":")[0])
        self.flood_control = flood_control
        self.clock = clock
        self._global = TokenBucket(global_rate, global_rate, clock)
        self._global_rate = global_rate
        self._window: deque[float] | None = deque() if global_window else None
        self._failure_rate = failure_rate
        self._random = random.Random(seed)
        self.latency = latency
        self.history = history
        self.too_many = 0  # 429s returned, forced or earned
        self.delivered = 0  # new messages accepted
        # Per chat, as Telegram allows it: a bot under test paces itself the same way.
        self.chat_rate, self.chat_burst = chat_rate, chat_burst
        self._chat_buckets: dict[int, TokenBucket] = {}
        self.requests: list[Request] = []
        self.commands: dict[tuple[str, str | None], list[tuple[str, str]]] = {}
        self.webhook: dict[str, Any] = {"url": ""}
        self.webhook_timeout = webhook_timeout
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_requests = 0  # POSTs made to the webhook, successful or not
        self.webhook_failures = 0  # of which got no 2xx
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, status or 0)
        self.webhook_in_flight = 0
        self.webhook_peak_in_flight = 0
        self._webhook_allowed: list[str] | None = None  # kept when setWebhook omits it
        self._webhook_queues: dict[int, deque[dict]] = {}  # chat -> updates not yet acknowledged
        self._webhook_workers: dict[int, asyncio.Task[None]] = {}
        self._webhook_slots = asyncio.Semaphore(40)
        self._webhook_last_error: tuple[int, str] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._sent_updates: dict[int, dict] = {}  # update_id -> update, for redeliver
        self._updates: list[dict] = []
        self._new_update = asyncio.Event()
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._chats: dict[int, dict] = {}
        self._messages: dict[int, list[ChatMessage]] = {}
        self._queries: dict[str, bool] = {}  # id -> answered
        self._query_ids = itertools.count(1)
        self._blocked: set[int] = set()
        self._forced_429: list[int] = []
        self._forced_failures: list[int] = []
        self._changes: dict[int, list[ChatMessage]] = {}  # chat -> messages as sent or edited
        self._read: dict[int, int] = {}  # chat -> how many changes next_message returned
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        # What getMe answers (a test may spoil it), and how many getMe calls fail first.
        self.me: dict[str, Any] = {
            "id": self.bot_id, "is_bot": True, "first_name": "Applicant Bot",
            "username": "applicant_test_bot", "can_join_groups": False,
            "can_read_all_group_messages": False, "supports_inline_queries": False,
        }  # fmt: skip
        self.me_unavailable = 0
        self.long_poll_cap = long_poll_cap
        self._poll_ended = asyncio.Event()
        self._poll_ended.set()

    # --- the server ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._new_update.set()
        await self._stop_delivery()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def rejected(self) -> list[Request]:
        return [r for r in self.requests if r.status != 200]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        latency = self.latency() if callable(self.latency) else self.latency
        if latency:
            await asyncio.sleep(latency / 2)
        record = Request(method, params, self.clock())
        if self.history:
            self.requests.append(record)
        response = self._respond(record, await self._answer(request, record))
        if latency:
            await asyncio.sleep(latency / 2)
        return response

    async def _answer(self, request: web.Request, record: Request) -> Any:
        """The method's result, or the BadRequest it raised."""
        try:
            if request.match_info["token"] != self.token:
                raise BadRequest("Unauthorized", 401)
            return await self._dispatch(record.method, record.params)
        except BadRequest as error:
            return error

    def _respond(self, record: Request, result: Any) -> web.Response:
        if isinstance(result, BadRequest):
            error = result
            record.status, record.description = error.status, error.description
            body: dict[str, Any] = {
                "ok": False,
                "error_code": error.status,
                "description": error.description,
            }
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            if error.status == 429:
                self.too_many += 1
            return web.json_response(body, status=error.status)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            params = dict(await request.json())
        else:
            params = {}
            for key, value in (await request.post()).items():
                params[key] = (
                    value
                    if isinstance(value, str)
                    else {"file": value.filename, "data": value.file.read()}
                )
        for key in JSON_FIELDS & params.keys():
            if isinstance(params[key], str):
                params[key] = json.loads(params[key])
        return params

    async def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        if method in SEND_METHODS:
            if self._forced_failures:
                status = self._forced_failures.pop(0)
                raise BadRequest("Internal Server Error", status)
            if self._failure_rate and self._random.random() < self._failure_rate:
                raise BadRequest("Internal Server Error", 500)
            if self._forced_429:
                raise BadRequest("Too Many Requests: retry after 1", 429, self._forced_429.pop(0))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            raise BadRequest("Not Found: method not found", 404)
        return await handler(params)

    # --- the users' side ----------------------------------------------------------------------

    def _user(self, user_id: int, language_code: str | None, first_name: str) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return user

    def _message_base(
        self, user_id: int, chat_id: int | None, chat_type: str, language_code: str | None,
        first_name: str,
    ) -> dict:  # fmt: skip
        chat_id = user_id if chat_id is None else chat_id
        chat = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = "Group"
        self._chats[chat_id] = chat
        return {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id, language_code, first_name),
        }

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def push_update(self, update: dict) -> int:
        """Queues any update for getUpdates or the webhook; gives it the next update_id."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        if self.history:
            self._sent_updates[int(update["update_id"])] = update
        if self.webhook.get("url"):
            self._enqueue_for_webhook(update)
        else:
            self._updates.append(update)
            self._new_update.set()
        return int(update["update_id"])

    @property
    def updates_made(self) -> list[dict]:
        """Every update the users' side made, in order (kept with `history`)."""
        return list(self._sent_updates.values())

    def sent_update(self, update_id: int) -> dict:
        """An update as it was queued (for a test that posts it by hand)."""
        return self._sent_updates[update_id]

    def redeliver(self, update_id: int) -> int:
        """Sends an update that was sent before once more, as Telegram sometimes does."""
        return self.push_update(self._sent_updates[update_id])

    def user_sends(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str | None = "en",
        first_name: str = "Dara",
        chat_type: str = "private",
        chat_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        message = self._message_base(user_id, chat_id, chat_type, language_code, first_name)
        message["text"] = text
        if reply_to is not None:  # the user answers one of the bot's messages
            chat = message["chat"]["id"]
            found = next(m for m in self._messages.get(chat, []) if m.message_id == reply_to)
            message["reply_to_message"] = self._as_api_message(found)
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push_update({"message": message})

    def user_presses(
        self, user_id: int, message_id: int, data: str, chat_id: int | None = None, **user: Any
    ) -> int:
        """A button press under a bot message in the user's chat, or in `chat_id` (a group)."""
        chat_id = user_id if chat_id is None else chat_id
        found = next(
            (m for m in self._messages.get(chat_id, []) if m.message_id == message_id), None
        )
        if found is None:
            raise AssertionError(f"no bot message {message_id} in chat {chat_id}")
        query_id = str(next(self._query_ids))
        self._queries[query_id] = False
        return self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(
                        user_id, user.get("language_code", "en"), user.get("first_name", "Dara")
                    ),
                    "chat_instance": str(chat_id),
                    "message": self._as_api_message(found),
                    "data": data,
                }
            }
        )

    def _other(self, user_id: int, content: dict, language_code: str | None = "en") -> int:
        message = self._message_base(user_id, None, "private", language_code, "Dara")
        message.update(content)
        return self.push_update({"message": message})

    def user_shares_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        own: bool = True,
        language_code: str | None = "en",
    ) -> int:
        contact = {"phone_number": phone_number, "first_name": "Dara"}
        if own:
            contact["user_id"] = user_id
        return self._other(user_id, {"contact": contact}, language_code)

    def user_sends_sticker(self, user_id: int) -> int:
        sticker = {
            "file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512,
            "height": 512, "is_animated": False, "is_video": False,
        }  # fmt: skip
        return self._other(user_id, {"sticker": sticker})

    def user_sends_photo(self, user_id: int) -> int:
        photo = [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]
        return self._other(user_id, {"photo": photo})

    def user_sends_voice(self, user_id: int) -> int:
        return self._other(
            user_id, {"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 3}}
        )

    def user_sends_location(self, user_id: int, latitude: float, longitude: float) -> int:
        return self._other(user_id, {"location": {"latitude": latitude, "longitude": longitude}})

    def user_edits(self, user_id: int, message_id: int, text: str) -> int:
        message = self._message_base(user_id, None, "private", "en", "Dara")
        message.update(message_id=message_id, text=text, edit_date=int(time.time()))
        return self.push_update({"edited_message": message})

    def add_chats(self, chat_ids: Iterable[int]) -> None:
        """Private chats the bot may write to, as if each user had written once (no updates)."""
        for chat_id in chat_ids:
            self._chats.setdefault(
                chat_id, {"id": chat_id, "type": "private", "first_name": "Dara"}
            )

    def block(self, user_id: int) -> None:
        self._blocked.add(user_id)

    def force_retry_after(self, seconds: int, *, times: int = 1) -> None:
        self._forced_429 += [seconds] * times

    def fail_next(self, status: int = 500, *, times: int = 1) -> None:
        self._forced_failures += [status] * times

    # --- inspection ---------------------------------------------------------------------------

    def unconfirmed(self) -> list[int]:
        """The update ids Telegram still holds: no getUpdates has confirmed them yet."""
        return [int(u["update_id"]) for u in self._updates]

    def messages(self, chat_id: int) -> list[ChatMessage]:
        return [m for m in self._messages.get(chat_id, []) if not m.deleted]

    async def wait_for(
        self, predicate: Callable[["FakeTelegram"], bool], timeout: float = 5.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                last = "\n".join(
                    f"  {r.method} {r.status} {r.description} {str(r.params)[:150]}"
                    for r in self.requests[-10:]
                )
                raise AssertionError(f"timed out after {timeout}s; last requests:\n{last}")
            await asyncio.sleep(0.01)

    async def wait_until_message(
        self,
        chat_id: int,
        contains: str,
        *,
        timeout: float = 5.0,
        kind: str | None = None,
        after: ChatMessage | None = None,
    ) -> ChatMessage:
        """The latest message in the chat (as it reads now) containing `contains`."""

        def matching() -> list[ChatMessage]:
            return [
                m
                for m in self.messages(chat_id)
                if contains in m.text
                and (kind is None or m.kind == kind)
                and (after is None or m.message_id > after.message_id)
            ]

        await self.wait_for(lambda _: bool(matching()), timeout)
        return matching()[-1] if after is None else matching()[0]

    def upload(self, message: ChatMessage) -> bytes:
        """The bytes of a file the bot uploaded (a photo or a document)."""
        return bytes(message.payload[message.kind]["data"])

    async def next_message(self, chat_id: int, timeout: float = 5.0) -> ChatMessage:
        """The next message the bot sends or edits in this chat, in the order it happened."""
        changes = self._changes.setdefault(chat_id, [])
        read = self._read.get(chat_id, 0)
        await self.wait_for(lambda _: len(changes) > read, timeout)
        self._read[chat_id] = read + 1
        return changes[read]

    # --- the Bot API methods ------------------------------------------------------------------

    async def _api_getMe(self, params: dict) -> dict:
        if self.me_unavailable > 0:
            self.me_unavailable -= 1
            raise BadRequest("Bad Gateway", 502)
        return self.me

    async def _api_getUpdates(self, params: dict) -> list[dict]:
        if self.webhook.get("url"):
            raise BadRequest(WEBHOOK_CONFLICT, 409)
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        # As Telegram does, a getUpdates made while an earlier one is held (its client gave
        # up on it) is answered no sooner than that one ends.
        await self._poll_ended.wait()
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout:
            self._new_update.clear()
            self._poll_ended.clear()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._new_update.wait(), min(timeout, self.long_poll_cap)
                    )
            finally:
                self._poll_ended.set()
        allowed = params.get("allowed_updates")
        updates = [u for u in self._updates if not allowed or any(k in u for k in allowed)]
        return updates[:limit]

    async def _api_deleteWebhook(self, params: dict) -> bool:
        await self._stop_delivery()
        if _flag(params.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _api_getWebhookInfo(self, params: dict) -> dict:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": self.pending_update_count,
        }
        if info["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            if self._webhook_allowed:
                info["allowed_updates"] = list(self._webhook_allowed)
            if self._webhook_last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    async def _api_setWebhook(self, params: dict) -> bool:
        url = str(params.get("url") or "")
        if not url:  # Telegram: an empty url removes the webhook
            return await self._api_deleteWebhook(params)
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.fullmatch(str(secret)):
            raise BadRequest("Bad Request: secret token contains unallowed characters")
        try:
            max_connections = int(params.get("max_connections") or 40)
        except (TypeError, ValueError):
            raise BadRequest("Bad Request: invalid max_connections") from None
        if not 1 <= max_connections <= 100:
            raise BadRequest("Bad Request: invalid max_connections")
        if params.get("allowed_updates") is not None:
            self._webhook_allowed = list(params["allowed_updates"])
        if max_connections != self.webhook.get("max_connections"):
            self._webhook_slots = asyncio.Semaphore(max_connections)
        was_set = bool(self.webhook.get("url"))
        self.webhook = {"url": url, "secret_token": secret, "max_connections": max_connections}
        if _flag(params.get("drop_pending_updates")):
            self._updates.clear()
            for queue in self._webhook_queues.values():
                while len(queue) > 1:  # the update in flight is on its way already
                    queue.pop()
        if self._http is None:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        if not was_set:
            pending, self._updates = self._updates, []
            for update in pending:
                self._enqueue_for_webhook(update)
        return True

    # --- webhook delivery ---------------------------------------------------------------------

    @property
    def pending_update_count(self) -> int:
        """Updates not yet taken by getUpdates or acknowledged by the webhook."""
        return len(self._updates) + sum(len(q) for q in self._webhook_queues.values())

    @staticmethod
    def chat_of(update: dict) -> int:
        """The chat an update belongs to: its message's chat, else the user who caused it."""
        for kind, body in update.items():
            if kind == "update_id" or not isinstance(body, dict):
                continue
            message = body.get("message") if kind == "callback_query" else body
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                return int(message["chat"]["id"])
            if isinstance(body.get("from"), dict):
                return int(body["from"]["id"])
        return 0

    def _enqueue_for_webhook(self, update: dict) -> None:
        allowed = self._webhook_allowed
        if allowed and not any(kind in update for kind in allowed):
            return  # Telegram does not send kinds the bot did not ask for
        chat = self.chat_of(update)
        self._webhook_queues.setdefault(chat, deque()).append(update)
        if chat not in self._webhook_workers:
            self._webhook_workers[chat] = asyncio.create_task(self._deliver_chat(chat))

    async def _deliver_chat(self, chat: int) -> None:
        """One chat's updates, one at a time: the next after the webhook accepted this one."""
        queue = self._webhook_queues[chat]
        try:
            while queue:
                update = queue[0]
                if await self._post_update(update):
                    if queue and queue[0] is update:
                        queue.popleft()
                else:
                    await asyncio.sleep(self.webhook_retry_delay)
        finally:
            if self._webhook_workers.get(chat) is asyncio.current_task():
                del self._webhook_workers[chat]
            if not queue and self._webhook_queues.get(chat) is queue:
                del self._webhook_queues[chat]

    async def _post_update(self, update: dict) -> bool:
        """One POST of one update; True when the webhook answered 2xx."""
        assert self._http is not None
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers[SECRET_HEADER] = str(self.webhook["secret_token"])
        error = ""
        async with self._webhook_slots:
            self.webhook_requests += 1
            self.webhook_in_flight += 1
            self.webhook_peak_in_flight = max(self.webhook_peak_in_flight, self.webhook_in_flight)
            try:
                async with self._http.post(
                    self.webhook["url"],
                    data=json.dumps(update),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                ) as response:
                    status = response.status
                    await response.read()
                    error = f"Wrong response from the webhook: {status} {response.reason}"
            except TimeoutError:
                status, error = 0, "Read timeout expired"
            except aiohttp.ClientError as failure:
                status, error = 0, f"Connection failed: {type(failure).__name__}"
            finally:
                self.webhook_in_flight -= 1
        self.webhook_deliveries.append((int(update["update_id"]), status))
        if 200 <= status < 300:
            return True
        self.webhook_failures += 1
        self._webhook_last_error = (int(time.time()), error)
        return False

    async def _stop_delivery(self) -> None:
        """Stops the webhook; what it had not delivered goes back to getUpdates."""
        self.webhook = {"url": ""}
        workers = list(self._webhook_workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._webhook_workers.clear()
        pending = [u for queue in self._webhook_queues.values() for u in queue]
        self._webhook_queues.clear()
        if pending:
            self._updates = sorted(self._updates + pending, key=lambda u: u["update_id"])
            self._new_update.set()

    async def _api_logOut(self, params: dict) -> bool:
        return True

    async def _api_close(self, params: dict) -> bool:
        return True

    async def _api_setMyCommands(self, params: dict) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise BadRequest("Bad Request: command description is invalid")
        key = (_scope(params), params.get("language_code") or None)
        self.commands[key] = [(c["command"], c["description"]) for c in commands]
        return True

    async def _api_getMyCommands(self, params: dict) -> list[dict]:
        commands = self.commands.get((_scope(params), params.get("language_code") or None), [])
        return [{"command": c, "description": d} for c, d in commands]

    async def _api_deleteMyCommands(self, params: dict) -> bool:
        self.commands.pop((_scope(params), params.get("language_code") or None), None)
        return True

    async def _api_sendChatAction(self, params: dict) -> bool:
        self._chat(params)
        return True

    async def _api_sendMessage(self, params: dict) -> dict:
        chat_id = self._chat(params)
        html = str(params.get("text", ""))
        text = self._text(html, params.get("parse_mode"), TEXT_LIMIT, "message text")
        markup = self._markup(params.get("reply_markup"))
        self._take_flood_token(chat_id)
        return self._store(chat_id, text, html, markup, "text")

    async def _api_sendDocument(self, params: dict) -> dict:
        return await self._send_media(params, "document")

    async def _api_sendPhoto(self, params: dict) -> dict:
        return await self._send_media(params, "photo")

    async def _send_media(self, params: dict, kind: str) -> dict:
        chat_id = self._chat(params)
        if not params.get(kind):
            raise BadRequest(f"Bad Request: there is no {kind} in the request")
        caption = str(params.get("caption", ""))
        text = (
            self._text(caption, params.get("parse_mode"), CAPTION_LIMIT, "caption")
            if caption
            else ""
        )
        markup = self._markup(params.get("reply_markup"))
        self._take_flood_token(chat_id)
        upload = params[kind]
        if isinstance(upload, str) and upload.startswith("attach://"):
            upload = params.get(upload.removeprefix("attach://"), upload)
        return self._store(chat_id, text, caption, markup, kind, payload={kind: upload})

    async def _api_sendVenue(self, params: dict) -> dict:
        chat_id = self._chat(params)
        for name in ("latitude", "longitude", "title", "address"):
            if params.get(name) in (None, ""):
                raise BadRequest(f"Bad Request: {name} is empty")
        markup = self._markup(params.get("reply_markup"))
        self._take_flood_token(chat_id)
        venue = {k: params[k] for k in ("latitude", "longitude", "title", "address")}
        return self._store(chat_id, str(params["title"]), "", markup, "venue", payload=venue)

    async def _api_editMessageText(self, params: dict) -> dict:
        chat_id = self._chat(params)
        message = self._own_message(chat_id, params)
        html = str(params.get("text", ""))
        text = self._text(html, params.get("parse_mode"), TEXT_LIMIT, "message text")
        markup = self._markup(params.get("reply_markup"))
        edited = replace(message, text=text, html=html)
        if (text, _entities(edited), markup) == (
            message.text, _entities(message), message.reply_markup
        ):  # fmt: skip
            raise BadRequest(
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message"
            )
        message.text, message.html, message.reply_markup = text, html, markup
        return self._edited(message)

    async def _api_editMessageReplyMarkup(self, params: dict) -> dict:
        chat_id = self._chat(params)
        message = self._own_message(chat_id, params)
        markup = self._markup(params.get("reply_markup"))
        if markup == message.reply_markup:
            raise BadRequest("Bad Request: message is not modified")
        message.reply_markup = markup
        return self._edited(message)

    async def _api_deleteMessage(self, params: dict) -> bool:
        chat_id = self._chat(params)
        message = self._own_message(chat_id, params, "Bad Request: message to delete not found")
        message.deleted = True
        return True

    async def _api_answerCallbackQuery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self._queries.get(query_id, True):
            raise BadRequest(
                "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text") or "")) > ALERT_LIMIT:
            raise BadRequest("Bad Request: MESSAGE_TOO_LONG")
        self._queries[query_id] = True
        return True

    # --- rules --------------------------------------------------------------------------------

    def _chat(self, params: dict) -> int:
        try:
            chat_id = int(params.get("chat_id", ""))
        except (TypeError, ValueError):
            raise BadRequest("Bad Request: chat not found") from None
        if chat_id not in self._chats:
            raise BadRequest("Bad Request: chat not found")
        if chat_id in self._blocked:
            raise BadRequest("Forbidden: bot was blocked by the user", 403)
        return chat_id

    @staticmethod
    def _text(html: str, parse_mode: str | None, limit: int, what: str) -> str:
        text = parse_html(html) if (parse_mode or "").upper() == "HTML" else html
        if not text.strip():
            raise BadRequest(f"Bad Request: {what} is empty")
        if len(text) > limit:
            raise BadRequest(
                "Bad Request: message is too long" if what == "message text"
                else "Bad Request: message caption is too long"
            )  # fmt: skip
        return text

    @staticmethod
    def _markup(markup: Any) -> dict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise BadRequest("Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise BadRequest("Bad Request: BUTTON_TEXT_EMPTY")
                kinds = [k for k in ("callback_data", "url", "switch_inline_query") if k in button]
                if len(kinds) != 1:
                    raise BadRequest("Bad Request: BUTTON_TYPE_INVALID")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_LIMIT:
                    raise BadRequest("Bad Request: BUTTON_DATA_INVALID")
        for row in markup.get("keyboard", []):
            for button in row:
                label = button if isinstance(button, str) else button.get("text", "")
                if not str(label).strip():
                    raise BadRequest("Bad Request: BUTTON_TEXT_EMPTY")
        return markup

    def _take_flood_token(self, chat_id: int) -> None:
        if not self.flood_control:
            return
        bucket = self._chat_buckets.setdefault(
            chat_id, TokenBucket(self.chat_rate, self.chat_burst, self.clock)
        )
        wait = max(self._global_wait(), bucket.wait_needed())
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise BadRequest(f"Too Many Requests: retry after {retry_after}", 429, retry_after)
        if self._window is not None:
            self._window.append(self.clock())
        else:
            self._global.take()
        bucket.take()

    def _global_wait(self) -> float:
        if self._window is None:
            return self._global.wait_needed()
        now = self.clock()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) < self._global_rate:
            return 0.0
        return self._window[-int(self._global_rate)] + 1.0 - now

    def _own_message(
        self, chat_id: int, params: dict, missing: str = "Bad Request: message to edit not found"
    ) -> ChatMessage:
        message_id = int(params.get("message_id") or 0)
        for message in self._messages.get(chat_id, []):
            if message.message_id == message_id and not message.deleted:
                return message
        raise BadRequest(missing)

    def _store(
        self, chat_id: int, text: str, html: str, markup: dict | None, kind: str,
        payload: dict | None = None,
    ) -> dict:  # fmt: skip
        message = ChatMessage(
            self._next_message_id(chat_id), chat_id, text, html, markup, kind,
            payload=payload or {},
        )  # fmt: skip
        self.delivered += 1
        if self.history:
            self._messages.setdefault(chat_id, []).append(message)
            self._changes.setdefault(chat_id, []).append(replace(message))
        return self._as_api_message(message)

    def _edited(self, message: ChatMessage) -> dict:
        message.edits += 1
        self._changes.setdefault(message.chat_id, []).append(replace(message))
        return self._as_api_message(message)

    def _as_api_message(self, message: ChatMessage) -> dict:
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": self._chats[message.chat_id],
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Applicant Bot"},
        }
        if message.kind == "text":
            result["text"] = message.text
            if entities := _entities(message):
                result["entities"] = entities
        elif message.kind == "venue":
            venue = message.payload
            result["venue"] = {
                "location": {"latitude": venue["latitude"], "longitude": venue["longitude"]},
                "title": venue["title"], "address": venue["address"],
            }  # fmt: skip
        else:
            if message.text:
                result["caption"] = message.text
                if entities := _entities(message):
                    result["caption_entities"] = entities
            if message.kind == "document":
                result["document"] = {"file_id": "d1", "file_unique_id": "d1"}
            else:
                result["photo"] = [
                    {"file_id": "p1", "file_unique_id": "p1", "width": 1, "height": 1}
                ]
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            result["reply_markup"] = message.reply_markup
        if message.edits:
            result["edit_date"] = int(time.time())
        return result
