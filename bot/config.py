"""Settings from the environment and an optional .env file."""

from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.schedule import QuietHours, ReminderPlan

Locale = Literal["km", "en", "ja"]
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/applicant-bot.sqlite3"


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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    send_rate: int = Field(default=30, ge=1, le=1000)
    quiet_hours: str = "21:00-07:00"
    offer_hours: float = Field(default=12, gt=0, le=24 * 14)
    reminder_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [7, 1])
    reminder_time: time = time(9, 0)
    test_day_reminder_time: time = time(7, 0)

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


def load_settings(**overrides: object) -> Settings:
    """Reads the settings, turning pydantic's report into one line per bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]).upper() if item["loc"] else "settings"
            problems.append(f"{name}: {item['msg']}")
        raise ConfigurationError("; ".join(problems)) from None
