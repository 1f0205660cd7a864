"""Channels: thin translators between a platform and the conversation core."""

from typing import Protocol

from bot.delivery import Delivery
from handlers.core.events import Outgoing


class Channel(Protocol):
    """Where the conversation meets its users: the console, or Telegram."""

    async def run(self) -> None:
        """Reads what users do and answers it, until the input ends or the channel stops."""
        ...

    async def send_one(self, chat_id: int, action: Outgoing) -> Delivery:
        """Shows one queued message (the outbox sender's request), without retrying."""
        ...
