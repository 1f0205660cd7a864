"""Messages to other people than the one who acted: rendered now, queued in the outbox.

The text is rendered in the recipient's language at the moment of the change, and
stored as plain JSON, so the sender needs no handler code to send it later.
"""

from typing import Any

from handlers.events import (
    Button,
    InlineKeyboard,
    Outgoing,
    RemoveKeyboard,
    SendText,
    SendVenue,
)


def to_content(actions: list[Outgoing]) -> list[dict[str, Any]]:
    """The actions as JSON-ready dicts; only new messages and venues can be queued."""
    content: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, SendText):
            item: dict[str, Any] = {"type": "text", "text": action.text}
            if isinstance(action.keyboard, InlineKeyboard):
                item["buttons"] = [
                    [[button.label, button.data] for button in row] for row in action.keyboard.rows
                ]
            elif action.keyboard is not None and not isinstance(action.keyboard, RemoveKeyboard):
                raise ValueError("a queued message can only carry inline buttons")
            content.append(item)
        elif isinstance(action, SendVenue):
            content.append(
                {
                    "type": "venue",
                    "latitude": action.latitude,
                    "longitude": action.longitude,
                    "title": action.title,
                    "address": action.address,
                }
            )
        else:
            raise ValueError(f"{type(action).__name__} cannot be queued: it needs a live chat")
    return content


def from_content(content: list[dict[str, Any]]) -> list[Outgoing]:
    """The actions a queued message stands for."""
    actions: list[Outgoing] = []
    for item in content:
        if item["type"] == "venue":
            actions.append(
                SendVenue(item["latitude"], item["longitude"], item["title"], item["address"])
            )
            continue
        rows = item.get("buttons")
        keyboard = (
            InlineKeyboard.of(*[[Button(label, data) for label, data in row] for row in rows])
            if rows
            else None
        )
        actions.append(SendText(item["text"], keyboard))
    return actions
