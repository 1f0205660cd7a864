"""Clocks a test gives the app, to move its time."""

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")


@dataclass
class Clock:
    """The time the bot believes it is; tests move it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=PHNOM_PENH)


class RunningClock:
    """Time that runs like the real one, from a chosen start; a test can jump ahead."""

    def __init__(self, start: datetime) -> None:
        self.offset = start - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump_to(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)
