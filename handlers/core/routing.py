"""Routes: which handler answers an event.

Each journey declares its own commands, button prefixes and steps on a `Journey`;
`Router` merges them in the order given. An event is routed by command first,
then by button prefix, then by the applicant's current step, then as free text.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from handlers.core.events import Incoming, Kind

if TYPE_CHECKING:
    from handlers.core.context import Context

Handler = Callable[["Context"], Awaitable[None]]
Gate = Callable[["Context"], Awaitable[bool]]
STEP_KINDS = (Kind.TEXT, Kind.CONTACT, Kind.MEDIA)  # what a wizard step can be answered with


def callback(prefix: str, *parts: str | int) -> str:
    """Builds button data "prefix:part:part"; the prefix routes it back."""
    return ":".join([prefix, *map(str, parts)])


class Journey:
    """The routes of one user journey (one module in handlers/).

    A `gate` guards every route of the journey at once: whoever it refuses meets the
    bot's answer for anything it does not know, after `refused` has noted the attempt.
    """

    def __init__(
        self, name: str, gate: Gate | None = None, refused: Handler | None = None
    ) -> None:
        self.name = name
        self.gate = gate
        self.refused = refused
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.steps: dict[str, Handler] = {}
        self.free_text: Handler | None = None
        self.anything_else: Handler | None = None
        self.group_reply: Handler | None = None

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

    def reply_in_staff_group(self) -> Callable[[Handler], Handler]:
        """Answers a reply to one of the bot's posts in the staff group."""

        def register(handler: Handler) -> Handler:
            self.group_reply = self._guarded_here(handler)
            return handler

        return register

    def _guarded_here(self, handler: Handler) -> Handler:
        gate = self.gate
        if gate is None:
            return handler

        async def guarded(ctx: "Context") -> None:
            if await gate(ctx):
                await handler(ctx)
            elif self.refused is not None:
                await self.refused(ctx)

        return guarded

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
        self.group_reply: Handler | None = None
        for journey in journeys:
            for table, routes in (
                (self.commands, journey.commands),
                (self.buttons, journey.buttons),
                (self.steps, journey.steps),
            ):
                clash = table.keys() & routes.keys()
                if clash:
                    raise ValueError(f"{journey.name} claims routes taken already: {clash}")
                table.update({key: self._guarded(journey, h) for key, h in routes.items()})
            self.free_text = self.free_text or journey.free_text
            self.anything_else = self.anything_else or journey.anything_else
            self.group_reply = self.group_reply or journey.group_reply
        if self.free_text is None or self.anything_else is None:
            raise ValueError("one journey must answer free text and one everything else")

    def _guarded(self, journey: Journey, handler: Handler) -> Handler:
        gate = journey.gate
        if gate is None:
            return handler

        async def guarded(ctx: "Context") -> None:
            if await gate(ctx):
                await handler(ctx)
                return
            if journey.refused is not None:
                await journey.refused(ctx)
            assert self.anything_else is not None
            await self.anything_else(ctx)

        return guarded

    @property
    def command_names(self) -> list[str]:
        return list(self.commands)

    def route(self, event: Incoming, step: str | None) -> Handler:
        """The handler for this event, given the applicant's current step."""
        assert self.free_text is not None
        assert self.anything_else is not None
        if not event.private:
            return self.group_reply or _ignore
        if event.kind is Kind.COMMAND:
            return self.commands.get(event.command, self.anything_else)
        if event.kind is Kind.BUTTON:
            prefix = event.button_data.split(":", 1)[0]
            return self.buttons.get(prefix, self.anything_else)
        if step is not None and event.kind in STEP_KINDS and step in self.steps:
            return self.steps[step]
        if event.kind is Kind.TEXT:
            return self.free_text
        return self.anything_else


async def _ignore(ctx: "Context") -> None:
    """Groups are not the place for an applicant's conversation."""
