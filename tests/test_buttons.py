"""Typed button data: the wire format buttons have always had, read back or refused."""

from dataclasses import dataclass

import pytest
from sqlmodel import select

from bot.app import App
from handlers import JOURNEYS
from handlers.applicant.buttons import AcceptOffer, ChooseLanguage, MainMenu, MoveTo, SendToOffice
from handlers.core.buttons import ButtonData, OutOfDate
from handlers.core.routing import Journey, Router
from handlers.faq.buttons import RateAnswer
from handlers.staff.broadcast import PickAudience
from models.applicants import Applicant as ApplicantRow
from tests.support.core import Applicant

OUT_OF_DATE = "This button is out of date. Send /start to see the menu."
KINDS = {kind.prefix: kind for journey in JOURNEYS for kind in journey.button_kinds}


@pytest.mark.parametrize(
    ("pressed", "data"),
    [
        (ChooseLanguage("km"), "lang:set:km"),
        (AcceptOffer(12), "offer:yes:12"),
        (SendToOffice(5), "handoff:5"),
        (MoveTo(3, 41), "mine:to:3:41"),
        (RateAnswer("jft-score", "y"), "faq:fb:jft-score:y"),
        (PickAudience("exam:jft-basic"), "bc:aud:exam:jft-basic"),  # ":" in the last part
        (MainMenu(), "menu"),
    ],
)
def test_buttons_keep_their_wire_format_and_read_back(pressed: ButtonData, data: str) -> None:
    assert pressed.pack() == data
    assert type(pressed).unpack(data) == pressed


def test_every_kind_of_button_reads_back_what_it_packs() -> None:
    samples = {int: 7, str: "a-b_c"}
    for kind in KINDS.values():
        values = {
            name: samples.get(hint, getattr(hint, "__args__", ("y",))[0])
            for name, hint in kind.__annotations__.items()
        }
        pressed = kind(**values)
        assert kind.unpack(pressed.pack()) == pressed


def test_data_telegram_would_refuse_is_refused_when_the_button_is_made() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        PickAudience("lang:" + "ខ" * 20)  # 60 bytes of Khmer, 73 with the prefix
    with pytest.raises(ValueError, match="last part"):
        RateAnswer("fees:deposit", "y")  # could not be read back


@pytest.mark.parametrize(
    "data",
    ["offer:yes:", "offer:yes:12x", "offer:yes:12:3", "mine:to:3", "lang:set", "menu:now",
     "faq:fb:fees:maybe", "offer:yes:" + "9" * 30],
)  # fmt: skip
def test_malformed_data_is_out_of_date(data: str) -> None:
    kind = KINDS[max((p for p in KINDS if data == p or data.startswith(p + ":")), key=len)]
    with pytest.raises(OutOfDate):
        kind.unpack(data)


def test_two_journeys_cannot_claim_one_kind_of_button() -> None:
    @dataclass(frozen=True)
    class Again(ButtonData, prefix="menu"):
        pass

    clashing = Journey("clashing")

    @clashing.button(Again)
    async def again(ctx: object, pressed: Again) -> None: ...

    with pytest.raises(ValueError, match="taken already"):
        Router([*JOURNEYS, clashing])


@pytest.mark.parametrize("data", ["erase:yes:now", "erase:yes:", "erase:maybe", "erase"])
async def test_malformed_presses_are_answered_as_out_of_date_and_change_nothing(
    app: App, applicant: Applicant, data: str
) -> None:
    await applicant.send("/start")
    await applicant.press_data(data)
    assert applicant.notices[-1] == OUT_OF_DATE
    async with app.conversation.sessions() as db:
        assert len((await db.exec(select(ApplicantRow))).all()) == 1
