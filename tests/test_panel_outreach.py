"""The web panel's broadcasts and questions, against the real `applicant-bot panel` process:
a broadcast in three languages queued for the right people, counted per language, stopped;
questions answered through the outbox, attached to an FAQ entry, set aside."""

from sqlmodel import col, select

from bot.app import App
from models.applicants import Applicant
from models.broadcasts import Broadcast
from models.outbox import OutboxMessage
from models.questions import TaughtPhrasing, UnansweredQuestion
from tests.support.panel import ADMIN, OPERATOR, as_staff


async def people(app: App, *locales: str) -> None:
    async with app.conversation.sessions() as db, db.begin():
        for n, locale in enumerate(locales):
            db.add(Applicant(telegram_id=70_000 + n, chat_id=70_000 + n, locale=locale))


async def test_a_broadcast_in_three_languages_goes_to_each_in_their_language(
    office: tuple[App, str],
) -> None:
    app, _ = office
    await people(app, "km", "km", "en", "ja")
    browser = await as_staff(office, ADMIN)
    await browser.get("/broadcasts")
    counts = (await browser.get("/broadcasts/audience?audience=all"))[1]
    assert 'data-locale="km">3<' in counts  # with the admin, whose language is the default
    assert 'data-locale="en">1<' in counts
    assert 'id="recipient-total">5<' in counts
    texts = {"text_km": "<b>សួស្ដី</b>", "text_en": "<b>Hello</b> & welcome", "text_ja": "こんにちは"}
    shown = (await browser.post("/broadcasts/preview", texts))[1]
    assert "<b>Hello</b> &amp; welcome" in shown
    broken = (await browser.post("/broadcasts/preview", {"text_en": "<blink>x</blink>"}))[1]
    assert "Telegram would refuse this formatting" in broken
    status, _, location = await browser.post(
        "/broadcasts", {**texts, "audience": "all", "when": "now"}
    )
    assert (status, location) == (303, "/broadcasts")
    assert "Broadcast queued for 5 people." in (await browser.get("/broadcasts"))[1]
    async with app.conversation.sessions() as db:
        rows = (
            await db.exec(select(OutboxMessage).where(col(OutboxMessage.broadcast_id) == 1))
        ).all()
    by_chat = {row.chat_id: row.content[0]["text"] for row in rows}
    assert by_chat == {
        ADMIN: "<b>សួស្ដី</b>",
        70_000: "<b>សួស្ដី</b>",
        70_001: "<b>សួស្ដី</b>",
        70_002: "<b>Hello</b> & welcome",
        70_003: "こんにちは",
    }
    progress = (await browser.get("/broadcasts/1/progress"))[1]
    assert "Sent: 0/5" in progress
    assert 'hx-trigger="every 2s"' in progress  # the page keeps asking while it sends
    await browser.post("/broadcasts/1/stop")
    assert "Stopped: 5 messages will not be sent." in (await browser.get("/broadcasts"))[1]
    progress = (await browser.get("/broadcasts/1/progress"))[1]
    assert "Stopped." in progress
    assert "every 2s" not in progress
    async with app.conversation.sessions() as db:
        broadcast = await db.get(Broadcast, 1)
        assert broadcast is not None
        assert broadcast.status == "stopped"
    await browser.close()


async def test_questions_are_answered_attached_and_set_aside(office: tuple[App, str]) -> None:
    app, _ = office
    await people(app, "en")
    async with app.conversation.sessions() as db, db.begin():
        asker = (await db.exec(select(Applicant))).one()
        for text in ("Where do I pay the fee?", "where do i pay the fee"):
            db.add(UnansweredQuestion(applicant_id=asker.id, locale="en", text=text,
                                      normalized="where do i pay the fee"))  # fmt: skip
        db.add(UnansweredQuestion(locale="en", text="hi bot", normalized="hi bot"))
        db.add(UnansweredQuestion(applicant_id=asker.id, locale="en", text="Is it raining?",
                                  normalized="is it raining"))  # fmt: skip
    browser = await as_staff(office, OPERATOR)
    page = (await browser.get("/questions"))[1]
    assert "Asked 2 time(s)" in page
    await browser.post("/questions/4/answer", {"answer": "No, <sunny>."})
    assert "The answer is on its way." in (await browser.get("/questions"))[1]
    await browser.post("/questions/2/attach", {"entry": "titp-what"})
    page = (await browser.get("/questions"))[1]
    assert "Attached: the bot now answers this question with that entry." in page
    assert "where do i pay the fee" not in page
    await browser.post("/questions/3/mark", {"kind": "smalltalk"})
    assert "hi bot" not in (await browser.get("/questions"))[1]
    async with app.conversation.sessions() as db:
        taught = (await db.exec(select(TaughtPhrasing))).all()
        answers = (
            await db.exec(
                select(OutboxMessage).where(col(OutboxMessage.dedupe_key).startswith("answer:4:"))
            )
        ).all()
    assert [(p.entry_key, p.text) for p in taught] == [("titp-what", "where do i pay the fee")]
    assert len(answers) == 1
    assert "No, &lt;sunny&gt;." in answers[0].content[0]["text"]
    faq = (await browser.get("/faq"))[1]
    assert "where do i pay the fee" in faq.split('id="entry-titp-what"')[1].split("</details>")[0]
    await browser.close()


async def test_a_taught_phrasing_taken_back_is_forgotten_by_every_process(
    office: tuple[App, str],
) -> None:
    app, _ = office
    lessons = app.conversation.services.lessons
    faq = app.conversation.services.faq
    assert lessons is not None
    question = "how many bananas does a manager eat"
    assert faq.understand(question).entry_id != "titp-what"
    async with app.conversation.sessions() as db, db.begin():
        db.add(UnansweredQuestion(locale="en", text=question, normalized=question))
    browser = await as_staff(office, OPERATOR)
    await browser.get("/questions")
    await browser.post("/questions/1/attach", {"entry": "titp-what"})
    async with app.conversation.sessions() as db:
        await lessons.catch_up(db, force=True)  # this process learns it from the database
    assert faq.understand(question).entry_id == "titp-what"
    page = (await browser.get("/faq"))[1]
    assert "/faq/phrasings/1/remove" in page
    await browser.post("/faq/phrasings/1/remove")
    page = (await browser.get("/faq"))[1]
    assert "Removed." in page
    assert question not in page
    async with app.conversation.sessions() as db:
        await lessons.catch_up(db, force=True)
    assert faq.understand(question).entry_id != "titp-what"
    await browser.close()
