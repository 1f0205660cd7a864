"""Updates per second handled by the conversation core alone.

No Telegram, no HTTP, no sending: events go straight into `Conversation.handle`, as a
channel would pass them, and the replies are returned. This is the ceiling any channel
can reach on this machine, so it says how much of bench/throughput.py's gap to the
echo bots is the core's own work. --applicants applicants first say /start (not
measured), then each sends --questions messages, all at once, in two workloads:
- questions: free-text questions from tests/faq_eval.toml, answered by the FAQ;
- small talk: "thanks", "ok", "អរគុណ"... answered without the meaning model, so its rate
  is the update path's own (transaction, routing, rendering).
Also printed: CPU milliseconds per update, and that time split into the FAQ's reading
of the text and the rest (the transaction: dedupe row, applicant and step; routing;
rendering).

    python bench/core.py [--applicants 200] [--questions 10] [--database sqlite postgresql]
        [--workload questions small-talk]
"""

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App, build_app, settle_heap  # noqa: E402
from bot.config import load_settings  # noqa: E402
from handlers.core.events import Incoming, Kind  # noqa: E402
from handlers.faq.small_talk import small_talk  # noqa: E402
from models.db import upgrade_database  # noqa: E402

EVAL_SET = ROOT / "tests" / "faq_eval.toml"
FIRST_USER = 8_000_000
# What people send besides questions; the FAQ answers these without its meaning model.
SMALL_TALK = {
    "km": ["អរគុណ", "អរគុណច្រើនបង", "ជំរាបសួរ", "ok បង", "បាទ", "👍"],
    "en": ["thanks", "thank you so much", "hello", "ok", "bye", "🙏🙏"],
}


def questions() -> dict[str, list[str]]:
    """The evaluation questions the FAQ answers, per language."""
    cases = tomllib.loads(EVAL_SET.read_text(encoding="utf-8"))["case"]
    by_language: dict[str, list[str]] = {}
    for case in cases:
        if case["expected"]:
            by_language.setdefault(case["locale"], []).append(case["question"])
    return by_language


async def measure(
    database_url: str, texts: dict[str, list[str]], applicants: int, per_applicant: int
) -> tuple[float, ...]:
    """(updates/s, CPU ms per update, FAQ match CPU ms per update)."""
    app = build_app(load_settings(database_url=database_url, _env_file=None))
    await upgrade_database(app.engine)  # as `applicant-bot db upgrade` does
    await app.prepare_database()
    settle_heap()  # as the bot's own process does after start-up
    try:
        return await _measure(app, texts, applicants, per_applicant)
    finally:
        await app.close()


async def _measure(
    app: App, asked: dict[str, list[str]], applicants: int, per_applicant: int
) -> tuple[float, ...]:
    conversation = app.conversation
    conversation.flood_guard.limit = per_applicant + 10  # each asks all at once, on purpose
    update_ids = itertools.count(1)
    languages = ["km", "en"]

    def event(number: int, **fields: object) -> Incoming:
        user = FIRST_USER + number
        language = languages[number % 2]
        return Incoming(
            user_id=user,
            chat_id=user,
            update_id=next(update_ids),
            language_hint=language,
            **fields,  # type: ignore[arg-type]
        )

    await asyncio.gather(
        *(
            conversation.handle(event(n, kind=Kind.COMMAND, command="start"))
            for n in range(applicants)
        )
    )
    faq = conversation.services.faq
    texts = [
        asked[languages[n % 2]][(n + q) % len(asked[languages[n % 2]])]
        for q in range(per_applicant)
        for n in range(applicants)
    ]
    match_started = time.process_time()
    for text in texts:  # as the FAQ's journey reads a text: small talk first
        if small_talk(text) is None:
            faq.understand(text)
    match_cpu = time.process_time() - match_started

    events = [
        event(n % applicants, kind=Kind.TEXT, text=text, html=text) for n, text in enumerate(texts)
    ]
    started, cpu_started = time.perf_counter(), time.process_time()
    answers = await asyncio.gather(*(conversation.handle(e) for e in events))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert all(answers), "every message gets an answer"
    count = len(events)
    return count / seconds, 1000 * cpu / count, 1000 * match_cpu / count


async def main_async(
    databases: list[str], workloads: list[str], applicants: int, per_applicant: int
) -> None:
    print(f"{applicants} applicants x {per_applicant} messages, the core alone")
    print(
        f"{'database':>10} {'workload':>10} {'updates/s':>9} {'CPU ms':>7} {'FAQ ms':>7}"
        f" {'rest ms':>8}"
    )
    for database in databases:
        for workload in workloads:
            texts = questions() if workload == "questions" else SMALL_TALK
            if database == "sqlite":
                folder = tempfile.mkdtemp(prefix="applicant-bot-core-")
                url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
                rate, cpu, match = await measure(url, texts, applicants, per_applicant)
            else:
                from tests.support.postgres import database_url, postgres_cluster

                with postgres_cluster() as socket:
                    url = database_url(socket, "postgres")
                    rate, cpu, match = await measure(url, texts, applicants, per_applicant)
            print(
                f"{database:>10} {workload:>10} {rate:>9.0f} {cpu:>7.2f} {match:>7.2f}"
                f" {cpu - match:>8.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applicants", type=int, default=200)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument(
        "--database", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--workload",
        nargs="+",
        choices=["questions", "small-talk"],
        default=["questions", "small-talk"],
    )
    args = parser.parse_args()
    asyncio.run(main_async(args.database, args.workload, args.applicants, args.questions))


if __name__ == "__main__":
    main()
