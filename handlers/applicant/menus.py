"""Screens several journeys lead back to: the main menu and the way home."""

from handlers.core.events import Button, InlineKeyboard
from handlers.core.texts import Texts


def home_button(_: Texts) -> Button:
    """The way back to the main menu, under every screen."""
    return Button(_("🏠 Main menu"), "menu")


def main_menu(_: Texts) -> tuple[str, InlineKeyboard]:
    """The main menu: what the bot can do, one big button each."""
    text = _(
        "<b>Main menu</b>\n\nWhat would you like to do? "
        "You can also type a question in your own words at any time."
    )
    keyboard = InlineKeyboard.of(
        [Button(_("📝 Book a test seat"), "book")],
        [Button(_("📋 My registrations"), "mine")],
        [Button(_("❓ Questions and answers"), "faq:home")],
        [Button(_("✍️ Ask the office"), "ask")],
        [Button(_("⚙️ Settings"), "settings"), Button(_("ℹ️ Help"), "help")],
    )
    return text, keyboard
