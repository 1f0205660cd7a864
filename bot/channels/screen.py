"""What a message shows: its text, formatting and buttons, read the same way from the HTML
the bot sends and from the message a button press carries, so that an edit which would
change nothing is not sent (Telegram refuses it as "message is not modified", and it
costs a request from the sending budget all the same)."""

from collections import OrderedDict
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from handlers.core.events import EditText, InlineKeyboard

# Tags that mean the same formatting, as the libraries and the bot may write them.
SAME_TAG = {"strong": "b", "em": "i", "ins": "u", "strike": "s", "del": "s"}

Span = tuple[str, tuple[tuple[str, str | None], ...], int, int]
Buttons = tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True)
class Screen:
    """A message as the user sees it: plain text, formatted spans, and button rows."""

    text: str
    spans: frozenset[Span]
    buttons: Buttons


class _Formatting(HTMLParser):
    """Plain text and formatted spans of Telegram HTML (offsets in characters)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.length = 0
        self.open: list[tuple[str, tuple[tuple[str, str | None], ...], int]] = []
        self.spans: list[Span] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "span" and ("class", "tg-spoiler") in attrs:
            tag, attrs = "tg-spoiler", []
        self.open.append((SAME_TAG.get(tag, tag), tuple(sorted(attrs)), self.length))

    def handle_endtag(self, tag: str) -> None:
        if self.open:
            name, attrs, start = self.open.pop()
            if self.length > start:
                self.spans.append((name, attrs, start, self.length))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.length += len(data)


def _read(html: str) -> tuple[str, frozenset[Span]]:
    """Telegram trims a message's text: so is it here, the spans moved with it."""
    parser = _Formatting()
    parser.feed(html)
    parser.close()
    text = "".join(parser.text)
    lead = len(text) - len(text.lstrip())
    return text.strip(), frozenset((n, a, s - lead, e - lead) for n, a, s, e in parser.spans)


def screen_of(html: str, keyboard: InlineKeyboard | None) -> Screen:
    """What an edit would show."""
    text, spans = _read(html)
    rows = keyboard.rows if keyboard is not None else ()
    return Screen(text, spans, tuple(tuple((b.label, b.data) for b in row) for row in rows))


def screen_on_telegram(html: str, markup: Any) -> Screen:
    """What a message shows now: its HTML as the library renders it, and its inline buttons
    (a button that is not a callback one counts as different from any the bot makes)."""
    text, spans = _read(html)
    rows = getattr(markup, "inline_keyboard", None) or ()
    buttons = tuple(
        tuple((str(b.text), str(b.callback_data or "\0")) for b in row) for row in rows
    )
    return Screen(text, spans, buttons)


class Screens:
    """Tells an edit that would change nothing, from the message the press carried and,
    for a quick second tap (which carries the message as it was before the first tap's
    edit), from the edits this process made last."""

    def __init__(self, remembered: int = 10_000) -> None:
        self.remembered = remembered
        self._edits: OrderedDict[tuple[int, int], tuple[Screen, Screen]] = OrderedDict()

    def changes_nothing(self, chat_id: int, pressed: tuple[int, Screen], edit: EditText) -> bool:
        """Whether `edit` would leave the pressed message (id, as the press showed it) as
        Telegram has it now."""
        message_id, seen = pressed
        if edit.message_id != message_id:
            return False
        wanted = screen_of(edit.text, edit.keyboard)
        return wanted == seen or self._edits.get((chat_id, message_id)) == (seen, wanted)

    def edited(self, chat_id: int, pressed: tuple[int, Screen], edit: EditText) -> None:
        """Remembers that the pressed message, seen as it was, now shows `edit`."""
        message_id, seen = pressed
        if edit.message_id != message_id:
            return
        key = (chat_id, message_id)
        self._edits[key] = (seen, screen_of(edit.text, edit.keyboard))
        self._edits.move_to_end(key)
        if len(self._edits) > self.remembered:
            self._edits.popitem(last=False)
