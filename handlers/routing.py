"""Routes: which handler answers an event.

Each journey declares its own commands, button prefixes and steps on a `Journey`;
`Router` merges them in the order given. An event is routed by command first,
then by button prefix, then by the applicant's current step, then as free text.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from handlers.events import Incoming, Kind

if TYPE_CHECKING:
    from handlers.context import Context

Handler = Callable[["Context"], Awaitable[None]]


def callback(prefix: str, *parts: str | int) -> str:
    """Builds button data "prefix:part:part"; the prefix routes it back."""
    return ":".join([prefix, *map(str, parts)])


class Journey:
    """The routes of one user journey (one module in handlers/)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.steps: dict[str, Handler] = {}
        self.free_text: Handler | None = None
        self.anything_else: Handler | None = None

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """Answers /name (and its aliases)."""
        return self._register(self.commands, names)

    def button(self, *prefixes: str) -> Callable[[Handler], Handler]:
        """Answers presses of buttons whose data starts with "prefix:"."""
        return self._register(self.buttons, prefixes)

    def step(self, *names: str) -> Callable[[Handler], Handler]:
        """Answers text and contacts while the applicant is on this step of a wizard."""
        return self._register(self.steps, names)

    def text(self) -> Callable[[Handler], Handler]:
        """Answers free text when nothing else claims it."""

        def register(handler: Handler) -> Handler:
            self.free_text = handler
            return handler

        return register

    def other(self) -> Callable[[Handler], Handler]:
        """Answers everything else: stickers, unknown commands, stale buttons."""

        def register(handler: Handler) -> Handler:
            self.anything_else = handler
            return handler

        return register

    @staticmethod
    def _register(
        table: dict[str, Handler], keys: tuple[str, ...]
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for key in keys:
                table[key] = handler
            return handler

        return register


class Router:
    """All journeys, merged; a key claimed twice is a wiring mistake."""

    def __init__(self, journeys: Sequence[Journey]) -> None:
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.steps: dict[str, Handler] = {}
        self.free_text: Handler | None = None
        self.anything_else: Handler | None = None
        for journey in journeys:
            for table, routes in (
                (self.commands, journey.commands),
                (self.buttons, journey.buttons),
                (self.steps, journey.steps),
            ):
                clash = table.keys() & routes.keys()
                if clash:
                    raise ValueError(f"{journey.name} claims routes taken already: {clash}")
                table.update(routes)
            self.free_text = self.free_text or journey.free_text
            self.anything_else = self.anything_else or journey.anything_else
        if self.free_text is None or self.anything_else is None:
            raise ValueError("one journey must answer free text and one everything else")

    @property
    def command_names(self) -> list[str]:
        return list(self.commands)

    def route(self, event: Incoming, step: str | None) -> Handler:
        """The handler for this event, given the applicant's current step."""
        assert self.free_text is not None
        assert self.anything_else is not None
        if event.kind is Kind.COMMAND:
            return self.commands.get(event.command, self.anything_else)
        if event.kind is Kind.BUTTON:
            prefix = event.button_data.split(":", 1)[0]
            return self.buttons.get(prefix, self.anything_else)
        if step is not None and event.kind in (Kind.TEXT, Kind.CONTACT) and step in self.steps:
            return self.steps[step]
        if event.kind is Kind.TEXT:
            return self.free_text
        return self.anything_else
