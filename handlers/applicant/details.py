"""What applicants type in the registration wizard, read and checked.

Pure functions: each parser returns the clean value or raises `DetailRejected` with a
`Rejection` code, which the caller turns into a translated message.
"""

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from enum import StrEnum

import phonenumbers


class Rejection(StrEnum):
    """Why a detail was refused; the caller maps each code to a translated message."""

    NOT_A_DATE = "not_a_date"
    YEAR_NEEDED = "year_needed"
    IMPOSSIBLE_DATE = "impossible_date"
    IN_FUTURE = "in_future"
    TOO_OLD = "too_old"
    INVALID_PHONE = "invalid_phone"
    NOT_LATIN = "not_latin"
    NOT_KHMER = "not_khmer"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NAME_IS_A_QUESTION = "name_is_a_question"  # "what is the fee?" typed where a name is asked
    NAME_HAS_DIGITS = "name_has_digits"
    NAME_TOO_MANY_WORDS = "name_too_many_words"
    INVALID_ID = "invalid_id"


class DetailRejected(ValueError):
    """The applicant's answer cannot be used; `reason` says why."""

    def __init__(self, reason: Rejection) -> None:
        super().__init__(reason.value)
        self.reason = reason


# NFKC folds full-width digits to ASCII but leaves Khmer digits alone: they are real digits
# of their own script, not compatibility forms.
_KHMER_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")
# Khmer is written without spaces; keyboards put zero-width spaces where words break.
_ZERO_WIDTH = {ord("\u200b"): " ", ord("\ufeff"): " ", ord("\u200c"): None, ord("\u200d"): None}


def _plain(text: str) -> str:
    """NFKC-folded text with Khmer digits as ASCII digits and zero-width spaces as spaces."""
    folded = unicodedata.normalize("NFKC", text)
    return folded.translate(_KHMER_DIGITS).translate(_ZERO_WIDTH).strip()


# Dates

_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    "មករា": 1,
    "កុម្ភៈ": 2,
    # People type the final visarga as the letter ហ-like ះ, or leave it out.
    "កុម្ភះ": 2,
    "កុម្ភ": 2,
    "មីនា": 3,
    "មេសា": 4,
    "ឧសភា": 5,
    "មិថុនា": 6,
    "កក្កដា": 7,
    "សីហា": 8,
    "កញ្ញា": 9,
    "តុលា": 10,
    "វិច្ឆិកា": 11,
    "ធ្នូ": 12,
}

# Words around the numbers in "ថ្ងៃទី 15 ខែ មីនា ឆ្នាំ 2001", "2001年3月15日" or
# "the 15th of March 2001": they say which number is which, but the order already does.
_FILLER = frozenset(
    {"ថ្ងៃទី", "ថ្ងៃ", "ទី", "ខែ", "ឆ្នាំ", "年", "月", "日", "the", "of", "st", "nd", "rd", "th"}
)

# Khmer words run together ("ខែមីនាឆ្នាំ"), so the known ones are cut out before tokenising,
# longest first so that "ថ្ងៃទី" is not read as "ថ្ងៃ" and "ទី".
_KHMER_WORDS = [w for w in (*_MONTHS, *_FILLER) if "\u1780" <= w[0] <= "\u17ff"]
_KHMER_WORD = re.compile("|".join(sorted(_KHMER_WORDS, key=len, reverse=True)))

# Numbers, and runs of anything that is neither a digit nor a separator, so "15th" and
# "3月" come apart into a number and a word.
_DATE_TOKEN = re.compile(r"\d+|[^\d\s/.,\-]+")

_MAX_AGE = 100


def parse_birth_date(text: str, today: date) -> date:
    """The date of birth in `text`, read day first as Cambodians write it.

    Raises:
        DetailRejected: not a date, two-digit year, no such day, future or over 100 years ago.
    """
    spaced = _KHMER_WORD.sub(lambda word: f" {word.group()} ", _plain(text).casefold())
    tokens = [t for t in _DATE_TOKEN.findall(spaced) if t not in _FILLER]
    numbers = [t for t in tokens if t.isdecimal()]
    words = [t for t in tokens if not t.isdecimal()]
    if any(w not in _MONTHS for w in words) or any(len(n) > 4 for n in numbers):
        raise DetailRejected(Rejection.NOT_A_DATE)

    if len(numbers) == 3 and not words:
        first, second, third = numbers
        if len(first) == 4:
            year, month, day = first, second, third
        elif len(third) == 4:
            day, month, year = first, second, third
        elif all(len(n) <= 2 for n in numbers):
            raise DetailRejected(Rejection.YEAR_NEEDED)
        else:
            raise DetailRejected(Rejection.NOT_A_DATE)
        parts = int(year), int(month), int(day)
    elif len(numbers) == 2 and len(words) == 1:
        # With the month spelt out the order is free: "15 March 2001", "March 15, 2001".
        years = [n for n in numbers if len(n) == 4]
        if not years:
            if all(len(n) <= 2 for n in numbers):
                raise DetailRejected(Rejection.YEAR_NEEDED)
            raise DetailRejected(Rejection.NOT_A_DATE)
        if len(years) > 1:
            raise DetailRejected(Rejection.NOT_A_DATE)
        numbers.remove(years[0])
        parts = int(years[0]), _MONTHS[words[0]], int(numbers[0])
    else:
        raise DetailRejected(Rejection.NOT_A_DATE)

    try:
        birth = date(*parts)
    except ValueError:
        raise DetailRejected(Rejection.IMPOSSIBLE_DATE) from None
    if birth > today:
        raise DetailRejected(Rejection.IN_FUTURE)
    if birth < _years_before(today, _MAX_AGE):
        raise DetailRejected(Rejection.TOO_OLD)
    return birth


def _years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(birth: date, day: date) -> int:
    """Full years of age on `day`; a 29 February birthday counts from 1 March in common years.

    Raises:
        ValueError: `day` is before `birth`.
    """
    if day < birth:
        raise ValueError("day is before birth")
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# Phones

# Anything else (letters above all) would be silently dropped or read as a vanity number.
_PHONE_CHARACTERS = re.compile(r"[\d\s+\-().]+")


def normalise_phone(text: str, region: str = "KH") -> str:
    """The phone number in E.164 (`+85512345678`); national numbers are read for `region`.

    Raises:
        DetailRejected: not a valid phone number.
    """
    plain = _plain(text)
    if not _PHONE_CHARACTERS.fullmatch(plain):
        raise DetailRejected(Rejection.INVALID_PHONE)
    candidates = [plain]
    digits = re.sub(r"\D", "", plain)
    if digits.startswith("00"):
        # Cambodia's own international prefixes are 001/007/008, so "00 855 ..." from a
        # phone bought abroad would otherwise lose its country code.
        candidates.append("+" + digits[2:])
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise DetailRejected(Rejection.INVALID_PHONE)


def format_phone(e164: str) -> str:
    """The number for display, e.g. "+855 12 345 678".

    Raises:
        DetailRejected: `e164` is not a phone number in international form.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        raise DetailRejected(Rejection.INVALID_PHONE) from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# Names

_NAME_LENGTH = range(2, 81)
_NAME_MAX_WORDS = 5  # longer is a sentence typed at the wrong step, not a name
_QUESTION_MARKS = "?？¿"


def _not_a_name(text: str) -> None:
    """Refuses what is plainly not a name, saying why: a question, digits, a sentence.

    Raises:
        DetailRejected: a question mark, a digit (any script's), or more than five words.
    """
    if any(mark in text for mark in _QUESTION_MARKS):
        raise DetailRejected(Rejection.NAME_IS_A_QUESTION)
    if any(char.isdigit() for char in text):
        raise DetailRejected(Rejection.NAME_HAS_DIGITS)
    if len(text.split()) > _NAME_MAX_WORDS:
        raise DetailRejected(Rejection.NAME_TOO_MANY_WORDS)


# Passports' machine-readable zone has A-Z only, so accented letters would not match it.
_LATIN_NAME = re.compile(r"[A-Z '\-]+")
_KHMER_NAME = re.compile(r"[\u1780-\u17DD\u19E0-\u19FF \u200C\u200D]+")
# Consonants and independent vowels: the signs around them do not make a name longer.
_KHMER_LETTER = re.compile(r"[\u1780-\u17B3]")


def clean_latin_name(text: str) -> str:
    """The name as in the passport, upper-case Latin, e.g. "SOK DARA".

    Raises:
        DetailRejected: other scripts or digits in it, or too short or too long.
    """
    name = " ".join(_plain(text).replace("’", "'").replace("‘", "'").split()).upper()
    _not_a_name(name)
    if name and not _LATIN_NAME.fullmatch(name):
        raise DetailRejected(Rejection.NOT_LATIN)
    if len(name) < _NAME_LENGTH.start or sum(c.isalpha() for c in name) < 2:
        raise DetailRejected(Rejection.TOO_SHORT)
    if len(name) not in _NAME_LENGTH:
        raise DetailRejected(Rejection.TOO_LONG)
    return name


def clean_khmer_name(text: str) -> str:
    """The name in Khmer script, spaces collapsed and zero-width spaces removed.

    Khmer digits and numeric symbols (U+17E0 to U+17F9) are refused: names have none.

    Raises:
        DetailRejected: other scripts or digits in it, or too short or too long.
    """
    # NFC, not NFKC: Khmer has no compatibility forms to fold, only canonical orderings.
    name = unicodedata.normalize("NFC", text).replace("\u200b", "").replace("\ufeff", "")
    name = " ".join(name.split())
    _not_a_name(name)
    if name and not _KHMER_NAME.fullmatch(name):
        raise DetailRejected(Rejection.NOT_KHMER)
    if len(name) < _NAME_LENGTH.start or len(_KHMER_LETTER.findall(name)) < 2:
        raise DetailRejected(Rejection.TOO_SHORT)
    if len(name) not in _NAME_LENGTH:
        raise DetailRejected(Rejection.TOO_LONG)
    return name


# Identity documents

_NATIONAL_ID = re.compile(r"([0-9]{9})(?:\([0-9]\))?")
_PASSPORT = re.compile(r"[A-Z]{1,2}[0-9]{6,8}")


def clean_id_number(text: str) -> str:
    """A national ID card number (9 digits) or a passport number (`N01234567`).

    The check digit some cards print in parentheses, `123456789(1)`, is dropped.

    Raises:
        DetailRejected: neither an ID card nor a passport number.
    """
    plain = re.sub(r"[\s\-]", "", _plain(text)).upper()
    if card := _NATIONAL_ID.fullmatch(plain):
        return card.group(1)
    if _PASSPORT.fullmatch(plain):
        return plain
    raise DetailRejected(Rejection.INVALID_ID)


# Choices offered as buttons. Slugs go in callback data (64 bytes in all, with the route's
# prefix), so each stays within 20 bytes.

PROVINCES: tuple[str, ...] = (
    "phnom-penh",
    "banteay-meanchey",
    "battambang",
    "kampong-cham",
    "kampong-chhnang",
    "kampong-speu",
    "kampong-thom",
    "kampot",
    "kandal",
    "kep",
    "koh-kong",
    "kratie",
    "mondulkiri",
    "oddar-meanchey",
    "pailin",
    "preah-sihanouk",
    "preah-vihear",
    "prey-veng",
    "pursat",
    "ratanakiri",
    "siem-reap",
    "stung-treng",
    "svay-rieng",
    "takeo",
    "tbong-khmum",
)


def province_name(slug: str, _: Callable[[str], str]) -> str:
    """The province's name in the applicant's language.

    Raises:
        KeyError: `slug` is not in `PROVINCES`.
    """
    # Spelt out call by call so Babel's extractor finds every name.
    names = {
        "phnom-penh": _("Phnom Penh"),
        "banteay-meanchey": _("Banteay Meanchey"),
        "battambang": _("Battambang"),
        "kampong-cham": _("Kampong Cham"),
        "kampong-chhnang": _("Kampong Chhnang"),
        "kampong-speu": _("Kampong Speu"),
        "kampong-thom": _("Kampong Thom"),
        "kampot": _("Kampot"),
        "kandal": _("Kandal"),
        "kep": _("Kep"),
        "koh-kong": _("Koh Kong"),
        "kratie": _("Kratie"),
        "mondulkiri": _("Mondulkiri"),
        "oddar-meanchey": _("Oddar Meanchey"),
        "pailin": _("Pailin"),
        "preah-sihanouk": _("Preah Sihanouk"),
        "preah-vihear": _("Preah Vihear"),
        "prey-veng": _("Prey Veng"),
        "pursat": _("Pursat"),
        "ratanakiri": _("Ratanakiri"),
        "siem-reap": _("Siem Reap"),
        "stung-treng": _("Stung Treng"),
        "svay-rieng": _("Svay Rieng"),
        "takeo": _("Takeo"),
        "tbong-khmum": _("Tbong Khmum"),
    }
    return names[slug]


SEXES: tuple[str, ...] = ("female", "male")


def sex_name(slug: str, _: Callable[[str], str]) -> str:
    """The sex, as the passport states it, in the applicant's language.

    Raises:
        KeyError: `slug` is not in `SEXES`.
    """
    names = {"female": _("Female"), "male": _("Male")}
    return names[slug]
