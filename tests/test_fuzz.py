"""Thousands of random updates: no unhandled error, and a database that still adds up."""

import asyncio
import logging
import random

import pytest
from sqlmodel import func, select

from bot.app import App
from handlers.core.conversation import FloodGuard
from handlers.core.events import Incoming, Kind
from handlers.core.texts import LOCALES
from models import Applicant, ConversationState, FaqFeedback, UnansweredQuestion

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ",
    "កខគឃងចឆជឈញដឋឌឍណតថទធនបផពភមយរលវសហឡអ ាិីឹឺុូួើឿៀេែៃោៅំះ្៉៊់៌៍៎៏័៑្",
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよ試験日本語 ",
    "😀🙏🇰🇭🇯🇵❤️👍🔥 ",
    "\u200b\u200c\u200d\u2060\ufeff\u202e\u202d\u200f",
    "مرحباשלום ",
    "<>&\"'/\\{}%$#@!;:[]()*_~`",
    "០១២៣៤៥៦៧៨៩0123456789",
]
BUTTON_PREFIXES = [
    "faq:home",
    "faq:cat:",
    "faq:q:",
    "faq:fb:",
    "lang:set:",
    "lang:choose",
    "menu",
    "help",
    "ask",
    "x",
    "faq:fb:jft-score:",
    "faq:q:passport",
    "book",
    "book:exam:",
    "book:ses:",
    "reg:",
    "reg:sex:",
    "reg:prov:",
    "reg:edit:",
    "reg:confirm",
    "mine",
    "mine:cancel:",
    "mine:cancel_yes:",
    "mine:move:",
    "mine:to:1:",
    "offer:yes:",
    "offer:no:",
    "settings",
    "settings:reminders:",
    "checkin:",
    "bc:",
    "bc:stop:",
    "handoff:",
    "erase:",
]
COMMANDS = [
    "start", "help", "language", "faq", "menu", "lang", "deleteme", "x" * 32, "start", "book",
    "mybookings", "ticket", "settings", "cancel", "mydata", "staff", "checkin", "absent",
    "stats", "export", "broadcast",
]  # fmt: skip
CONTENT = ["sticker", "photo", "voice", "location", "edit", "video", "dice", "other"]


def random_text(rng: random.Random) -> str:
    length = rng.choice([0, 1, 2, 5, 20, 80, 300, 1200, 5000])
    return "".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(length))


def random_event(rng: random.Random, update_id: int) -> Incoming:
    user_id = rng.randint(1, 40)
    kind = rng.choice(list(Kind))
    fields: dict = {}
    if kind is Kind.TEXT:
        fields["text"] = random_text(rng)
    elif kind is Kind.COMMAND:
        fields["command"] = rng.choice(COMMANDS)
        fields["argument"] = random_text(rng)[:100]
    elif kind is Kind.BUTTON:
        fields["button_data"] = (rng.choice(BUTTON_PREFIXES) + random_text(rng))[:64]
        fields["button_message_id"] = rng.choice([None, 1, 2, 99999])
    elif kind is Kind.CONTACT:
        fields["contact_phone"] = random_text(rng)[:20]
        fields["contact_is_own"] = rng.random() < 0.8
    else:
        fields["content"] = rng.choice(CONTENT)
    return Incoming(
        user_id=user_id,
        chat_id=user_id if rng.random() < 0.95 else -1000 - user_id,
        kind=kind,
        language_hint=rng.choice([None, "km", "en", "ja", "ru", "zh-hans", ""]),
        private=rng.random() < 0.95,
        update_id=rng.choice([update_id, update_id, update_id, rng.randint(1, update_id)]),
        **fields,
    )


async def test_two_thousand_random_updates(app: App, caplog: pytest.LogCaptureFixture) -> None:
    app.conversation.flood_guard = FloodGuard(limit=10_000)
    rng = random.Random(20261124)
    events = [random_event(rng, update_id) for update_id in range(1, 2201)]
    with caplog.at_level(logging.WARNING):
        for start in range(0, len(events), 40):
            batch = events[start : start + 40]
            replies = await asyncio.gather(*(app.conversation.handle(e) for e in batch))
            for event, actions in zip(batch, replies, strict=True):
                for action in actions:
                    text = getattr(action, "text", "")
                    assert 0 < len(text) <= 4096, (event, action)
                    assert "something went wrong" not in text, event
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []

    async with app.conversation.sessions() as db:
        applicants = (await db.exec(select(Applicant))).all()
        private_users = {e.user_id for e in events if e.private}
        assert {a.telegram_id for a in applicants} <= private_users
        assert all(a.locale in (None, *LOCALES) for a in applicants)
        ids = {a.id for a in applicants}
        states = (await db.exec(select(ConversationState))).all()
        assert {s.applicant_id for s in states} <= ids
        feedback = (await db.exec(select(FaqFeedback))).all()
        assert {f.entry_id for f in feedback} <= set(app.conversation.services.faq.entries)
        unanswered = (await db.exec(select(func.count()).select_from(UnansweredQuestion))).one()
        assert unanswered > 0
        questions = (await db.exec(select(UnansweredQuestion))).all()
        assert all(q.applicant_id in ids and q.locale in LOCALES for q in questions)
