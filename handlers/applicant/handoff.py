"""Asking the office: a question goes to the staff group, and the office answers in this chat.

Two ways in: "✍️ Ask the office" takes the applicant's next message, whatever it says,
straight to the office (the FAQ does not read it); and under "I don't know" one button
hands over the question the bot could not answer. The bot posts it in the staff group
(STAFF_CHAT_ID) with who asked, their language and registrations; the office answers by
replying to that post (handlers/staff/replies.py). Without a staff group neither button
is shown.
"""

from html import escape

from handlers.applicant.buttons import AskTheOffice, SendToOffice, StopAsking
from handlers.applicant.menus import home_button
from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard, Kind, SendText
from handlers.core.letters import post_to_chat
from handlers.core.routing import Journey
from handlers.core.texts import LANGUAGE_NAMES, Texts
from handlers.faq.matching import normalize
from handlers.faq.teaching_buttons import office_post_buttons
from models.questions import (
    OFFICE_POST_KEY,
    UnansweredQuestion,
    hand_to_office,
    office_load,
    record_unanswered,
)
from models.registrations import registrations_of

journey = Journey("handoff")

ASKING = "handoff:asking"  # the step where the next message goes to the office
OFFICE_QUESTION_MAX_LENGTH = 2000  # leaves room in the staff group's post for who asked
# The most of a question the post shows (a question the FAQ kept may be longer), counted
# as Telegram counts a message: the text as read, not its HTML. The rest of the post, the
# "answered" line and the settled line fit in the 4,096 characters left.
OFFICE_POST_QUESTION_MAX = 3000
# One applicant's questions the office has at once, and in a day: the staff group stays
# readable (and within Telegram's 20 messages a minute) whoever keeps asking.
MAX_OPEN_WITH_OFFICE = 3
MAX_TO_OFFICE_A_DAY = 10


def ask_office_button(_: Texts, question_id: int) -> Button:
    """Under "I don't know": hands the question to the office."""
    return SendToOffice(question_id).button(_("📨 Send my question to the office"))


def ask_the_office_button(ctx: Context, label: str | None = None) -> list[Button]:
    """A row with "✍️ Ask the office" (the next message goes there), or none without an office."""
    if ctx.services.staff_chat_id is None:
        return []
    return [AskTheOffice().button(label or ctx._("✍️ Ask the office"))]


@journey.button(AskTheOffice)
async def ask_the_office(ctx: Context, _: AskTheOffice) -> None:
    """Asks the applicant to type their question: their next message goes to the office."""
    if ctx.services.staff_chat_id is None:
        ctx.out_of_date()
        return
    await ctx.go_to(ASKING)
    ctx.say(
        ctx._(
            "✍️ Type your question for the test office in one message, and send it. "
            "The office staff will answer you here, in this chat.\n\n"
            "If it is about a booking, say which test and which date."
        ),
        InlineKeyboard.of([StopAsking().button(ctx._("✖ Cancel"))]),
    )


@journey.step(ASKING)
async def take_question_for_the_office(ctx: Context) -> None:
    """Sends the typed question to the office, and says so; anything else is asked again."""
    question = ctx.event.text.strip() if ctx.event.kind is Kind.TEXT else ""
    if not question:
        ctx.say(ctx._("Please type your question in words, or press ✖ Cancel."))
        return
    if len(question) > OFFICE_QUESTION_MAX_LENGTH:
        ctx.say(ctx._("That message is very long. Please write your question more briefly."))
        return
    assert ctx.applicant.id is not None
    if refusal := await _office_is_full(ctx):
        await ctx.finish()
        ctx.say(refusal, InlineKeyboard.of([home_button(ctx.texts)]))
        return
    kept = await record_unanswered(
        ctx.db, ctx.applicant.id, ctx.locale, question, normalize(question) or question
    )
    await ctx.finish()
    await _hand_over(ctx, kept)
    ctx.say(_sent(ctx), InlineKeyboard.of([home_button(ctx.texts)]))


@journey.button(StopAsking)
async def stop_asking(ctx: Context, _: StopAsking) -> None:
    """Leaves the question for the office unsent."""
    if ctx.step != ASKING:
        ctx.out_of_date()  # sent already, or left: and another wizard may be under way
        return
    await leave_asking(ctx)


@journey.cancel_on_step(ASKING)
async def leave_asking(ctx: Context) -> None:
    """The applicant changed their mind: nothing goes to the office (the button or /cancel)."""
    await ctx.finish()
    text = ctx._("Nothing was sent to the office. You can type a question to me at any time.")
    if ctx.event.kind is Kind.BUTTON:
        ctx.show(text, InlineKeyboard.of([home_button(ctx.texts)]))
    else:
        ctx.say(text)


@journey.button(SendToOffice)
async def send_to_office(ctx: Context, pressed: SendToOffice) -> None:
    """Posts the applicant's question in the staff group, once."""
    question = await ctx.db.get(UnansweredQuestion, pressed.question_id)
    if (
        question is None
        or question.applicant_id != ctx.applicant.id
        or ctx.services.staff_chat_id is None
    ):
        ctx.out_of_date()
        return
    if question.sent_to_office_at is not None:
        ctx.notify(ctx._("Your question is with the office already."))
        return
    if refusal := await _office_is_full(ctx):
        ctx.say(refusal, InlineKeyboard.of([home_button(ctx.texts)]))
        return
    await _hand_over(ctx, question)
    ctx.show(_sent(ctx), InlineKeyboard.of([home_button(ctx.texts)]))


async def _hand_over(ctx: Context, question: UnansweredQuestion) -> None:
    """Marks the question handed over and posts it in the staff group (through the outbox)."""
    staff_chat = ctx.services.staff_chat_id
    assert staff_chat is not None
    if not await hand_to_office(ctx.db, question, ctx.now):
        return
    # The answer comes later, through the outbox: in the language they are reading now.
    ctx.applicant.locale = ctx.applicant.locale or ctx.locale
    post = await _office_post(ctx, question)
    # Under the post, staff can also teach the bot: attach it to an FAQ entry, or set it aside.
    assert question.id is not None
    buttons = office_post_buttons(ctx.services.staff_group_texts(), question.id)
    await post_to_chat(
        ctx.db, staff_chat, f"{OFFICE_POST_KEY}{question.id}", [SendText(post, buttons)]
    )


async def _office_is_full(ctx: Context) -> str | None:
    """Why the applicant's next question cannot go to the office now; None when it can."""
    assert ctx.applicant.id is not None
    load = await office_load(ctx.db, ctx.applicant.id, ctx.now)
    if load.open >= MAX_OPEN_WITH_OFFICE:
        return ctx._(
            "🙏 The office still has {count} of your questions to answer. Please wait for "
            "their answers here before you send another one."
        ).format(count=load.open)
    if load.last_day >= MAX_TO_OFFICE_A_DAY:
        return ctx._(
            "🙏 You have sent the office {count} questions today, as many as one day allows. "
            "Please send your next question tomorrow."
        ).format(count=load.last_day)
    return None


def _sent(ctx: Context) -> str:
    return ctx._(
        "📨 Your question has been sent to the test office. Their answer will come here, "
        "in this chat."
    )


async def _office_post(ctx: Context, question: UnansweredQuestion) -> str:
    """The post in the staff group: who asked, in which language, their registrations."""
    _ = ctx.services.staff_group_texts()
    applicant = ctx.applicant
    assert applicant.id is not None
    codes = [
        f"{r.code} ({r.exam_id}, {r.status})" for r in await registrations_of(ctx.db, applicant.id)
    ]
    return _(
        "📨 <b>Question for the office</b> #{number}\n"
        "From: {name} (Telegram {telegram_id})\nLanguage: {language}\nRegistrations: {codes}\n\n"
        "{question}\n\n<i>Reply to this message to answer; the bot sends your reply to them.</i>"
    ).format(
        number=question.id,
        name=escape(applicant.name_latin or "–"),
        telegram_id=applicant.telegram_id,
        language=LANGUAGE_NAMES.get(question.locale, question.locale),
        codes=escape(", ".join(codes)) or "–",
        question=escape(clipped(question.text, OFFICE_POST_QUESTION_MAX)),
    )


def clipped(text: str, limit: int) -> str:
    """The text cut to `limit` characters (an ellipsis the last), before any escaping: an
    escaped text cut afterwards could end inside an entity, which Telegram refuses."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
