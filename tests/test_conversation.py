"""The update runner: ordering per user, flood control, failures that stay contained."""

import asyncio
import logging

import pytest

from bot.app import App
from handlers.core.conversation import FloodGuard
from handlers.core.events import Incoming, Kind, SendText


def text_event(user_id: int, text: str, update_id: int | None = None) -> Incoming:
    return Incoming(
        user_id=user_id,
        chat_id=user_id,
        kind=Kind.TEXT,
        text=text,
        update_id=update_id,
        language_hint="en",
    )


async def test_one_users_replies_leave_in_the_order_of_their_messages(app: App) -> None:
    delivered: list[str] = []

    async def deliver_slowly(actions: list) -> None:
        await asyncio.sleep(0.01)  # sending takes time; the next update must wait for it
        delivered.extend(a.text.split("\n")[0] for a in actions if isinstance(a, SendText))

    questions = ["passport fee", "jft basic pass score", "deposit agency", "/help", "ssw fields"]

    async def one(i: int, text: str) -> None:
        await asyncio.sleep(0.001 * i)
        await app.conversation.handle(text_event(7, text, update_id=1000 + i), deliver_slowly)

    await asyncio.gather(*(one(i, text) for i, text in enumerate(questions)))
    expected = []
    for text in questions:
        actions = await app.conversation.handle(text_event(8, text))
        expected.extend(a.text.split("\n")[0] for a in actions if isinstance(a, SendText))
    assert delivered == expected


async def test_a_flooding_user_is_told_once_and_others_are_unaffected(app: App) -> None:
    now = [0.0]
    app.conversation.flood_guard = FloodGuard(limit=20, window=10.0, clock=lambda: now[0])
    answers = [await app.conversation.handle(text_event(9, "passport")) for _ in range(25)]
    assert all(answers[:20])
    assert "very fast" in answers[20][0].text
    assert answers[21:] == [[], [], [], []]
    assert await app.conversation.handle(text_event(10, "passport"))
    now[0] = 11.0
    assert "very fast" not in (await app.conversation.handle(text_event(9, "passport")))[0].text


async def test_a_bug_in_a_handler_is_logged_and_the_user_gets_an_apology(
    app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ctx: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.conversation.router, "free_text", broken)
    with caplog.at_level(logging.ERROR):
        [reply] = await app.conversation.handle(text_event(11, "my phone is 012345678"))
    assert "something went wrong" in reply.text
    assert "012345678" not in caplog.text
    assert "boom" in caplog.text
