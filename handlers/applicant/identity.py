"""The details the registration wizard asks for: one row each, in the order they are asked.

The asking, the answering, the summary and /mydata all loop over `DETAILS`. An answer is
kept in the wizard's state as JSON (a date as ISO text) until the booking saves it on the
applicant's column of the same name.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from handlers.applicant.buttons import PickProvince, PickSex, SkipKhmerName, StopRegistering
from handlers.applicant.details import (
    PROVINCES,
    SEXES,
    clean_id_number,
    clean_khmer_name,
    clean_latin_name,
    format_phone,
    normalise_phone,
    parse_birth_date,
    province_name,
    sex_name,
)
from handlers.core.events import Button, InlineKeyboard, Keyboard, ReplyKeyboard
from handlers.core.texts import Texts
from models.applicants import Applicant

Parse = Callable[[str, date], str]  # typed text and today -> the answer, or DetailRejected


def stop_button(_: Texts) -> Button:
    return StopRegistering().button(_("✖ Stop registering"))


def _just_stop(_: Texts) -> Keyboard:
    return InlineKeyboard.of([stop_button(_)])


def _escaped(_: Texts, answer: str) -> str:
    return escape(str(answer))


@dataclass(frozen=True)
class Detail:
    """One detail: how the wizard asks for it, reads the answer, and shows it back."""

    name: str  # the Applicant column, and the wizard step "reg:<name>"
    label: Callable[[Texts], str]
    question: Callable[[Texts], str]
    parse: Parse | None  # None: answered with the buttons of `keyboard`
    show: Callable[[Texts, str], str] = _escaped  # the answer as HTML
    keyboard: Callable[[Texts], Keyboard] = _just_stop
    optional: bool = False
    column: Callable[[str], Any] = str  # the answer as the Applicant column keeps it

    @property
    def step(self) -> str:
        return f"reg:{self.name}"


def _sex_buttons(_: Texts) -> Keyboard:
    return InlineKeyboard.of(
        [PickSex(sex).button(sex_name(sex, _)) for sex in SEXES], [stop_button(_)]
    )


def _province_buttons(_: Texts) -> Keyboard:
    buttons = [PickProvince(slug).button(province_name(slug, _)) for slug in PROVINCES]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboard.of(*rows, [stop_button(_)])


DETAILS: tuple[Detail, ...] = (
    Detail(
        "name_latin",
        label=lambda _: _("Name (passport)"),
        question=lambda _: _(
            "✍️ Your name <b>exactly as in your passport</b>, in Latin letters, "
            "for example: <i>SOK DARA</i>"
        ),
        parse=lambda typed, today: clean_latin_name(typed),
    ),
    Detail(
        "name_khmer",
        label=lambda _: _("Name in Khmer"),
        question=lambda _: _(
            "✍️ Your name in Khmer script, for example: <i>សុខ ដារា</i>. Tap Skip if you "
            "prefer not to give it."
        ),
        parse=lambda typed, today: clean_khmer_name(typed),
        keyboard=lambda _: InlineKeyboard.of(
            [SkipKhmerName().button(_("Skip ➡️"))], [stop_button(_)]
        ),
        optional=True,
    ),
    Detail(
        "date_of_birth",
        label=lambda _: _("Date of birth"),
        question=lambda _: _(
            "🎂 Your date of birth: day, month and year, for example: <i>25/12/2001</i>"
        ),
        parse=lambda typed, today: parse_birth_date(typed, today).isoformat(),
        show=lambda _, answer: _.day(date.fromisoformat(answer)),
        column=date.fromisoformat,
    ),
    Detail(
        "sex",
        label=lambda _: _("Sex"),
        question=lambda _: _("Your sex, as in your passport:"),
        parse=None,
        show=lambda _, answer: sex_name(answer, _),
        keyboard=_sex_buttons,
    ),
    Detail(
        "phone",
        label=lambda _: _("Phone"),
        # A reply keyboard has no room for the stop button: /cancel is said instead.
        question=lambda _: (
            _(
                "📱 Your phone number: tap the button below to share it, or type it, for example: "
                "<i>012 345 678</i>"
            )
            + "\n\n"
            + _("Send /cancel to stop registering.")
        ),
        parse=lambda typed, today: normalise_phone(typed),
        show=lambda _, answer: format_phone(answer),
        keyboard=lambda _: ReplyKeyboard(rows=(), contact=_("📱 Share my phone number")),
    ),
    Detail(
        "id_number",
        label=lambda _: _("ID or passport no."),
        question=lambda _: _(
            "🪪 Your national ID card number (9 digits) or your passport number, "
            "for example: <i>N01234567</i>"
        ),
        parse=lambda typed, today: clean_id_number(typed),
    ),
    Detail(
        "province",
        label=lambda _: _("Province"),
        question=lambda _: _("🏠 The province where you live:"),
        parse=None,
        show=lambda _, answer: province_name(answer, _),
        keyboard=_province_buttons,
    ),
)
BY_NAME = {detail.name: detail for detail in DETAILS}


def details_list(_: Texts, answers: dict[str, Any]) -> str:
    """The details as "• label: value" lines, with user text escaped."""

    def shown(detail: Detail) -> str:
        answer = answers.get(detail.name)
        return detail.show(_, answer) if answer else "–"

    return "\n".join(f"• {detail.label(_)}: <b>{shown(detail)}</b>" for detail in DETAILS)


def complete(answers: dict[str, Any]) -> bool:
    """Whether every detail that is not optional has an answer."""
    return all(answers.get(detail.name) for detail in DETAILS if not detail.optional)


def saved_answers(applicant: Applicant) -> dict[str, Any]:
    """The details the applicant gave last time, as answers; empty when they never registered."""
    if applicant.name_latin is None:
        return {}
    values = {detail.name: getattr(applicant, detail.name) for detail in DETAILS}
    return {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in values.items()
    }


def save_answers(applicant: Applicant, answers: dict[str, Any]) -> None:
    """Writes the answers on the applicant's columns (dates from their ISO text)."""
    for detail in DETAILS:
        answer = answers.get(detail.name)
        setattr(applicant, detail.name, None if answer is None else detail.column(answer))
