"""Staff teach the bot from the chat: /unanswered, and the buttons under a question's post.

An operator opens a question the FAQ could not answer, from the list of the most asked
ones (/unanswered, in a private chat) or from its post in the staff group, and either
attaches it to an FAQ entry (topic, entry, confirm), which makes its wording a phrasing
of that entry on every instance at once, or marks it as small talk or off-topic. Either
way it leaves the lists. The work itself is handlers/faq/teaching.py's, shared with the
command line; this module only asks and shows.
"""

from html import escape

from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard
from handlers.core.routing import Journey, requires
from handlers.core.texts import LANGUAGE_NAMES, Texts
from handlers.faq.book import FaqEntry
from handlers.faq.teaching import Outcome, Teaching, attach, set_aside
from handlers.faq.teaching_buttons import (
    AttachEntry,
    AttachTopic,
    AttachTopics,
    ConfirmAttach,
    OpenQuestion,
    OpenQuestions,
    SetAside,
    choices,
)
from handlers.staff.statistics import clip
from models.outbox import sent_message
from models.questions import Resolution, UnansweredQuestion, most_asked_unanswered, same_questions
from models.staff import Role

journey = Journey("teaching", gate=requires(Role.OPERATOR))

LISTED = 10  # questions /unanswered shows
LABEL_CLIP = 40


def settled_line(_: Texts, question: UnansweredQuestion, entry: FaqEntry | None) -> str:
    """How the office settled a question (attached to `entry`), for its post ("" if open)."""
    staff = (question.resolved_by or "").removeprefix("telegram:")
    if question.resolution == Resolution.ATTACHED:
        return _("📎 Attached to “{entry}” by {staff}").format(
            entry=escape(entry.question[_.locale]) if entry else "?", staff=escape(staff)
        )
    if question.resolution == Resolution.SMALL_TALK:
        return _("💬 Marked as small talk by {staff}").format(staff=escape(staff))
    if question.resolution == Resolution.OFF_TOPIC:
        return _("🚫 Marked as off-topic by {staff}").format(staff=escape(staff))
    return ""


# --- The list --------------------------------------------------------------------------------


@journey.command("unanswered")
async def list_unanswered(ctx: Context) -> None:
    """The questions the FAQ could not answer, most asked first, each with a button."""
    await _show_list(ctx)


@journey.button(OpenQuestions)
async def back_to_the_list(ctx: Context, _pressed: OpenQuestions) -> None:
    """Shows the list again, in place of the screen the button was on."""
    await _show_list(ctx)


async def _show_list(ctx: Context) -> None:
    questions = await most_asked_unanswered(ctx.db, LISTED)
    if not questions:
        ctx.show(ctx._("No unanswered questions are waiting. 🎉"))
        return
    lines = [
        f"{n}. #{q.question_id} · ×{q.times} · {escape(clip(q.text, 120))}"
        for n, q in enumerate(questions, 1)
    ]
    buttons = [
        [OpenQuestion(q.question_id).button(f"#{q.question_id} · {clip(q.text, LABEL_CLIP)}")]
        for q in questions
    ]
    ctx.show(
        ctx._("<b>Unanswered questions</b>, most asked first. Choose one to teach the bot:")
        + "\n\n"
        + "\n".join(lines),
        InlineKeyboard.of(*buttons),
    )


# --- One question: attach it, or set it aside --------------------------------------------------


@journey.button(OpenQuestion)
async def open_question(ctx: Context, pressed: OpenQuestion) -> None:
    """The question, how often it was asked, and what can be done with it."""
    question = await _open(ctx, pressed.question_id)
    if question is None:
        return
    _ = _texts(ctx)
    if ctx.event.private:
        keyboard = [*choices(_, pressed.question_id), [_back_to_list(_)]]
    else:
        keyboard = choices(_, pressed.question_id)
    await _screen(ctx, question, "", InlineKeyboard.of(*keyboard))


@journey.button(AttachTopics)
async def choose_topic(ctx: Context, pressed: AttachTopics) -> None:
    """The FAQ's topics, to find the entry the question belongs to."""
    question = await _open(ctx, pressed.question_id)
    if question is None:
        return
    _, faq = _texts(ctx), ctx.services.faq
    buttons = [
        [AttachTopic(pressed.question_id, c.id).button(c.title[_.locale])] for c in faq.categories
    ]
    buttons.append([OpenQuestion(pressed.question_id).button(_("⬅️ Back"))])
    await _screen(
        ctx, question, _("Attach it to which entry? Choose a topic:"), InlineKeyboard.of(*buttons)
    )


@journey.button(AttachTopic)
async def choose_entry(ctx: Context, pressed: AttachTopic) -> None:
    """The entries of one topic."""
    question = await _open(ctx, pressed.question_id)
    category = ctx.services.faq.category(pressed.category_id)
    if question is None:
        return
    if category is None:
        ctx.out_of_date()
        return
    _, faq = _texts(ctx), ctx.services.faq
    buttons = [
        [
            AttachEntry(pressed.question_id, entry_key).button(
                clip(faq.entries[entry_key].question[_.locale], 60)
            )
        ]
        for entry_key in category.entry_ids
    ]
    buttons.append([AttachTopics(pressed.question_id).button(_("⬅️ All topics"))])
    body = "<b>{}</b>\n{}".format(escape(category.title[_.locale]), _("Choose the entry:"))
    await _screen(ctx, question, body, InlineKeyboard.of(*buttons))


@journey.button(AttachEntry)
async def confirm_entry(ctx: Context, pressed: AttachEntry) -> None:
    """Asks to confirm, showing the entry's question and the start of its answer."""
    question = await _open(ctx, pressed.question_id)
    entry = ctx.services.faq.entry(pressed.entry_key)
    if question is None:
        return
    if entry is None:
        ctx.out_of_date()
        return
    _ = _texts(ctx)
    body = _(
        "Attach it to “{entry}”? From then on, whoever asks it this way gets that answer."
    ).format(entry=escape(entry.question[_.locale]))
    keyboard = InlineKeyboard.of(
        [ConfirmAttach(pressed.question_id, entry.id).button(_("✅ Attach"))],
        [AttachTopic(pressed.question_id, entry.category).button(_("⬅️ Back"))],
    )
    await _screen(ctx, question, body, keyboard)


@journey.button(ConfirmAttach)
async def attach_question(ctx: Context, pressed: ConfirmAttach) -> None:
    """Attaches the question to the entry: a phrasing at once, the question settled."""
    done = await attach(ctx.db, ctx.services, pressed.question_id, pressed.entry_key, ctx.actor)
    await _settled(ctx, done)


@journey.button(SetAside)
async def set_question_aside(ctx: Context, pressed: SetAside) -> None:
    """Marks the question as small talk or off-topic: it leaves the lists."""
    resolution = Resolution(pressed.resolution)
    done = await set_aside(ctx.db, ctx.services, pressed.question_id, resolution, ctx.actor)
    await _settled(ctx, done)


async def _settled(ctx: Context, done: Teaching) -> None:
    """Says what came of it; the screen (or the group's post) shows the question settled."""
    question = done.question
    if done.outcome in (Outcome.NO_QUESTION, Outcome.NO_ENTRY) or question is None:
        ctx.out_of_date()
        return
    _ = _texts(ctx)
    line = settled_line(_, question, done.entry)
    if done.outcome is Outcome.SETTLED_ALREADY:
        ctx.notify(ctx._("This question was settled already."), alert=True)
    elif question.resolution == Resolution.ATTACHED:
        ctx.notify(ctx._("Attached. The bot answers this question from now on."))
    else:
        ctx.notify(ctx._("Marked. The question leaves the list."))
    keyboard = InlineKeyboard.of([_back_to_list(_)]) if ctx.event.private else None
    await _screen(ctx, question, line, keyboard)


# --- Screens ---------------------------------------------------------------------------------


def _texts(ctx: Context) -> Texts:
    """The staff member's language in a private chat; the staff group's (STAFF_LOCALE) there."""
    return ctx.texts if ctx.event.private else ctx.services.staff_group_texts()


def _back_to_list(_: Texts) -> Button:
    return OpenQuestions().button(_("⬅️ Back to the list"))


async def _open(ctx: Context, question_id: int) -> UnansweredQuestion | None:
    """The question, if it is there; else the button is out of date."""
    question = await ctx.db.get(UnansweredQuestion, question_id)
    if question is None:
        ctx.out_of_date()
    return question


async def _screen(
    ctx: Context, question: UnansweredQuestion, body: str, keyboard: InlineKeyboard | None
) -> None:
    """The question on top, then `body`. In the staff group the post keeps what it said
    (who asked, their registrations) and only its buttons and last lines change."""
    _ = _texts(ctx)
    if ctx.event.private:
        times = len(await same_questions(ctx.db, question)) or 1
        head = _("<b>Question #{number}</b> · asked {times} time(s) · {language}").format(
            number=question.id,
            times=times,
            language=LANGUAGE_NAMES.get(question.locale, escape(question.locale)),
        )
        head += "\n\n" + escape(question.text)
    else:
        assert ctx.event.button_message_id is not None
        post = await sent_message(ctx.db, ctx.event.chat_id, ctx.event.button_message_id)
        head = post.content[0]["text"] if post is not None else escape(question.text)
        if question.answered_at is not None:
            head += "\n\n" + _("✅ Answered by {staff} at {time}").format(
                staff=question.answered_by, time=_.brief_moment(question.answered_at)
            )
    ctx.show((head + ("\n\n" + body if body else ""))[:4096], keyboard)
