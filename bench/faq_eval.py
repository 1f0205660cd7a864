"""FAQ matching quality and speed on tests/faq_eval.toml.

Prints, per language, top-1 accuracy (the answer shown is the expected entry, or
"I don't know" for a question the FAQ does not cover), top-3 accuracy (the expected
entry is the answer or one of the related-question buttons shown), and the p50/p99
time to match one question.

    python bench/faq_eval.py
"""

import statistics
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.faq.book import FaqBook  # noqa: E402

EVAL_SET = ROOT / "tests" / "faq_eval.toml"


@dataclass
class LanguageResult:
    """How one language fared."""

    cases: int = 0
    top1: int = 0
    top3: int = 0
    seconds: list[float] = field(default_factory=list)
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    def percent(self, hits: int) -> float:
        return 100.0 * hits / self.cases if self.cases else 0.0

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def shown(book: FaqBook, question: str) -> tuple[str, list[str]]:
    """The entry answered (or "") and the entries offered, as the bot would show them."""
    found = book.answer(question)
    if found.entry_id is None:
        return "", []
    return found.entry_id, [found.entry_id, *found.related]


def evaluate(book: FaqBook, cases: list[dict]) -> dict[str, LanguageResult]:
    """Runs every case through the matcher."""
    results: dict[str, LanguageResult] = {}
    for case in cases:
        result = results.setdefault(case["locale"], LanguageResult())
        started = time.perf_counter()
        answer, offered = shown(book, case["question"])
        result.seconds.append(time.perf_counter() - started)
        expected = case["expected"]
        result.cases += 1
        result.top1 += answer == expected
        result.top3 += (expected in offered) if expected else answer == ""
        if answer != expected:
            result.misses.append((case["question"], expected, answer))
    return results


def load_cases() -> list[dict]:
    return tomllib.loads(EVAL_SET.read_text("utf-8"))["case"]


def main() -> None:
    book = FaqBook.load(ROOT / "locales")
    results = evaluate(book, load_cases())
    print(f"FAQ evaluation: {EVAL_SET.relative_to(ROOT)}, {len(book.entries)} entries")
    print(f"{'lang':<6}{'cases':>7}{'top-1':>9}{'top-3':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for locale, result in results.items():
        print(
            f"{locale:<6}{result.cases:>7}{result.percent(result.top1):>8.1f}%"
            f"{result.percent(result.top3):>8.1f}%{result.quantile_ms(0.5):>9.2f}"
            f"{result.quantile_ms(0.99):>9.2f}"
        )
    everything = [s for r in results.values() for s in r.seconds]
    print(f"all   {len(everything):>7}  p50 {1000 * statistics.median(everything):.2f} ms")
    if "-v" in sys.argv:
        for locale, result in results.items():
            for question, expected, answer in result.misses:
                print(
                    f"  miss {locale}: {question!r} expected {expected or '-'} got {answer or '-'}"
                )


if __name__ == "__main__":
    main()
