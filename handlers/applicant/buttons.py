"""The applicant's kinds of button, as they travel: "book:ses:12", "offer:yes:7"."""

from dataclasses import dataclass

from handlers.core.buttons import ButtonData

# --- Menu, help, settings, language ---------------------------------------------------------


@dataclass(frozen=True)
class MainMenu(ButtonData, prefix="menu"):
    pass


@dataclass(frozen=True)
class Help(ButtonData, prefix="help"):
    pass


@dataclass(frozen=True)
class AskTheBot(ButtonData, prefix="ask"):
    pass


@dataclass(frozen=True)
class Settings(ButtonData, prefix="settings"):
    pass


@dataclass(frozen=True)
class RemindersOn(ButtonData, prefix="settings:reminders:on"):
    pass


@dataclass(frozen=True)
class RemindersOff(ButtonData, prefix="settings:reminders:off"):
    pass


@dataclass(frozen=True)
class LanguageChoice(ButtonData, prefix="lang:choose"):
    pass


@dataclass(frozen=True)
class ChooseLanguage(ButtonData, prefix="lang:set"):
    locale: str


# --- Booking a seat -------------------------------------------------------------------------


@dataclass(frozen=True)
class BookSeat(ButtonData, prefix="book"):
    pass


@dataclass(frozen=True)
class PickExam(ButtonData, prefix="book:exam"):
    exam_id: str


@dataclass(frozen=True)
class PickSession(ButtonData, prefix="book:ses"):
    session_id: int


@dataclass(frozen=True)
class JoinWaitlist(ButtonData, prefix="book:wait"):
    """Go on with a full session, knowing it means a place in its line."""

    session_id: int


@dataclass(frozen=True)
class StopRegistering(ButtonData, prefix="reg:stop"):
    pass


@dataclass(frozen=True)
class StepBack(ButtonData, prefix="reg:back"):
    """Back to the wizard's previous step, from `step` (the step's name without "reg:")."""

    step: str


@dataclass(frozen=True)
class KeepAnswer(ButtonData, prefix="reg:keep"):
    """Keeps the answer given before to a detail asked again after stepping back."""

    detail: str


@dataclass(frozen=True)
class ReuseDetails(ButtonData, prefix="reg:reuse:yes"):
    pass


@dataclass(frozen=True)
class NewDetails(ButtonData, prefix="reg:reuse:no"):
    pass


@dataclass(frozen=True)
class SkipKhmerName(ButtonData, prefix="reg:skip"):
    pass


@dataclass(frozen=True)
class PickSex(ButtonData, prefix="reg:sex"):
    sex: str


@dataclass(frozen=True)
class PickProvince(ButtonData, prefix="reg:prov"):
    province: str


@dataclass(frozen=True)
class Agree(ButtonData, prefix="reg:consent:yes"):
    pass


@dataclass(frozen=True)
class Disagree(ButtonData, prefix="reg:consent:no"):
    pass


@dataclass(frozen=True)
class EditDetail(ButtonData, prefix="reg:edit"):
    field: str


@dataclass(frozen=True)
class ConfirmBooking(ButtonData, prefix="reg:confirm"):
    pass


# --- My registrations and seat offers -------------------------------------------------------


@dataclass(frozen=True)
class MyRegistrations(ButtonData, prefix="mine"):
    pass


@dataclass(frozen=True)
class MyTicket(ButtonData, prefix="ticket"):
    pass


@dataclass(frozen=True)
class AskToCancel(ButtonData, prefix="mine:cancel"):
    registration_id: int


@dataclass(frozen=True)
class CancelRegistration(ButtonData, prefix="mine:cancel_yes"):
    registration_id: int


@dataclass(frozen=True)
class ChangeDate(ButtonData, prefix="mine:move"):
    registration_id: int


@dataclass(frozen=True)
class MoveTo(ButtonData, prefix="mine:to"):
    registration_id: int
    session_id: int


@dataclass(frozen=True)
class ConfirmMove(ButtonData, prefix="mine:to_yes"):
    registration_id: int
    session_id: int


@dataclass(frozen=True)
class AcceptOffer(ButtonData, prefix="offer:yes"):
    registration_id: int


@dataclass(frozen=True)
class DeclineOffer(ButtonData, prefix="offer:no"):
    registration_id: int


# --- My data and the office -----------------------------------------------------------------


@dataclass(frozen=True)
class EraseMyData(ButtonData, prefix="erase:yes"):
    pass


@dataclass(frozen=True)
class KeepMyData(ButtonData, prefix="erase:no"):
    pass


@dataclass(frozen=True)
class SendToOffice(ButtonData, prefix="handoff"):
    question_id: int


@dataclass(frozen=True)
class AskTheOffice(ButtonData, prefix="handoff:ask"):
    pass


@dataclass(frozen=True)
class StopAsking(ButtonData, prefix="handoff:stop"):
    pass
