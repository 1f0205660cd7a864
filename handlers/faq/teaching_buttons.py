"""The kinds of button staff teach the bot with, as they travel: "teach:ok:12:fees-total".

Here, not in handlers/staff/, because the post a handed-off question makes in the staff
group (handlers/applicant/handoff.py) carries them too; handlers/staff/teaching.py
answers them, for staff only.
"""

from dataclasses import dataclass
from typing import Literal

from handlers.core.buttons import ButtonData
from handlers.core.events import Button, InlineKeyboard
from handlers.core.texts import Texts


@dataclass(frozen=True)
class OpenQuestions(ButtonData, prefix="teach:list"):
    pass


@dataclass(frozen=True)
class OpenQuestion(ButtonData, prefix="teach:q"):
    question_id: int


@dataclass(frozen=True)
class AttachTopics(ButtonData, prefix="teach:at"):
    question_id: int


@dataclass(frozen=True)
class AttachTopic(ButtonData, prefix="teach:ac"):
    question_id: int
    category_id: str


@dataclass(frozen=True)
class AttachEntry(ButtonData, prefix="teach:ae"):
    question_id: int
    entry_key: str


@dataclass(frozen=True)
class ConfirmAttach(ButtonData, prefix="teach:ok"):
    question_id: int
    entry_key: str


@dataclass(frozen=True)
class SetAside(ButtonData, prefix="teach:aside"):
    question_id: int
    resolution: Literal["smalltalk", "offtopic"]


def choices(_: Texts, question_id: int) -> list[list[Button]]:
    """What can be done with an open question: the buttons under its post and its screen."""
    return [
        [AttachTopics(question_id).button(_("📎 Attach to an FAQ entry"))],
        [
            SetAside(question_id, "smalltalk").button(_("💬 Small talk")),
            SetAside(question_id, "offtopic").button(_("🚫 Off-topic")),
        ],
    ]


def office_post_buttons(_: Texts, question_id: int) -> InlineKeyboard:
    """The buttons under a question's post in the staff group."""
    return InlineKeyboard.of(*choices(_, question_id))
