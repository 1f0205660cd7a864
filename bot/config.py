"""Settings from the environment and an optional .env file."""

import re
import socket
from datetime import time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.retention import Retention
from models.schedule import QuietHours, ReminderPlan

Locale = Literal["km", "en", "ja"]
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/applicant-bot.sqlite3"
# What Telegram accepts as secret_token, and at least 32 characters: the webhook faces the
# internet, and a short secret can be guessed.
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,256}")


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


class Settings(BaseSettings):
    """Everything the bot can be told from outside. See .env.example."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    telegram_api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    database_url: str = DEFAULT_DATABASE_URL
    default_locale: Locale = "km"
    timezone: str = "Asia/Phnom_Penh"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    staff_chat_id: int | None = None
    staff_locale: Locale = "en"  # the staff group's language
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    send_rate: int = Field(default=30, ge=1, le=1000)
    send_window: int = Field(default=256, ge=1, le=1000)
    quiet_hours: str = "21:00-07:00"
    offer_hours: float = Field(default=12, gt=0, le=24 * 14)
    reminder_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [7, 1])
    reminder_time: time = time(9, 0)
    test_day_reminder_time: time = time(7, 0)
    bot_framework: Literal["aiogram", "ptb"] = "aiogram"
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1:8080"
    metrics_listen: str | None = None  # host:port for GET /metrics besides the webhook's
    instance_name: str = Field(default="", max_length=64)
    panel_listen: str = "127.0.0.1:8081"
    panel_url: AnyHttpUrl | None = None  # the panel's public address, for login links
    panel_secret: SecretStr | None = None  # signs the panel's cookies
    panel_login_widget: str | None = None  # the bot's username: shows the Telegram Login Widget
    # Days kept before the daily pruning job deletes them (see README, "Privacy").
    retain_sent_days: int = Field(default=30, ge=1)
    retain_updates_days: int = Field(default=2, ge=1)
    retain_refused_days: int = Field(default=90, ge=1)

    @field_validator(
        "webhook_url",
        "webhook_secret",
        "staff_chat_id",
        "metrics_listen",
        "panel_url",
        "panel_secret",
        "panel_login_widget",
        mode="before",
    )
    @classmethod
    def empty_is_unset(cls, value: object) -> object:
        """`WEBHOOK_URL=` in .env means polling, not a malformed URL."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_secret")
    @classmethod
    def telegram_secret_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("use 32 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("panel_secret")
    @classmethod
    def long_panel_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("use at least 32 random characters")
        return value

    @field_validator("webhook_listen", "metrics_listen", "panel_listen")
    @classmethod
    def host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("write it as host:port, e.g. 0.0.0.0:8080")
        return value

    @model_validator(mode="after")
    def webhook_needs_a_secret(self) -> "Settings":
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError(
                "WEBHOOK_SECRET: must be set with WEBHOOK_URL, so that only Telegram can post"
            )
        return self

    @field_validator("admin_ids", mode="before")
    @classmethod
    def split_ids(cls, value: object) -> object:
        """Accepts "1, 2, 3" as well as a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("reminder_days", mode="before")
    @classmethod
    def split_days(cls, value: object) -> object:
        """Accepts "7, 1" as well as a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reminder_days")
    @classmethod
    def days_before_the_test(cls, value: list[int]) -> list[int]:
        if any(not 1 <= days <= 60 for days in value):
            raise ValueError("each must be a number of days from 1 to 60")
        return sorted(set(value), reverse=True)

    @field_validator("quiet_hours")
    @classmethod
    def hours_from_to(cls, value: str) -> str:
        try:
            start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
        except ValueError:
            raise ValueError("write it as HH:MM-HH:MM, e.g. 21:00-07:00") from None
        if start == end:
            raise ValueError("the start and the end must differ")
        return value

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("database_url")
    @classmethod
    def supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://...")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def listen(self) -> tuple[str, int]:
        """WEBHOOK_LISTEN as host and port."""
        return split_address(self.webhook_listen)

    @property
    def panel_address(self) -> tuple[str, int]:
        """PANEL_LISTEN as host and port."""
        return split_address(self.panel_listen)

    def require_panel(self) -> tuple[str, str]:
        """PANEL_URL (without a trailing slash) and PANEL_SECRET, or a ConfigurationError."""
        missing = [
            name
            for name, value in (("PANEL_URL", self.panel_url), ("PANEL_SECRET", self.panel_secret))
            if value is None
        ]
        if missing or self.panel_url is None or self.panel_secret is None:
            raise ConfigurationError(
                f"{' and '.join(missing)} not set: the panel needs its public address "
                "(for login links) and a secret of 32+ characters (to sign its cookies)"
            )
        return str(self.panel_url).rstrip("/"), self.panel_secret.get_secret_value()

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """METRICS_LISTEN as host and port; None when it is not set."""
        return None if self.metrics_listen is None else split_address(self.metrics_listen)

    @property
    def instance(self) -> str:
        """INSTANCE_NAME, or the host name (and, in webhook mode, the port: one host may run
        several)."""
        if self.instance_name.strip():
            return self.instance_name.strip()
        if self.webhook_url is None:
            return socket.gethostname()
        return f"{socket.gethostname()}:{self.listen[1]}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def quiet(self) -> QuietHours:
        start, end = (time.fromisoformat(part.strip()) for part in self.quiet_hours.split("-"))
        return QuietHours(start, end, self.zone)

    @property
    def reminder_plan(self) -> ReminderPlan:
        return ReminderPlan(
            self.zone, tuple(self.reminder_days), self.reminder_time, self.test_day_reminder_time
        )

    @property
    def retention(self) -> Retention:
        return Retention(
            sent_messages=timedelta(days=self.retain_sent_days),
            processed_updates=timedelta(days=self.retain_updates_days),
            refused_attempts=timedelta(days=self.retain_refused_days),
        )

    def require_bot_token(self) -> str:
        """The token, or a ConfigurationError naming BOT_TOKEN."""
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise ConfigurationError(
                "BOT_TOKEN is not set: put the token from @BotFather in the environment or .env"
            )
        token = self.bot_token.get_secret_value().strip()
        if ":" not in token:
            raise ConfigurationError("BOT_TOKEN is malformed: expected '<digits>:<letters>'")
        return token


def split_address(address: str) -> tuple[str, int]:
    """A checked "host:port" (or "[::1]:port") as host and port."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def load_settings(**overrides: object) -> Settings:
    """Reads the settings, turning pydantic's report into one line per bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            message = item["msg"].removeprefix("Value error, ")
            # A rule across settings names them itself.
            problems.append(
                f"{str(item['loc'][0]).upper()}: {message}" if item["loc"] else message
            )
        raise ConfigurationError("; ".join(problems)) from None
