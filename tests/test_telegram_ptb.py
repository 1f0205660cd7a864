"""The same journeys through the real python-telegram-bot client, against the fake Bot API.

The behaviour tests of the aiogram channel are imported and run here unchanged: they
ask for a `bot` (or `webhook_bot`) fixture, which in this module is the PTB channel.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_ptb import PtbApi
from bot.delivery import Outcome
from handlers.events import EditText, SendFile, SendText
from tests import test_telegram_aiogram as aiogram_tests
from tests.support.channels import channel_on_fake
from tests.support.fake_telegram import FakeTelegram
from tests.test_telegram_aiogram import (  # noqa: F401  (fixtures and tests run on PTB too)
    DARA,
    SOKHA,
    posted_message,
    rejected_except_not_modified,
    test_a_blocked_applicant_is_marked_unreachable,
    test_a_duplicated_update_is_answered_once,
    test_a_flooding_user_is_slowed_down_and_others_still_served,
    test_a_posted_update_is_answered_before_feed_returns,
    test_booking_a_seat_through_telegram,
    test_browsing_the_faq_and_asking,
    test_command_menus_are_set_per_language,
    test_flood_control_from_telegram_is_waited_out,
    test_forged_button_data_is_refused_politely,
    test_group_chats_are_ignored,
    test_location_edit_and_contact,
    test_pressing_the_same_button_twice_is_harmless,
    test_server_errors_are_retried,
    test_start_language_and_menu,
    test_the_webhook_is_registered_read_back_and_deleted,
    test_what_the_bot_cannot_read,
)

telegram = aiogram_tests.telegram  # the fake server fixture, shared


@pytest.fixture
async def bot(app: App, telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    """The PTB channel, long polling the fake server."""
    channel = channel_on_fake("ptb", app, telegram)
    polling = asyncio.create_task(channel.run())
    await telegram.wait_for(lambda f: any(r.method == "getUpdates" for r in f.requests))
    yield channel
    await channel.stop()
    await asyncio.wait_for(polling, 10)
    await channel.close()


@pytest.fixture
async def webhook_bot(app: App, telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    """The PTB channel in webhook mode: started, not polling; updates come through `feed`."""
    channel = channel_on_fake("ptb", app, telegram)
    await channel.start()
    yield channel
    await channel.close()


async def test_one_users_burst_is_answered_in_order_while_another_is_served(
    bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    commands = ["/help", "/faq", "/language", "/help", "/faq"]
    for command in commands:
        telegram.user_sends(DARA, command, language_code="en")
    telegram.user_sends(SOKHA, "/help", language_code="en")
    assert "How I can help" in (await telegram.next_message(SOKHA, timeout=10)).text
    replies = [await telegram.next_message(DARA, timeout=10) for _ in commands]
    kinds = [
        "help" if "How I can help" in r.text else "faq" if "Choose a topic" in r.text else "lang"
        for r in replies
    ]
    assert kinds == ["help", "faq", "lang", "help", "faq"]
    assert rejected_except_not_modified(telegram) == []


async def test_send_one_reports_each_outcome_to_the_outbox_sender(
    app: App, webhook_bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    telegram.add_chats([DARA, SOKHA])
    sent = await webhook_bot.send_one(DARA, SendText("<b>Reminder</b>: your test is tomorrow"))
    [message] = telegram.messages(DARA)
    assert (sent.outcome, sent.message_id) == (Outcome.SENT, message.message_id)
    assert message.text == "Reminder: your test is tomorrow"  # sent as HTML

    ticket = SendFile("ticket.png", b"\x89PNG fake", caption="<i>ticket</i>", photo=True)
    assert (await webhook_bot.send_one(DARA, ticket)).outcome is Outcome.SENT
    photo = telegram.messages(DARA)[-1]
    assert (photo.kind, photo.text, telegram.upload(photo)) == ("photo", "ticket", b"\x89PNG fake")

    edit = EditText(message.message_id, "Reminder: <b>moved</b>")
    assert (await webhook_bot.send_one(DARA, edit)).outcome is Outcome.SENT
    assert telegram.messages(DARA)[0].text == "Reminder: moved"

    telegram.force_retry_after(3)
    flood = await webhook_bot.send_one(DARA, SendText("again"))
    assert (flood.outcome, flood.retry_after) == (Outcome.RETRY_AFTER, 3.0)
    telegram.fail_next(502)
    assert (await webhook_bot.send_one(DARA, SendText("again"))).outcome is Outcome.TRANSIENT
    assert (await webhook_bot.send_one(DARA, SendText("<b>broken"))).outcome is Outcome.REFUSED
    assert (await webhook_bot.send_one(999_999, SendText("hi"))).outcome is Outcome.CHAT_GONE
    telegram.block(SOKHA)
    assert (await webhook_bot.send_one(SOKHA, SendText("hi"))).outcome is Outcome.BLOCKED
    assert len(telegram.messages(DARA)) == 2


async def test_a_poll_cancelled_at_any_point_leaves_the_poller_a_connection(
    webhook_bot: TelegramChannel,
) -> None:
    """Stopping cancels the long poll, then PTB asks getUpdates once more to confirm the
    last update. httpcore 1.0.9 keeps the slot of a request cancelled while it connects
    (encode/httpcore#1093): with one connection, that last call waited forever."""
    api = webhook_bot.api
    assert isinstance(api, PtbApi)
    for yields in range(12):  # every point at which the poll can be cancelled
        poll = asyncio.create_task(api.bot.get_updates(timeout=0))
        for _ in range(yields):
            await asyncio.sleep(0)
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll
        assert await asyncio.wait_for(api.bot.get_updates(timeout=0), 5) == ()


async def test_send_one_to_an_unreachable_server_is_transient(
    app: App, telegram: FakeTelegram
) -> None:
    channel = channel_on_fake("ptb", app, telegram, "http://127.0.0.1:9")  # nothing listens
    try:
        delivery = await channel.send_one(DARA, SendText("hi"))
    finally:
        await channel.close()
    assert delivery.outcome is Outcome.TRANSIENT


async def test_a_reply_retries_through_network_errors(
    app: App, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    channel = channel_on_fake("ptb", app, telegram, "http://127.0.0.1:9")
    try:
        with caplog.at_level(logging.WARNING):
            await channel.feed(posted_message(7001, DARA, "/help"))
    finally:
        await channel.close()
    failures = [r for r in caplog.records if "Telegram call failed" in r.getMessage()]
    assert len(failures) == 5  # MAX_ATTEMPTS, with backoff, then given up without a traceback
    assert "abandoned" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_button_under_an_inline_mode_message_is_just_answered(
    webhook_bot: TelegramChannel, telegram: FakeTelegram
) -> None:
    before = len(telegram.requests)
    await webhook_bot.feed(
        {
            "update_id": 7001,
            "callback_query": {
                "id": "inline-1",
                "from": {"id": DARA, "is_bot": False, "first_name": "Dara"},
                "chat_instance": "1",
                "inline_message_id": "AAA",
                "data": "faq:home",
            },
        }
    )
    [answer] = telegram.requests[before:]  # the fake refuses the made-up query id: fine
    assert (answer.method, answer.params["callback_query_id"]) == (
        "answerCallbackQuery",
        "inline-1",
    )
