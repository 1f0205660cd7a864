"""Typed button data: one frozen dataclass per kind of button, "prefix:part:part" on the wire.

A kind declares its prefix and its fields; `pack` writes the data Telegram carries back,
`unpack` reads it, refusing anything malformed as `OutOfDate`. The wire format is the one
buttons have always had, so buttons in messages sent long ago keep working.
"""

import re
from dataclasses import fields
from typing import Any, ClassVar, Literal, Self, get_args, get_origin, get_type_hints

from handlers.core.events import CALLBACK_DATA_MAX_BYTES, Button

NUMBER = re.compile(r"[0-9]{1,18}")  # a database id; longer would overflow a BIGINT


class OutOfDate(ValueError):
    """Button data that no kind of button reads: stale, forged or malformed."""


class ButtonData:
    """A kind of button: subclass it as a frozen dataclass with `prefix="..."`.

    Fields are `int`, `str` or a `Literal` of strings; only the last one may contain ":".
    """

    prefix: ClassVar[str]

    def __init_subclass__(cls, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.prefix = prefix

    def __post_init__(self) -> None:
        values = self._values()
        if any(":" in value for value in values[:-1]):
            raise ValueError(f"only the last part of button data may contain ':': {values}")
        packed = ":".join([self.prefix, *values])
        if not 1 <= len(packed.encode()) <= CALLBACK_DATA_MAX_BYTES:
            raise ValueError(f"button data must be 1..64 bytes: {packed!r}")

    def pack(self) -> str:
        """The data the button carries: "prefix:part:part"."""
        return ":".join([self.prefix, *self._values()])

    def button(self, label: str) -> Button:
        """An inline button that sends this back when pressed."""
        return Button(label, self.pack())

    @classmethod
    def unpack(cls, data: str) -> Self:
        """The button this data stands for; `OutOfDate` if it is not one of this kind."""
        names = _field_names(cls)
        if not data.startswith(cls.prefix):
            raise OutOfDate(data)
        rest = data.removeprefix(cls.prefix)
        if not names:
            if rest:
                raise OutOfDate(data)
            return cls()
        if not rest.startswith(":"):
            raise OutOfDate(data)
        parts = rest[1:].split(":", len(names) - 1)
        if len(parts) != len(names):
            raise OutOfDate(data)
        hints = _field_types(cls)
        values = {
            name: _read(hints[name], part, data) for name, part in zip(names, parts, strict=True)
        }
        try:
            return cls(**values)
        except ValueError as malformed:
            raise OutOfDate(data) from malformed

    def _values(self) -> list[str]:
        return [str(getattr(self, name)) for name in _field_names(type(self))]


# A kind's fields never change once its class is made; every screen builds buttons and
# every press reads one, so each is looked up once (get_type_hints is slow).
_names: dict[type, tuple[str, ...]] = {}
_types: dict[type, dict[str, Any]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    if kind not in _names:
        _names[kind] = tuple(field.name for field in fields(kind))  # type: ignore[arg-type]
    return _names[kind]


def _field_types(kind: type) -> dict[str, Any]:
    if kind not in _types:
        _types[kind] = get_type_hints(kind)
    return _types[kind]


def _read(kind: Any, part: str, data: str) -> Any:
    """One part of the data as the field's type."""
    if kind is int:
        if not NUMBER.fullmatch(part):
            raise OutOfDate(data)
        return int(part)
    if get_origin(kind) is Literal:
        if part not in get_args(kind):
            raise OutOfDate(data)
        return part
    if not part:
        raise OutOfDate(data)
    return part
