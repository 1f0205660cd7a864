"""FAQ understanding: quality on the development and the frozen test set, speed, start-up.

For each set and language: top-1 counted strictly (the expected entry is the answer
shown), top-1 counting a "did you mean" whose first button is the expected entry, and
top-3 (the expected entry is among the buttons shown); a small-talk case counts when
it is recognised as small talk, an off-topic one when no entry is answered. Then the
rate of off-topic questions wrongly answered (and, for a set with small talk, of all the
questions that must not get an FAQ answer), the time to understand one question
(p50/p99; on the frozen set also of each question's median of three askings), and
the start-up time with a cold and a warm cache of phrasing vectors.

    python bench/faq_eval.py               # with the meaning model
    python bench/faq_eval.py --lexical     # wording only, the fallback
    python bench/faq_eval.py -v            # also the development sets' misses
    python bench/faq_eval.py --frozen-only --no-startup  # the frozen set's figures alone

Tune on tests/faq_eval.toml only; tests/faq_test.toml was written before any tuning and
is never changed, and its misses are not printed.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import settle_heap  # noqa: E402
from handlers.faq.book import FaqBook  # noqa: E402
from handlers.faq.meaning import (  # noqa: E402
    classifier_cache_path,
    default_cache_path,
    load_embedder,
)
from handlers.faq.small_talk import small_talk  # noqa: E402

DEV_SET = ROOT / "tests" / "faq_eval.toml"
# Written fresh on 2026-12-04 from domain-facts.md and the entry list, when the first set
# was near full marks: its first run was a held-out figure; tuned on after that.
DEV_SET_2 = ROOT / "tests" / "faq_dev2.toml"
# Written on 2026-12-04 by a helper who saw only domain-facts.md and the entry list, when
# the first two were near full marks; its first run is in the README, tuned on since.
DEV_SET_3 = ROOT / "tests" / "faq_dev3.toml"
# Off-topic questions and small talk only, written on 2026-12-04 by a helper who saw only
# domain-facts.md and the entry list; its first run is in the README, tuned on since.
DEV_SET_4 = ROOT / "tests" / "faq_dev4.toml"
# Written on 2026-12-04 by a helper who saw only domain-facts.md and the entry list (179
# questions over all 70 entries, 14 off-topic, 6 small talk); its first run is in the
# README, taken before anything was tuned on it.
DEV_SET_5 = ROOT / "tests" / "faq_dev5.toml"
DEV_SETS = (DEV_SET, DEV_SET_2, DEV_SET_3, DEV_SET_4, DEV_SET_5)
TEST_SET = ROOT / "tests" / "faq_test.toml"
SMALL_TALK = "smalltalk"
# The frozen set's questions are each asked this often, for their cost without the host's
# moments of other work (the first asking's times are reported too).
ASKINGS = 3


@dataclass
class LanguageResult:
    """How one language fared."""

    cases: int = 0
    top1: int = 0  # answered with the expected entry (or rightly not answered)
    top1_or_first: int = 0  # ... or offered it as the first "did you mean" button
    top3: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    def percent(self, hits: int) -> float:
        return 100.0 * hits / self.cases if self.cases else 0.0


@dataclass
class Evaluation:
    """A set's results: per language, off-topic answers and timings."""

    languages: dict[str, LanguageResult] = field(default_factory=dict)
    off_topic: int = 0
    off_topic_answered: int = 0
    # Off-topic and small talk: what the test set holds as "must not get an answer".
    not_for_the_faq: int = 0
    not_for_the_faq_answered: int = 0
    askings: int = 1  # how often each question was asked, for its time
    seconds: list[float] = field(default_factory=list)  # each question's first asking
    # Each question's median time over several askings: its cost, without the moments the
    # host's other work took a core (one pass's p99 on this 2-core host moves by a third).
    steady_seconds: list[float] = field(default_factory=list)

    def quantile_ms(self, q: float, steady: bool = False) -> float:
        ordered = sorted(self.steady_seconds if steady else self.seconds)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def shown(book: FaqBook, question: str) -> tuple[str, list[str]]:
    """What the bot shows: the entry answered ("" if none, "smalltalk") and the buttons."""
    if small_talk(question) is not None:
        return SMALL_TALK, []
    found = book.understand(question)
    if found.entry_id is None:
        return "", list(found.suggestions)
    return found.entry_id, [found.entry_id, *found.suggestions]


def evaluate(book: FaqBook, cases: list[dict], askings: int = 1) -> Evaluation:
    """Runs every case through small talk and the matcher, as the bot does, timing each
    of `askings` askings (the answer is the same every time)."""
    evaluation = Evaluation(askings=askings)
    for case in cases:
        result = evaluation.languages.setdefault(case["locale"], LanguageResult())
        seconds = []
        for _ in range(askings):
            started = time.perf_counter()
            answer, offered = shown(book, case["question"])
            seconds.append(time.perf_counter() - started)
        evaluation.seconds.append(seconds[0])
        evaluation.steady_seconds.append(statistics.median(seconds))
        expected = case["expected"]
        result.cases += 1
        if expected in ("", SMALL_TALK):
            right = answer == expected if expected else answer in ("", SMALL_TALK)
            result.top1 += right
            result.top1_or_first += right
            result.top3 += right
        else:
            result.top1 += answer == expected
            result.top1_or_first += (answer or next(iter(offered), "")) == expected
            result.top3 += expected in offered[:3]
        if expected == "":
            evaluation.off_topic += 1
            evaluation.off_topic_answered += answer not in ("", SMALL_TALK)
        if expected in ("", SMALL_TALK):
            evaluation.not_for_the_faq += 1
            evaluation.not_for_the_faq_answered += answer not in ("", SMALL_TALK)
        if answer != expected:
            first = answer or (f"? {offered[0]}" if offered else "")
            result.misses.append((case["question"], expected, first))
    return evaluation


def load_cases(path: Path = DEV_SET) -> list[dict]:
    return tomllib.loads(path.read_text("utf-8"))["case"]


def load_book(meaning: bool = True, cache_path: Path | None = None) -> FaqBook:
    """The FAQ book as the bot has it: with the meaning model unless told otherwise."""
    book = FaqBook.load(ROOT / "locales")
    book.warm_up()  # the wording index, built at start-up as the bot's `run` does
    if meaning:
        cache_path = cache_path or default_cache_path()
        embedder = load_embedder(cache_path)
        if embedder is not None:
            book.use_meaning(embedder, classifier_cache_path(cache_path))
    return book


def report(name: str, evaluation: Evaluation, verbose: bool) -> None:
    print(f"\n{name}")
    print(f"{'lang':<9}{'cases':>6}{'top-1':>8}{'top-1+dym':>11}{'top-3':>8}")
    for locale, result in sorted(evaluation.languages.items()):
        print(
            f"{locale:<9}{result.cases:>6}{result.percent(result.top1):>7.1f}%"
            f"{result.percent(result.top1_or_first):>10.1f}%{result.percent(result.top3):>7.1f}%"
        )
    wrongly = 100 * evaluation.off_topic_answered / max(evaluation.off_topic, 1)
    print(
        f"off-topic wrongly answered: {evaluation.off_topic_answered}/{evaluation.off_topic}"
        f" ({wrongly:.1f}%)"
    )
    if evaluation.not_for_the_faq > evaluation.off_topic:
        answered, cases = evaluation.not_for_the_faq_answered, evaluation.not_for_the_faq
        print(
            f"off-topic or small talk given an FAQ answer: {answered}/{cases}"
            f" ({100 * answered / cases:.1f}%)"
        )
    print(
        f"per question: p50 {evaluation.quantile_ms(0.5):.2f} ms, "
        f"p99 {evaluation.quantile_ms(0.99):.2f} ms, "
        f"mean {1000 * statistics.fmean(evaluation.seconds):.2f} ms"
    )
    if evaluation.askings > 1:
        print(
            f"per question, each one's median of {evaluation.askings} askings: "
            f"p50 {evaluation.quantile_ms(0.5, steady=True):.2f} ms, "
            f"p99 {evaluation.quantile_ms(0.99, steady=True):.2f} ms"
        )
    if verbose:
        for locale, result in sorted(evaluation.languages.items()):
            for question, expected, got in result.misses:
                print(f"  miss {locale}: {question!r} expected {expected or '-'} got {got or '-'}")


STARTUP = """
import sys, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
from pathlib import Path
from bench.faq_eval import load_book
book = load_book(cache_path=Path({cache!r}))
print(time.perf_counter() - started, book.understands_meaning)
"""


def startup_seconds(cache: Path) -> float:
    """A fresh process's time to read the FAQ and be ready to match by meaning."""
    code = STARTUP.format(root=str(ROOT), cache=str(cache))
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(output[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lexical", action="store_true", help="wording only, the fallback")
    parser.add_argument("-v", "--verbose", action="store_true", help="development sets' misses")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timing")
    parser.add_argument("--frozen-only", action="store_true", help="skip the development sets")
    options = parser.parse_args()
    book = load_book(not options.lexical)
    mode = "wording and meaning" if book.understands_meaning else "wording only"
    print(f"FAQ understanding ({mode}), {len(book.entries)} entries")
    for _ in range(20):  # warm up caches and the model's buffers
        book.understand("warm up")
    settle_heap()  # as the bot's process does once started
    for dev_set in () if options.frozen_only else DEV_SETS:
        report(
            f"development set (tuned on): {dev_set.relative_to(ROOT)}",
            evaluate(book, load_cases(dev_set)),
            options.verbose,
        )
    report(
        f"frozen test set (never tuned on): {TEST_SET.relative_to(ROOT)}",
        evaluate(book, load_cases(TEST_SET), askings=ASKINGS),
        verbose=False,
    )
    if book.understands_meaning and not options.no_startup:
        with tempfile.TemporaryDirectory() as folder:
            cache = Path(folder) / "faq-meaning.npz"
            cold = startup_seconds(cache)
            warm = startup_seconds(cache)
        print(f"\nstart-up: cold cache {cold:.2f} s, warm cache {warm:.2f} s")


if __name__ == "__main__":
    main()
