"""Staff teach the bot: an unanswered question attached to an FAQ entry is answered at once,
on every instance; small talk and off-topic questions leave the lists; all of it audited."""

import shutil
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App, build_app
from bot.i18n import LOCALES_DIR
from handlers.faq.book import check_faq
from handlers.faq.teaching_buttons import choices
from handlers.staff.statistics import statistics_text
from models import AuditEntry, TaughtPhrasing, UnansweredQuestion
from models.statistics import gather_statistics
from tests.support.app import settings_for_test, start_app
from tests.support.core import Applicant, CoreGroup, deliver_outbox

OWNER, OPERATOR, STAFF_GROUP = 900, 901, -100123
ABOUT_A_BOSS = "my boss in japan is shouting at me"  # the FAQ has no phrasing like it
COMPLAINTS = "How do I complain about an agency?"  # the entry staff attach it to
STALE = "This button is out of date. Send /start to see the menu."


@pytest.fixture(params=["sqlite", "postgresql"])
async def instances(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[App]]:
    """Two instances of the bot, each with its own engine and FAQ book, on one database."""
    options = {"admin_ids": [OWNER], "staff_chat_id": STAFF_GROUP}
    first = await start_app(request, tmp_path, request.param, **options)
    second = build_app(
        settings_for_test(tmp_path, database_url=first.settings.database_url, **options)
    )
    await second.prepare_database()
    yield [first, second]
    await first.close()
    await second.close()


async def audit_actions(app: App) -> list[tuple[str, str, str | None]]:
    async with app.conversation.sessions() as db:
        entries = (await db.exec(select(AuditEntry))).all()
    return [(e.actor, e.action, e.target) for e in entries]


async def test_questions_asked_nearly_alike_are_listed_and_settled_as_one(
    instances: list[App],
) -> None:
    app, _ = instances
    people = [Applicant(app.conversation, user_id=i, language="en") for i in (1, 2, 3)]
    await people[0].send(ABOUT_A_BOSS)
    await people[1].send("my bos in japan shouting at me")  # a typo, a word left out
    await people[2].send("my boss in japan plays loud music at night")  # another question
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    await owner.send("/unanswered")
    assert "×2" in owner.last.text
    assert "plays loud music at night" in owner.last.text  # listed on its own
    await owner.press("#2")  # the group, shown by its latest wording
    await owner.press("Attach to an FAQ entry")
    await owner.press("Contact the office")
    await owner.press(COMPLAINTS)
    await owner.press("✅ Attach")
    async with app.conversation.sessions() as db:
        rows = (await db.exec(select(UnansweredQuestion))).all()
    assert sorted((q.applicant_id is not None, q.resolution is None) for q in rows) == [
        (True, False),
        (True, False),
        (True, True),
    ]


async def test_an_attached_question_is_answered_at_once_on_every_instance(
    instances: list[App],
) -> None:
    first, second = instances
    dara = Applicant(first.conversation, user_id=1, language="en")
    sophea = Applicant(second.conversation, user_id=2, language="en")
    owner = Applicant(first.conversation, user_id=OWNER, language="en")
    await dara.send(ABOUT_A_BOSS)
    await sophea.send("My boss in Japan is shouting at me!")  # the same, typed differently
    # Not answered: at most "did you mean", and the question is kept for the office.
    assert not dara.replies[0].text.startswith(COMPLAINTS)
    assert not sophea.replies[0].text.startswith(COMPLAINTS)

    await owner.send("/unanswered")
    assert "×2" in owner.last.text
    assert ABOUT_A_BOSS.lower() in owner.last.text.lower()
    await owner.press("#2")  # the latest wording of the two
    assert "asked 2 time(s)" in owner.last.text
    await owner.press("Attach to an FAQ entry")
    await owner.press("Contact the office")
    await owner.press(COMPLAINTS)
    assert COMPLAINTS in owner.last.text
    await owner.press("✅ Attach")
    assert owner.notices[-1] == "Attached. The bot answers this question from now on."
    assert "Attached to “How do I complain about an agency?”" in owner.last.text

    # The same question, on this instance and on the other, now gets the entry's answer.
    await dara.send(ABOUT_A_BOSS)
    assert COMPLAINTS in dara.last.text
    second.conversation.services.lessons.every = 0  # its next look, without waiting 3 s
    await sophea.send(ABOUT_A_BOSS)
    assert COMPLAINTS in sophea.last.text

    # It left the list, and the audit trail has it.
    await owner.send("/unanswered")
    assert "No unanswered questions are waiting." in owner.last.text
    assert (f"telegram:{OWNER}", "attach_question", "question:2") in await audit_actions(first)
    async with first.conversation.sessions() as db:
        [taught] = (await db.exec(select(TaughtPhrasing))).all()
    assert (taught.entry_key, taught.locale, taught.question_id) == ("complaints", "en", 2)
    assert taught.taught_by == f"telegram:{OWNER}"

    # A restarted instance knows it from the start.
    third = build_app(settings_for_test(Path("/nonexistent"), **_same_database(first)))
    await third.prepare_database()
    try:
        kiri = Applicant(third.conversation, user_id=3, language="en")
        await kiri.send(ABOUT_A_BOSS)
        assert kiri.replies[0].text.startswith(COMPLAINTS)
    finally:
        await third.close()


def _same_database(app: App) -> dict[str, object]:
    return {"database_url": app.settings.database_url}


async def test_small_talk_and_off_topic_leave_the_lists(instances: list[App]) -> None:
    app = instances[0]
    dara = Applicant(app.conversation, user_id=1, language="en")
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    await dara.send("lol you are funny")
    await dara.send("is there wifi in the dormitory")
    await dara.send(ABOUT_A_BOSS)

    await owner.send("/unanswered")
    await owner.press("#1")
    await owner.press("Small talk")
    assert owner.notices[-1] == "Marked. The question leaves the list."
    assert "Marked as small talk by 900" in owner.last.text
    await owner.press("Back to the list")
    assert "lol you are funny" not in owner.last.text
    await owner.press("#2")
    await owner.press("Off-topic")
    await owner.press("Back to the list")
    assert "wifi" not in owner.last.text
    assert ABOUT_A_BOSS in owner.last.text

    async with app.conversation.sessions() as db:
        services = app.conversation.services
        stats = await gather_statistics(db, services.now(), services.zone, ("km", "en", "ja"))
    listed = statistics_text(services.texts("en"), stats)
    assert ABOUT_A_BOSS in listed
    assert "lol you are funny" not in listed
    assert "wifi" not in listed
    actions = await audit_actions(app)
    assert (f"telegram:{OWNER}", "set_aside_question", "question:1") in actions
    assert (f"telegram:{OWNER}", "set_aside_question", "question:2") in actions


async def test_bad_input_changes_nothing(instances: list[App]) -> None:
    app = instances[0]
    dara = Applicant(app.conversation, user_id=1, language="en")
    owner = Applicant(app.conversation, user_id=OWNER, language="en")
    await dara.send(ABOUT_A_BOSS)

    # Not staff: the command and the buttons do not exist for them.
    await dara.send("/unanswered")
    assert "I don't know the command /unanswered" in dara.last.text
    await dara.press_data("teach:ok:1:complaints")
    assert dara.notices[-1] == STALE

    await owner.send("/start")
    await owner.press_data("teach:ok:999:complaints")  # no such question
    assert owner.notices[-1] == STALE
    await owner.press_data("teach:ok:1:no-such-entry")
    assert owner.notices[-1] == STALE
    await owner.press_data("teach:aside:1:weather")  # not a kind of setting aside
    assert owner.notices[-1] == STALE
    async with app.conversation.sessions() as db:
        [question] = (await db.exec(select(UnansweredQuestion))).all()
        assert (await db.exec(select(TaughtPhrasing))).all() == []
    assert question.resolution is None

    await owner.press_data("teach:ok:1:complaints")
    await owner.press_data("teach:ok:1:results")  # attached already
    assert owner.notices[-1] == "This question was settled already."
    await owner.press_data("teach:aside:1:smalltalk")
    assert owner.notices[-1] == "This question was settled already."
    async with app.conversation.sessions() as db:
        [taught] = (await db.exec(select(TaughtPhrasing))).all()
        [question] = (await db.exec(select(UnansweredQuestion))).all()
    assert taught.entry_key == "complaints"
    assert question.resolution == "attached"
    actions = [action for _, action, _ in await audit_actions(app)]
    assert actions.count("attach_question") == 1
    assert "set_aside_question" not in actions
    assert ("telegram:1", "refused", "teach") in await audit_actions(app)


async def test_staff_teach_the_bot_from_the_post_in_the_staff_group(
    instances: list[App],
) -> None:
    app = instances[0]
    dara = Applicant(app.conversation, user_id=1, language="en")
    group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
    await dara.send(ABOUT_A_BOSS)
    await dara.press("Send my question to the office")
    assert await deliver_outbox(app.conversation, dara, group) == 1
    [first_post] = group.posts
    post_id, post = first_post.message_id, first_post.text
    # The staff group reads STAFF_LOCALE, English unless set: not the applicants' Khmer.
    staff = app.conversation.services.texts("en")
    assert group.screens[post_id].labels == [b.label for row in choices(staff, 1) for b in row]

    outsider = 555  # in the group, but not staff
    await group.press_as(outsider, post_id, "📎")
    assert group.notices[-1] == app.conversation.services.texts("km")(  # the presser's own
        "Only the test office staff can use these buttons."
    )
    assert group.screens[post_id].text == post

    await group.press_as(OWNER, post_id, "📎")
    assert ABOUT_A_BOSS in group.screens[post_id].text  # the post still says what was asked
    contact = app.conversation.services.faq.category("contact")
    assert contact is not None
    await group.press_as(OWNER, post_id, contact.title["en"])
    complaints = app.conversation.services.faq.entries["complaints"].question["en"]
    await group.press_as(OWNER, post_id, complaints[:20])
    await group.press_as(OWNER, post_id, "✅")
    assert group.screens[post_id].text.startswith(post)
    assert "📎" in group.screens[post_id].text.removeprefix(post)
    assert str(OWNER) in group.screens[post_id].text.removeprefix(post)
    assert group.screens[post_id].labels == []

    # Answered afterwards by a reply: the post keeps saying it was attached.
    await group.reply(OWNER, post_id, "Please call the ministry's hotline.")
    await deliver_outbox(app.conversation, dara, group)
    assert "✅" in group.screens[post_id].text
    assert "📎" in group.screens[post_id].text
    await dara.send(ABOUT_A_BOSS)
    assert "How do I complain about an agency?" in dara.last.text
    assert (f"telegram:{OWNER}", "attach_question", "question:1") in await audit_actions(app)
    assert ("telegram:555", "refused", "teach") in await audit_actions(app)


async def test_a_reply_keeps_the_teaching_buttons_on_an_open_question(
    instances: list[App],
) -> None:
    app = instances[0]
    dara = Applicant(app.conversation, user_id=1, language="en")
    group = CoreGroup(app.conversation, chat_id=STAFF_GROUP)
    await dara.send(ABOUT_A_BOSS)
    await dara.press("Send my question to the office")
    await deliver_outbox(app.conversation, dara, group)
    [post_id] = [p.message_id for p in group.posts]
    labels = group.screens[post_id].labels
    await group.reply(OWNER, post_id, "Please call the ministry's hotline.")
    await deliver_outbox(app.conversation, dara, group)
    assert "✅" in group.screens[post_id].text
    assert group.screens[post_id].labels == labels
    await group.press_as(OWNER, post_id, "💬")
    assert "✅" in group.screens[post_id].text  # the answered line stays
    assert group.screens[post_id].labels == []


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`applicant-bot ARGS` on this test's SQLite database."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_line_teaches_the_bot_and_exports_to_the_faq_files(
    tmp_path: Path,
) -> None:
    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    try:
        dara = Applicant(app.conversation, user_id=1, language="en")
        await dara.send(ABOUT_A_BOSS)
        await dara.send(ABOUT_A_BOSS)
        await dara.send("lol you are funny")
    finally:
        await app.close()

    listed = cli(tmp_path, "faq", "unanswered")
    assert listed.returncode == 0, listed.stderr
    assert ABOUT_A_BOSS in listed.stdout
    assert "lol you are funny" in listed.stdout

    # Bad input: a clear line, exit status 1, nothing changed.
    for args, said in (
        (("attach", "99", "complaints"), "No unanswered question 99"),
        (("attach", "2", "no-such-entry"), "No FAQ entry 'no-such-entry'"),
        (("mark", "3", "weather"), "KIND: smalltalk or offtopic"),
    ):
        refused = cli(tmp_path, "faq", *args)
        assert refused.returncode != 0
        assert said in refused.stderr

    attached = cli(tmp_path, "faq", "attach", "2", "complaints")
    assert attached.returncode == 0, attached.stderr
    assert "attached to complaints" in attached.stdout
    assert "2 question(s) settled" in attached.stdout
    again = cli(tmp_path, "faq", "attach", "1", "results")
    assert again.returncode == 1
    assert "settled already (attached to complaints)" in again.stderr
    marked = cli(tmp_path, "faq", "mark", "3", "smalltalk")
    assert marked.returncode == 0, marked.stderr
    listed = cli(tmp_path, "faq", "unanswered")
    assert ABOUT_A_BOSS not in listed.stdout
    assert "No unanswered questions are waiting." in listed.stdout

    # A running bot (started after) answers it; the audit trail names the terminal's user.
    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    try:
        await Applicant(app.conversation, user_id=2, language="en").send(ABOUT_A_BOSS)
        actions = await audit_actions(app)
    finally:
        await app.close()
    assert [a for _, a, t in actions if t == "question:2"] == ["attach_question"]
    assert [a for _, a, t in actions if t == "question:3"] == ["set_aside_question"]
    assert all(actor.startswith("cli:") for actor, _, _ in actions)

    # `faq check` counts it; the export writes it into the TOML, and the check stays clean.
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, locales)
    checked = cli(tmp_path, "faq", "check", "--locales", str(locales))
    assert checked.returncode == 0, checked.stdout
    assert "complaints" in checked.stdout
    assert "1 taught phrasing(s) in the database." in checked.stdout
    contact = (locales / "en" / "faq" / "contact.toml").read_text("utf-8")
    exported = cli(tmp_path, "faq", "export-phrasings", "--locales", str(locales))
    assert exported.returncode == 0, exported.stderr
    assert "en/faq/contact.toml [complaints]" in exported.stdout
    assert "1 phrasing(s) written." in exported.stdout
    written = (locales / "en" / "faq" / "contact.toml").read_text("utf-8")
    assert written.count("\n") == contact.count("\n") + 1  # one line more, the rest as it was
    assert tomllib.loads(written)["entries"]["complaints"]["phrasings"][-1] == ABOUT_A_BOSS
    assert written.replace(f'  "{ABOUT_A_BOSS}",\n', "") == contact
    assert check_faq(locales) == []
    checked = cli(tmp_path, "faq", "check", "--locales", str(locales))
    assert checked.returncode == 0, checked.stdout
    again = cli(tmp_path, "faq", "export-phrasings", "--locales", str(locales))
    assert "0 phrasing(s) written." in again.stdout


async def test_faq_check_reports_a_taught_phrasing_of_an_entry_that_left(tmp_path: Path) -> None:
    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    try:
        async with app.conversation.sessions() as db, db.begin():
            db.add(TaughtPhrasing(entry_key="gone", locale="en", text="x y", taught_by="cli:a"))
    finally:
        await app.close()
    checked = cli(tmp_path, "faq", "check")
    assert checked.returncode == 1
    assert "unknown entry 'gone'" in checked.stdout
