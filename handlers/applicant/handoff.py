"""Asking the office: a question the FAQ could not answer goes to the staff group.

The applicant sends it with one button under "I don't know". The bot posts it in the
staff group (STAFF_CHAT_ID) with who asked, their language and registrations; the
office answers by replying to that post (handlers/staff/answers.py).
"""

from html import escape

from handlers.applicant.buttons import SendToOffice
from handlers.applicant.menus import home_button
from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard, SendText
from handlers.core.letters import post_to_chat
from handlers.core.routing import Journey
from handlers.core.texts import LANGUAGE_NAMES, Texts
from handlers.faq.teaching_buttons import office_post_buttons
from models.questions import UnansweredQuestion, hand_to_office
from models.registrations import registrations_of

journey = Journey("handoff")

POST_KEY = "handoff:"  # the dedupe key of a question's post in the staff group


def ask_office_button(_: Texts, question_id: int) -> Button:
    """Under "I don't know": hands the question to the office."""
    return SendToOffice(question_id).button(_("📨 Send my question to the office"))


@journey.button(SendToOffice)
async def send_to_office(ctx: Context, pressed: SendToOffice) -> None:
    """Posts the applicant's question in the staff group, once."""
    question = await ctx.db.get(UnansweredQuestion, pressed.question_id)
    staff_chat = ctx.services.staff_chat_id
    if question is None or question.applicant_id != ctx.applicant.id or staff_chat is None:
        ctx.out_of_date()
        return
    if not await hand_to_office(ctx.db, question, ctx.now):
        ctx.notify(ctx._("Your question is with the office already."))
        return
    # The answer comes later, through the outbox: in the language they are reading now.
    ctx.applicant.locale = ctx.applicant.locale or ctx.locale
    post = await _office_post(ctx, question)
    # Under the post, staff can also teach the bot: attach it to an FAQ entry, or set it aside.
    buttons = office_post_buttons(
        ctx.services.texts(ctx.services.default_locale), pressed.question_id
    )
    await post_to_chat(ctx.db, staff_chat, f"{POST_KEY}{question.id}", [SendText(post, buttons)])
    ctx.show(
        ctx._(
            "📨 Your question has been sent to the test office. Their answer will come here, "
            "in this chat."
        ),
        InlineKeyboard.of([home_button(ctx.texts)]),
    )


async def _office_post(ctx: Context, question: UnansweredQuestion) -> str:
    """The post in the staff group: who asked, in which language, their registrations."""
    _ = ctx.services.texts(ctx.services.default_locale)  # the office reads the default language
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
        question=escape(question.text),
    )
