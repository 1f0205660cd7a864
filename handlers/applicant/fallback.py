"""Everything the bot does not handle gets a short, polite answer and changes nothing."""

from html import escape

from handlers.core.context import Context
from handlers.core.events import Kind
from handlers.core.routing import Journey

journey = Journey("fallback")


@journey.other()
async def not_understood(ctx: Context) -> None:
    """Explains, in the applicant's language, what the bot can read instead."""
    event = ctx.event
    if event.kind is Kind.BUTTON:
        ctx.out_of_date()
    elif event.kind is Kind.COMMAND:
        ctx.say(
            ctx._("I don't know the command /{command}. Send /help to see what I can do.").format(
                command=escape(event.command[:64])
            )
        )
    elif event.kind is Kind.CONTACT:
        ctx.say(ctx._("Thank you, but I do not need your phone number now."))
    elif event.content == "voice":
        ctx.say(
            ctx._("Sorry, I cannot listen to voice messages. Please type your question in words.")
        )
    elif event.content == "edit":
        ctx.say(ctx._("I only read new messages. Please send your corrected question again."))
    else:
        ctx.say(
            ctx._(
                "Sorry, I can only read text. Please type your question, or send /start "
                "for the menu."
            )
        )
