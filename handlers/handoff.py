"""Asking the office: a question the FAQ could not answer goes to the staff group, and back.

The applicant sends it with one button under "I don't know". The bot posts it in the
staff group (STAFF_CHAT_ID) with who asked, their language and registrations; a staff
member answers by replying to that post, the bot delivers the answer to the applicant
(through the outbox, saying it is from the office) and marks the post answered.
"""

from html import escape

from handlers.context import Context
from handlers.events import Button, EditText, InlineKeyboard, Outgoing, SendText
from handlers.letters import post_to_chat, tell
from handlers.menus import home_button
from handlers.routing import Journey
from handlers.staff import is_staff, note_refusal
from handlers.texts import LANGUAGE_NAMES, Texts
from models.applicants import Applicant
from models.outbox import sent_message
from models.questions import UnansweredQuestion
from models.registrations import registrations_of
from models.staff import audit

journey = Journey("handoff")
office = Journey("handoff-office", gate=is_staff, refused=note_refusal)

POST_KEY = "handoff:"


def ask_office_button(_: Texts, question_id: int) -> Button:
    """Under "I don't know": hands the question to the office."""
    return Button(_("📨 Send my question to the office"), f"{POST_KEY}{question_id}")


@journey.button("handoff")
async def send_to_office(ctx: Context) -> None:
    """Posts the applicant's question in the staff group, once."""
    number = ctx.event.button_data.partition(":")[2]
    question = await ctx.db.get(UnansweredQuestion, int(number)) if number.isdigit() else None
    staff_chat = ctx.services.staff_chat_id
    if question is None or question.applicant_id != ctx.applicant.id or staff_chat is None:
        ctx.out_of_date()
        return
    if question.sent_to_office_at is not None:
        ctx.notify(ctx._("Your question is with the office already."))
        return
    question.sent_to_office_at = ctx.services.now()
    ctx.db.add(question)
    # The answer comes later, through the outbox: in the language they are reading now.
    ctx.applicant.locale = ctx.applicant.locale or ctx.locale
    post = await _office_post(ctx, question)
    await post_to_chat(ctx.db, staff_chat, f"{POST_KEY}{question.id}", [SendText(post)])
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


@office.reply_in_staff_group()
async def answer_from_the_office(ctx: Context) -> None:
    """A staff reply to a question's post: delivered to the applicant, the post marked answered."""
    assert ctx.event.reply_to_message_id is not None
    staff_chat = ctx.event.chat_id
    post = await sent_message(ctx.db, staff_chat, ctx.event.reply_to_message_id)
    if post is None or not post.dedupe_key.startswith(POST_KEY):
        return  # a reply to something else the bot said: not an answer
    question = await ctx.db.get(UnansweredQuestion, int(post.dedupe_key.removeprefix(POST_KEY)))
    if question is None:
        return
    applicant = (
        await ctx.db.get(Applicant, question.applicant_id) if question.applicant_id else None
    )
    answer = ctx.event.text.strip()[:3500]
    now = ctx.services.now()
    question.answered_at, question.answered_by, question.answer = now, ctx.event.user_id, answer
    ctx.db.add(question)
    await audit(ctx.db, ctx.actor, "answer_question", f"question:{question.id}")
    if applicant is not None:

        def compose(_: Texts) -> list[Outgoing]:
            return [
                SendText(
                    _("💬 <b>Answer from the test office</b>\n\n{answer}").format(
                        answer=escape(answer)
                    )
                )
            ]

        key = f"answer:{question.id}:{ctx.event.update_id or int(now.timestamp())}"
        await tell(ctx.db, ctx.services, applicant, key, compose)
    _ = ctx.services.texts(ctx.services.default_locale)
    assert post.telegram_message_id is not None
    marked = (
        post.content[0]["text"]
        + "\n\n"
        + _("✅ Answered by {staff} at {time}").format(
            staff=ctx.event.user_id, time=_.timestamp(now)
        )
    )
    await post_to_chat(
        ctx.db,
        staff_chat,
        f"answered:{question.id}:{ctx.event.update_id or int(now.timestamp())}",
        [EditText(post.telegram_message_id, marked[:4096])],
    )
