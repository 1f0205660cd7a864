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

from handlers.applicant.buttons import (
    KeepAnswer,
    PickProvince,
    PickSex,
    SkipKhmerName,
    StepBack,
    StopRegistering,
)
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
Choices = Callable[[Texts], list[list[Button]]]  # the buttons that answer a detail


def stop_label(_: Texts) -> str:
    return _("✖ Stop registering")


def back_label(_: Texts) -> str:
    return _("⬅️ Back")


def keep_label(_: Texts) -> str:
    return _("Keep it ➡️")


def stop_button(_: Texts) -> Button:
    return StopRegistering().button(stop_label(_))


def back_and_stop(_: Texts, step: str) -> list[Button]:
    """The row under every wizard step: back to the one before `step` ("reg:..."), or stop."""
    return [StepBack(step.removeprefix("reg:")).button(back_label(_)), stop_button(_)]


def _no_choices(_: Texts) -> list[list[Button]]:
    return []


def _escaped(_: Texts, answer: str) -> str:
    return escape(str(answer))


@dataclass(frozen=True)
class Detail:
    """One detail: how the wizard asks for it, reads the answer, and shows it back."""

    name: str  # the Applicant column, and the wizard step "reg:<name>"
    label: Callable[[Texts], str]
    question: Callable[[Texts], str]
    parse: Parse | None  # None: answered with the buttons of `choices`
    show: Callable[[Texts, str], str] = _escaped  # the answer as HTML
    choices: Choices = _no_choices
    shares_contact: bool = False  # answered with Telegram's "share my phone number" button
    optional: bool = False
    column: Callable[[str], Any] = str  # the answer as the Applicant column keeps it

    @property
    def step(self) -> str:
        return f"reg:{self.name}"

    def keyboard(self, _: Texts, answered: bool) -> Keyboard:
        """The buttons that answer it, Keep when it has an answer already, then Back and Stop."""
        if self.shares_contact:
            # A reply keyboard's buttons send their labels as text; the step reads them back.
            rows = [[keep_label(_)]] if answered else []
            rows.append([back_label(_), stop_label(_)])
            return ReplyKeyboard(
                rows=tuple(tuple(row) for row in rows), contact=_("📱 Share my phone number")
            )
        keep = [[KeepAnswer(self.name).button(keep_label(_))]] if answered else []
        return InlineKeyboard.of(*self.choices(_), *keep, back_and_stop(_, self.step))


def _sex_buttons(_: Texts) -> list[list[Button]]:
    return [[PickSex(sex).button(sex_name(sex, _)) for sex in SEXES]]


def _province_buttons(_: Texts) -> list[list[Button]]:
    buttons = [PickProvince(slug).button(province_name(slug, _)) for slug in PROVINCES]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


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
        choices=lambda _: [[SkipKhmerName().button(_("Skip ➡️"))]],
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
        choices=_sex_buttons,
    ),
    Detail(
        "phone",
        label=lambda _: _("Phone"),
        question=lambda _: _(
            "📱 Your phone number: tap the button below to share it, or type it, for example: "
            "<i>012 345 678</i>"
        ),
        parse=lambda typed, today: normalise_phone(typed),
        show=lambda _, answer: format_phone(answer),
        shares_contact=True,
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
        choices=_province_buttons,
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
