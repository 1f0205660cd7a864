"""The console channel: chat with the bot in a terminal, no token, no network.

Interactive mode shows buttons as numbered choices. Script mode reads one user
action per line from stdin and prints every bot action as one JSON object per line
(see the README for the format).
"""

import asyncio
import html
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

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
    RemoveKeyboard,
    ReplyKeyboard,
    SendFile,
    SendMedia,
    SendText,
    SendVenue,
    SetCommands,
    split_command,
)

TAG = re.compile(r"<[^>]+>")
CONTACT_PREFIX = "contact:"


def plain(text: str) -> str:
    """Telegram HTML as a terminal shows it."""
    return html.unescape(TAG.sub("", text))


@dataclass
class _Choice:
    label: str
    data: str | None  # callback data for an inline button, None for a reply-keyboard button
    message_id: int | None
    contact: bool = False


@dataclass
class ConsoleChat:
    """What the user sees: the messages so far and the buttons they can press now."""

    messages: dict[int, tuple[str, InlineKeyboard | None]] = field(default_factory=dict)
    choices: list[_Choice] = field(default_factory=list)
    last_id: int = 0
    _inline_owner: int | None = None
    _reply_choices: list[_Choice] = field(default_factory=list)

    def add(self, text: str, keyboard: Keyboard | None) -> int:
        self.last_id += 1
        inline = keyboard if isinstance(keyboard, InlineKeyboard) else None
        self.messages[self.last_id] = (text, inline)
        if inline is not None:
            self._inline_owner = self.last_id
        if isinstance(keyboard, ReplyKeyboard):
            self._reply_choices = [
                _Choice(label, None, None) for row in keyboard.rows for label in row
            ]
            if keyboard.contact:
                self._reply_choices.insert(0, _Choice(keyboard.contact, None, None, contact=True))
        elif isinstance(keyboard, RemoveKeyboard):
            self._reply_choices = []
        self._refresh()
        return self.last_id

    def edit(self, message_id: int, text: str, keyboard: InlineKeyboard | None) -> bool:
        if message_id not in self.messages:
            return False
        self.messages[message_id] = (text, keyboard)
        if keyboard is not None:
            self._inline_owner = message_id
        self._refresh()
        return True

    def _refresh(self) -> None:
        owner = self._inline_owner
        keyboard = self.messages[owner][1] if owner is not None else None
        inline = [
            _Choice(button.label, button.data, owner)
            for button in (keyboard.buttons() if keyboard else [])
        ]
        self.choices = inline + self._reply_choices

    def pick(self, line: str) -> _Choice | None:
        """The button a line presses: by its number or its exact label."""
        if line.isdigit() and 1 <= int(line) <= len(self.choices):
            return self.choices[int(line) - 1]
        folded = line.casefold()
        return next((c for c in self.choices if c.label.strip().casefold() == folded), None)


class ConsoleChannel:
    """Feeds terminal lines to the conversation and prints its answers."""

    def __init__(
        self,
        conversation: Conversation,
        *,
        user_id: int = 1,
        language_hint: str | None = None,
        script: bool = False,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
    ) -> None:
        self.conversation = conversation
        self.user_id = user_id
        self.language_hint = language_hint
        self.script = script
        self.stdin = stdin
        self.stdout = stdout
        self.chat = ConsoleChat()
        # Messages queued for this user (a seat offer, say) are shown after each reply.
        self.outbox: OutboxSender | None = None

    async def run(self) -> None:
        """Reads lines until end of input (Ctrl-D) and answers each."""
        if not self.script:
            self._write("Applicant Bot console. Type a message, a /command, or a button number.")
            self._write("Ctrl-D quits.\n")
        while True:
            if not self.script:
                self.stdout.write("> ")
                self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                break
            event = self.event_for(line.rstrip("\r\n"))
            if event is not None:
                self.show(await self.conversation.handle(event))
            if self.outbox is not None:
                await self.outbox.send_due()

    async def send_one(self, chat_id: int, action: Outgoing) -> Delivery:
        """Shows a queued message addressed to this terminal's user."""
        self.show([action])
        return Delivery(Outcome.SENT)

    def event_for(self, line: str) -> Incoming | None:
        """The user action one input line stands for, or None for a blank line."""
        if not line.strip():
            return None
        base = {
            "user_id": self.user_id,
            "chat_id": self.user_id,
            "language_hint": self.language_hint,
        }
        if line.startswith("\\"):
            return Incoming(kind=Kind.TEXT, text=line[1:], **base)  # type: ignore[arg-type]
        if line.lower().startswith(CONTACT_PREFIX):
            phone = line[len(CONTACT_PREFIX) :].strip()
            return Incoming(kind=Kind.CONTACT, contact_phone=phone, **base)  # type: ignore[arg-type]
        if command := split_command(line):
            return Incoming(
                kind=Kind.COMMAND,
                text=line.strip(),
                command=command[0],
                argument=command[1],
                **base,  # type: ignore[arg-type]
            )
        choice = self.chat.pick(line.strip())
        if choice is not None and choice.data is not None:
            return Incoming(
                kind=Kind.BUTTON,
                button_data=choice.data,
                button_message_id=choice.message_id,
                **base,  # type: ignore[arg-type]
            )
        if choice is not None and choice.contact and not self.script:
            phone = input("Phone number to share: ").strip()
            return Incoming(kind=Kind.CONTACT, contact_phone=phone, **base)  # type: ignore[arg-type]
        text = choice.label if choice is not None else line
        return Incoming(kind=Kind.TEXT, text=text, **base)  # type: ignore[arg-type]

    def show(self, actions: Iterable[Outgoing]) -> None:
        for action in actions:
            if isinstance(action, SendText):
                message_id = self.chat.add(action.text, action.keyboard)
                self._emit("message", message_id, action.text, action.keyboard)
            elif isinstance(action, EditText):
                if self.chat.edit(action.message_id, action.text, action.keyboard):
                    self._emit("edit", action.message_id, action.text, action.keyboard)
                else:
                    message_id = self.chat.add(action.text, action.keyboard)
                    self._emit("message", message_id, action.text, action.keyboard)
            elif isinstance(action, Notify):
                self._emit("notice", None, action.text, None)
            elif isinstance(action, SendFile):
                shown = f"📎 {action.filename}\n{action.caption}".strip()
                message_id = self.chat.add(shown, None)
                self._emit("photo" if action.photo else "document", message_id, shown, None)
            elif isinstance(action, SendMedia):
                shown = f"📎 {action.file_id}\n{action.caption}".strip()
                message_id = self.chat.add(shown, None)
                self._emit(action.kind, message_id, shown, None)
            elif isinstance(action, SetCommands):
                continue  # a terminal has no command menu
            elif isinstance(action, SendVenue):
                message_id = self.chat.add(f"📍 {action.title}\n{action.address}", None)
                self._emit("venue", message_id, f"📍 {action.title}\n{action.address}", None)

    def _emit(
        self, kind: str, message_id: int | None, text: str, keyboard: Keyboard | None
    ) -> None:
        rows = _labels(keyboard)
        if self.script:
            record: dict[str, object] = {"kind": kind, "text": plain(text), "buttons": rows}
            if message_id is not None:
                record["message_id"] = message_id
            self._write(json.dumps(record, ensure_ascii=False))
            return
        prefix = {
            "message": "🤖",
            "edit": "🤖 (updated)",
            "notice": "ℹ️",
            "venue": "🗺",
            "photo": "🖼",
            "document": "📎",
        }[kind]
        self._write(f"{prefix} {plain(text)}")
        number = 0
        for row in rows if kind != "notice" else []:
            cells = []
            for label in row:
                number += 1
                cells.append(f"[{number}] {label}")
            self._write("    " + "   ".join(cells))
        self._write("")

    def _write(self, line: str) -> None:
        self.stdout.write(line + "\n")
        self.stdout.flush()


def _labels(keyboard: Keyboard | None) -> list[list[str]]:
    if isinstance(keyboard, InlineKeyboard):
        return [[button.label for button in row] for row in keyboard.rows]
    if isinstance(keyboard, ReplyKeyboard):
        rows = [list(row) for row in keyboard.rows]
        return [[keyboard.contact], *rows] if keyboard.contact else rows
    return []
