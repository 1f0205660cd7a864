"""GET /metrics as an operator scrapes it: a real `applicant-bot run` against the fake Bot
API server, in webhook mode and in polling mode with METRICS_LISTEN, counting exactly what
its users did and saw, and nothing personal."""

import asyncio
import os
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App, build_app
from bot.config import load_settings
from bot.metrics import Metrics, MetricsServer
from handlers.applicant.buttons import PickSession
from handlers.core.content import to_content
from handlers.core.events import Incoming, Kind, SendText
from handlers.core.services import FaqOutcome
from models.columns import utcnow
from models.db import create_engine, session_factory
from models.outbox import enqueue
from tests.support.app import settings_for_test
from tests.support.balancer import Balancer
from tests.support.channels import channel_on_fake
from tests.support.fake_telegram import SEND_METHODS, FakeTelegram
from tests.support.process import free_port, running_bot, webhook_environment
from tests.support.sessions import make_session
from tests.support.telegram import answer_and_read, book_through_telegram

DARA = 731_845_926  # asks the FAQ and books
SOKHA = 731_845_937  # asks something the FAQ does not know
PHONE = "097 765 4321"
ID_NUMBER = "482139775"
SECRET = "metrics-test-secret-0123456789abcdef"
KNOWN_QUESTION = "When will I get my test results?"  # an FAQ entry's own wording
ODD_QUESTION = "Which football club won the league in 1987?"
BROADCAST = "Bring a pen to the test."

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def quiet_hours_far_from_now() -> str:
    """QUIET_HOURS that cannot hold back this test's reminder and broadcast."""
    later = utcnow().astimezone(load_settings(_env_file=None).zone) + timedelta(hours=12)
    return f"{later:%H:%M}-{later + timedelta(minutes=1):%H:%M}"


async def scrape(url: str) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return text, parsed(text)


def parsed(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` that has these labels."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def polling(telegram: FakeTelegram) -> bool:
    """Whether the bot has asked for updates (it is past its start)."""
    return any(r.method == "getUpdates" for r in telegram.requests)


def kind_of(update: dict) -> str:
    """What the conversation calls an update the fake made."""
    if "callback_query" in update:
        return "button"
    message = update["message"]
    if "contact" in message:
        return "contact"
    return "command" if message["text"].startswith("/") else "text"


@pytest.fixture
async def telegram() -> FakeTelegram:
    # A person types slower than a test: a raised per-chat burst keeps flood waits out.
    fake = FakeTelegram(chat_burst=30, webhook_retry_delay=0.05)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_metrics_count_what_users_did_and_show_nobody(
    tmp_path: Path, telegram: FakeTelegram, mode: str
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/run.db"
    app = build_app(settings_for_test(tmp_path, database_url=database))
    await app.prepare_database()
    now = utcnow()
    # Three days ahead: the 7-day reminder is already due (it goes at once), the others not.
    session_id = await make_session(
        app,
        10,
        starts_at=now + timedelta(days=3),
        registration_opens_at=now - timedelta(days=1),
        registration_closes_at=now + timedelta(days=2),
    )
    await app.close()
    port = free_port()
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(tmp_path)),  # the FAQ model's vector cache
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": database,
        "QUIET_HOURS": quiet_hours_far_from_now(),
    }
    if mode == "webhook":
        environment |= webhook_environment(port, SECRET)
    else:
        environment["METRICS_LISTEN"] = f"127.0.0.1:{port}"
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    async with running_bot(environment, tmp_path):
        if mode == "webhook":
            await telegram.wait_for(lambda f: bool(f.webhook["url"]), timeout=60)
        else:
            await telegram.wait_for(polling, timeout=60)
        answer = await answer_and_read(telegram, DARA, "user_sends", KNOWN_QUESTION)
        assert KNOWN_QUESTION in answer.text
        await telegram.next_message(DARA)  # the welcome after a first message that asks
        odd = await answer_and_read(telegram, SOKHA, "user_sends", ODD_QUESTION)
        await telegram.next_message(SOKHA)
        seen_odd = "did_you_mean" if "Did you mean" in odd.text else "unanswered"
        assert seen_odd == "did_you_mean" or "don't know" in odd.text
        session = PickSession(session_id).pack()
        # The reminder due at once may come before the confirmation: both are waited for.
        await book_through_telegram(telegram, DARA, session, PHONE, ID_NUMBER)
        await telegram.wait_until_message(DARA, "You are registered!", timeout=10)
        (tmp_path / "news.html").write_text(BROADCAST)
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "broadcast", "--audience", "all",
            "--text-file", str(tmp_path / "news.html"), "--no-wait",
            env=environment, cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, cli_errors = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, cli_errors.decode()
        await telegram.wait_until_message(DARA, "Reminder: your test is in 7 days", timeout=30)
        for person in (DARA, SOKHA):
            await telegram.wait_until_message(person, BROADCAST, timeout=30)

        # The last outcomes are written just after the fake answered: scrape until they are.
        for _ in range(100):
            text, samples = await scrape(metrics_url)
            written = value(samples, "applicant_bot_outbox_sent_total", kind="broadcast") == 2
            if written and value(samples, "applicant_bot_outbox_messages", status="pending") == 0:
                break
            await asyncio.sleep(0.1)

    faq = "applicant_bot_faq_replies_total"
    assert value(samples, faq, outcome="answered") == 1
    assert value(samples, faq, outcome=seen_odd) == 1
    assert total(samples, faq) == 2

    sends = Counter(
        {200: "ok", 429: "429", 403: "403", 400: "400"}.get(r.status)
        or ("5xx" if r.status >= 500 else str(r.status))
        for r in telegram.requests
        if r.method in SEND_METHODS
    )
    for outcome in ("ok", "429", "403", "400", "5xx", "network"):
        assert value(samples, "applicant_bot_sends_total", outcome=outcome) == sends[outcome]
    assert sends["ok"] > 20  # the answers, the wizard, the ticket, the reminder, the news

    sent = "applicant_bot_outbox_sent_total"
    assert value(samples, sent, kind="reminder") == 1
    assert value(samples, sent, kind="broadcast") == 2
    assert total(samples, sent) == 3
    depth = "applicant_bot_outbox_messages"
    assert value(samples, depth, status="pending") == 0
    assert value(samples, depth, status="sending") == 0
    assert value(samples, depth, status="scheduled") == 2  # the 1-day and test-day reminders
    assert value(samples, depth, status="sent") == 3
    assert value(samples, "applicant_bot_database_up") == 1

    updates = telegram.updates_made
    by_kind = Counter(kind_of(update) for update in updates)
    for kind, count in by_kind.items():
        assert value(samples, "applicant_bot_updates_total", kind=kind, outcome="ok") == count
    assert total(samples, "applicant_bot_updates_total") == len(updates)
    assert value(samples, "applicant_bot_update_seconds_count") == len(updates)

    for personal in (
        str(DARA), str(SOKHA), "977654321", ID_NUMBER, telegram.token, "TEST-TOKEN",
        "Chan Sokha", "CHAN SOKHA", "football", SECRET,
    ):  # fmt: skip
        assert personal not in text


async def test_a_database_that_does_not_answer_leaves_the_outbox_out_and_serves_the_rest(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    metrics.faq_replied(FaqOutcome.ANSWERED)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/bot.db")
    server = MetricsServer("127.0.0.1", 0, lambda: metrics.page(session_factory(engine)))
    await server.start()
    try:
        _, samples = await scrape(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await server.stop()
        await engine.dispose()
    assert value(samples, "applicant_bot_database_up") == 0
    assert total(samples, "applicant_bot_outbox_messages") == 0  # no figure, not a stale one
    assert not any(name == "applicant_bot_outbox_messages" for name, _ in samples)
    assert value(samples, "applicant_bot_faq_replies_total", outcome="answered") == 1


@pytest.mark.parametrize("framework", ["aiogram", "ptb"])
async def test_each_answer_to_a_send_is_counted_under_its_outcome(
    app: App, telegram: FakeTelegram, framework: str
) -> None:
    telegram.add_chats([DARA, SOKHA])
    # Through a proxy that can be taken away: Telegram out of reach is a network error.
    async with Balancer([telegram.base_url]) as way_to_telegram:
        channel = channel_on_fake(
            framework, app, telegram, api_url=way_to_telegram.base_url, metrics=app.metrics
        )
        await channel.start()
        try:
            await channel.send_one(DARA, SendText("Reminder: your test is tomorrow"))
            telegram.force_retry_after(3)
            await channel.send_one(DARA, SendText("again"))
            telegram.fail_next(502)
            await channel.send_one(DARA, SendText("again"))
            await channel.send_one(DARA, SendText("<b>broken"))
            await channel.send_one(999_999, SendText("hi"))  # chat not found
            telegram.block(SOKHA)
            await channel.send_one(SOKHA, SendText("hi"))
            await way_to_telegram.stop()
            await channel.send_one(DARA, SendText("hi"))
        finally:
            await channel.close()
    server = MetricsServer("127.0.0.1", 0, lambda: app.metrics.page(app.conversation.sessions))
    await server.start()
    try:
        _, samples = await scrape(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await server.stop()
    # PTB raises the same error for a 5xx as for no answer at all.
    server_errors = {"aiogram": {"5xx": 1, "network": 1}, "ptb": {"5xx": 0, "network": 2}}
    expected = {"ok": 1, "429": 1, "400": 2, "403": 1, **server_errors[framework]}
    counted = {o: value(samples, "applicant_bot_sends_total", outcome=o) for o in expected}
    assert counted == expected


async def test_a_repeated_update_a_flood_and_a_group_chat_are_counted_apart(app: App) -> None:
    start = Incoming(DARA, DARA, Kind.COMMAND, text="/start", command="start", update_id=1)
    await app.conversation.handle(start)
    await app.conversation.handle(start)  # Telegram sent it again
    chatter = Incoming(SOKHA, -100_500, Kind.TEXT, text="hello all", private=False, update_id=2)
    await app.conversation.handle(chatter)
    for number in range(21):  # one more than a user may send in 10 seconds
        await app.conversation.handle(
            Incoming(SOKHA, SOKHA, Kind.TEXT, text="thanks", update_id=10 + number)
        )
    samples = parsed((await app.metrics.page(app.conversation.sessions)).decode())
    updates = "applicant_bot_updates_total"
    assert value(samples, updates, kind="command", outcome="ok") == 1
    assert value(samples, updates, kind="command", outcome="duplicate") == 1
    assert value(samples, updates, kind="text", outcome="ignored") == 1
    assert value(samples, updates, kind="text", outcome="ok") == 20
    assert value(samples, updates, kind="text", outcome="flood") == 1
    assert total(samples, updates) == 24
    assert value(samples, "applicant_bot_update_seconds_count") == 21  # handled ones only
    assert total(samples, "applicant_bot_faq_replies_total") == 0  # small talk is no question


async def test_the_outbox_depth_tells_the_backlog_from_what_waits_for_its_time(
    app_on_each_engine: App,
) -> None:
    app = app_on_each_engine
    now = utcnow()
    rows = {"due-1": now, "due-2": now - timedelta(hours=1), "next-week": now + timedelta(days=7)}
    async with app.conversation.sessions() as db, db.begin():
        for key, send_after in rows.items():
            await enqueue(
                db,
                chat_id=DARA,
                applicant_id=None,
                content=to_content([SendText(key)]),
                dedupe_key=key,
                send_after=send_after,
            )
    samples = parsed((await app.metrics.page(app.conversation.sessions)).decode())
    depth = "applicant_bot_outbox_messages"
    assert value(samples, depth, status="pending") == 2
    assert value(samples, depth, status="scheduled") == 1
    assert value(samples, depth, status="sent") == 0
    assert value(samples, "applicant_bot_database_up") == 1
