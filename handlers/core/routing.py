"""Routes: which handler answers an event.

Each journey declares its own commands, kinds of button, deep links and steps on a
`Journey`; `Router` merges them in the order given. An event is routed by command first,
then by the button's prefix, then by the applicant's current step, then as free text.
Someone's very first message, typed without /start, is answered as free text and then
greeted (`Journey.first_words`).
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from handlers.core.buttons import ButtonData, OutOfDate
from handlers.core.events import Incoming, Kind
from handlers.core.texts import Texts
from models.retention import REFUSED_ATTEMPTS_PER_DAY, refusals_today
from models.staff import REFUSED, Role, audit, may

if TYPE_CHECKING:
    from handlers.core.context import Context
    from handlers.core.services import Services

Handler = Callable[["Context"], Awaitable[None]]
Pressed = TypeVar("Pressed", bound=ButtonData)
ButtonHandler = Callable[["Context", Pressed], Awaitable[None]]
DeepLinkHandler = Callable[["Context", str], Awaitable[None]]
# Work on a free text that needs no database, done before the event's transaction.
ReadAhead = Callable[["Services", str], Awaitable[object]]
STEP_KINDS = (Kind.TEXT, Kind.CONTACT, Kind.MEDIA)  # what a wizard step can be answered with
DEEP_LINK_COMMAND = "start"  # t.me/<bot>?start=<payload> arrives as /start <payload>
CANCEL_COMMAND = "cancel"  # a wizard may say what it means on its steps (cancel_on_step)


@dataclass(frozen=True)
class Requires:
    """A staff gate: the routes behind it exist only for staff of at least `role`.

    Anyone else meets the bot's answer for anything it does not know, and the attempt is
    audited; staff of a lower role are told `refusal`, where there is one.
    """

    role: Role
    refusal: Callable[[Texts], str] | None = None

    async def admits(self, ctx: "Context") -> bool:
        return may(await ctx.staff_role(), self.role)


def requires(role: Role, refusal: Callable[[Texts], str] | None = None) -> Requires:
    """The gate of a staff journey: at least `role`, else `refusal` (or nothing) is said."""
    return Requires(role, refusal)


@dataclass(frozen=True)
class DeepLink:
    prefix: str
    gate: Requires | None
    handler: DeepLinkHandler


class Journey:
    """The routes of one user journey (one module in handlers/), behind an optional gate."""

    def __init__(self, name: str, gate: Requires | None = None) -> None:
        self.name = name
        self.gate = gate
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.button_kinds: list[type[ButtonData]] = []
        self.deep_links: list[DeepLink] = []
        self.steps: dict[str, Handler] = {}
        self.cancels: dict[str, Handler] = {}  # wizard step -> what /cancel does there
        self.free_text: Handler | None = None
        self.read_ahead: ReadAhead | None = None
        self.first_words: Handler | None = None
        self.anything_else: Handler | None = None
        self.group_reply: Handler | None = None

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """Answers /name (and its aliases)."""
        return self._register(self.commands, names)

    def button(
        self, kind: type[Pressed], on_step: str | None = None
    ) -> Callable[[ButtonHandler[Pressed]], ButtonHandler[Pressed]]:
        """Answers presses of this kind of button, with the button read.

        With `on_step`, the button works only while the applicant is on that wizard step.
        """

        def register(handler: ButtonHandler[Pressed]) -> ButtonHandler[Pressed]:
            self.button_kinds.append(kind)
            self._register(self.buttons, (kind.prefix,))(_reading(kind, handler, on_step))
            return handler

        return register

    def deep_link(self, prefix: str) -> Callable[[DeepLinkHandler], DeepLinkHandler]:
        """Answers /start <prefix><rest> (a t.me link) for whoever passes the gate."""

        def register(handler: DeepLinkHandler) -> DeepLinkHandler:
            self.deep_links.append(DeepLink(prefix, self.gate, handler))
            return handler

        return register

    def step(self, *names: str) -> Callable[[Handler], Handler]:
        """Answers text and contacts while the applicant is on this step of a wizard."""
        return self._register(self.steps, names)

    def cancel_on_step(self, *names: str) -> Callable[[Handler], Handler]:
        """Answers /cancel while the applicant is on one of these wizard steps."""
        return self._register(self.cancels, names)

    def text(self, read_ahead: ReadAhead | None = None) -> Callable[[Handler], Handler]:
        """Answers free text when nothing else claims it.

        `read_ahead` does the handler's slow work that needs no database before the
        transaction opens (no lock is held meanwhile); the handler finds its result in
        `ctx.read_ahead`, or None when it was not done (the text came on a wizard step).
        """

        def register(handler: Handler) -> Handler:
            self.free_text = handler
            self.read_ahead = read_ahead
            return handler

        return register

    def after_first_words(self) -> Callable[[Handler], Handler]:
        """Runs after the free-text answer to someone's first message ever (no /start before)."""

        def register(handler: Handler) -> Handler:
            self.first_words = handler
            return handler

        return register

    def reply_in_staff_group(self) -> Callable[[Handler], Handler]:
        """Answers a reply to one of the bot's posts in the staff group."""

        def register(handler: Handler) -> Handler:
            self.group_reply = _guarded(self.gate, handler, unknown=None)
            return handler

        return register

    def other(self) -> Callable[[Handler], Handler]:
        """Answers everything else: stickers, unknown commands, stale buttons."""

        def register(handler: Handler) -> Handler:
            self.anything_else = handler
            return handler

        return register

    def _register(
        self, table: dict[str, Handler], keys: tuple[str, ...]
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for key in keys:
                if key in table:
                    raise ValueError(f"{self.name} claims {key!r} twice")
                table[key] = handler
            return handler

        return register


class Router:
    """All journeys, merged; a key claimed twice is a wiring mistake."""

    def __init__(self, journeys: Sequence[Journey]) -> None:
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.steps: dict[str, Handler] = {}
        self.cancels: dict[str, Handler] = {}
        self.deep_links: list[DeepLink] = []
        self.free_text: Handler | None = None
        self.read_ahead: ReadAhead | None = None  # the free-text journey's
        self.first_words: Handler | None = None
        self.anything_else: Handler | None = None
        self.group_reply: Handler | None = None
        # Buttons under the bot's posts in the staff group: staff journeys' only.
        self.group_buttons: dict[str, Handler] = {}
        for journey in journeys:
            for table, routes in (
                (self.commands, journey.commands),
                (self.buttons, journey.buttons),
                (self.steps, journey.steps),
                (self.cancels, journey.cancels),
            ):
                clash = table.keys() & routes.keys()
                if clash:
                    raise ValueError(f"{journey.name} claims routes taken already: {clash}")
                table.update(
                    {
                        key: _guarded_step(journey.gate, h, self._out_of_the_wizard)
                        if table is self.steps
                        else _guarded(journey.gate, h, self._unknown)
                        for key, h in routes.items()
                    }
                )
            if journey.gate is not None:
                self.group_buttons.update(
                    {
                        key: _guarded(journey.gate, h, _not_staff)
                        for key, h in journey.buttons.items()
                    }
                )
            self.deep_links += journey.deep_links
            if self.free_text is None:
                self.free_text, self.read_ahead = journey.free_text, journey.read_ahead
            self.first_words = self.first_words or journey.first_words
            self.anything_else = self.anything_else or journey.anything_else
            self.group_reply = self.group_reply or journey.group_reply
        if self.free_text is None or self.anything_else is None:
            raise ValueError("one journey must answer free text and one everything else")
        if self.deep_links and DEEP_LINK_COMMAND in self.commands:
            start = self.commands[DEEP_LINK_COMMAND]
            self.commands[DEEP_LINK_COMMAND] = self._opening_deep_links(start)

    async def _unknown(self, ctx: "Context") -> None:
        assert self.anything_else is not None
        await self.anything_else(ctx)

    async def _out_of_the_wizard(self, ctx: "Context") -> None:
        """The wizard ends, and what was sent is answered as if there had been none."""
        await ctx.finish()
        await self.route(ctx.event, None)(ctx)

    def _opening_deep_links(self, start: Handler) -> Handler:
        links = self.deep_links

        async def start_or_deep_link(ctx: "Context") -> None:
            payload = ctx.event.argument.strip()
            for link in links:
                if payload.startswith(link.prefix) and (
                    link.gate is None or await link.gate.admits(ctx)
                ):
                    await link.handler(ctx, payload.removeprefix(link.prefix))
                    return
            await start(ctx)

        return start_or_deep_link

    @property
    def command_names(self) -> list[str]:
        return list(self.commands)

    def route(self, event: Incoming, step: str | None, first_contact: bool = False) -> Handler:
        """The handler for this event, given the applicant's current step (and whether this is
        the first time they write)."""
        assert self.free_text is not None
        assert self.anything_else is not None
        if not event.private:
            if event.kind is Kind.BUTTON:
                return self._button_route(event.button_data, self.group_buttons) or _ignore
            return self.group_reply or _ignore
        if event.kind is Kind.COMMAND:
            if event.command == CANCEL_COMMAND and step in self.cancels:
                return self.cancels[step]
            return self.commands.get(event.command, self.anything_else)
        if event.kind is Kind.BUTTON:
            return self._button_route(event.button_data, self.buttons) or self.anything_else
        if step is not None and event.kind in STEP_KINDS and step in self.steps:
            return self.steps[step]
        if event.kind is Kind.TEXT:
            if first_contact and self.first_words is not None:
                return _one_then_other(self.free_text, self.first_words)
            return self.free_text
        return self.anything_else

    def _button_route(self, data: str, buttons: dict[str, Handler]) -> Handler | None:
        """The kind with the longest prefix of the data: "book:exam:5" is "book:exam"'s."""
        head = data
        while head not in buttons:
            if ":" not in head:
                return None
            head = head.rsplit(":", 1)[0]
        return buttons[head]


def _one_then_other(first: Handler, then: Handler) -> Handler:
    async def both(ctx: "Context") -> None:
        await first(ctx)
        await then(ctx)

    return both


def _reading(kind: type[Pressed], handler: ButtonHandler[Pressed], on_step: str | None) -> Handler:
    """Reads the pressed button; data of no kind, or a wizard button pressed after its step
    has passed, is out of date and changes nothing."""

    async def read_then_handle(ctx: "Context") -> None:
        try:
            pressed = kind.unpack(ctx.event.button_data)
        except OutOfDate:
            ctx.out_of_date()
            return
        if on_step is not None and ctx.step != on_step:
            ctx.out_of_date()
            return
        await handler(ctx, pressed)

    return read_then_handle


def _guarded(gate: Requires | None, handler: Handler, unknown: Handler | None) -> Handler:
    if gate is None:
        return handler

    async def guarded(ctx: "Context") -> None:
        role = await ctx.staff_role()
        if may(role, gate.role):
            await handler(ctx)
        elif role is not None and gate.refusal is not None:
            refusal = gate.refusal(ctx.texts)
            ctx.notify(refusal) if ctx.event.kind is Kind.BUTTON else ctx.say(refusal)
        else:
            await _note_refusal(ctx)
            if unknown is not None:
                await unknown(ctx)

    return guarded


def _guarded_step(gate: Requires | None, handler: Handler, leave: Handler) -> Handler:
    """A staff wizard's step: whoever lost the role since it began (removed, or made an
    operator) is taken out of the wizard instead of being refused at every message."""
    if gate is None:
        return handler

    async def guarded(ctx: "Context") -> None:
        if may(await ctx.staff_role(), gate.role):
            await handler(ctx)
        else:
            await leave(ctx)

    return guarded


async def _note_refusal(ctx: "Context") -> None:
    """Someone not allowed reached for a staff command or button: the audit trail says so,
    a few times a day (one person sending /staff all day must not fill it)."""
    if await refusals_today(ctx.db, ctx.actor, ctx.now) >= REFUSED_ATTEMPTS_PER_DAY:
        return
    what = ctx.event.command or ctx.event.button_data.split(":", 1)[0]
    await audit(ctx.db, ctx.actor, REFUSED, what[:128], ctx.now)


async def _not_staff(ctx: "Context") -> None:
    """Someone in the staff group who is not staff pressed a button under a post."""
    ctx.notify(ctx._("Only the test office staff can use these buttons."))


async def _ignore(ctx: "Context") -> None:
    """Groups are not the place for an applicant's conversation."""
