"""Questions and answers: browsing by topic, and answering what applicants type."""

from html import escape

from handlers.applicant.handoff import ask_office_button
from handlers.applicant.menus import home_button
from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard
from handlers.core.routing import Journey
from handlers.faq.book import FaqEntry
from handlers.faq.buttons import Question, RateAnswer, Topic, Topics
from handlers.faq.matching import normalize
from models.questions import record_feedback, record_unanswered

journey = Journey("faq")

QUESTION_MAX_LENGTH = 1000


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
    ctx.show(_answer_text(ctx, entry), _answer_buttons(ctx, entry, related=[]))


@journey.button(RateAnswer)
async def rate_answer(ctx: Context, pressed: RateAnswer) -> None:
    """Keeps whether the answer helped, and thanks the applicant."""
    entry = ctx.services.faq.entry(pressed.entry_id)
    if entry is None:
        ctx.out_of_date()
        return
    assert ctx.applicant.id is not None
    await record_feedback(ctx.db, ctx.applicant.id, entry.id, helpful=pressed.helpful == "y")
    ctx.notify(ctx._("Thank you! Your answer helps us improve."))
    ctx.show(_answer_text(ctx, entry), _answer_buttons(ctx, entry, [], feedback=False))


@journey.text()
async def answer_question(ctx: Context) -> None:
    """Answers a typed question with the closest entry, or says honestly it does not know."""
    question = ctx.event.text.strip()
    if len(question) > QUESTION_MAX_LENGTH:
        ctx.say(ctx._("That message is very long. Please ask one short question at a time."))
        return
    normalized = normalize(question)
    if not normalized:
        ctx.say(
            ctx._("I can only read words. Please type your question, or send /start for the menu.")
        )
        return
    found = ctx.services.faq.answer(question)
    if found.entry_id is None:
        assert ctx.applicant.id is not None
        kept = await record_unanswered(ctx.db, ctx.applicant.id, ctx.locale, question, normalized)
        assert kept.id is not None
        office = (
            [ask_office_button(ctx.texts, kept.id)]
            if ctx.services.staff_chat_id is not None
            else []
        )
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
        return
    entry = ctx.services.faq.entries[found.entry_id]
    related = [ctx.services.faq.entries[entry_id] for entry_id in found.related]
    ctx.say(_answer_text(ctx, entry), _answer_buttons(ctx, entry, related))


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


def _answer_text(ctx: Context, entry: FaqEntry) -> str:
    return f"<b>{escape(entry.question[ctx.locale])}</b>\n\n{entry.answer[ctx.locale]}"


def _answer_buttons(
    ctx: Context, entry: FaqEntry, related: list[FaqEntry], feedback: bool = True
) -> InlineKeyboard:
    rows: list[list[Button]] = []
    if feedback:
        rows.append(
            [
                RateAnswer(entry.id, "y").button(ctx._("👍 Helpful")),
                RateAnswer(entry.id, "n").button(ctx._("👎 Not helpful")),
            ]
        )
    rows += [[Question(other.id).button("❔ " + other.question[ctx.locale])] for other in related]
    rows.append([Topic(entry.category).button(ctx._("⬅️ More on this topic"))])
    rows.append([home_button(ctx.texts)])
    return InlineKeyboard.of(*rows)
