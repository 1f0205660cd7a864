"""Settings: reminders before a test on or off, and the language."""

from handlers.applicant.menus import home_button
from handlers.applicant.notices import drop_reminders, plan_reminders
from handlers.core.context import Context
from handlers.core.events import Button, InlineKeyboard
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
        Button(ctx._("🔕 Turn reminders off"), "settings:reminders:off")
        if on
        else Button(ctx._("🔔 Turn reminders on"), "settings:reminders:on")
    )
    ctx.show(
        text,
        InlineKeyboard.of(
            [switch], [Button(ctx._("🌐 Language"), "lang:choose")], [home_button(ctx.texts)]
        ),
    )


@journey.button("settings")
async def settings_button(ctx: Context) -> None:
    """The settings screen, or the reminders switch pressed."""
    parts = ctx.event.button_data.split(":")
    if parts[1:] in (["reminders", "on"], ["reminders", "off"]):
        await switch_reminders(ctx, parts[2] == "on")
    elif len(parts) != 1:
        ctx.out_of_date()
        return
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
