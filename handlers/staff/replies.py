"""Answers from the office: a staff member replies to a question's post in the staff group.

The bot delivers the reply to the applicant who asked (through the outbox, saying it is
from the office) and marks the post answered.
"""

from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.context import Context
from handlers.core.events import EditText, Outgoing, SendText
from handlers.core.letters import post_to_chat, tell
from handlers.core.routing import Journey, requires
from handlers.core.services import Services
from handlers.core.texts import Texts
from handlers.faq.teaching import attached_entry
from handlers.faq.teaching_buttons import office_post_buttons
from handlers.staff.teaching import settled_line
from models.applicants import Applicant
from models.outbox import sent_message
from models.questions import OFFICE_EDIT_KEY, OFFICE_POST_KEY, UnansweredQuestion, answer_question
from models.staff import Role

journey = Journey("office-answers", gate=requires(Role.OPERATOR))


async def deliver_answer(
    db: AsyncSession,
    services: Services,
    question: UnansweredQuestion,
    staff_id: int,
    answer: str,
    actor: str,
    key: str,
) -> bool:
    """Records the office's answer and sends it to who asked, through the outbox (from the
    staff group or the web panel); False when the applicant erased their data."""
    await answer_question(db, question, staff_id, answer, actor, services.now())
    applicant = await db.get(Applicant, question.applicant_id) if question.applicant_id else None
    if applicant is None:
        return False

    def compose(_: Texts) -> list[Outgoing]:
        return [
            SendText(
                _("💬 <b>Answer from the test office</b>\n\n{answer}").format(
                    answer=escape(answer)
                )
            )
        ]

    await tell(db, services, applicant, f"answer:{question.id}:{key}", compose)
    return True


@journey.reply_in_staff_group()
async def answer_from_the_office(ctx: Context) -> None:
    """A staff reply to a question's post: delivered to the applicant, the post marked answered."""
    assert ctx.event.reply_to_message_id is not None
    staff_chat = ctx.event.chat_id
    post = await sent_message(ctx.db, staff_chat, ctx.event.reply_to_message_id)
    if post is None or not post.dedupe_key.startswith(OFFICE_POST_KEY):
        return  # a reply to something else the bot said: not an answer
    question_id = int(post.dedupe_key.removeprefix(OFFICE_POST_KEY))
    question = await ctx.db.get(UnansweredQuestion, question_id)
    if question is None:
        return
    answer = ctx.event.text.strip()[:3500]
    now = ctx.now
    await deliver_answer(
        ctx.db, ctx.services, question, ctx.event.user_id, answer, ctx.actor,
        f"{ctx.event.update_id or int(now.timestamp())}",
    )  # fmt: skip
    _ = ctx.services.staff_group_texts()
    assert post.telegram_message_id is not None
    marked = (
        post.content[0]["text"]
        + "\n\n"
        + _("✅ Answered by {staff} at {time}").format(
            staff=escape(ctx.event.user_name or str(ctx.event.user_id)), time=_.brief_moment(now)
        )
    )
    # The buttons that teach the bot stay until the question is settled; then it says how.
    if question.resolution is None:
        keyboard = office_post_buttons(_, question_id)
    else:
        entry = await attached_entry(ctx.db, ctx.services.faq, question)
        marked += "\n\n" + settled_line(_, question, entry)
        keyboard = None
    await post_to_chat(
        ctx.db,
        staff_chat,
        f"{OFFICE_EDIT_KEY}{question.id}:{ctx.event.update_id or int(now.timestamp())}",
        # Never cut: the post left room for these lines (see OFFICE_POST_QUESTION_MAX), and a
        # cut could fall inside an escaped character, which Telegram refuses as bad HTML.
        [EditText(post.telegram_message_id, marked, keyboard)],
    )
