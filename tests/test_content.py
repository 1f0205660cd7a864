"""Outbox rows keep their stored form: rows queued by an older version still send."""

import base64

from handlers.core.content import from_content, to_content
from handlers.core.events import (
    Button,
    EditText,
    InlineKeyboard,
    SendFile,
    SendMedia,
    SendText,
    SendVenue,
)

STORED = [
    {"type": "text", "text": "A seat is free.", "buttons": [[["Take it", "offer:7:yes"]]]},
    {"type": "text", "text": "Registration opens on Monday."},
    {"type": "edit", "message_id": 42, "text": "Booked.", "buttons": [[["Menu", "menu"]]]},
    {"type": "edit", "message_id": 43, "text": "Done."},
    {"type": "venue", "latitude": 11.56, "longitude": 104.92, "title": "ITC",
     "address": "Phnom Penh"},
    {"type": "media", "kind": "photo", "file_id": "AgAD", "caption": "<b>News</b>"},
    {"type": "photo", "filename": "ticket.png", "data": base64.b64encode(b"png").decode(),
     "caption": "Your ticket"},
    {"type": "document", "filename": "test.ics", "data": base64.b64encode(b"ics").decode(),
     "caption": ""},
]  # fmt: skip


def test_rows_stored_earlier_read_as_the_same_actions_and_store_the_same() -> None:
    actions = from_content(STORED)
    assert actions == [
        SendText("A seat is free.", InlineKeyboard.of([Button("Take it", "offer:7:yes")])),
        SendText("Registration opens on Monday."),
        EditText(42, "Booked.", InlineKeyboard.of([Button("Menu", "menu")])),
        EditText(43, "Done."),
        SendVenue(11.56, 104.92, "ITC", "Phnom Penh"),
        SendMedia("photo", "AgAD", "<b>News</b>"),
        SendFile("ticket.png", b"png", "Your ticket", photo=True),
        SendFile("test.ics", b"ics", ""),
    ]
    assert to_content(actions) == STORED
