"""The kinds of button of the questions and answers, as they travel: "faq:q:fees"."""

from dataclasses import dataclass
from typing import Literal

from handlers.core.buttons import ButtonData


@dataclass(frozen=True)
class Topics(ButtonData, prefix="faq:home"):
    pass


@dataclass(frozen=True)
class Topic(ButtonData, prefix="faq:cat"):
    category_id: str


@dataclass(frozen=True)
class Question(ButtonData, prefix="faq:q"):
    entry_id: str


@dataclass(frozen=True)
class RateAnswer(ButtonData, prefix="faq:fb"):
    entry_id: str
    helpful: Literal["y", "n"]
