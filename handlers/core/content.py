"""Outgoing actions as the JSON an outbox row stores, and back.

Rows queued by an older version must still read: change this format only with a migration.
"""

import base64
from dataclasses import asdict
from typing import Any

from handlers.core.events import (
    Button,
    EditText,
    InlineKeyboard,
    Outgoing,
    RemoveKeyboard,
    SendFile,
    SendMedia,
    SendText,
    SendVenue,
    SetCommands,
)

StoredButtons = list[list[list[str]]]  # rows of [label, data]


def to_content(actions: list[Outgoing]) -> list[dict[str, Any]]:
    """The actions as JSON-ready dicts; only actions that need no live chat can be queued."""
    content: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, SendText):
            item: dict[str, Any] = {"type": "text", "text": action.text}
            if isinstance(action.keyboard, InlineKeyboard):
                item["buttons"] = _stored_buttons(action.keyboard)
            elif action.keyboard is not None and not isinstance(action.keyboard, RemoveKeyboard):
                raise ValueError("a queued message can only carry inline buttons")
        elif isinstance(action, EditText):
            item = {"type": "edit", "message_id": action.message_id, "text": action.text}
            if action.keyboard is not None:
                item["buttons"] = _stored_buttons(action.keyboard)
        elif isinstance(action, SendVenue):
            item = {"type": "venue", **asdict(action)}
        elif isinstance(action, SendMedia):
            item = {"type": "media", **asdict(action)}
        elif isinstance(action, SendFile):
            item = {
                "type": "photo" if action.photo else "document",
                "filename": action.filename,
                "data": base64.b64encode(action.data).decode(),
                "caption": action.caption,
            }
        elif isinstance(action, SetCommands):
            item = {"type": "commands", "user_id": action.user_id, "commands": action.commands}
        else:
            raise ValueError(f"{type(action).__name__} cannot be queued: it needs a live chat")
        content.append(item)
    return content


def from_content(content: list[dict[str, Any]]) -> list[Outgoing]:
    """The actions a queued message stands for."""
    actions: list[Outgoing] = []
    for item in content:
        match item["type"]:
            case "media":
                actions.append(SendMedia(item["kind"], item["file_id"], item["caption"]))
            case "photo" | "document":
                data = base64.b64decode(item["data"])
                photo = item["type"] == "photo"
                actions.append(SendFile(item["filename"], data, item["caption"], photo))
            case "venue":
                actions.append(
                    SendVenue(item["latitude"], item["longitude"], item["title"], item["address"])
                )
            case "commands":
                commands = tuple((name, text) for name, text in item["commands"])
                actions.append(SetCommands(item["user_id"], commands))
            case "edit":
                keyboard = _keyboard(item.get("buttons"))
                actions.append(EditText(item["message_id"], item["text"], keyboard))
            case _:
                actions.append(SendText(item["text"], _keyboard(item.get("buttons"))))
    return actions


def _stored_buttons(keyboard: InlineKeyboard) -> StoredButtons:
    return [[[button.label, button.data] for button in row] for row in keyboard.rows]


def _keyboard(rows: StoredButtons | None) -> InlineKeyboard | None:
    if not rows:
        return None
    return InlineKeyboard.of(*[[Button(label, data) for label, data in row] for row in rows])
