"""Languages, and how handlers get their words and dates in the applicant's one."""

from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_decimal

LOCALES = ("km", "en", "ja")
LANGUAGE_NAMES = {"km": "ភាសាខ្មែរ", "en": "English", "ja": "日本語"}
# A date written short, day first where the locale does; Babel's English writes "Oct 17, 2027".
SHORT_DAY = {"km": "d MMMM y", "en": "d MMM y", "ja": "y/MM/dd"}


class Translator(Protocol):
    """A gettext catalog for one locale (babel.support.Translations is one)."""

    def gettext(self, message: str) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int) -> str: ...


def resolve_locale(saved: str | None, language_hint: str | None, default: str) -> str:
    """The applicant's own choice, else their Telegram language, else the default."""
    if saved in LOCALES:
        return saved
    if language_hint:
        guess = language_hint.replace("_", "-").split("-")[0].lower()
        if guess in LOCALES:
            return guess
    return default


class Texts:
    """The words, dates and numbers of one locale, handed to every handler."""

    def __init__(self, locale: str, translator: Translator, zone: ZoneInfo) -> None:
        self.locale = locale
        self._translator = translator
        self.zone = zone

    def __call__(self, message: str) -> str:
        return self._translator.gettext(message)

    def plural(self, singular: str, plural: str, n: int) -> str:
        return self._translator.ngettext(singular, plural, n)

    def day(self, value: date | datetime) -> str:
        """A date the way this locale writes it, e.g. "24 វិច្ឆិកា 2026"."""
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return format_date(value, format="long", locale=self.locale)

    def month_day(self, value: date) -> str:
        """A day without its year, as this locale writes it: "7 តុលា", "Oct 7", "10月7日"."""
        return format_skeleton("MMMd", value, locale=self.locale)

    def chart_day(self, value: date) -> str:
        """A day on a chart's axis, which cannot set Khmer or Japanese letters: "7/10" (day
        first, as Cambodia writes it), "Oct 7", "10/7" (month first, as Japan does)."""
        return format_skeleton("MMMd" if self.locale == "en" else "Md", value, locale=self.locale)

    def moment(self, value: datetime) -> str:
        """A date and time in the bot's time zone, e.g. "24 November 2026, 08:30"."""
        local = value.astimezone(self.zone)
        return "{day}, {time}".format(
            day=format_date(local.date(), format="long", locale=self.locale),
            time=format_time(local, format="HH:mm", locale=self.locale),
        )

    def brief_moment(self, value: datetime) -> str:
        """A short local date with its year, and the time: "17 Oct 2027 08:00". Buttons, lists
        and records all write a moment this way."""
        local = value.astimezone(self.zone)
        return "{day} {time}".format(
            day=format_date(local.date(), format=SHORT_DAY[self.locale], locale=self.locale),
            time=format_time(local, format="HH:mm", locale=self.locale),
        )

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale)
