"""Messages to other people than the one who acted: rendered now, queued in the outbox.

The text is rendered in the recipient's language at the moment of the change, and
stored as plain JSON, so the sender needs no handler code to send it later.
"""

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

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
)
from handlers.core.services import Services
from handlers.core.texts import Texts
from models.applicants import Applicant
from models.outbox import enqueue

Compose = Callable[[Texts], list[Outgoing]]


async def tell(
    db: AsyncSession,
    services: Services,
    recipient: Applicant,
    dedupe_key: str,
    compose: Compose,
    *,
    send_after: datetime | None = None,
    registration_id: int | None = None,
    urgent: bool = True,
    revive: bool = False,
) -> int:
    """Queues a message for `recipient` in their language; returns how many rows were new.

    Each action becomes a row of its own ("key", or "key:1", "key:2"... for the rest),
    so a failure half-way never sends the first part twice. A non-urgent message that
    falls in quiet hours waits for the morning.
    """
    texts = services.texts(recipient.locale or services.default_locale)
    send_after = send_after or services.now()
    if not urgent and services.quiet is not None:
        send_after = services.quiet.next_daytime(send_after)
    queued = 0
    for number, action in enumerate(compose(texts)):
        queued += await enqueue(
            db,
            chat_id=recipient.chat_id,
            applicant_id=recipient.id,
            content=to_content([action]),
            dedupe_key=dedupe_key if number == 0 else f"{dedupe_key}:{number}",
            send_after=send_after,
            registration_id=registration_id,
            urgent=urgent,
            revive=revive,
        )
    return queued


async def post_to_chat(
    db: AsyncSession, chat_id: int, dedupe_key: str, actions: list[Outgoing]
) -> bool:
    """Queues a message for a chat that is not an applicant's (the staff group)."""
    return await enqueue(
        db, chat_id=chat_id, applicant_id=None, content=to_content(actions), dedupe_key=dedupe_key
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
        elif isinstance(action, EditText):
            item = {"type": "edit", "message_id": action.message_id, "text": action.text}
            if action.keyboard is not None:
                item["buttons"] = [
                    [[button.label, button.data] for button in row] for row in action.keyboard.rows
                ]
            content.append(item)
        elif isinstance(action, SendMedia):
            content.append(
                {
                    "type": "media",
                    "kind": action.kind,
                    "file_id": action.file_id,
                    "caption": action.caption,
                }
            )
        elif isinstance(action, SendFile):
            content.append(
                {
                    "type": "photo" if action.photo else "document",
                    "filename": action.filename,
                    "data": base64.b64encode(action.data).decode(),
                    "caption": action.caption,
                }
            )
        else:
            raise ValueError(f"{type(action).__name__} cannot be queued: it needs a live chat")
    return content


def from_content(content: list[dict[str, Any]]) -> list[Outgoing]:
    """The actions a queued message stands for."""
    actions: list[Outgoing] = []
    for item in content:
        if item["type"] == "media":
            actions.append(SendMedia(item["kind"], item["file_id"], item["caption"]))
            continue
        if item["type"] in ("photo", "document"):
            data = base64.b64decode(item["data"])
            photo = item["type"] == "photo"
            actions.append(SendFile(item["filename"], data, item["caption"], photo))
            continue
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
        if item["type"] == "edit":
            actions.append(EditText(item["message_id"], item["text"], keyboard))
        else:
            actions.append(SendText(item["text"], keyboard))
    return actions
