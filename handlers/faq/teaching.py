"""Staff teach the FAQ: an unanswered question attached to an entry becomes its phrasing.

The chat (handlers/staff/teaching.py) and the command line (bot/cli.py) call the same
operations here. A taught phrasing lives in the database; every process's FAQ book
picks up the new ones before the next question it answers (handlers/faq/lessons.py), so
each instance knows them within seconds, without a restart. `export_phrasings` writes
them back into the FAQ's TOML files, for the next release of the content.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import tomlkit
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.services import Services
from handlers.core.texts import LOCALES
from handlers.faq.book import FaqBook, FaqEntry
from handlers.faq.matching import normalize
from models.questions import (
    Resolution,
    TaughtPhrasing,
    UnansweredQuestion,
    resolve_question,
    taught_phrasings,
)


class Outcome(StrEnum):
    DONE = "done"
    NO_QUESTION = "no-question"
    NO_ENTRY = "no-entry"
    SETTLED_ALREADY = "settled-already"


@dataclass(frozen=True)
class Teaching:
    """What came of attaching or setting aside a question; nothing changed unless DONE."""

    outcome: Outcome
    question: UnansweredQuestion | None = None
    entry: FaqEntry | None = None
    settled: int = 0  # questions settled: this one and those asked the same way


async def attach(
    db: AsyncSession, services: Services, question_id: int, entry_key: str, actor: str
) -> Teaching:
    """Attaches an unanswered question to an FAQ entry: its wording becomes a phrasing."""
    question = await db.get(UnansweredQuestion, question_id)
    if question is None:
        return Teaching(Outcome.NO_QUESTION)
    entry = services.faq.entry(entry_key)
    if entry is None:
        return Teaching(Outcome.NO_ENTRY, question)
    if question.resolution is not None:
        return Teaching(
            Outcome.SETTLED_ALREADY, question, await attached_entry(db, services.faq, question)
        )
    settled = await resolve_question(
        db, question, Resolution.ATTACHED, actor, services.now(), entry.id
    )
    if services.lessons is not None:
        services.lessons.expect_news()
    return Teaching(Outcome.DONE, question, entry, settled)


async def set_aside(
    db: AsyncSession, services: Services, question_id: int, resolution: Resolution, actor: str
) -> Teaching:
    """Marks an unanswered question as small talk or off-topic: it leaves the lists."""
    if resolution is Resolution.ATTACHED:
        raise ValueError("attach a question with attach()")
    question = await db.get(UnansweredQuestion, question_id)
    if question is None:
        return Teaching(Outcome.NO_QUESTION)
    if question.resolution is not None:
        return Teaching(
            Outcome.SETTLED_ALREADY, question, await attached_entry(db, services.faq, question)
        )
    settled = await resolve_question(db, question, resolution, actor, services.now())
    return Teaching(Outcome.DONE, question, settled=settled)


async def attached_entry(
    db: AsyncSession, faq: FaqBook, question: UnansweredQuestion
) -> FaqEntry | None:
    """The entry a settled question was attached to, if it was attached."""
    if question.resolution != Resolution.ATTACHED:
        return None
    for phrasing in await taught_phrasings(db):
        if phrasing.question_id == question.id or normalize(phrasing.text) == question.normalized:
            return faq.entry(phrasing.entry_key)
    return None


# --- The FAQ files and the taught phrasings ----------------------------------------------------


@dataclass(frozen=True)
class Exported:
    """One phrasing written into a category file."""

    path: Path
    entry_key: str
    text: str


def taught_problems(book: FaqBook, phrasings: Sequence[TaughtPhrasing]) -> list[str]:
    """What is wrong with the taught phrasings, given the FAQ files: for `faq check`."""
    problems = []
    for phrasing in phrasings:
        where = f"taught phrasing #{phrasing.id} ({phrasing.text[:40]!r})"
        if phrasing.entry_key not in book.entries:
            problems.append(f"{where}: unknown entry '{phrasing.entry_key}'")
        if phrasing.locale not in LOCALES:
            problems.append(f"{where}: unknown locale '{phrasing.locale}'")
        if not normalize(phrasing.text):
            problems.append(f"{where}: no words")
    return problems


def taught_per_entry(
    book: FaqBook, phrasings: Sequence[TaughtPhrasing]
) -> list[tuple[str, int, int]]:
    """(entry key, phrasings taught, how many of them the FAQ files have already), by entry."""
    taught = Counter(p.entry_key for p in phrasings)
    in_files = Counter(
        p.entry_key for p in phrasings if _in_files(book.entry(p.entry_key), p.locale, p.text)
    )
    return [(key, n, in_files[key]) for key, n in sorted(taught.items())]


def _in_files(entry: FaqEntry | None, locale: str, text: str) -> bool:
    if entry is None or locale not in entry.phrasings:
        return False
    return normalize(text) in {normalize(p) for p in entry.phrasings[locale]}


def export_phrasings(
    locales_dir: Path, book: FaqBook, phrasings: Sequence[TaughtPhrasing]
) -> list[Exported]:
    """Appends each taught phrasing the files lack to its entry's `phrasings` list in
    locales/<locale>/faq/<category>.toml, leaving the rest of each file as it was."""
    wanted: dict[Path, list[TaughtPhrasing]] = {}
    for phrasing in phrasings:
        entry = book.entry(phrasing.entry_key)
        if entry is None or phrasing.locale not in LOCALES:
            continue  # `faq check` reports these
        path = locales_dir / phrasing.locale / "faq" / f"{entry.category}.toml"
        wanted.setdefault(path, []).append(phrasing)
    written: list[Exported] = []
    for path, some in sorted(wanted.items()):
        document = tomlkit.parse(path.read_text("utf-8"))
        entries = document["entries"]
        added = []
        for phrasing in some:
            listed = entries[phrasing.entry_key]["phrasings"]  # type: ignore[index]
            text = " ".join(phrasing.text.split())
            if normalize(text) in {normalize(str(p)) for p in listed}:  # type: ignore[union-attr]
                continue
            listed.append(text)  # type: ignore[union-attr]
            added.append(Exported(path, phrasing.entry_key, text))
        if added:
            path.write_text(tomlkit.dumps(document), "utf-8")
            written += added
    return written
