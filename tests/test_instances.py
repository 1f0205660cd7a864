"""Several instances on one PostgreSQL: one sending budget, each outbox row sent once, turns.

Each "instance" here is what `applicant-bot run` builds in its process: its own engine,
pacer and outbox sender on the same database. The end-to-end run of two real
processes behind a load balancer is in tests/test_scale.py.
"""

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App, build_app
from bot.delivery import STALE_CLAIM, Delivery, OutboxSender, Outcome
from bot.pacing import SharedSendPacer
from bot.scheduler import in_transaction
from handlers.core.content import to_content
from handlers.core.events import Outgoing, SendText
from models import OutboxMessage
from models.columns import utcnow
from models.outbox import OutboxStatus, claim, enqueue
from models.turns import claim_update_in_turn, take_job_turn, wait_for_applicant_turn
from tests.support.app import settings_for_test, start_app


@pytest.fixture
async def instances(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[App, App]]:
    """Two apps, each with its own engine, on one fresh PostgreSQL database."""
    first = await start_app(request, tmp_path, "postgresql")
    second = build_app(settings_for_test(tmp_path, database_url=first.settings.database_url))
    await second.prepare_database()
    yield first, second
    await first.close()
    await second.close()


def crowded_seconds(starts_and_ends: list[tuple[float, float]], rate: int) -> list[float]:
    """Moments a request started while `rate` others were in flight or answered < 1 s ago.

    A request reaches the server somewhere between its start and its answer, so when
    this list is empty the server cannot have seen more than `rate` in any second.
    """
    crowded = []
    for start, _ in starts_and_ends:
        busy = sum(1 for s, e in starts_and_ends if s < start and e > start - 1.0)
        if busy >= rate:
            crowded.append(start)
    return crowded


async def test_two_instances_spend_one_sending_budget(instances: tuple[App, App]) -> None:
    rate = 20
    pacers = [SharedSendPacer(app.engine, rate=rate, chat_burst=100) for app in instances]
    for pacer in pacers:
        await pacer.prepare()
    requests: list[tuple[float, float]] = []

    async def send(pacer: SharedSendPacer, chat: int) -> None:
        async with pacer.slot(chat, reply=False):
            start = time.monotonic()
            await asyncio.sleep(0.01)  # the round trip
            requests.append((start, time.monotonic()))

    began = time.monotonic()
    await asyncio.gather(*(send(pacers[n % 2], 1000 + n) for n in range(3 * rate)))
    took = time.monotonic() - began

    assert crowded_seconds(requests, rate) == []
    # Each pacer alone would allow `rate` a second: together they took the time of one.
    assert took >= 2.0, took


async def test_a_chats_turns_are_shared_by_the_instances(instances: tuple[App, App]) -> None:
    pacers = [
        SharedSendPacer(app.engine, rate=100, chat_rate=5, chat_burst=2) for app in instances
    ]
    for pacer in pacers:
        await pacer.prepare()
    starts: list[float] = []

    async def send(pacer: SharedSendPacer) -> None:
        async with pacer.slot(42, reply=True):
            starts.append(time.monotonic())

    await asyncio.gather(*(send(pacers[n % 2]) for n in range(6)))
    # A burst of 2, then 5 a second: the 6th message waits for 4 more tokens.
    assert max(starts) - min(starts) >= 0.75


async def test_a_429_seen_by_one_instance_pauses_the_other(instances: tuple[App, App]) -> None:
    first, second = (SharedSendPacer(app.engine, rate=30) for app in instances)
    await first.prepare()
    first.pause(1.0)
    await asyncio.sleep(0.1)  # the pause reaches the database
    began = time.monotonic()
    async with second.slot(7, reply=True):
        waited = time.monotonic() - began
    assert waited >= 0.8


async def queue_numbered(app: App, chats: range, numbers: range) -> None:
    """Queues "chat:number" to each chat, the numbers in order (ids grow with them)."""
    async with app.conversation.sessions() as db, db.begin():
        for number in numbers:
            for chat in chats:
                await enqueue(
                    db,
                    chat_id=chat,
                    applicant_id=None,
                    content=to_content([SendText(f"{chat}:{number}")]),
                    dedupe_key=f"test:{chat}:{number}",
                )


async def recording_senders(
    instances: tuple[App, App], received: dict[int, list[str]], **pace: float
) -> list[OutboxSender]:
    """An outbox sender per instance, on the shared budget, writing down what each chat got."""

    async def send_one(chat_id: int, action: Outgoing) -> Delivery:
        assert isinstance(action, SendText)
        received[chat_id].append(action.text)
        await asyncio.sleep(0.001)
        return Delivery(Outcome.SENT, message_id=len(received[chat_id]))

    senders = []
    for number, app in enumerate(instances):
        pacer = SharedSendPacer(app.engine, rate=1000, **pace)
        await pacer.prepare()
        name = f"instance-{number}"
        senders.append(OutboxSender(app.conversation.sessions, send_one, pacer, instance=name))
    return senders


async def test_each_outbox_row_is_sent_once_across_instances(instances: tuple[App, App]) -> None:
    chats = range(9000, 9100)
    await queue_numbered(instances[0], chats, range(5))
    received: dict[int, list[str]] = defaultdict(list)
    senders = await recording_senders(instances, received, chat_burst=1000)
    await asyncio.gather(*(each.send_due() for each in senders))

    assert sum(len(texts) for texts in received.values()) == 500
    for chat in chats:
        assert received[chat] == [f"{chat}:{n}" for n in range(5)]  # once each, in order
    async with instances[0].conversation.sessions() as db:
        rows = (await db.exec(select(OutboxMessage))).all()
    assert Counter(row.status for row in rows) == {OutboxStatus.SENT: 500}
    assert min(Counter(row.claimed_by for row in rows).values()) > 50  # both did a fair share


async def test_a_chats_messages_keep_their_order_when_a_chats_pace_holds_them_back(
    instances: tuple[App, App],
) -> None:
    """One instance holds a chat's message back for the chat's pace; the other instance
    must not send that chat's next message first."""
    chats, per_chat = range(9000, 9006), 3
    await queue_numbered(instances[0], chats, range(per_chat))
    received: dict[int, list[str]] = defaultdict(list)
    # Each chat may have one message, then one more a second later.
    senders = await recording_senders(instances, received, chat_rate=1, chat_burst=1)

    # The first instance sends each chat's first message and holds back the second (the
    # chat's pace); the other instance comes along while those wait.
    assert await senders[0].send_due(limit=2 * len(chats)) == 2 * len(chats)
    assert sum(map(len, received.values())) == len(chats)
    # Written while the second is held back: it goes after it.
    await queue_numbered(instances[1], chats, range(per_chat, per_chat + 1))
    per_chat += 1

    async def drain(each: OutboxSender) -> None:
        deadline = time.monotonic() + 30
        while sum(map(len, received.values())) < len(chats) * per_chat:
            assert time.monotonic() < deadline, dict(received)
            if not await each.send_due():
                await asyncio.sleep(0.005)

    await asyncio.gather(*(drain(each) for each in senders))
    for chat in chats:
        assert received[chat] == [f"{chat}:{n}" for n in range(per_chat)]  # once, in order


async def test_after_a_crash_an_instance_takes_back_only_its_own_claims(
    instances: tuple[App, App],
) -> None:
    first, second = instances
    async with first.conversation.sessions() as db, db.begin():
        for chat in (1, 2, 3):
            await enqueue(
                db,
                chat_id=chat,
                applicant_id=None,
                content=to_content([SendText("hello")]),
                dedupe_key=f"test:{chat}",
                send_after=utcnow() - timedelta(hours=1),  # due before the oldest claim
            )
        rows = (await db.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        now = utcnow()
        assert await claim(db, rows[0].id, now, "a")
        assert await claim(db, rows[1].id, now, "b")  # b is sending this one right now
        assert await claim(db, rows[2].id, now - STALE_CLAIM - timedelta(minutes=1), "c")

    async def nothing(chat_id: int, action: Outgoing) -> Delivery:
        raise AssertionError("recover sends nothing")

    released = await OutboxSender(first.conversation.sessions, nothing, instance="a").recover()
    assert released == 2  # a's own, and c's, left long ago by an instance that never returned
    async with second.conversation.sessions() as db:
        by_chat = {row.chat_id: row.status for row in (await db.exec(select(OutboxMessage)))}
    assert by_chat == {1: "pending", 2: "sending", 3: "pending"}


async def test_one_instance_at_a_time_runs_a_job(instances: tuple[App, App]) -> None:
    first, second = instances
    entered = asyncio.Event()
    release = asyncio.Event()
    runs: list[str] = []

    async def slow_job(db: object, services: object, now: object) -> int:
        runs.append("ran")
        entered.set()
        await release.wait()
        return 0

    job = in_transaction(first.conversation.sessions, first.conversation.services, slow_job)
    other = in_transaction(second.conversation.sessions, second.conversation.services, slow_job)
    running = asyncio.create_task(job())
    await entered.wait()
    await other()  # the other instance's tick skips it: the first is running it
    release.set()
    await running
    assert runs == ["ran"]
    async with second.conversation.sessions() as db, db.begin():
        assert await take_job_turn(db, "slow_job")  # free again after the first committed


async def test_an_applicants_updates_wait_for_each_other_across_instances(
    instances: tuple[App, App],
) -> None:
    first, second = instances
    order: list[str] = []
    holding = asyncio.Event()

    async def first_update() -> None:
        async with first.conversation.sessions() as db, db.begin():
            await wait_for_applicant_turn(db, 5_000_000_001)  # beyond 32 bits, as ids are
            holding.set()
            await asyncio.sleep(0.3)
            order.append("first")

    async def second_update() -> None:
        await holding.wait()
        async with second.conversation.sessions() as db, db.begin():
            await wait_for_applicant_turn(db, 5_000_000_001)
            order.append("second")

    await asyncio.gather(first_update(), second_update())
    assert order == ["first", "second"]


async def test_an_update_sent_to_two_instances_is_handled_by_the_first_only(
    instances: tuple[App, App],
) -> None:
    """Telegram sent update 77 to both instances: the second waits for the first's commit,
    then finds it handled; the user's next update waits the same, then is taken."""
    first, second = instances
    user = 5_000_000_002
    order: list[str] = []
    holding = asyncio.Event()

    async def first_instance() -> None:
        async with first.conversation.sessions() as db, db.begin():
            assert await claim_update_in_turn(db, user, 77)
            holding.set()
            await asyncio.sleep(0.3)
            order.append("first done")

    async def second_instance(update_id: int) -> None:
        await holding.wait()
        async with second.conversation.sessions() as db, db.begin():
            taken = await claim_update_in_turn(db, user, update_id)
            order.append(f"{update_id} {'taken' if taken else 'dropped'}")

    await asyncio.gather(first_instance(), second_instance(77), second_instance(78))
    assert order[0] == "first done"
    assert sorted(order[1:]) == ["77 dropped", "78 taken"]
