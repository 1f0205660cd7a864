"""Bare echo bots, the baseline of bench/throughput.py: one per framework, polling or webhook.

Each answers every text message with the same text, one sendMessage, and nothing else:
no database, no rate limits, no conversation. They are written the way each framework's
documentation writes an echo bot, with two choices made to match the real bot's delivery:

- aiogram polls with `handle_as_tasks=True` (each update its own task, as the bot does);
  its webhook is aiogram's `SimpleRequestHandler` with `handle_in_background=False`,
  which answers Telegram after the handler ran, as the bot's webhook server does (the
  fake then sends that chat's next update, as Telegram does).
- python-telegram-bot runs a `MessageHandler`; by default PTB handles one update at a
  time; `concurrent=True` makes the polling handler non-blocking (a task per update, as
  the bot's PTB channel does). Its webhook is a small aiohttp handler that awaits
  `Application.process_update` and then answers (PTB's own tornado server answers
  before handling, which would let the fake send a chat's updates back to back).

Run by bench/throughput.py in a process of its own; stops on SIGTERM or SIGINT.
"""

import asyncio
import signal
from urllib.parse import urlsplit

from aiohttp import web

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CONNECTIONS = 40  # as the bot registers its webhook (telegram.DEFAULT_MAX_CONNECTIONS)


async def until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()


async def serve_site(app: web.Application, listen: str) -> web.AppRunner:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    return runner


async def aiogram_echo(
    token: str, api_url: str, webhook_url: str | None, secret: str, listen: str
) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
    bot = Bot(token, session=session)
    try:
        if webhook_url is None:
            await dispatcher.start_polling(bot, handle_as_tasks=True, handle_signals=True)
            return
        app = web.Application()
        handler = SimpleRequestHandler(
            dispatcher, bot, handle_in_background=False, secret_token=secret
        )
        handler.register(app, path=urlsplit(webhook_url).path)
        runner = await serve_site(app, listen)
        try:
            await bot.set_webhook(
                webhook_url, secret_token=secret, max_connections=MAX_CONNECTIONS
            )
            await until_signalled()
        finally:
            await runner.cleanup()
    finally:
        await bot.session.close()


async def ptb_echo(
    token: str,
    api_url: str,
    webhook_url: str | None,
    secret: str,
    listen: str,
    concurrent: bool,
) -> None:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        await message.reply_text(message.text or "?")

    api_url = api_url.rstrip("/")
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .build()
    )
    # A webhook request is answered when process_update returns: there the handler blocks.
    block = webhook_url is not None or not concurrent
    application.add_handler(MessageHandler(filters.TEXT, echo, block=block))
    await application.initialize()
    try:
        if webhook_url is None:
            assert application.updater is not None
            await application.updater.start_polling()
            await application.start()
            await until_signalled()
            await application.updater.stop()
            await application.stop()
            return

        async def receive(request: web.Request) -> web.Response:
            if request.headers.get(SECRET_HEADER) != secret:
                return web.Response(status=401)
            update = Update.de_json(await request.json(), application.bot)
            await application.process_update(update)
            return web.Response()

        app = web.Application()
        app.router.add_post(urlsplit(webhook_url).path, receive)
        runner = await serve_site(app, listen)
        await application.start()
        try:
            await application.bot.set_webhook(
                webhook_url, secret_token=secret, max_connections=MAX_CONNECTIONS
            )
            await until_signalled()
        finally:
            await runner.cleanup()
            await application.stop()
    finally:
        await application.shutdown()
