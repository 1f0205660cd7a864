"""When things happen in local time: reminders before a test, quiet hours, offer deadlines.

Times are stored in UTC; these rules are stated in the bot's time zone (Phnom Penh),
where "09:00" and "the night" mean what the applicants live by.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """The night, when only urgent messages are delivered (e.g. 21:00 to 07:00)."""

    start: time
    end: time
    zone: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_daytime(self, moment: datetime) -> datetime:
        """`moment` itself in daytime; else the end of this night."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(self.zone)
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end


@dataclass(frozen=True)
class ReminderPlan:
    """Reminders before a test: some days before at a time of day, and on the morning itself.

    A reminder whose time has passed at booking is due at once (the latest of them only).
    """

    zone: ZoneInfo
    days_before: tuple[int, ...] = (7, 1)
    at: time = time(9, 0)
    test_day_at: time = time(7, 0)
    kinds: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", (*(f"{days}d" for days in self.days_before), "day"))

    def due_times(self, starts_at: datetime, now: datetime) -> dict[str, datetime]:
        """Each reminder's time; one already past is due now, one after the start never."""
        local_start = starts_at.astimezone(self.zone)
        due = {}
        for days in self.days_before:
            day = local_start.date() - timedelta(days=days)
            due[f"{days}d"] = datetime.combine(day, self.at, tzinfo=self.zone)
        test_morning = datetime.combine(local_start.date(), self.test_day_at, tzinfo=self.zone)
        due["day"] = min(test_morning, local_start - timedelta(hours=1))
        # Of the reminders whose time has passed, only the latest is still worth sending.
        passed = [kind for kind, when in due.items() if when <= now]
        return {
            kind: max(when, now).astimezone(starts_at.tzinfo)
            for kind, when in due.items()
            if max(when, now) < starts_at and (kind not in passed or kind == passed[-1])
        }


def offer_deadline(offered_at: datetime, starts_at: datetime, hours: float) -> datetime:
    """How long a held seat waits for an answer: `hours`, but shorter near the test day.

    Close to the test, a quarter of the time left (at least 30 minutes), so the seat
    can still pass down the line before the test.
    """
    full = offered_at + timedelta(hours=hours)
    near = offered_at + max((starts_at - offered_at) / 4, timedelta(minutes=30))
    return min(full, near)
