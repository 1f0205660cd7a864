"""Logging without personal data: library loggers held at WARNING, the bot token redacted.

At DEBUG, aiosqlite and SQLAlchemy print each statement's parameters (phones, ID numbers),
and the HTTP clients under aiogram and PTB print each request's URL, which holds the bot
token. Those loggers stay at WARNING whatever LOG_LEVEL says, and every line that reaches
the handler has any token in it replaced, tracebacks included.
"""

import logging
import re
from typing import TextIO

# The libraries whose DEBUG and INFO lines carry SQL parameters, message texts or URLs.
PINNED_LOGGERS = (
    "aiosqlite",
    "sqlalchemy",
    "asyncpg",
    "telegram",
    "aiogram",
    "aiohttp",
    "httpx",
    "httpcore",
    "apscheduler",  # not private, but it ticks every second and would drown everything else
)
# A Telegram bot token as @BotFather gives them, for a token not configured here.
TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
REDACTED = "<token>"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats a record, then replaces the secrets in the whole line (traceback too)."""

    def __init__(self, secrets: list[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return TOKEN_SHAPE.sub(REDACTED, line)


def configure_logging(level: str | int, secrets: list[str], stream: TextIO) -> logging.Handler:
    """Sends the log to `stream` at `level`, libraries at WARNING at least, secrets redacted;
    returns the handler added to the root logger."""
    level = logging.getLevelName(level) if isinstance(level, str) else level
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for name in PINNED_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler
