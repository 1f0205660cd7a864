"""Questions and answers: browsing by topic, and answering what applicants type."""

import asyncio
from collections.abc import Sequence
from html import escape

import numpy as np

from handlers.applicant.handoff import ask_office_button, ask_the_office_button
from handlers.applicant.menus import home_button, main_menu
from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard
from handlers.core.routing import Journey
from handlers.core.services import FaqOutcome, Services
from handlers.faq.book import FaqEntry
from handlers.faq.buttons import Question, RateAnswer, Topic, Topics
from handlers.faq.features import features_of
from handlers.faq.small_talk import SmallTalk, small_talk, words_left
from models.questions import record_feedback, record_unanswered
from models.retention import RATINGS_PER_DAY, ratings_today

journey = Journey("faq")

QUESTION_MAX_LENGTH = 1000
NEIGHBOURS_SHOWN = 3  # related questions offered when an answer did not help


@journey.command("faq")
async def faq_command(ctx: Context) -> None:
    """Shows the topics of the questions and answers."""
    _show_topics(ctx)


@journey.button(Topics)
async def topics_button(ctx: Context, _: Topics) -> None:
    """Shows the topics in place of the screen the button was on."""
    _show_topics(ctx)


@journey.button(Topic)
async def show_topic(ctx: Context, pressed: Topic) -> None:
    """Lists the questions of one topic."""
    faq = ctx.services.faq
    category = faq.category(pressed.category_id)
    if category is None:
        ctx.out_of_date()
        return
    buttons = [
        [Question(entry_id).button(faq.entries[entry_id].question[ctx.locale])]
        for entry_id in category.entry_ids
    ]
    ctx.show(
        "<b>{}</b>\n\n{}".format(escape(category.title[ctx.locale]), ctx._("Choose a question:")),
        InlineKeyboard.of(
            *buttons, [Topics().button(ctx._("⬅️ All topics")), home_button(ctx.texts)]
        ),
    )


@journey.button(Question)
async def show_answer(ctx: Context, pressed: Question) -> None:
    """Shows the answer to the question chosen."""
    entry = ctx.services.faq.entry(pressed.entry_id)
    if entry is None:
        ctx.out_of_date()
        return
    ctx.show(*await answer_screen(ctx, entry, related=[]))


@journey.button(RateAnswer)
async def rate_answer(ctx: Context, pressed: RateAnswer) -> None:
    """Keeps whether the answer helped; when it did not, offers other questions and the office."""
    entry = ctx.services.faq.entry(pressed.entry_id)
    if entry is None:
        ctx.out_of_date()
        return
    assert ctx.applicant.id is not None
    helpful = pressed.helpful == "y"
    if await ratings_today(ctx.db, ctx.applicant.id, ctx.now) < RATINGS_PER_DAY:
        await record_feedback(ctx.db, ctx.applicant.id, entry.id, helpful=helpful, now=ctx.now)
        ctx.notify(ctx._("Thank you! Your answer helps us improve."))
    else:
        ctx.notify(
            ctx._(
                "Thank you! You have rated many answers today. "
                "I will keep new ratings again tomorrow."
            )
        )
    if helpful:
        ctx.show(*await answer_screen(ctx, entry, [], feedback=False))
    else:
        ctx.show(*_not_helpful_screen(ctx, entry))


async def sense_question(services: Services, text: str) -> np.ndarray | None:
    """Before the transaction: a typed question's meaning vector, from the model in a worker
    thread (it holds no GIL, so another core runs it while this one handles others)."""
    question = text.strip()
    faq = services.faq
    if not faq.understands_meaning or len(question) > QUESTION_MAX_LENGTH:
        return None
    if small_talk(question) is not None or not words_left(question):
        return None
    return await asyncio.to_thread(faq.sense, question)


@journey.text(read_ahead=sense_question)
async def answer_question(ctx: Context) -> None:
    """Answers a typed question, offers the closest questions, or says honestly it does not know.

    Greetings, thanks and emoji get a short friendly reply and the menu; nothing that is
    not a question (small talk, links, phone numbers, no words) is kept as one.
    """
    question = ctx.event.text.strip()
    if len(question) > QUESTION_MAX_LENGTH:
        ctx.say(ctx._("That message is very long. Please ask one short question at a time."))
        return
    chat = small_talk(question)
    if chat is not None:
        if ctx.first_contact:
            return  # a newcomer's greeting: the welcome that follows is the answer
        _, menu = main_menu(ctx.texts, ctx.services.staff_chat_id is not None)
        ctx.say(_small_talk_reply(ctx, chat), menu)
        return
    normalized = words_left(question)
    if not normalized:
        ctx.say(
            ctx._("I can only read words. Please type your question, or send /start for the menu.")
        )
        return
    faq = ctx.services.faq
    sense = ctx.read_ahead if isinstance(ctx.read_ahead, np.ndarray) else None
    if sense is not None:
        found = faq.understand(question, sense)  # the model's part was done already
    else:  # the model takes milliseconds of CPU: off the event loop, so others go on
        found = await asyncio.to_thread(faq.understand, question)
    if found.entry_id is not None:
        entry = faq.entries[found.entry_id]
        related = [faq.entries[entry_id] for entry_id in found.suggestions]
        ctx.say(*await answer_screen(ctx, entry, related))
        ctx.count_faq_outcome(FaqOutcome.ANSWERED)
        return
    assert ctx.applicant.id is not None
    kept = await record_unanswered(ctx.db, ctx.applicant.id, ctx.locale, question, normalized)
    assert kept.id is not None
    # The question is typed already: one press hands it over, nothing to type again.
    office = (
        [ask_office_button(ctx.texts, kept.id)] if ctx.services.staff_chat_id is not None else []
    )
    if found.suggestions:
        ctx.count_faq_outcome(FaqOutcome.DID_YOU_MEAN)
        ctx.say(
            ctx._("🤔 I am not sure I understood. Did you mean one of these?"),
            InlineKeyboard.of(
                *[
                    [Question(entry_id).button("❔ " + faq.entries[entry_id].question[ctx.locale])]
                    for entry_id in found.suggestions
                ],
                office,
                [home_button(ctx.texts)],
            ),
        )
        return
    ctx.count_faq_outcome(FaqOutcome.UNANSWERED)
    ctx.say(
        ctx._(
            "🤔 Sorry, I don't know the answer to that yet. I have kept your question "
            "for the test office staff.\n\nYou can also try other words, or browse the "
            "questions and answers by topic."
        ),
        InlineKeyboard.of(
            office,
            [Topics().button(ctx._("❓ Questions and answers"))],
            [home_button(ctx.texts)],
        ),
    )


def _small_talk_reply(ctx: Context, chat: SmallTalk) -> str:
    if chat == "hello":
        return ctx._("Hello! 👋 Type your question about working in Japan, or choose below.")
    if chat == "thanks":
        return ctx._("You're welcome! 😊 Ask me anything else at any time.")
    if chat == "bye":
        return ctx._("Goodbye, and good luck! 🍀 Come back any time.")
    return ctx._("👍 Anything else? Type a question, or choose below.")


def _show_topics(ctx: Context) -> None:
    faq = ctx.services.faq
    ctx.show(
        ctx._("<b>Questions and answers</b>\n\nChoose a topic:"),
        InlineKeyboard.of(
            *[
                [Topic(category.id).button(category.title[ctx.locale])]
                for category in faq.categories
            ],
            [home_button(ctx.texts)],
        ),
    )


async def answer_screen(
    ctx: Context, entry: FaqEntry, related: list[FaqEntry], feedback: bool = True
) -> tuple[str, InlineKeyboard]:
    """An answer with what it names: the sessions open now, the buttons of the features."""
    text, features = await features_of(ctx, entry, _answer_text(ctx, entry))
    return text, _answer_buttons(ctx, entry, related, feedback, features)


def _not_helpful_screen(ctx: Context, entry: FaqEntry) -> tuple[str, InlineKeyboard]:
    """After 👎: the questions nearest this one, and the way to the office."""
    neighbours = [
        ctx.services.faq.entries[match.entry_id]
        for match in ctx.services.faq.search(entry.question[ctx.locale], NEIGHBOURS_SHOWN + 1)
        if match.entry_id != entry.id
    ][:NEIGHBOURS_SHOWN]
    office = ask_the_office_button(ctx, ctx._("📨 Send my question to the office"))
    sorry = (
        ctx._(
            "😕 Sorry this did not help. One of these questions may be closer, or send your "
            "question to the test office."
        )
        if office
        else ctx._(
            "😕 Sorry this did not help. One of these questions may be closer, or type your "
            "question in other words."
        )
    )
    return (
        f"{_answer_text(ctx, entry)}\n\n<i>{sorry}</i>",
        InlineKeyboard.of(
            *[[Question(n.id).button("❔ " + n.question[ctx.locale])] for n in neighbours],
            office,
            [Topic(entry.category).button(ctx._("⬅️ More on this topic"))],
            [home_button(ctx.texts)],
        ),
    )


def _answer_text(ctx: Context, entry: FaqEntry) -> str:
    return f"<b>{escape(entry.question[ctx.locale])}</b>\n\n{entry.answer[ctx.locale]}"


def _answer_buttons(
    ctx: Context,
    entry: FaqEntry,
    related: list[FaqEntry],
    feedback: bool = True,
    features: Sequence[list[Button]] = (),
) -> InlineKeyboard:
    rows: list[list[Button]] = []
    if feedback:
        rows.append(
            [
                RateAnswer(entry.id, "y").button(ctx._("👍 Helpful")),
                RateAnswer(entry.id, "n").button(ctx._("👎 Not helpful")),
            ]
        )
    rows += features
    rows += [[Question(other.id).button("❔ " + other.question[ctx.locale])] for other in related]
    rows.append([Topic(entry.category).button(ctx._("⬅️ More on this topic"))])
    rows.append([home_button(ctx.texts)])
    return InlineKeyboard.of(*rows)
