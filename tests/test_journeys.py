"""The journeys of the foundation, through the core with the neutral driver."""

import pytest
from sqlmodel import select

from bot.app import App
from models import Applicant as ApplicantRow
from models import FaqFeedback, UnansweredQuestion
from tests.support.core import Applicant


@pytest.fixture
def app(app_on_each_engine: App) -> App:
    """Every journey runs on SQLite and on PostgreSQL."""
    return app_on_each_engine


async def rows(app: App, model: type) -> list:
    async with app.conversation.sessions() as db:
        return list((await db.exec(select(model))).all())


async def test_first_start_asks_for_a_language_in_the_guessed_one(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="ja")
    await dara.send("/start")
    assert "ようこそ" in dara.last.text
    assert dara.last.labels == ["ភាសាខ្មែរ", "English", "日本語"]


async def test_unknown_telegram_language_is_greeted_in_khmer(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="ru")
    await dara.send("/start")
    assert "សូមស្វាគមន៍" in dara.last.text


async def test_chosen_language_is_remembered_over_telegrams(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await dara.send("/start")
    await dara.press("ភាសាខ្មែរ")
    assert "ម៉ឺនុយមេ" in dara.last.text
    assert dara.notices == ["ភាសា៖ ខ្មែរ"]
    await dara.send("/help")
    assert "ពាក្យបញ្ជា" in dara.last.text
    await dara.send("/start")
    assert "ម៉ឺនុយមេ" in dara.last.text  # no second language question


async def test_language_command_switches_and_menu_follows(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="km")
    await dara.send("/language")
    await dara.press("日本語")
    assert "メインメニュー" in dara.last.text
    [row] = await rows(app, ApplicantRow)
    assert row.locale == "ja"


async def test_deep_link_source_is_recorded_once(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1)
    await dara.send("/start poster_school_kampot")
    await dara.send("/start agency-42")
    [row] = await rows(app, ApplicantRow)
    assert row.source == "poster_school_kampot"


async def test_malformed_deep_link_is_ignored(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1)
    await dara.send("/start <script>alert(1)</script>")
    [row] = await rows(app, ApplicantRow)
    assert row.source is None
    assert "Welcome" in dara.last.text


async def test_browsing_the_faq_edits_one_message_in_place(app: App, applicant: Applicant) -> None:
    await applicant.send("/faq")
    first = applicant.last
    assert "Choose a topic" in first.text
    assert len(first.labels) == len(app.conversation.services.faq.categories) + 1
    await applicant.press(app.conversation.services.faq.categories[1].title["en"])
    assert applicant.last.message_id == first.message_id
    assert "Choose a question" in applicant.last.text
    question = applicant.last.labels[0]
    await applicant.press(question)
    assert applicant.last.message_id == first.message_id
    assert applicant.last.text.startswith(question)
    assert "👍 Helpful" in applicant.last.labels
    await applicant.press("More on this topic")
    assert "Choose a question" in applicant.last.text
    await applicant.press("All topics")
    assert "Choose a topic" in applicant.last.text
    topics = applicant.last
    await applicant.press("Main menu")
    assert "What would you like to do" in applicant.last.text
    # The menu comes as a new message; the screen it was asked from stays as it was.
    assert applicant.last.message_id != topics.message_id
    assert applicant.screens[topics.message_id].text == topics.text
    assert len(applicant.screens) == 2


async def test_the_menu_under_an_answer_leaves_the_answer_readable(
    app: App, applicant: Applicant
) -> None:
    await applicant.send("/start")  # not a newcomer: the answer comes alone
    await applicant.send("how much does the jft test cost")
    answer = applicant.last
    assert "🏠 Main menu" in answer.labels
    await applicant.press("Main menu")
    assert "What would you like to do" in applicant.last.text
    assert applicant.screens[answer.message_id].text == answer.text


async def test_every_faq_screen_has_a_way_back(app: App, applicant: Applicant) -> None:
    faq = app.conversation.services.faq
    await applicant.send("/faq")
    for category in faq.categories:
        await applicant.press_data(f"faq:cat:{category.id}")
        assert "🏠 Main menu" in applicant.last.labels
        for entry_id in category.entry_ids:
            await applicant.press_data(f"faq:q:{entry_id}")
            assert {"🏠 Main menu", "⬅️ More on this topic"} <= set(applicant.last.labels)


async def test_typed_question_gets_the_answer_and_feedback_buttons(
    app: App, applicant: Applicant
) -> None:
    await applicant.send("what is the pass score for JFT-Basic?")
    entry = app.conversation.services.faq.entries["jft-score"]
    answer = applicant.replies[0]  # then the welcome: it is their first message
    assert answer.text.startswith(entry.question["en"])
    assert answer.labels[:2] == ["👍 Helpful", "👎 Not helpful"]
    await applicant.press("👍 Helpful")
    assert applicant.notices == ["Thank you! Your answer helps us improve."]
    assert "👍 Helpful" not in applicant.last.labels
    [feedback] = await rows(app, FaqFeedback)
    assert (feedback.entry_id, feedback.helpful) == ("jft-score", True)


async def test_related_questions_are_offered_as_buttons(app: App, applicant: Applicant) -> None:
    await applicant.send("deposit money agency")
    related = [label for label in applicant.last.labels if label.startswith("❔")]
    assert len(related) <= 2


async def test_unknown_question_is_admitted_and_kept_for_staff(
    app: App, applicant: Applicant
) -> None:
    await applicant.send("how do I cook fish amok for my grandmother")
    assert "don't know" in applicant.replies[0].text
    [question] = await rows(app, UnansweredQuestion)
    assert question.text == "how do I cook fish amok for my grandmother"
    assert question.locale == "en"


@pytest.mark.parametrize(
    ("content", "answer"),
    [
        ("sticker", "I can only read text"),
        ("photo", "I can only read text"),
        ("location", "I can only read text"),
        ("voice", "voice messages"),
        ("edit", "new messages"),
    ],
)
async def test_things_the_bot_cannot_read_get_a_polite_answer(
    applicant: Applicant, content: str, answer: str
) -> None:
    await applicant.send_other(content)
    assert answer in applicant.last.text


@pytest.mark.parametrize("text", ["\u200b\u200b", "   ..!!  "])
async def test_messages_without_words_are_asked_for_words(applicant: Applicant, text: str) -> None:
    await applicant.send(text)
    assert "I can only read words" in applicant.replies[0].text


async def test_very_long_text_is_refused_politely(app: App, applicant: Applicant) -> None:
    await applicant.send("passport " * 600)
    assert "very long" in applicant.replies[0].text
    assert await rows(app, UnansweredQuestion) == []


async def test_unknown_command_is_named(applicant: Applicant) -> None:
    await applicant.send("/registerme@applicant_bot now")
    assert "I don't know the command /registerme." in applicant.last.text


async def test_markup_typed_by_a_user_is_never_sent_back_as_markup(
    app: App, applicant: Applicant
) -> None:
    await applicant.send("<b>hack</b> & <i>more")
    assert "<b>hack" not in applicant.last.html


@pytest.mark.parametrize(
    "data",
    ["faq:q:no-such-entry", "faq:cat:", "nonsense", "lang:set:fr", "faq:fb:jft-score:maybe"],
)
async def test_forged_or_stale_buttons_change_nothing(
    app: App, applicant: Applicant, data: str
) -> None:
    await applicant.send("/start")
    await applicant.press_data(data)
    assert applicant.notices[-1] == "This button is out of date. Send /start to see the menu."
    assert await rows(app, FaqFeedback) == []
    [row] = await rows(app, ApplicantRow)
    assert row.locale is None


async def test_right_to_left_text_is_answered_without_error(applicant: Applicant) -> None:
    await applicant.send("مرحبا كيف حالك")
    assert applicant.last is not None


async def test_the_same_update_twice_is_handled_once(app: App) -> None:
    from handlers.core.events import Incoming, Kind

    event = Incoming(user_id=5, chat_id=5, kind=Kind.TEXT, text="passport fee", update_id=777)
    first = await app.conversation.handle(event)
    second = await app.conversation.handle(event)
    assert first
    assert second == []


async def test_group_messages_are_not_answered(app: App) -> None:
    from handlers.core.events import Incoming, Kind

    event = Incoming(user_id=5, chat_id=-100, kind=Kind.TEXT, text="hello", private=False)
    assert await app.conversation.handle(event) == []
    assert await rows(app, ApplicantRow) == []


async def test_mydata_shows_what_is_kept(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await dara.send("/start school_poster")
    await dara.send("how do I cook fish amok for my grandmother")
    await dara.send("/mydata")
    assert "Telegram account number: 1" in dara.last.text
    assert "Came from: school_poster" in dara.last.text
    assert "Questions kept for the office: 1" in dara.last.text


async def test_deleteme_asks_first_then_erases(app: App) -> None:
    dara = Applicant(app.conversation, user_id=1, language="en")
    await dara.send("/start school_poster")
    await dara.press("English")
    await dara.send("how do I cook fish amok for my grandmother")
    await dara.send("what is the jft basic pass score")
    await dara.press("👍 Helpful")
    await dara.send("/deleteme")
    await dara.press("No, keep it")
    assert len(await rows(app, ApplicantRow)) == 1
    await dara.send("/deleteme")
    await dara.press("Yes, erase my data")
    assert "erased" in dara.last.text
    assert await rows(app, ApplicantRow) == []
    assert await rows(app, UnansweredQuestion) == []
    [rating] = await rows(app, FaqFeedback)
    assert rating.applicant_id is None  # the count stays, anonymous
    await dara.send("/start")
    assert "Welcome" in dara.last.text  # a fresh start
