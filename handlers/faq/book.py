"""The FAQ content: categories and entries in every locale, read from locales/.

locales/faq.toml gives the shape (categories in order, the entries of each);
locales/<locale>/faq/<category>.toml gives a category's title and its entries'
question, answer and phrasings in that locale. locales/not-in-faq.toml gives questions
the FAQ must not answer (exams, papers and jobs that are not the programmes'; daily life).
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from handlers.core.texts import LOCALES
from handlers.faq.matching import FaqMatcher, Match, MeaningModel, Understanding

NOT_IN_FAQ_FILE = "not-in-faq.toml"

ANSWER_MAX_LENGTH = 3500  # leaves room in Telegram's 4096 for the question and a footer
ALLOWED_MARKUP = re.compile(r"</?[bi]>|&(?:lt|gt|amp|quot);")
FORBIDDEN_IN_TEXT = re.compile(r"[<>&]")


class FaqError(Exception):
    """The FAQ content has problems; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One question with its answer, in every locale."""

    id: str
    category: str
    question: dict[str, str]
    answer: dict[str, str]
    phrasings: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class FaqCategory:
    """A group of entries, with its title in every locale."""

    id: str
    title: dict[str, str]
    entry_ids: tuple[str, ...]


class FaqBook:
    """The whole FAQ, ready to browse and to search."""

    def __init__(
        self,
        categories: list[FaqCategory],
        entries: dict[str, FaqEntry],
        not_in_faq: tuple[str, ...] = (),
    ) -> None:
        self.categories = categories
        self.entries = entries
        self._categories = {category.id: category for category in categories}
        self._matcher = FaqMatcher(
            (
                (entry.id, text)
                for entry in entries.values()
                for locale in LOCALES
                for text in (entry.question[locale], *entry.phrasings[locale])
            ),
            not_in_faq,
        )

    @classmethod
    def load(cls, locales_dir: Path) -> "FaqBook":
        """Reads the FAQ; raises FaqError listing every problem found."""
        problems, categories, entries = _read(locales_dir)
        not_in_faq = _not_in_faq(locales_dir / NOT_IN_FAQ_FILE, problems)
        if problems:
            raise FaqError(problems)
        return cls(categories, entries, not_in_faq)

    def category(self, category_id: str) -> FaqCategory | None:
        return self._categories.get(category_id)

    def entry(self, entry_id: str) -> FaqEntry | None:
        return self.entries.get(entry_id)

    def search(self, question: str, limit: int = 3) -> list[Match]:
        """The entries closest to a free-text question, best first."""
        return self._matcher.search(question, limit)

    def understand(self, question: str, sense: np.ndarray | None = None) -> Understanding:
        """The entry that answers a typed question, or the ones it may be about; `sense` is
        the question's meaning vector, when `sense` gave it already."""
        return self._matcher.understand(question, sense)

    def sense(self, question: str) -> np.ndarray | None:
        """The question's meaning vector: the slow part of understanding it, which needs
        no database; None without the meaning model."""
        return self._matcher.sense(question)

    @property
    def understands_meaning(self) -> bool:
        """True once the meaning model is in use; False while matching by wording only."""
        return self._matcher.understands_meaning

    def warm_up(self) -> None:
        """Builds the wording index now rather than at the first question (slow)."""
        self._matcher.warm_up()

    def use_meaning(self, embedder: MeaningModel, classifier_cache: Path | None = None) -> None:
        """Matches by meaning too; slow the first time a content version is seen."""
        self._matcher.use_meaning(embedder, classifier_cache)

    def add_phrasing(self, entry_id: str, text: str) -> None:
        """Teaches the book another way of asking for an entry (staff attach questions)."""
        if entry_id not in self.entries:
            raise KeyError(entry_id)
        self._matcher.add_phrasing(entry_id, text)

    def remove_phrasing(self, entry_id: str, text: str) -> bool:
        """Forgets a way of asking staff taught and took back; False when it was not known."""
        return self._matcher.remove_phrasing(entry_id, text)


def check_faq(locales_dir: Path) -> list[str]:
    """Every problem in the FAQ content, or an empty list."""
    problems = _read(locales_dir)[0]
    _not_in_faq(locales_dir / NOT_IN_FAQ_FILE, problems)
    return problems


def _not_in_faq(path: Path, problems: list[str]) -> tuple[str, ...]:
    """The questions of every language the FAQ must not answer (none if there is no file)."""
    try:
        content = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, tomllib.TOMLDecodeError) as error:
        problems.append(f"{path.name}: {error}")
        return ()
    questions: list[str] = []
    for language, texts in content.items():
        if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
            problems.append(f"{path.name}: '{language}' must be a list of questions")
            continue
        questions += [text.strip() for text in texts]
    return tuple(questions)


def _read(locales_dir: Path) -> tuple[list[str], list[FaqCategory], dict[str, FaqEntry]]:
    """The FAQ in every locale, or every problem found in it (and nothing else)."""
    try:
        shape = tomllib.loads((locales_dir / "faq.toml").read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        return [f"faq.toml: {error}"], [], {}
    order: list[str] = list(shape.get("categories", []))
    members: dict[str, list[str]] = shape.get("entries", {})
    problems, seen = _outline_problems(order, members)
    titles: dict[str, dict[str, str]] = {c: {} for c in order}
    texts: dict[str, dict[str, dict]] = {e: {} for e in seen}
    for locale in LOCALES:
        folder = locales_dir / locale / "faq"
        problems += [
            f"{locale}/faq/{path.name}: category '{path.stem}' is not in faq.toml"
            for path in sorted(folder.glob("*.toml"))
            if path.stem not in titles
        ]
        for category_id in order:
            where = f"{locale}/faq/{category_id}.toml"
            found = _category_file(where, folder / f"{category_id}.toml", problems)
            if found is None:
                continue
            title, entries = found
            if title:
                titles[category_id][locale] = title
            for entry_id, entry in entries.items():
                if seen.get(entry_id) != category_id:
                    problems.append(
                        f"{where}: entry '{entry_id}' is not in this category in faq.toml"
                    )
                    continue
                problems += _entry_problems(f"{where} [{entry_id}]", entry)
                texts[entry_id][locale] = entry
            problems += [
                f"{where}: entry '{entry_id}' is missing"
                for entry_id in members.get(category_id, [])
                if entry_id not in entries
            ]
    if problems:
        return problems, [], {}
    categories = [FaqCategory(c, titles[c], tuple(members[c])) for c in order]
    return [], categories, {e: _entry(e, c, texts[e]) for e, c in seen.items()}


def _outline_problems(
    order: list[str], members: dict[str, list[str]]
) -> tuple[list[str], dict[str, str]]:
    """What is wrong with faq.toml's outline, and the category each entry is listed in."""
    problems: list[str] = []
    if len(set(order)) != len(order):
        problems.append("faq.toml: a category is listed twice")
    problems += [
        f"faq.toml: entries for unknown category '{c}'" for c in members if c not in order
    ]
    seen: dict[str, str] = {}
    for category_id in order:
        if not members.get(category_id):
            problems.append(f"faq.toml: category '{category_id}' has no entries")
        for entry_id in members.get(category_id, []):
            if entry_id in seen:
                problems.append(
                    f"faq.toml: entry '{entry_id}' is listed in '{seen[entry_id]}' "
                    f"and '{category_id}'"
                )
            seen[entry_id] = category_id
    return problems, seen


def _category_file(
    where: str, path: Path, problems: list[str]
) -> tuple[str, dict[str, Any]] | None:
    """One category in one locale: its title ("" if it has none) and its entries."""
    try:
        content = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        problems.append(f"{where}: missing")
        return None
    except (OSError, tomllib.TOMLDecodeError) as error:
        problems.append(f"{where}: {error}")
        return None
    title = content.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{where}: no title")
        title = ""
    return title.strip(), content.get("entries", {})


def _entry(entry_id: str, category_id: str, texts: dict[str, dict]) -> FaqEntry:
    """One entry, from its table in every locale."""
    return FaqEntry(
        id=entry_id,
        category=category_id,
        question={loc: texts[loc]["question"].strip() for loc in LOCALES},
        answer={loc: texts[loc]["answer"].strip() for loc in LOCALES},
        phrasings={loc: tuple(texts[loc]["phrasings"]) for loc in LOCALES},
    )


def _entry_problems(where: str, entry: object) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}: not a table"]
    problems = []
    for field in ("question", "answer"):
        value = entry.get(field)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: no {field}")
    phrasings = entry.get("phrasings")
    if (
        not isinstance(phrasings, list)
        or not phrasings
        or not all(isinstance(p, str) and p.strip() for p in phrasings)
    ):
        problems.append(f"{where}: phrasings must be a non-empty list of texts")
    answer = entry.get("answer")
    if isinstance(answer, str):
        if len(answer) > ANSWER_MAX_LENGTH:
            problems.append(f"{where}: answer longer than {ANSWER_MAX_LENGTH} characters")
        if FORBIDDEN_IN_TEXT.search(ALLOWED_MARKUP.sub("", answer)):
            problems.append(f"{where}: answer has markup other than <b>, <i> and &lt; &gt; &amp;")
    question = entry.get("question")
    if isinstance(question, str) and FORBIDDEN_IN_TEXT.search(question):
        problems.append(f"{where}: question must be plain text")
    return problems
