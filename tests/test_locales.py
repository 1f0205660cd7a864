"""Texts: every string a person reads is in every catalog; dates per locale."""

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, catalog_path, load_translations
from handlers.core.texts import LOCALES, Texts, resolve_locale

ROOT = Path(__file__).resolve().parent.parent


def messages_in_code() -> set[str]:
    found = set()
    for folder in ("handlers", "bot"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords={"_": None}
        ):
            found.add(message)
    return found


def test_the_code_has_texts_to_translate() -> None:
    assert len(messages_in_code()) > 20


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_in_every_catalog(locale: str) -> None:
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = messages_in_code() - translated
    assert not missing, f"{locale} misses {sorted(missing)}"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_survive_translation(locale: str) -> None:
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    for message in catalog:
        if message.id and "{" in message.id:
            assert set(_fields(message.id)) == set(_fields(message.string)), message.id


def _fields(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def test_catalogs_compile_and_translate() -> None:
    translations = load_translations(LOCALES_DIR)
    assert translations["km"].gettext("Main menu") == "ម៉ឺនុយមេ"
    assert translations["ja"].gettext("Main menu") == "メインメニュー"
    assert translations["en"].gettext("Main menu") == "Main menu"


def test_khmer_dates_use_khmer_month_names() -> None:
    texts = Texts("km", load_translations()["km"], ZoneInfo("Asia/Phnom_Penh"))
    assert "វិច្ឆិកា" in texts.day(date(2026, 11, 24))
    assert "តុលា" in texts.day(date(2026, 10, 5))


def test_times_are_shown_in_phnom_penh() -> None:
    texts = Texts("en", load_translations()["en"], ZoneInfo("Asia/Phnom_Penh"))
    # 23:30 UTC on 31 October is already 1 November, 06:30 in Phnom Penh.
    assert texts.moment(datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == "November 1, 2026, 06:30"


def test_japanese_dates() -> None:
    texts = Texts("ja", load_translations()["ja"], ZoneInfo("Asia/Phnom_Penh"))
    assert texts.day(date(2026, 11, 24)) == "2026年11月24日"


@pytest.mark.parametrize(
    ("saved", "hint", "expected"),
    [
        ("ja", "en", "ja"),
        (None, "en-US", "en"),
        (None, "ja", "ja"),
        (None, "ru", "km"),
        (None, None, "km"),
    ],
)
def test_locale_resolution(saved: str | None, hint: str | None, expected: str) -> None:
    assert resolve_locale(saved, hint, "km") == expected
