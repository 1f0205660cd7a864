"""The outbox sender through the real aiogram channel, over HTTP, against the fake Bot API."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from bot import delivery
from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_aiogram import AiogramApi
from bot.delivery import Delivery, OutboxSender
from bot.pacing import SendPacer
from handlers.core.content import to_content
from handlers.core.events import Incoming, Kind, Outgoing, SendText
from models import Applicant, OutboxMessage
from models.outbox import OutboxStatus, enqueue
from tests.support.fake_telegram import FakeTelegram

FIRST_CHAT = 7000
UNKNOWN_CHAT = 999_999  # never wrote to the bot: Telegram answers "chat not found"


@pytest.fixture
async def telegram(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    """The fake server, flood control on; a test may pass options with indirect parametrize."""
    fake = FakeTelegram(**getattr(request, "param", {}))
    await fake.start()
    yield fake
    await fake.stop()


Connect = Callable[..., TelegramChannel]


@pytest.fixture
async def connect(telegram: FakeTelegram) -> AsyncIterator[Connect]:
    """Makes the real channel for an app (not polling: the sender calls its `send_one`)."""
    made: list[TelegramChannel] = []

    def make(app: App, pacer: SendPacer | None = None) -> TelegramChannel:
        channel = TelegramChannel(
            AiogramApi(telegram.token, telegram.base_url),
            app.conversation,
            pacer=pacer or SendPacer(rate=30),
        )
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.close()


def sender_for(app: App, channel: TelegramChannel, **options: Any) -> OutboxSender:
    return OutboxSender(app.conversation.sessions, channel.send_one, channel.pacer, **options)


async def queue(
    app: App, telegram: FakeTelegram, chats: list[int], *, per_chat: int = 1, known: bool = True
) -> dict[int, int]:
    """One applicant per chat, `per_chat` rows each ("chat/n"); returns chat -> applicant id."""
    if known:
        telegram.add_chats(chats)
    async with app.conversation.sessions() as db, db.begin():
        applicants = [Applicant(telegram_id=chat, chat_id=chat) for chat in chats]
        db.add_all(applicants)
        await db.flush()
        for number in range(per_chat):
            for applicant in applicants:
                await enqueue(
                    db,
                    chat_id=applicant.chat_id,
                    applicant_id=applicant.id,
                    content=to_content([SendText(f"{applicant.chat_id}/{number}")]),
                    dedupe_key=f"test:{applicant.chat_id}:{number}",
                )
    return {a.chat_id: a.id for a in applicants if a.id is not None}


async def rows(app: App, chat_id: int | None = None) -> list[OutboxMessage]:
    async with app.conversation.sessions() as db:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if chat_id is not None:
            query = query.where(OutboxMessage.chat_id == chat_id)
        return list((await db.exec(query)).all())


async def settled(app: App, timeout: float) -> list[OutboxMessage]:
    """Waits until no row is pending or being sent; returns them all."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        every = await rows(app)
        if all(r.status not in (OutboxStatus.PENDING, OutboxStatus.SENDING) for r in every):
            return every
        if asyncio.get_running_loop().time() > deadline:
            waiting = [(r.chat_id, r.status, r.attempts, r.last_error) for r in every]
            raise AssertionError(f"not settled after {timeout}s: {waiting}")
        await asyncio.sleep(0.05)


async def drain(app: App, sender: OutboxSender, timeout: float) -> list[OutboxMessage]:
    """Runs the sender as the bot does until every row has its outcome."""
    running = asyncio.create_task(sender.run())
    try:
        return await settled(app, timeout)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


def sends(telegram: FakeTelegram) -> list:
    return [r for r in telegram.requests if r.method == "sendMessage"]


@pytest.mark.parametrize(
    ("rate", "telegram"),
    [
        (30, {"global_rate": 30, "global_window": True}),
        (100, {"global_rate": 100, "global_window": True}),
    ],
    indirect=["telegram"],
    ids=["30/s", "100/s"],
)
async def test_at_the_configured_rate_no_429_and_one_message_each(
    app: App, telegram: FakeTelegram, connect: Connect, rate: int
) -> None:
    channel = connect(app, SendPacer(rate=rate))
    chats = list(range(FIRST_CHAT, FIRST_CHAT + 3 * rate))
    await queue(app, telegram, chats)
    handled = await sender_for(app, channel).send_due()
    assert handled == len(chats)
    assert telegram.too_many == 0
    assert [len(telegram.messages(chat)) for chat in chats] == [1] * len(chats)
    assert {r.status for r in await rows(app)} == {OutboxStatus.SENT}
    # The server's strict window refused nothing; the budget was used, and never exceeded.
    arrivals = [r.at for r in sends(telegram)]
    busiest = max(sum(1 for b in arrivals if a <= b < a + 1) for a in arrivals)
    assert 0.9 * rate <= busiest <= rate


class JumpingRoundTrip:
    """A round trip of 50 ms, then 400 ms, then 50 ms again..., changing every `every` s."""

    def __init__(self, every: float = 0.7) -> None:
        self.every = every
        self.began: float | None = None

    def __call__(self) -> float:
        now = time.monotonic()
        if self.began is None:
            self.began = now
        return 0.4 if int((now - self.began) / self.every) % 2 else 0.05


@pytest.mark.parametrize(
    "telegram",
    [{"global_rate": 100, "global_window": True, "latency": JumpingRoundTrip()}],
    indirect=True,
    ids=["50-400 ms"],
)
async def test_a_round_trip_jumping_between_50_and_400_ms_never_brings_a_429(
    app: App, telegram: FakeTelegram, connect: Connect
) -> None:
    channel = connect(app, SendPacer(rate=100))
    chats = list(range(FIRST_CHAT, FIRST_CHAT + 400))
    await queue(app, telegram, chats)
    sender = sender_for(app, channel)
    handled = await sender.send_due()
    assert handled == len(chats)
    assert telegram.too_many == 0
    assert [len(telegram.messages(chat)) for chat in chats] == [1] * len(chats)
    assert sender.peak_in_flight > 5  # several at once: the pipeline was in use
    # The round trip really changed under the broadcast, both ways, more than once.
    arrivals = [r.at for r in sends(telegram)]
    assert arrivals[-1] - arrivals[0] > 4 * 0.7


async def test_a_429_pauses_all_sending_for_retry_after(
    app_on_each_engine: App, telegram: FakeTelegram, connect: Connect
) -> None:
    app = app_on_each_engine
    channel = connect(app)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + 5))
    await queue(app, telegram, chats)
    telegram.force_retry_after(2)
    sender = sender_for(app, channel, idle_interval=0.05)
    running = asyncio.create_task(sender.run())
    try:
        await telegram.wait_for(lambda _: channel.pacer.paused_total > 0)
        # A reply during the pause waits too: the budget is the bot's, not the outbox's.
        reply_to = FIRST_CHAT + 100
        telegram.add_chats([reply_to])
        event = Incoming(user_id=reply_to, chat_id=reply_to, kind=Kind.TEXT, text="hi")
        await channel.send(event, [SendText("a reply")], None)
        every = await settled(app, timeout=10)
    finally:
        running.cancel()
    [refused] = [r for r in sends(telegram) if r.status == 429]
    # Requests already on their way when the 429 was answered arrive with it (at most the
    # sender's window); after it, nothing until retry_after has passed.
    after = [r for r in sends(telegram) if r.at > refused.at]
    assert not [r for r in after if refused.at + 0.1 < r.at < refused.at + 2]
    assert len([r for r in after if r.at >= refused.at + 2]) >= 2  # the refused one, the reply
    assert len(sends(telegram)) == 7
    assert [r.status for r in every] == [OutboxStatus.SENT] * 5
    assert [len(telegram.messages(chat)) for chat in chats] == [1] * 5
    assert telegram.too_many == 1


async def test_a_blocked_user_fails_once_and_the_rest_of_theirs_is_skipped(
    app_on_each_engine: App, telegram: FakeTelegram, connect: Connect
) -> None:
    app = app_on_each_engine
    channel = connect(app)
    dara, sokha, vanna = FIRST_CHAT, FIRST_CHAT + 1, FIRST_CHAT + 2
    applicant_ids = await queue(app, telegram, [dara, sokha, vanna], per_chat=3)
    telegram.block(sokha)
    await sender_for(app, channel).send_due()
    assert [r.status for r in await rows(app, sokha)] == [
        OutboxStatus.FAILED,
        OutboxStatus.SKIPPED,
        OutboxStatus.SKIPPED,
    ]
    assert [r.status for r in sends(telegram) if int(r.params["chat_id"]) == sokha] == [403]
    async with app.conversation.sessions() as db:
        reachable = {a.chat_id: a.reachable for a in (await db.exec(select(Applicant))).all()}
    assert reachable == {dara: True, sokha: False, vanna: True}
    for chat in (dara, vanna):
        assert [m.text for m in telegram.messages(chat)] == [f"{chat}/{n}" for n in range(3)]
    assert applicant_ids.keys() == {dara, sokha, vanna}


@pytest.mark.parametrize(
    "telegram", [{"failure_rate": 0.3, "seed": 20261125}], indirect=True, ids=["30% 500s"]
)
async def test_server_errors_are_retried_until_each_row_is_sent_exactly_once(
    app_on_each_engine: App, telegram: FakeTelegram, connect: Connect
) -> None:
    app = app_on_each_engine
    channel = connect(app)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + 40))
    await queue(app, telegram, chats)
    sender = sender_for(app, channel, backoff=0.02, max_attempts=15, idle_interval=0.02)
    every = await drain(app, sender, timeout=20)
    assert [r.status for r in every] == [OutboxStatus.SENT] * len(chats)
    assert [len(telegram.messages(chat)) for chat in chats] == [1] * len(chats)
    failures = [r for r in sends(telegram) if r.status == 500]
    assert len(failures) >= 10
    assert sum(r.attempts for r in every) == len(sends(telegram))
    assert sender.counts == {"sent": len(chats), "transient": len(failures)}


async def test_chat_not_found_fails_the_row_without_retrying(
    app_on_each_engine: App, telegram: FakeTelegram, connect: Connect
) -> None:
    app = app_on_each_engine
    channel = connect(app)
    await queue(app, telegram, [FIRST_CHAT])
    await queue(app, telegram, [UNKNOWN_CHAT], known=False)
    sender = sender_for(app, channel, backoff=0.01)
    await sender.send_due()
    await asyncio.sleep(0.05)
    await sender.send_due()
    [gone] = await rows(app, UNKNOWN_CHAT)
    assert (gone.status, gone.attempts) == (OutboxStatus.FAILED, 1)
    assert gone.last_error is not None
    assert "chat not found" in gone.last_error
    assert [r.status for r in sends(telegram) if int(r.params["chat_id"]) == UNKNOWN_CHAT] == [400]
    assert len(telegram.messages(FIRST_CHAT)) == 1
    async with app.conversation.sessions() as db:
        reachable = {a.chat_id: a.reachable for a in (await db.exec(select(Applicant))).all()}
    assert reachable == {FIRST_CHAT: True, UNKNOWN_CHAT: True}


# Telegram lets a chat have a few messages at once, then one a second: the sender's own
# per-chat budget must hold the rest back without sending them out of order.
async def test_a_chat_gets_its_messages_in_order_within_its_limit(
    app_on_each_engine: App, telegram: FakeTelegram, connect: Connect
) -> None:
    app = app_on_each_engine
    channel = connect(app)
    busy = FIRST_CHAT
    others = list(range(FIRST_CHAT + 1, FIRST_CHAT + 4))
    await queue(app, telegram, [busy], per_chat=7)
    await queue(app, telegram, others)
    sender = sender_for(app, channel, idle_interval=0.02)
    await drain(app, sender, timeout=15)
    assert telegram.too_many == 0
    assert [m.text for m in telegram.messages(busy)] == [f"{busy}/{n}" for n in range(7)]
    for chat in others:
        assert len(telegram.messages(chat)) == 1


async def test_a_failed_first_part_is_not_overtaken_by_the_second(
    app: App, telegram: FakeTelegram, connect: Connect
) -> None:
    channel = connect(app)
    chat = FIRST_CHAT
    await queue(app, telegram, [chat], per_chat=2)
    telegram.fail_next(500)
    sender = sender_for(app, channel, backoff=0.2, idle_interval=0.02)
    await drain(app, sender, timeout=10)
    assert [m.text for m in telegram.messages(chat)] == [f"{chat}/0", f"{chat}/1"]


async def test_an_unforeseen_error_is_recorded_and_the_row_not_left_claimed(
    app: App, telegram: FakeTelegram, connect: Connect
) -> None:
    channel = connect(app)
    await queue(app, telegram, [FIRST_CHAT, FIRST_CHAT + 1])

    async def send_one(chat_id: int, action: Outgoing) -> Delivery:
        if chat_id == FIRST_CHAT:
            raise RuntimeError("a bug")
        return await channel.send_one(chat_id, action)

    sender = OutboxSender(
        app.conversation.sessions,
        send_one,
        channel.pacer,
        backoff=0.01,
        max_attempts=2,
        idle_interval=0.02,
    )
    broken, fine = await drain(app, sender, timeout=10)
    assert (broken.status, broken.attempts) == (OutboxStatus.FAILED, 2)
    assert broken.last_error is not None
    assert "a bug" in broken.last_error
    assert fine.status == OutboxStatus.SENT


async def test_a_database_blip_while_recording_repeats_nothing_and_stalls_nothing(
    app_on_each_engine: App,
    telegram: FakeTelegram,
    connect: Connect,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The outcomes of sent messages cannot be written twice in a row: they are kept and
    written when the database is back; no message goes twice, none waits for a restart."""
    app = app_on_each_engine
    channel = connect(app)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + 12))
    await queue(app, telegram, chats, per_chat=2)
    real_settle_many = delivery.settle_many
    failures = 2

    async def settle_many(db: Any, settlements: Any, now: Any) -> None:
        nonlocal failures
        if settlements and failures:
            failures -= 1
            raise OperationalError("UPDATE outbox", {}, Exception("the database went away"))
        await real_settle_many(db, settlements, now)

    monkeypatch.setattr(delivery, "settle_many", settle_many)
    began = time.monotonic()
    handled = await sender_for(app, channel).send_due()
    assert failures == 0
    assert handled == 2 * len(chats)
    assert time.monotonic() - began < 30  # not the five minutes of a claim left behind
    for chat in chats:  # each message once, in order
        assert [m.text for m in telegram.messages(chat)] == [f"{chat}/0", f"{chat}/1"]
    assert {r.status for r in await rows(app)} == {OutboxStatus.SENT}
    assert "the outbox could not be written" in caplog.text


async def test_a_group_gets_at_most_20_messages_a_minute_and_a_private_chat_its_own_pace() -> None:
    """Telegram allows a group about 20 messages a minute: the staff group's posts are paced
    so, while an applicant's private chat keeps its one a second."""
    now = 0.0
    pacer = SendPacer(rate=1000, clock=lambda: now)
    staff_group, applicant = -100123, 4242
    starts: dict[int, list[float]] = {staff_group: [], applicant: []}
    for chat in starts:
        now = 0.0
        while now < 120:
            now += pacer.chat_wait(chat)  # as long as the pacer would make it wait
            ticket = await pacer.acquire(chat, reply=False)
            starts[chat].append(now)
            await pacer.release(ticket)
    group = starts[staff_group]
    assert max(sum(1 for t in group if s <= t < s + 60) for s in group) <= 20
    assert len(group) >= 2 * 17  # not slower than that either
    assert len(starts[applicant]) >= 115  # about one a second, after a burst of three


async def test_a_chats_fourth_message_waits_a_second_after_a_slow_first_is_answered() -> None:
    """Telegram counts a message when it arrives, as late as its answer: after a burst of
    three whose first took 300 ms, the fourth may not start a second after the first did
    (Telegram's bucket may then hold 0.7), only a second after that answer."""
    now = [0.0]
    pacer = SendPacer(rate=1000, clock=lambda: now[0])
    chat = 4242
    first = await pacer.acquire(chat, reply=False)
    now[0] = 0.3
    await pacer.release(first)
    for _ in range(2):
        await pacer.release(await pacer.acquire(chat, reply=False))
    now[0] = 1.05
    assert pacer.chat_wait(chat) > 0.2
    now[0] = 1.35
    assert pacer.chat_wait(chat) == 0


async def test_a_quicker_answer_makes_the_slower_ones_before_it_count_longer() -> None:
    """The round trip falls from 500 to 60 ms: a request answered slowly before the fall
    reached Telegram later than its floor said, so it counts longer, and the next request
    waits until it can no longer share a second with it at Telegram's end."""
    now = [0.0]
    pacer = SendPacer(rate=2, chat_rate=100, chat_burst=100, clock=lambda: now[0])
    first = await pacer.acquire(1, reply=False)
    now[0] = 0.5
    await pacer.release(first)  # the floor rises from here, at most 0.1 s a second
    now[0] = 2.0
    slow = await pacer.acquire(2, reply=False)
    now[0] = 2.5
    await pacer.release(slow)  # 500 ms: each way counted as 200 ms (the floor so far)
    quick = await pacer.acquire(3, reply=False)
    now[0] = 2.56
    await pacer.release(quick)  # 60 ms: each way can be as short as 30 ms
    # `slow` may have reached Telegram as late as 2.47 and the next one may take 30 ms:
    # no start before 3.44 or so. Counted by the old floor, it would stop at 3.1.
    now[0] = 3.3
    assert pacer._global_wait() > 0.1
    now[0] = 3.5
    assert pacer._global_wait() == 0
