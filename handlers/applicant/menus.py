"""Screens several journeys lead back to: the main menu and the way home."""

from handlers.applicant.buttons import (
    AskTheBot,
    AskTheOffice,
    BookSeat,
    Help,
    MainMenu,
    MyRegistrations,
    Settings,
)
from handlers.core.events import Button, InlineKeyboard
from handlers.core.texts import Texts
from handlers.faq.buttons import Topics


def home_button(_: Texts) -> Button:
    """The way back to the main menu, under every screen."""
    return MainMenu().button(_("🏠 Main menu"))


def main_menu(_: Texts, office: bool) -> tuple[str, InlineKeyboard]:
    """The main menu: what the bot can do, one big button each.

    With a staff group (`office`), "Ask the office" sends the next message there; without
    one, the applicant is invited to ask the bot.
    """
    text = _(
        "<b>Main menu</b>\n\nWhat would you like to do? "
        "You can also type a question in your own words at any time."
    )
    keyboard = InlineKeyboard.of(
        [BookSeat().button(_("📝 Book a test seat"))],
        [MyRegistrations().button(_("📋 My registrations"))],
        [Topics().button(_("❓ Questions and answers"))],
        [
            AskTheOffice().button(_("✍️ Ask the office"))
            if office
            else AskTheBot().button(_("✍️ Ask a question"))
        ],
        [Settings().button(_("⚙️ Settings")), Help().button(_("ℹ️ Help"))],
    )
    return text, keyboard
