"""Registration details: every way people type them, and every reason one is refused."""

import unicodedata
from datetime import date

import pytest

from handlers.applicant.details import (
    PROVINCES,
    SEXES,
    DetailRejected,
    Rejection,
    age_on,
    clean_id_number,
    clean_khmer_name,
    clean_latin_name,
    format_phone,
    normalise_phone,
    parse_birth_date,
    province_name,
    sex_name,
)

TODAY = date(2026, 5, 20)
BIRTH = date(2001, 3, 15)


def identity(message: str) -> str:
    return message


@pytest.mark.parametrize(
    "text",
    [
        "15/03/2001",
        "15-3-2001",
        "15.03.2001",
        "15 3 2001",
        " 15/3/2001 ",
        "2001-03-15",
        "2001/3/15",
        "15 March 2001",
        "15 march 2001",
        "15 Mar 2001",
        "15-Mar-2001",
        "March 15, 2001",
        "Mar 15 2001",
        "15th March 2001",
        "the 15th of March 2001",
        "១៥/០៣/២០០១",
        "15/03/២០០១",
        "១៥ មីនា ២០០១",
        "15 មីនា 2001",
        "ថ្ងៃទី ១៥ ខែ មីនា ឆ្នាំ ២០០១",
        "ថ្ងៃទី១៥\u200bខែមីនា\u200bឆ្នាំ២០០១",
        "ថ្ងៃទី១៥ខែមីនាឆ្នាំ២០០១",
        "១៥មីនា២០០១",
        "2001年3月15日",
        "2001年03月15日",
        "２００１年３月１５日",
        "１５／０３／２００１",
    ],
)
def test_birth_dates_in_every_usual_form(text: str) -> None:
    assert parse_birth_date(text, TODAY) == BIRTH


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01/02/2001", date(2001, 2, 1)),
        ("12/11/2001", date(2001, 11, 12)),
        ("1 មករា 2001", date(2001, 1, 1)),
        ("1 កុម្ភៈ 2001", date(2001, 2, 1)),
        ("1 កុម្ភះ 2001", date(2001, 2, 1)),
        ("1 មេសា 2001", date(2001, 4, 1)),
        ("1 ឧសភា 2001", date(2001, 5, 1)),
        ("1 មិថុនា 2001", date(2001, 6, 1)),
        ("1 កក្កដា 2001", date(2001, 7, 1)),
        ("1 សីហា 2001", date(2001, 8, 1)),
        ("1 កញ្ញា 2001", date(2001, 9, 1)),
        ("1 តុលា 2001", date(2001, 10, 1)),
        ("1 វិច្ឆិកា 2001", date(2001, 11, 1)),
        ("1 ធ្នូ 2001", date(2001, 12, 1)),
        ("1 Sept 2001", date(2001, 9, 1)),
        ("29/02/2000", date(2000, 2, 29)),
        ("20/05/2026", TODAY),
        ("20/05/1926", date(1926, 5, 20)),
    ],
)
def test_birth_dates_read_day_first_and_months_in_khmer(text: str, expected: date) -> None:
    assert parse_birth_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", Rejection.NOT_A_DATE),
        ("yesterday", Rejection.NOT_A_DATE),
        ("March 2001", Rejection.NOT_A_DATE),
        ("15/03", Rejection.NOT_A_DATE),
        ("15 Marchember 2001", Rejection.NOT_A_DATE),
        ("15/03/2001/7", Rejection.NOT_A_DATE),
        ("15/03/20011", Rejection.NOT_A_DATE),
        ("15/03/201", Rejection.NOT_A_DATE),
        ("15/2001/03", Rejection.NOT_A_DATE),
        ("2001 March 2002", Rejection.NOT_A_DATE),
        ("15/03/01", Rejection.YEAR_NEEDED),
        ("01/03/15", Rejection.YEAR_NEEDED),
        ("15 March 01", Rejection.YEAR_NEEDED),
        ("១៥/០៣/០១", Rejection.YEAR_NEEDED),
        ("31/02/2001", Rejection.IMPOSSIBLE_DATE),
        ("29/02/2001", Rejection.IMPOSSIBLE_DATE),
        ("15/13/2001", Rejection.IMPOSSIBLE_DATE),
        ("31 April 2001", Rejection.IMPOSSIBLE_DATE),
        ("0/0/2001", Rejection.IMPOSSIBLE_DATE),
        ("21/05/2026", Rejection.IN_FUTURE),
        ("15/03/2030", Rejection.IN_FUTURE),
        ("19/05/1926", Rejection.TOO_OLD),
        ("15/03/1801", Rejection.TOO_OLD),
    ],
)
def test_birth_dates_refused(text: str, reason: Rejection) -> None:
    with pytest.raises(DetailRejected) as refused:
        parse_birth_date(text, TODAY)
    assert refused.value.reason is reason


def test_khmer_month_names_are_in_canonical_form() -> None:
    # A month typed in another mark order is folded by NFKC before the lookup.
    typed = unicodedata.normalize("NFD", "1 កុម្ភៈ 2001")
    assert parse_birth_date(typed, TODAY) == date(2001, 2, 1)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (BIRTH, date(2026, 3, 14), 24),
        (BIRTH, date(2026, 3, 15), 25),
        (BIRTH, BIRTH, 0),
        (date(2000, 2, 29), date(2001, 2, 28), 0),
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(2000, 2, 29), date(2004, 2, 28), 3),
        (date(2000, 2, 29), date(2004, 2, 29), 4),
        (date(2000, 12, 31), date(2018, 1, 1), 17),
    ],
)
def test_age_in_full_years(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age


def test_no_age_before_birth() -> None:
    with pytest.raises(ValueError, match="before birth"):
        age_on(BIRTH, date(2000, 1, 1))


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("012 345 678", "+85512345678"),
        ("012345678", "+85512345678"),
        ("012-345-678", "+85512345678"),
        ("(012) 345 678", "+85512345678"),
        ("+855 12 345 678", "+85512345678"),
        ("+855 (0)12 345 678", "+85512345678"),
        ("85512345678", "+85512345678"),
        ("00855 12 345 678", "+85512345678"),
        ("០១២ ៣៤៥ ៦៧៨", "+85512345678"),
        ("０１２３４５６７８", "+85512345678"),
        ("0963456789", "+855963456789"),
        ("097 123 4567", "+855971234567"),
        ("+81 90-1234-5678", "+819012345678"),
        ("+66 81 234 5678", "+66812345678"),
    ],
)
def test_phones_in_e164(text: str, e164: str) -> None:
    assert normalise_phone(text) == e164


def test_phones_national_to_another_region() -> None:
    assert normalise_phone("090-1234-5678", region="JP") == "+819012345678"


@pytest.mark.parametrize(
    "text",
    ["", "hello", "012 345", "+855 12 34", "012 345 678 ext", "1-800-FLOWERS", "+999 1234567"],
)
def test_phones_refused(text: str) -> None:
    with pytest.raises(DetailRejected) as refused:
        normalise_phone(text)
    assert refused.value.reason is Rejection.INVALID_PHONE


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+85512345678", "+855 12 345 678"),
        ("+855963456789", "+855 96 345 6789"),
        ("+819012345678", "+81 90-1234-5678"),
    ],
)
def test_phones_formatted_for_display(e164: str, shown: str) -> None:
    assert format_phone(e164) == shown


def test_formatting_a_non_phone_is_refused() -> None:
    with pytest.raises(DetailRejected):
        format_phone("not a phone")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Sok Dara", "SOK DARA"),
        ("  sok   dara ", "SOK DARA"),
        ("SOK\tDARA", "SOK DARA"),
        ("Chan-Thy O'Neil", "CHAN-THY O'NEIL"),
        ("O’Neil", "O'NEIL"),
        ("ＳＯＫ ＤＡＲＡ", "SOK DARA"),
        ("Ly", "LY"),
        ("A" * 80, "A" * 80),
    ],
)
def test_latin_names(text: str, name: str) -> None:
    assert clean_latin_name(text) == name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("សុខ ដារា", Rejection.NOT_LATIN),
        ("Sok សុខ", Rejection.NOT_LATIN),
        ("José", Rejection.NOT_LATIN),
        ("Sok Dara 2", Rejection.NAME_HAS_DIGITS),
        ("what is the fee?", Rejection.NAME_IS_A_QUESTION),  # typed at the wrong step
        ("how much is the test fee for jft", Rejection.NAME_TOO_MANY_WORDS),
        ("Sok.Dara", Rejection.NOT_LATIN),
        ("山田", Rejection.NOT_LATIN),
        ("", Rejection.TOO_SHORT),
        ("   ", Rejection.TOO_SHORT),
        ("S", Rejection.TOO_SHORT),
        ("S-", Rejection.TOO_SHORT),
        ("A" * 81, Rejection.TOO_LONG),
        ("SOK " * 4 + "D" * 70, Rejection.TOO_LONG),
        ("SOK " * 20 + "DARA", Rejection.NAME_TOO_MANY_WORDS),
    ],
)
def test_latin_names_refused(text: str, reason: Rejection) -> None:
    with pytest.raises(DetailRejected) as refused:
        clean_latin_name(text)
    assert refused.value.reason is reason


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("សុខ ដារា", "សុខ ដារា"),
        ("  សុខ   ដារា ", "សុខ ដារា"),
        ("សុខ\u200bដារា", "សុខដារា"),
        ("\ufeffសុខ ដារា", "សុខ ដារា"),
        ("ស\u200dុខ", "ស\u200dុខ"),
        ("ចាន់", "ចាន់"),
    ],
)
def test_khmer_names(text: str, name: str) -> None:
    assert clean_khmer_name(text) == name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Sok Dara", Rejection.NOT_KHMER),
        ("សុខ Dara", Rejection.NOT_KHMER),
        ("សុខ ១២", Rejection.NAME_HAS_DIGITS),
        ("សុខ 12", Rejection.NAME_HAS_DIGITS),
        ("តម្លៃប្រឡងប៉ុន្មាន?", Rejection.NAME_IS_A_QUESTION),
        ("", Rejection.TOO_SHORT),
        ("\u200b", Rejection.TOO_SHORT),
        ("ក", Rejection.TOO_SHORT),
        ("កុ", Rejection.TOO_SHORT),
        ("ក" * 81, Rejection.TOO_LONG),
    ],
)
def test_khmer_names_refused(text: str, reason: Rejection) -> None:
    with pytest.raises(DetailRejected) as refused:
        clean_khmer_name(text)
    assert refused.value.reason is reason


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("123456789", "123456789"),
        ("123 456 789", "123456789"),
        ("123-456-789", "123456789"),
        ("123456789(1)", "123456789"),
        ("123456789 (1)", "123456789"),
        ("១២៣៤៥៦៧៨៩", "123456789"),
        ("１２３４５６７８９（１）", "123456789"),
        ("N01234567", "N01234567"),
        ("n0123456", "N0123456"),
        ("NA1234567", "NA1234567"),
        ("na 123 4567", "NA1234567"),
        ("N 012345", "N012345"),
        ("AB12345678", "AB12345678"),
    ],
)
def test_id_numbers(text: str, number: str) -> None:
    assert clean_id_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12345678",
        "1234567890",
        "123456789(12)",
        "123456789(A)",
        "N12345",
        "N123456789",
        "ABC123456",
        "1234567A",
        "N0123456X",
        "N.0123456",
    ],
)
def test_id_numbers_refused(text: str) -> None:
    with pytest.raises(DetailRejected) as refused:
        clean_id_number(text)
    assert refused.value.reason is Rejection.INVALID_ID


def test_rejections_are_short_codes() -> None:
    assert str(Rejection.YEAR_NEEDED) == "year_needed"
    assert DetailRejected(Rejection.TOO_OLD).reason == "too_old"


def test_twenty_five_provinces_with_short_slugs() -> None:
    assert len(PROVINCES) == len(set(PROVINCES)) == 25
    assert PROVINCES[0] == "phnom-penh"
    assert all(len(slug.encode()) <= 20 for slug in PROVINCES)


def test_province_names_in_english() -> None:
    names = [province_name(slug, identity) for slug in PROVINCES]
    assert names[:3] == ["Phnom Penh", "Banteay Meanchey", "Battambang"]
    assert names[-1] == "Tbong Khmum"
    # After the capital the provinces run in alphabetical order of their English names.
    assert names[1:] == sorted(names[1:])
    assert [name.lower().replace(" ", "-") for name in names] == list(PROVINCES)


def test_province_names_are_translated() -> None:
    khmer = {"Siem Reap": "សៀមរាប"}
    assert province_name("siem-reap", lambda message: khmer.get(message, message)) == "សៀមរាប"


def test_unknown_province() -> None:
    with pytest.raises(KeyError):
        province_name("bangkok", identity)


def test_sexes() -> None:
    assert [sex_name(slug, identity) for slug in SEXES] == ["Female", "Male"]
