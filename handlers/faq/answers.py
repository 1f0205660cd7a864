"""Questions and answers: browsing by topic, and answering what applicants type."""

from html import escape

from handlers.applicant.handoff import ask_office_button
from handlers.applicant.menus import home_button
from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard
from handlers.core.routing import Journey
from handlers.faq.book import FaqEntry
from handlers.faq.matching import normalize
from models.questions import record_feedback, record_unanswered

journey = Journey("faq")

QUESTION_MAX_LENGTH = 1000


@journey.command("faq")
async def faq_command(ctx: Context) -> None:
    """Shows the topics of the questions and answers."""
    _show_topics(ctx)


@journey.button("faq")
async def faq_button(ctx: Context) -> None:
    """Moves through topics and answers in place, or takes feedback on an answer."""
    _, action, *rest = [*ctx.event.button_data.split(":"), ""]
    faq = ctx.services.faq
    if action == "home":
        _show_topics(ctx)
    elif action == "cat" and (category := faq.category(rest[0])):
        buttons = [
            [Button(faq.entries[entry_id].question[ctx.locale], f"faq:q:{entry_id}")]
            for entry_id in category.entry_ids
        ]
        ctx.show(
            "<b>{}</b>\n\n{}".format(
                escape(category.title[ctx.locale]), ctx._("Choose a question:")
            ),
            InlineKeyboard.of(
                *buttons,
                [Button(ctx._("⬅️ All topics"), "faq:home"), home_button(ctx.texts)],
            ),
        )
    elif action == "q" and (entry := faq.entry(rest[0])):
        ctx.show(_answer_text(ctx, entry), _answer_buttons(ctx, entry, related=[]))
    elif action == "fb" and (entry := faq.entry(rest[0])) and rest[1] in ("y", "n"):
        assert ctx.applicant.id is not None
        await record_feedback(ctx.db, ctx.applicant.id, entry.id, helpful=rest[1] == "y")
        ctx.notify(ctx._("Thank you! Your answer helps us improve."))
        ctx.show(_answer_text(ctx, entry), _answer_buttons(ctx, entry, [], feedback=False))
    else:
        ctx.out_of_date()


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
                [Button(ctx._("❓ Questions and answers"), "faq:home")],
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
                [Button(category.title[ctx.locale], f"faq:cat:{category.id}")]
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
                Button(ctx._("👍 Helpful"), f"faq:fb:{entry.id}:y"),
                Button(ctx._("👎 Not helpful"), f"faq:fb:{entry.id}:n"),
            ]
        )
    rows += [
        [Button("❔ " + other.question[ctx.locale], f"faq:q:{other.id}")] for other in related
    ]
    rows.append([Button(ctx._("⬅️ More on this topic"), f"faq:cat:{entry.category}")])
    rows.append([home_button(ctx.texts)])
    return InlineKeyboard.of(*rows)
