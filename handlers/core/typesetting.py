"""Text set on images (the ticket, the /stats chart): a font per script, since Noto Sans
Khmer covers Khmer and Latin and Noto Sans JP covers Japanese, and line breaking that
never tears a Khmer syllable apart. Both fonts come in packages: nothing is downloaded."""

import unicodedata
from collections.abc import Iterator
from functools import cache
from importlib.resources import files

from PIL import ImageDraw, ImageFont

REGULAR, BOLD = 400, 700
KHMER, CJK, NEUTRAL = "khmer", "cjk", "neutral"
COENG = "\u17d2"  # joins the next consonant below this one: no line break after it
BREAK_AFTER = " \u200b"  # Khmer writes a zero-width space between words
NO_LINE_START = "、。，．・：；？！）」』】〉》ー々ゝゞぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ"
ELLIPSIS = "…"


# Fonts: Noto Sans Khmer also covers Latin, so it sets everything but Japanese.


def font_file(script: str) -> str:
    if script == CJK:
        return str(files("justmytype_intl_cjk") / "fonts/ofl/notosansjp/NotoSansJP[wght].ttf")
    return str(files("fontpkg_noto_sans_khmer") / "files/NotoSansKhmer[wdth,wght].ttf")


@cache
def font(script: str, size: int, weight: int) -> ImageFont.FreeTypeFont:
    """One font at one size and weight, opened once; both files are variable fonts."""
    font = ImageFont.truetype(font_file(script), size)
    # Noto Sans JP's default instance is Thin: the weight is always set explicitly.
    font.set_variation_by_axes(
        [
            float(weight)
            if axis.get("name", b"").lower() == b"weight"
            else float(axis["default"] or 0)
            for axis in font.get_variation_axes()
        ]
    )
    return font


@cache
def _metrics(size: int) -> tuple[int, int]:
    """The tallest ascent and descent of both fonts: Khmer stacks reach far up and down."""
    pairs = [font(script, size, REGULAR).getmetrics() for script in (KHMER, CJK)]
    return max(ascent for ascent, _d in pairs), max(descent for _a, descent in pairs)


def line_height(size: int) -> int:
    return sum(_metrics(size))


def descent(size: int) -> int:
    return _metrics(size)[1]


# Text: split into runs by script so each run gets a font that has its glyphs.


def _script(char: str) -> str:
    code = ord(char)
    if 0x1780 <= code <= 0x17FF or 0x19E0 <= code <= 0x19FF:
        return KHMER
    if (
        0x3000 <= code <= 0x30FF
        or 0x31F0 <= code <= 0x31FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
    ):
        return CJK
    return NEUTRAL


def _runs(text: str) -> Iterator[tuple[str, str]]:
    """(script, text) runs; spaces, digits and Latin join the run they stand in."""
    current, start = NEUTRAL, 0
    for index, char in enumerate(text):
        script = _script(char)
        if script in (NEUTRAL, current):
            continue
        if current == NEUTRAL:
            current = script  # leading Latin goes with the first script that follows
            continue
        yield current, text[start:index]
        current, start = script, index
    if text:
        yield (KHMER if current == NEUTRAL else current), text[start:]


def text_width(text: str, size: int, weight: int) -> float:
    return sum(font(script, size, weight).getlength(run) for script, run in _runs(text))


def draw_line(
    draw: ImageDraw.ImageDraw,
    at: tuple[int, int],
    text: str,
    size: int,
    weight: int,
    ink: int | tuple[int, int, int],
) -> None:
    """One line of text on its baseline at `at`, run by run."""
    x, y = at
    for script, run in _runs(text):
        face = font(script, size, weight)
        draw.text((x, y), run, font=face, fill=ink, anchor="ls")
        x += round(face.getlength(run))


def _pieces(text: str) -> list[str]:
    """Splits where a line may break: after a space, and around Japanese characters."""
    pieces, start = [], 0
    for index in range(1, len(text)):
        before, char = text[index - 1], text[index]
        if (before in BREAK_AFTER and char not in BREAK_AFTER) or (
            (_script(before) == CJK or _script(char) == CJK)
            and char not in NO_LINE_START
            and before not in BREAK_AFTER
            and char not in BREAK_AFTER
        ):
            pieces.append(text[start:index])
            start = index
    pieces.append(text[start:])
    return pieces


def _clusters(text: str) -> list[str]:
    """Splits a word where a line can break without tearing a Khmer syllable apart."""
    clusters: list[str] = []
    for char in text:
        joined = unicodedata.category(char).startswith("M") or char in "\u200c\u200d"
        if clusters and (joined or clusters[-1].endswith(COENG) or char == COENG):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def wrap(text: str, size: int, weight: int, width: int, max_lines: int) -> list[str]:
    """Greedy line breaking to `width`; what does not fit in `max_lines` ends in an ellipsis."""
    lines: list[str] = []
    line = ""
    for piece in _pieces(" ".join(text.split())):
        if text_width((line + piece).rstrip(), size, weight) <= width:
            line += piece
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        for cluster in _clusters(piece):  # a word wider than the line is broken anywhere
            if line and text_width(line + cluster, size, weight) > width:
                lines.append(line)
                line = ""
            line += cluster
    if line.strip():
        lines.append(line.rstrip())
    if len(lines) <= max_lines:
        return lines
    last = _clusters(lines[max_lines - 1])
    while last and text_width("".join(last) + ELLIPSIS, size, weight) > width:
        last.pop()
    return [*lines[: max_lines - 1], "".join(last).rstrip() + ELLIPSIS]
