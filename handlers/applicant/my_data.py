"""The applicant's own data: /mydata shows it, /deleteme erases it after a confirmation."""

from html import escape

from handlers.applicant.buttons import EraseMyData, KeepMyData
from handlers.applicant.describe import exam_name, status_name
from handlers.applicant.identity import details_list, saved_answers
from handlers.applicant.menus import home_button
from handlers.applicant.notices import release_seat
from handlers.core.context import Context
from handlers.core.events import EditText, InlineKeyboard
from handlers.core.letters import post_to_chat
from handlers.core.routing import Journey
from handlers.core.texts import LANGUAGE_NAMES
from models.erasure import erase_applicant
from models.questions import count_questions
from models.registrations import (
    live_registrations_of,
    registrations_of,
    session_and_exam,
)

journey = Journey("my_data")


@journey.command("mydata")
async def show_my_data(ctx: Context) -> None:
    """Shows everything the bot keeps about the applicant."""
    applicant = ctx.applicant
    assert applicant.id is not None
    questions, ratings = await count_questions(ctx.db, applicant.id)
    language = LANGUAGE_NAMES[applicant.locale] if applicant.locale else ctx._("not chosen yet")
    text = ctx._(
        "<b>What I keep about you</b>\n\n"
        "• Telegram account number: {telegram_id}\n"
        "• Language: {language}\n"
        "• Came from: {source}\n"
        "• First message: {since}\n"
        "• Questions kept for the office: {questions}\n"
        "• Answers you rated: {ratings}"
    ).format(
        telegram_id=applicant.telegram_id,
        language=language,
        source=escape(applicant.source or "–"),
        since=ctx.texts.day(applicant.created_at),
        questions=ctx.texts.number(questions),
        ratings=ctx.texts.number(ratings),
    )
    answers = saved_answers(applicant)
    if answers:
        text += "\n\n" + ctx._("<b>Your details for the tests</b>") + "\n"
        text += details_list(ctx.texts, answers)
        if applicant.consented_at:
            text += "\n" + ctx._("• You agreed to their use on: {day}").format(
                day=ctx.texts.day(applicant.consented_at)
            )
    lines = []
    for registration in await registrations_of(ctx.db, applicant.id):
        session, exam = await session_and_exam(ctx.db, registration)
        when = ctx.texts.brief_moment(session.starts_at)
        status = status_name(ctx.texts, registration)
        lines.append(f"• {registration.code}: {exam_name(exam, ctx.locale)}, {when} ({status})")
    if lines:
        text += "\n\n" + ctx._("<b>Your registrations</b>") + "\n" + "\n".join(lines)
    text += "\n\n" + ctx._("Only the test office staff can see this. Send /deleteme to erase it.")
    ctx.show(text, InlineKeyboard.of([home_button(ctx.texts)]))


@journey.command("deleteme")
async def ask_to_erase(ctx: Context) -> None:
    """Asks the applicant to confirm before anything is erased."""
    ctx.show(
        ctx._(
            "⚠️ Erase everything I keep about you: your details, your language, where you came "
            "from and the questions you asked? Your registrations will be cancelled. This cannot "
            "be undone."
        ),
        InlineKeyboard.of(
            [EraseMyData().button(ctx._("Yes, erase my data"))],
            [KeepMyData().button(ctx._("No, keep it"))],
        ),
    )


@journey.button(KeepMyData)
async def keep(ctx: Context, _: KeepMyData) -> None:
    """Leaves the applicant's data as it was."""
    ctx.show(ctx._("Nothing was erased."), InlineKeyboard.of([home_button(ctx.texts)]))


@journey.button(EraseMyData)
async def erase(ctx: Context, pressed: EraseMyData) -> None:
    """Erases the applicant's data."""
    assert ctx.applicant.id is not None
    # Seats first: a deleted applicant must not keep a seat someone in line could have.
    for registration in await live_registrations_of(ctx.db, ctx.applicant.id):
        await release_seat(ctx.db, ctx.services, registration, ctx.now)
    posts = await erase_applicant(ctx.db, ctx.applicant)
    # Their questions already in the staff group lose what they said; a post not sent yet
    # never will be.
    _ = ctx.services.staff_group_texts()
    for post in posts:
        text = _("🗑 <b>Question for the office</b> #{number}\n\nThe applicant erased their data.")
        await post_to_chat(
            ctx.db,
            post.chat_id,
            f"erased-post:{post.question_id}",
            [EditText(post.message_id, text.format(number=post.question_id))],
        )
    ctx.show(
        ctx._(
            "🗑 Your data has been erased. If you write to me again, I will start afresh. "
            "Send /start at any time."
        )
    )
