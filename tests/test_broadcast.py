"""Broadcasts: the wizard, one message per person in their language, progress, stop, time."""

from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from handlers.staff.broadcast import progress_report, report_progress
from models import Broadcast, OutboxMessage
from tests.support.app import start_app
from tests.support.clock import Clock, local
from tests.support.core import Applicant, deliver_outbox

OWNER = 900


@pytest.fixture
def clock() -> Clock:
    return Clock(local(2027, 10, 1, 10).astimezone(UTC))  # daytime in Phnom Penh


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[App]:
    app = await start_app(request, tmp_path, request.param, now=clock, admin_ids=[OWNER])
    yield app
    await app.close()


async def people(app: App, count: int) -> list[Applicant]:
    """Applicants who chose a language: a third each in Khmer, English and Japanese."""
    crowd = []
    for number in range(count):
        person = Applicant(app.conversation, user_id=1000 + number, language="en")
        await person.send("/language")
        await person.press_data(f"lang:set:{['km', 'en', 'ja'][number % 3]}")
        crowd.append(person)
    return crowd


async def write_per_language(admin: Applicant) -> None:
    await admin.send("/broadcast")
    await admin.press("One text per language")
    await admin.send("សេចក្តីជូនដំណឹង: ការប្រឡងនៅថ្ងៃទី ១៧")
    await admin.send("Notice: the test is on the 17th")
    await admin.send("お知らせ：試験は17日です")


async def test_a_broadcast_reaches_everyone_once_in_their_language(app: App, clock: Clock) -> None:
    crowd = await people(app, 30)
    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    await write_per_language(admin)
    await admin.press("Everyone")
    # Everyone who has written to the bot, the admin included.
    assert "This goes to <b>31</b>" in admin.screens[max(admin.screens)].html
    await admin.press("Send now")
    await admin.press("Confirm and send")
    assert "queued for 31 people" in admin.last.text
    await admin.press_data("bc:confirm")  # pressed twice
    assert admin.notices[-1] == "This button is out of date. Send /start to see the menu."

    assert await deliver_outbox(app.conversation, admin, *crowd) == 32  # and the progress post
    for number, person in enumerate(crowd):
        expected = ["ការប្រឡង", "Notice", "お知らせ"][number % 3]
        assert expected in person.last.text
        assert sum(expected in s.text for s in person.screens.values()) == 1
    [progress] = [s for s in admin.screens.values() if "Sent: " in s.text]
    async with app.conversation.sessions() as db, db.begin():
        assert await report_progress(db, app.conversation.services, clock.now) == 1
    await deliver_outbox(app.conversation, admin, *crowd)
    assert "Sent: 31/31" in admin.screens[progress.message_id].text
    assert "100%" in admin.screens[progress.message_id].text
    async with app.conversation.sessions() as db:
        [broadcast] = (await db.exec(select(Broadcast))).all()
    assert broadcast.status == "done"


@pytest.mark.parametrize(
    ("counts", "bar", "percent"),
    [
        ({"pending": 2001}, "░" * 20, "0%"),
        ({"sent": 1000, "pending": 1001}, "▓" * 9 + "░" * 11, "49%"),
        ({"sent": 1991, "failed": 0, "pending": 10}, "▓" * 19 + "░", "99%"),  # not yet 100%
        ({"sent": 1990, "skipped": 10, "failed": 1}, "▓" * 20, "100%"),
    ],
)
def test_the_progress_bar_says_100_only_when_nothing_is_left(
    app: App, counts: dict[str, int], bar: str, percent: str
) -> None:
    broadcast = Broadcast(id=1, total=2001, status="sending")
    report = progress_report(app.conversation.services.texts("en"), broadcast, counts, 30.0)
    assert f"{bar} {percent}" in report.text
    sent = counts.get("sent", 0)
    assert f"Sent: {sent}/2001" in report.text
    assert ("Finished" in report.text) is (percent == "100%")
    assert (report.inline is None) is (percent == "100%")  # Stop, while anything is left


async def test_stopping_a_broadcast_cancels_what_is_not_sent(app: App, clock: Clock) -> None:
    crowd = await people(app, 12)
    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    await admin.send("/broadcast")
    await admin.send("One <b>text</b> for all")
    await admin.press("Everyone")
    await admin.press("Send now")
    await admin.press("Confirm and send")
    await admin.press_data("bc:stop:1")  # the Stop button under the progress message
    assert admin.notices[-1] == "Stopped: 13 messages will not be sent."
    assert "Stopped" in admin.last.text
    await deliver_outbox(app.conversation, admin, *crowd)
    assert not any("for all" in s.text for person in crowd for s in person.screens.values())


async def test_a_scheduled_broadcast_fires_at_its_time(app: App, clock: Clock) -> None:
    crowd = await people(app, 3)
    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    await admin.send("/broadcast")
    await admin.send("Registration opens tomorrow")
    await admin.press("Everyone")
    await admin.press("At a time")
    await admin.send("yesterday at noon")
    assert "Please write the time as" in admin.last.text
    await admin.send("2027-09-30 08:00")
    assert "has passed" in admin.last.text
    await admin.send("2027-10-02 08:00")
    await admin.press("Confirm and send")
    assert await deliver_outbox(app.conversation, admin, *crowd) == 1  # the progress post
    admin_too = 1
    clock.now = local(2027, 10, 2, 7, 59).astimezone(UTC)
    assert await deliver_outbox(app.conversation, *crowd) == 0
    clock.now = local(2027, 10, 2, 8, 0).astimezone(UTC)
    assert await deliver_outbox(app.conversation, admin, *crowd) == 3 + admin_too
    assert all("Registration opens tomorrow" in person.last.text for person in crowd)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("x" * 4097, "Telegram allows 4096"), ("<b>bold", "would refuse this formatting"),
     ("<script>x</script>", "would refuse this formatting")],
)  # fmt: skip
async def test_a_text_telegram_would_refuse_is_refused_at_once(
    app: App, text: str, reason: str
) -> None:
    from handlers.core.events import Incoming, Kind

    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    await admin.send("/broadcast")
    event = Incoming(user_id=OWNER, chat_id=OWNER, kind=Kind.TEXT, text=text, html=text,
                     language_hint="en",
                     update_id=99)  # fmt: skip
    [reply] = await app.conversation.handle(event)
    assert reason in reply.text  # type: ignore[union-attr]
    async with app.conversation.sessions() as db:
        assert (await db.exec(select(OutboxMessage))).all() == []


async def test_only_admins_broadcast(app: App) -> None:
    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    operator = Applicant(app.conversation, user_id=300, language="en")
    applicant = Applicant(app.conversation, user_id=301, language="en")
    await admin.send("/staff add 300 operator")
    await operator.send("/broadcast")
    assert "Only admins" in operator.last.text
    await applicant.send("/broadcast")
    assert "I don't know the command" in applicant.last.text
    await applicant.press_data("bc:stop:1")
    assert applicant.notices[-1] == "This button is out of date. Send /start to see the menu."


async def test_a_staff_member_removed_mid_wizard_is_taken_out_of_it(app: App) -> None:
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    admin = Applicant(app.conversation, user_id=302, language="en")
    crowd = await people(app, 2)
    await owner.send("/staff add 302 admin")
    await admin.send("/broadcast")
    assert "New broadcast" in admin.last.text
    await owner.send("/staff remove 302")
    await admin.send("how much is the exam fee")  # no longer a broadcast: an FAQ question
    assert "fee" in admin.last.text.lower()
    assert "New broadcast" not in admin.last.text
    await admin.send("Notice: the test is on the 17th")
    assert "Send now" not in " ".join(admin.last.labels)
    assert await deliver_outbox(app.conversation, owner, *crowd) == 0


async def test_a_language_can_be_skipped_and_its_readers_get_the_default_text(
    app: App,
) -> None:
    crowd = await people(app, 6)
    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    await admin.send("/broadcast")
    await admin.press("One text per language")
    assert "Skip" not in " ".join(admin.last.labels)  # the default language (Khmer) is needed
    await admin.send("សេចក្តីជូនដំណឹង: ការប្រឡងនៅថ្ងៃទី ១៧")
    await admin.press("Skip: English readers get the ភាសាខ្មែរ text")
    await admin.send("お知らせ：試験は17日です")
    await admin.press("Everyone")
    shown = [message.text for message in admin.replies]
    assert "English: skipped; its readers get the ភាសាខ្មែរ text above." in shown
    # Per language, with the right plural: the admin chose no language, so reads Khmer.
    assert "to 7 people (ភាសាខ្មែរ: 3 people · English: 2 people · 日本語: 2 people)" in (
        admin.last.text
    )
    await admin.press("Send now")
    await admin.press("Confirm and send")
    await deliver_outbox(app.conversation, admin, *crowd)
    for number, person in enumerate(crowd):
        expected = ["ការប្រឡង", "ការប្រឡង", "お知らせ"][number % 3]
        assert expected in person.last.text


async def test_cancel_in_the_broadcast_wizard_says_nothing_was_sent(app: App) -> None:
    crowd = await people(app, 3)
    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    await admin.send("/broadcast")
    await admin.send("Notice: the test is on the 17th")
    await admin.send("/cancel")
    assert admin.last.text == "The broadcast was cancelled. Nothing was sent."
    assert await deliver_outbox(app.conversation, admin, *crowd) == 0


async def test_a_broadcast_in_quiet_hours_says_when_it_goes_or_is_sent_as_urgent(
    app: App, clock: Clock
) -> None:
    crowd = await people(app, 3)
    admin = Applicant(app.conversation, user_id=OWNER, language="en")
    clock.now = local(2027, 10, 1, 22, 30).astimezone(UTC)
    for urgent in (False, True):
        await admin.send("/broadcast")
        await admin.send("Urgent: the venue has changed" if urgent else "Good news")
        await admin.press("Everyone")
        await admin.press("Send now")
        assert "quiet hours (21:00–07:00), so it will go out at October 2, 2027, 07:00" in (
            admin.last.text
        )
        await admin.press("Send now anyway (urgent)" if urgent else "Send at 07:00")
    await deliver_outbox(app.conversation, admin, *crowd)
    for person in crowd:
        assert "the venue has changed" in person.last.text  # at once, in the night
        assert not any("Good news" in s.text for s in person.screens.values())
    clock.now = local(2027, 10, 2, 7, 1).astimezone(UTC)
    await deliver_outbox(app.conversation, admin, *crowd)
    for person in crowd:
        assert "Good news" in person.last.text  # in the morning
