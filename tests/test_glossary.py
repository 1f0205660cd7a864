"""Texts keep to the glossary (#13): one term per thing, ្ដ in Khmer, one digit style."""

import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import catalog_path

ROOT = Path(__file__).resolve().parent.parent
LOCALES_DIR = ROOT / "locales"
GLOSSARY = tomllib.loads((LOCALES_DIR / "glossary.toml").read_text(encoding="utf-8"))

KHMER_DIGIT = re.compile("[\u17e0-\u17e9]")
# ្ត (coeng ta) where the dictionary writes ្ដ (coeng da); ត្ត and ន្ត
# (ចិត្ត, អត្តសញ្ញាណ, បន្ត, ប៉ុន្តែ, យន្ត) are written with ្ត.
COENG_TA = re.compile("(?<![\u178f\u1793])\u17d2\u178f")


def texts(locale: str) -> list[tuple[str, str]]:
    """(where, text) for every catalog translation and FAQ title, question and answer."""
    found: list[tuple[str, str]] = []
    with catalog_path(locale).open("rb") as po:
        for message in read_po(po, locale=locale):
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            where = message.id if isinstance(message.id, str) else message.id[0]
            found += [(f"messages.po: {where[:50]!r}", s) for s in strings if s]
    for path in sorted((LOCALES_DIR / locale / "faq").glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        found.append((f"{path.name}: title", data["title"]))
        for key, entry in data["entries"].items():
            found.append((f"{path.name}: {key} question", entry["question"]))
            found.append((f"{path.name}: {key} answer", entry["answer"]))
    return found


def terms() -> list[tuple[str, str, str, str]]:
    return [
        (locale, name, term["use"], avoid)
        for locale in ("km", "ja")
        for name, term in GLOSSARY[locale]["terms"].items()
        for avoid in term["avoid"]
    ]


@pytest.mark.parametrize(("locale", "name", "use", "avoid"), terms())
def test_texts_use_the_glossary_term(locale: str, name: str, use: str, avoid: str) -> None:
    pattern = re.compile(avoid)
    wrong = [where for where, text in texts(locale) if pattern.search(text)]
    assert not wrong, f"{locale} {name}: write {use!r}, not /{avoid}/, in {wrong}"


def test_khmer_uses_the_dictionary_subscript() -> None:
    wrong = [where for where, text in texts("km") if COENG_TA.search(text)]
    assert not wrong, f"write ្ដ, not ្ត, in {wrong}"


def test_khmer_uses_one_digit_style() -> None:
    assert GLOSSARY["km"]["digits"] == "latin"
    wrong = [where for where, text in texts("km") if KHMER_DIGIT.search(text)]
    assert not wrong, f"Khmer digits where the dates use 0-9: {wrong}"


def test_the_check_catches_what_it_should() -> None:
    assert COENG_TA.search("ប្តូរ")
    assert not COENG_TA.search("ប្ដូរ")
    assert not COENG_TA.search("ចិត្ត")
    assert not COENG_TA.search("បន្ត")
    assert KHMER_DIGIT.search("ថ្ងៃទី២៨")
