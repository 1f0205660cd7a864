"""The staff's /stats as one message and a chart: pure functions of what models counted.

`models.statistics.gather_statistics` does the counting; `statistics_text` and
`registrations_chart` turn its figures into a Telegram HTML message and a PNG.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from io import BytesIO

from PIL import Image, ImageDraw

from handlers.core.texts import LANGUAGE_NAMES, Texts
from handlers.core.typesetting import BOLD, descent, draw_line, line_height, text_width, wrap
from models.sessions import SessionStatus
from models.statistics import NO_LOCALE, Statistics

MESSAGE_LIMIT = 4096  # Telegram's limit for one message
# Clipped before escaping, so no entity is ever cut in half.
VENUE_CLIP, SOURCE_CLIP, QUESTION_CLIP = 60, 64, 160
DAYS_PER_LINE = 7
# The chart's title strip: set with the ticket's fonts, which shape Khmer and Japanese.
TITLE_HEIGHT, TITLE_SIZE, TITLE_INK = 36, 17, (34, 34, 34)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())  # user text may hold newlines; a list item stays one line
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def telegram_length(text: str) -> int:
    """Telegram counts UTF-16 code units; counting the HTML tags too keeps a margin."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Section:
    """A heading, lines that always show, and a list that can be shortened to fit."""

    lines: list[str]
    items: list[str] = field(default_factory=list)
    more: Callable[[int], str] = str
    hidden: int = 0  # items the gatherer already left out
    shown: int = -1

    def __post_init__(self) -> None:
        if self.shown < 0:
            self.shown = len(self.items)

    def render(self) -> str:
        lines = self.lines + self.items[: self.shown]
        if hidden := self.hidden + len(self.items) - self.shown:
            lines.append(self.more(hidden))
        return "\n".join(lines)


def _fit(sections: Sequence[_Section], limit: int = MESSAGE_LIMIT) -> str:
    """Joins the sections, dropping items from the longest lists until the text fits."""
    while True:
        text = "\n\n".join(section.render() for section in sections)
        if telegram_length(text) <= limit:
            return text
        shrinkable = [s for s in sections if s.shown > 0]
        if not shrinkable:
            # Cannot happen with the clipped items above; cut at a line as a last resort.
            return text[: text.rfind("\n", 0, limit - 1)] if "\n" in text else text[:limit]
        max(shrinkable, key=lambda s: telegram_length(s.render())).shown -= 1


def statistics_text(texts: Texts, stats: Statistics) -> str:
    """/stats as one Telegram HTML message of at most 4096 characters."""
    _ = texts  # the name pybabel extracts messages by (babel.cfg)
    header = _Section([_("📊 <b>Statistics</b> · {when}").format(when=_.moment(stats.now))])
    return _fit(
        [
            header,
            _sessions_section(_, stats),
            _applicants_section(_, stats),
            _days_section(_, stats),
            _sources_section(_, stats),
            _questions_section(_, stats),
        ]
    )


def _more(_: Texts) -> Callable[[int], str]:
    return lambda n: _("…and {n} more").format(n=_.number(n))


def session_status_label(_: Texts, status: str) -> str:
    """A session's status in this language."""
    statuses = {
        SessionStatus.OPEN.value: _("open"),
        SessionStatus.CLOSED.value: _("closed"),
        SessionStatus.CANCELLED.value: _("cancelled"),
    }
    return statuses.get(status, status)


def _sessions_section(_: Texts, stats: Statistics) -> _Section:
    """Seats taken, left and waiting at each listed session."""
    items = [
        "• {when} · {exam} · {venue} · {status}\n   {seats}".format(
            when=_.brief_moment(session.starts_at),
            exam=escape(session.exam_id),
            venue=escape(clip(session.venue, VENUE_CLIP)),
            status=escape(session_status_label(_, session.status)),
            seats=_("Seats: {taken}/{capacity} taken, {left} left, {waiting} waiting").format(
                taken=_.number(session.seats_taken),
                capacity=_.number(session.capacity),
                left=_.number(session.seats_left),
                waiting=_.number(session.waiting),
            ),
        )
        for session in stats.sessions
    ]
    section = _Section([_("<b>Test sessions</b>")], items, _more(_), stats.more_sessions)
    if not stats.sessions and not stats.more_sessions:
        section.lines.append(_("No upcoming or recent test sessions."))
    return section


def _applicants_section(_: Texts, stats: Statistics) -> _Section:
    """How many applicants, in which language, and how many blocked the bot."""
    languages = " · ".join(
        "{language}: {n}".format(
            language=LANGUAGE_NAMES.get(locale)
            or (_("not chosen") if locale == NO_LOCALE else escape(locale)),
            n=_.number(count),
        )
        for locale, count in stats.applicants_by_locale
    )
    return _Section(
        [
            _("<b>Applicants</b>: {total}").format(total=_.number(stats.applicants)),
            languages,
            _("Reachable: {reachable}, blocked the bot: {unreachable}").format(
                reachable=_.number(stats.reachable), unreachable=_.number(stats.unreachable)
            ),
        ]
    )


def _days_section(_: Texts, stats: Statistics) -> _Section:
    """Registrations per local day, a week to a line."""
    per_day = [
        f"{_.month_day(count.day)}: {_.number(count.registrations)}" for count in stats.per_day
    ]
    return _Section(
        [
            _("<b>Registrations in the last {days} days</b>: {total}").format(
                days=_.number(len(stats.per_day)),
                total=_.number(sum(count.registrations for count in stats.per_day)),
            ),
            *(
                " · ".join(per_day[i : i + DAYS_PER_LINE])
                for i in range(0, len(per_day), DAYS_PER_LINE)
            ),
        ]
    )


def _sources_section(_: Texts, stats: Statistics) -> _Section:
    """Where the registrations came from (the deep links of their first /start)."""
    items = [
        "• {source}: {n}".format(
            source=escape(clip(count.source, SOURCE_CLIP)) if count.source else _("direct"),
            n=_.number(count.registrations),
        )
        for count in stats.sources
    ]
    section = _Section([_("<b>Registrations by source</b>")], items, _more(_))
    if not items:
        section.lines.append(_("No registrations yet."))
    return section


def _questions_section(_: Texts, stats: Statistics) -> _Section:
    """The questions the FAQ could not answer, most asked first."""
    items = [
        f"• {_.number(question.times)}× {escape(clip(question.text, QUESTION_CLIP))}"
        for question in stats.questions
    ]
    section = _Section([_("<b>Most asked questions without an answer</b>")], items, _more(_))
    if not items:
        section.lines.append(_("No unanswered questions."))
    return section


def registrations_chart(texts: Texts, stats: Statistics) -> bytes:
    """Registrations per day as a small PNG bar chart under its title in the staff member's
    language; blocking, so run it off the loop."""
    # Imported here: matplotlib is slow to import, and only staff asking for /stats need it.
    # Figure with the Agg canvas, never pyplot: no global state, safe from a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    _ = texts  # the name pybabel extracts messages by (babel.cfg)
    labels = [texts.chart_day(count.day) for count in stats.per_day]
    values = [count.registrations for count in stats.per_day]

    figure = Figure(figsize=(6.4, 3.2 - TITLE_HEIGHT / 100), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bars = axes.bar(range(len(values)), values, color="#2f6db5", width=0.7)
    axes.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=7, padding=2)
    axes.set_xticks(range(len(labels)), labels, fontsize=7)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(axis="y", labelsize=7)
    axes.set_ylim(0, max([1, *values]) * 1.15)
    axes.spines[["top", "right"]].set_visible(False)
    canvas = BytesIO()
    figure.savefig(canvas, format="png")
    chart = Image.open(BytesIO(canvas.getvalue())).convert("RGB")
    return _under_title(chart, _("Registrations per day"))


def _under_title(chart: Image.Image, title: str) -> bytes:
    """The chart with its title above, set like the ticket: matplotlib cannot shape Khmer."""
    image = Image.new("RGB", (chart.width, TITLE_HEIGHT + chart.height), "white")
    image.paste(chart, (0, TITLE_HEIGHT))
    (line,) = wrap(title, TITLE_SIZE, BOLD, chart.width - 20, 1)
    x = round((chart.width - text_width(line, TITLE_SIZE, BOLD)) / 2)
    baseline = (TITLE_HEIGHT + line_height(TITLE_SIZE)) // 2 - descent(TITLE_SIZE)
    draw_line(ImageDraw.Draw(image), (x, baseline), line, TITLE_SIZE, BOLD, TITLE_INK)
    output = BytesIO()
    image.save(output, format="PNG", optimize=True)
    return output.getvalue()
