"""Settings: reminders before a test on or off, and the language."""

from handlers.applicant.buttons import LanguageChoice, RemindersOff, RemindersOn, Settings
from handlers.applicant.menus import home_button
from handlers.applicant.notices import drop_reminders, plan_reminders
from handlers.core.context import Context
from handlers.core.events import InlineKeyboard
from handlers.core.routing import Journey
from models.registrations import RegistrationStatus, registrations_of

journey = Journey("settings")


@journey.command("settings")
async def show_settings(ctx: Context) -> None:
    """Shows whether reminders are on, with the switch."""
    on = ctx.applicant.reminders
    text = (
        ctx._("⚙️ <b>Settings</b>\n\n🔔 Reminders before your test: <b>on</b>.")
        if on
        else ctx._("⚙️ <b>Settings</b>\n\n🔕 Reminders before your test: <b>off</b>.")
    )
    switch = (
        RemindersOff().button(ctx._("🔕 Turn reminders off"))
        if on
        else RemindersOn().button(ctx._("🔔 Turn reminders on"))
    )
    ctx.show(
        text,
        InlineKeyboard.of(
            [switch], [LanguageChoice().button(ctx._("🌐 Language"))], [home_button(ctx.texts)]
        ),
    )


@journey.button(Settings)
async def settings_button(ctx: Context, _: Settings) -> None:
    """The settings screen, in place of the screen the button was on."""
    await show_settings(ctx)


@journey.button(RemindersOn)
async def turn_reminders_on(ctx: Context, _: RemindersOn) -> None:
    """Reminders before a test from now on, and the settings again."""
    await switch_reminders(ctx, True)
    await show_settings(ctx)


@journey.button(RemindersOff)
async def turn_reminders_off(ctx: Context, _: RemindersOff) -> None:
    """No more reminders, and the settings again."""
    await switch_reminders(ctx, False)
    await show_settings(ctx)


async def switch_reminders(ctx: Context, on: bool) -> None:
    """Turns reminders on or off for every confirmed registration, from now on."""
    ctx.applicant.reminders = on
    ctx.db.add(ctx.applicant)
    assert ctx.applicant.id is not None
    for registration in await registrations_of(ctx.db, ctx.applicant.id):
        if registration.status != RegistrationStatus.CONFIRMED:
            continue
        if on:
            await plan_reminders(ctx.db, ctx.services, registration)
        else:
            await drop_reminders(ctx.db, registration)
    ctx.notify(ctx._("Reminders are on.") if on else ctx._("Reminders are off."))
