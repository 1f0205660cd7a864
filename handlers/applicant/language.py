"""Choosing the language the bot speaks: Khmer, English or Japanese."""

from handlers.applicant.buttons import ChooseLanguage, LanguageChoice
from handlers.applicant.menus import home_button, main_menu
from handlers.applicant.notices import retell_reminders
from handlers.core.context import Context
from handlers.core.events import InlineKeyboard
from handlers.core.routing import Journey
from handlers.core.texts import LANGUAGE_NAMES, LOCALES

journey = Journey("language")


@journey.command("language", "lang")
async def choose_language(ctx: Context) -> None:
    """Offers the three languages, each written in itself."""
    ctx.show(_language_question(ctx), _language_buttons(ctx))


@journey.button(LanguageChoice)
async def offer_languages(ctx: Context, _: LanguageChoice) -> None:
    """Offers the three languages in place of the screen the button was on."""
    await choose_language(ctx)


@journey.button(ChooseLanguage)
async def set_language(ctx: Context, pressed: ChooseLanguage) -> None:
    """Saves the language picked and shows the menu in it."""
    locale = pressed.locale
    if locale not in LOCALES:
        ctx.out_of_date()
        return
    if ctx.applicant.locale != locale:
        ctx.applicant.locale = locale
        await retell_reminders(ctx.db, ctx.services, ctx.applicant)
    ctx.use_locale(locale)
    ctx.notify(ctx._("Language: English"))
    ctx.show(*main_menu(ctx.texts, ctx.services.staff_chat_id is not None))


def _language_question(ctx: Context) -> str:
    return ctx._("🌐 Which language do you want to read?")


def _language_buttons(ctx: Context) -> InlineKeyboard:
    return InlineKeyboard.of(
        [ChooseLanguage(locale).button(LANGUAGE_NAMES[locale]) for locale in LOCALES],
        [home_button(ctx.texts)],
    )
