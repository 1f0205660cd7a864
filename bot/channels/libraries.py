"""The Telegram library the bot runs on, chosen by BOT_FRAMEWORK."""

from bot.channels.telegram import TelegramApi


def telegram_api(framework: str, token: str, api_url: str) -> TelegramApi:
    """The Bot API client of BOT_FRAMEWORK: "ptb" is python-telegram-bot, else aiogram.

    Imported here so that a bot on one library never loads the other.
    """
    if framework == "ptb":
        from bot.channels.telegram_ptb import PtbApi

        return PtbApi(token, api_url)
    from bot.channels.telegram_aiogram import AiogramApi

    return AiogramApi(token, api_url)
