"""One running instance of the bot on Telegram: channel, outbox sender, scheduler, webhook.

Polling (the default) suits one instance: Telegram hands updates to one poller only.
Webhook mode suits one or many: identical instances behind a load balancer share one
PostgreSQL database. Each instance answers the updates it is given, sends outbox rows
(claimed one by one, skipping rows another instance holds), spends from the one
sending budget in the database, and runs every scheduled job, which takes its turn
through a database lock. Nothing distinguishes one instance from another but its name,
which marks the outbox rows it claims so that it re-sends its own after a crash.
"""

import asyncio
import logging
import signal

from bot.app import App
from bot.channels.libraries import telegram_api
from bot.channels.telegram import (
    ALLOWED_UPDATES,
    DEFAULT_MAX_CONNECTIONS,
    TelegramChannel,
    WebhookSpec,
)
from bot.config import Settings
from bot.delivery import OutboxSender
from bot.metrics import MetricsServer
from bot.pacing import SendPacer, SharedSendPacer
from bot.scheduler import JobScheduler, SenderKick, build_scheduler
from models.turns import wait_for_job_turn

logger = logging.getLogger(__name__)


def telegram_channel(settings: Settings, app: App, pacer: SendPacer) -> TelegramChannel:
    """The channel on BOT_FRAMEWORK: aiogram or python-telegram-bot, the same bot on either."""
    api = telegram_api(
        settings.bot_framework, settings.require_bot_token(), str(settings.telegram_api_url)
    )
    return TelegramChannel(
        api, app.conversation, pacer=pacer, account=app.account, metrics=app.metrics
    )


# Connections of the HTTP pool kept for replies and button answers, whatever the outbox does.
REPLY_CONNECTIONS = 8


def outbox_window(settings: Settings, channel: TelegramChannel) -> int:
    """The most outbox requests in flight at once: SEND_WINDOW, within the HTTP pool (a
    request waiting for a connection would look like a longer round trip to the pacer)."""
    return max(1, min(settings.send_window, channel.api.connections - REPLY_CONNECTIONS))


async def sending_budget(settings: Settings, app: App) -> SendPacer:
    """Replies and the outbox share one budget, as Telegram counts them together; on
    PostgreSQL, where several instances may run, it is kept in the database."""
    if app.engine.dialect.name != "postgresql":
        return SendPacer(rate=settings.send_rate)
    pacer = SharedSendPacer(app.engine, rate=settings.send_rate)
    await pacer.prepare()
    return pacer


async def run_instance(
    settings: Settings,
    app: App,
    stop: asyncio.Event | None = None,
    pacer: SendPacer | None = None,
) -> None:
    """Runs until SIGINT or SIGTERM (or `stop`): polling, or a webhook when WEBHOOK_URL is set.

    `pacer` replaces the budget the settings give (benchmarks lift the per-chat limit).
    """
    pacer = pacer or await sending_budget(settings, app)
    channel = telegram_channel(settings, app, pacer)
    sessions, services = app.conversation.sessions, app.conversation.services
    sender = OutboxSender(
        sessions,
        channel.send_one,
        pacer,
        settings.quiet,
        instance=settings.instance,
        window_cap=outbox_window(settings, channel),
        metrics=app.metrics,
        watch=app.watch,
    )
    await sender.recover()
    kick = SenderKick(sender)
    scheduler = build_scheduler(sessions, services, kick, retention=settings.retention)
    scheduler.start()
    metrics_server = None
    if settings.metrics_address is not None:
        host, port = settings.metrics_address
        metrics_server = MetricsServer(host, port, lambda: app.metrics.page(sessions))
        await metrics_server.start()
    try:
        if settings.webhook_url is None:
            await channel.run(handle_signals=True)
        else:
            await _serve_webhook(settings, app, channel, scheduler, stop or asyncio.Event())
    finally:
        if metrics_server is not None:
            await metrics_server.stop()
        await scheduler.stop()
        await kick.stop()
        await channel.close()


async def _serve_webhook(
    settings: Settings,
    app: App,
    channel: TelegramChannel,
    scheduler: JobScheduler,
    stop: asyncio.Event,
) -> None:
    from bot.webhook import WebhookServer, app_health, ensure_webhook, webhook_path

    assert settings.webhook_url is not None
    assert settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    host, port = settings.listen
    server = WebhookServer(
        host=host,
        port=port,
        path=webhook_path(str(settings.webhook_url)),
        secret=secret,
        feed=channel.feed,
        health=app_health(app.watch, lambda: bool(scheduler.running)),
        metrics=lambda: app.metrics.page(app.conversation.sessions),
    )
    await channel.start()
    await server.start()
    spec = WebhookSpec(
        url=str(settings.webhook_url),
        allowed_updates=tuple(ALLOWED_UPDATES),
        max_connections=DEFAULT_MAX_CONNECTIONS,  # each carries one chat's update at a time
    )
    # Instances starting together take turns: the first sets the webhook, the rest find it.
    async with app.conversation.sessions() as db, db.begin():
        await wait_for_job_turn(db, "set-webhook")
        await ensure_webhook(channel, spec, secret)
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    logger.info("instance %s answers webhooks on %s:%s", settings.instance, host, port)
    try:
        await stop.wait()
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)
        await server.stop()
