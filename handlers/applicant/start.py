"""Welcome: /start (with the deep-link source it came from), the main menu and /help.

Someone whose first message is a question, without /start, gets its answer first, then
the welcome and the menu.
"""

import re

from handlers.applicant.buttons import AskTheBot, ChooseLanguage, Help, MainMenu
from handlers.applicant.menus import home_button, main_menu
from handlers.applicant.ticket import TICKET_LINK, send_ticket
from handlers.core.commands import staff_commands
from handlers.core.context import Context
from handlers.core.events import InlineKeyboard
from handlers.core.routing import Journey
from handlers.core.texts import LANGUAGE_NAMES, LOCALES
from models.applicants import record_source
from models.registrations import find_by_code

journey = Journey("start")

# Telegram deep links carry at most 64 characters of A-Z, a-z, 0-9, _ and -.
DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


@journey.command("start")
async def start(ctx: Context) -> None:
    """Greets the applicant; on their first visit asks which language they read."""
    payload = ctx.event.argument.strip()
    await ctx.finish()
    if payload.startswith(TICKET_LINK):
        await open_ticket_link(ctx, payload.removeprefix(TICKET_LINK))
        return
    if DEEP_LINK_PAYLOAD.fullmatch(payload):
        record_source(ctx.applicant, payload)
    if ctx.applicant.locale is None:
        ctx.say(
            ctx._(
                "👋 <b>Welcome!</b>\n\nI help you with the Japan work programmes and the "
                "ministry's tests. Which language do you want to read?"
            ),
            InlineKeyboard.of(
                [ChooseLanguage(locale).button(LANGUAGE_NAMES[locale]) for locale in LOCALES]
            ),
        )
        return
    ctx.show(*main_menu(ctx.texts, ctx.services.staff_chat_id is not None))


@journey.after_first_words()
async def welcome_after_first_question(ctx: Context) -> None:
    """After the answer to a newcomer's first message: the welcome, the menu, the languages."""
    _, menu = main_menu(ctx.texts, ctx.services.staff_chat_id is not None)
    ctx.say(
        ctx._(
            "👋 <b>Welcome!</b>\n\nI help you with the Japan work programmes and the ministry's "
            "tests. Type another question at any time, or choose what you want to do. "
            "To read another language, choose it at the bottom."
        ),
        InlineKeyboard.of(
            *menu.rows,
            [ChooseLanguage(locale).button(LANGUAGE_NAMES[locale]) for locale in LOCALES],
        ),
    )


async def open_ticket_link(ctx: Context, code: str) -> None:
    """A ticket's QR code, opened by anyone but staff: its owner sees the ticket again, anyone
    else the menu (staff see the check-in screen: handlers/staff/office.py claims the link)."""
    registration = await find_by_code(ctx.db, code)
    if registration is None or registration.applicant_id != ctx.applicant.id:
        ctx.show(*main_menu(ctx.texts, ctx.services.staff_chat_id is not None))
        return
    ctx.say(ctx._("🎫 Your ticket:"))
    await send_ticket(ctx, registration)


@journey.command("menu")
async def menu(ctx: Context) -> None:
    """Shows the main menu."""
    await ctx.finish()
    ctx.show(*main_menu(ctx.texts, ctx.services.staff_chat_id is not None))


@journey.button(MainMenu)
async def menu_button(ctx: Context, _: MainMenu) -> None:
    """Sends the main menu as a new message: the answer the button was under stays readable."""
    await ctx.finish()
    ctx.say(*main_menu(ctx.texts, ctx.services.staff_chat_id is not None))


@journey.button(Help)
async def help_button(ctx: Context, _: Help) -> None:
    """Shows the help in place of the screen the button was on."""
    await help_(ctx)


@journey.command("help")
async def help_(ctx: Context) -> None:
    """Explains what the bot does and the commands it knows."""
    ctx.show(
        ctx._(
            "<b>How I can help</b>\n\n"
            "• Type a question in Khmer, English or Japanese, in your own words, and I will "
            "look for the answer.\n"
            "• Browse the questions and answers by topic.\n"
            "• If I cannot answer, I keep your question for the test office staff.\n"
            "• Book a seat at the skills test or the Japanese language test.\n\n"
            "<b>Commands</b>\n"
            "/start – main menu\n"
            "/book – book a test seat\n"
            "/mybookings – your registrations: cancel or change the date\n"
            "/cancel – stop registering\n"
            "/ticket – your ticket again\n"
            "/settings – reminders on or off\n"
            "/faq – questions and answers\n"
            "/language – change the language\n"
            "/mydata – what I keep about you\n"
            "/deleteme – erase it\n"
            "/help – this help"
        )
        + await _staff_help(ctx),
        InlineKeyboard.of([home_button(ctx.texts)]),
    )


async def _staff_help(ctx: Context) -> str:
    """For staff, the staff commands their role allows; nothing for an applicant."""
    allowed = staff_commands(await ctx.staff_role())
    if not allowed:
        return ""
    lines = [f"/{command.name} – {command.describe(ctx.texts)}" for command in allowed]
    return "\n\n" + ctx._("<b>Staff commands</b>") + "\n" + "\n".join(lines)


@journey.button(AskTheBot)
async def ask(ctx: Context, _: AskTheBot) -> None:
    """Invites the applicant to type their question."""
    ctx.show(
        ctx._(
            "✍️ Type your question below in your own words, for example: "
            "<i>What documents do I need for the test?</i>\n\n"
            "I answer at once if I can; if I cannot, I keep your question for the test office "
            "staff."
        ),
        InlineKeyboard.of([home_button(ctx.texts)]),
    )
