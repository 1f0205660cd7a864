"""FAQ answers per second end to end against the fake Bot API server, next to a bare echo bot.

For each framework (aiogram, python-telegram-bot) and each deployment (long polling with
one instance; webhook with one and with two instances, behind the round-robin balancer
of tests/balancer.py in both cases, so that the two rows differ only in the instance
count), the real bot runs as `applicant-bot run` would, each instance an OS process of
its own, against tests/fake_telegram.py, which runs in this process with the balancer
and the load. --applicants applicants (half Khmer, half English) first say /start
(the warm-up, not measured, which creates them), then each sends --questions free-text
questions from tests/faq_eval.toml that the FAQ answers, all queued at once: polling
takes them in batches; the webhook gets one chat's next update only after the previous
one was answered, as Telegram does. The rate is the answers the fake accepted divided
by the seconds from the first question to the last answer. A bare echo bot of the same
framework (bench/echo_bots.py), same mode, same instance count, is measured the same
way in the same run; the target is a bot at 50% of its echo rate or better.

Telegram's limits are lifted on both sides so that the bots' own processing is measured:
the fake does no flood control, and the bot's sending budget allows far more than any
run reaches (one instance on SQLite: SendPacer at 100,000/s and 1,000,000/s per chat;
PostgreSQL: the shared budget in the database, as deployed, at SEND_RATE's maximum of
1000/s and 1,000,000/s per chat, --local-pacer for the in-process one). The bot's
per-user flood guard is lifted as well (an applicant sends --questions at once). One
instance runs on SQLite (--one-instance-db postgresql or both for PostgreSQL); two
share one PostgreSQL database on a throwaway cluster. CPU columns: the share of one
core the instances (summed) and this process (fake, balancer, load) used during the
measured interval; on a small machine they say who the bottleneck was.

    python bench/throughput.py [--applicants 200] [--questions 10] [--frameworks aiogram ptb]
        [--modes polling webhook] [--instances 1 2] [--one-instance-db sqlite|postgresql|both]
        [--ptb-echo sequential|concurrent] [--local-pacer] [--keep-logs DIR]
"""

import argparse
import asyncio
import itertools
import os
import secrets
import shlex
import socket
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fake_telegram import FakeTelegram  # noqa: E402

FIRST_USER = 7_000_000
WEBHOOK_PATH = "/telegram"
LOCAL_RATE = 100_000  # the in-process budget: far above anything a run reaches
SHARED_RATE = 1000  # the database budget: SEND_RATE's maximum (one row per slot)
CHAT_RATE = 1_000_000.0  # per chat, rate and burst: no chat waits
START_TIMEOUT = 60.0  # an instance must be up and answer the warm-up within this
EVAL_SET = ROOT / "tests" / "faq_eval.toml"
TAIL_LINES = 25
SCRIPT = Path(__file__).resolve()
SERIALS = itertools.count(1)  # numbers the instances' logs in the order they started


class InstanceFailed(Exception):
    """An instance exited or did not answer; the message says which, with its log's end."""


@dataclass(frozen=True)
class Config:
    framework: str
    mode: str
    instances: int


@dataclass
class Run:
    """One measured run of one bot (the FAQ bot or the echo bot) in one configuration."""

    answers: int = 0
    expected: int = 0
    seconds: float = 0.0
    bots_cpu: float = 0.0  # share of one core, all instances together
    bench_cpu: float = 0.0  # share of one core used by this process
    error: str = ""
    log_problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.seconds and not self.error else float("nan")


class BenchFake(FakeTelegram):
    """The fake server, also noting when it accepted its latest message and to which chats."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.last_at = 0.0
        self.answered_chats: set[int] = set()

    def _store(self, chat_id: int, *args: Any, **kwargs: Any) -> dict:
        self.last_at = time.perf_counter()
        self.answered_chats.add(chat_id)
        return super()._store(chat_id, *args, **kwargs)


@dataclass
class Instance:
    """One bot process and its log."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    port: int | None

    def cpu_seconds(self) -> float:
        """User and system CPU time of the process so far (Linux)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(f"    | {line}" for line in lines[-TAIL_LINES:]) or "    | (empty log)"

    def check(self, doing: str) -> None:
        if self.process.returncode is not None:
            raise InstanceFailed(
                f"{self.name} exited with status {self.process.returncode} {doing}; "
                f"its log ends:\n{self.tail()}"
            )

    def problems(self) -> list[str]:
        """The log's error lines (and tracebacks), for the report."""
        if not self.log.exists():
            return []
        marks = ("ERROR", "CRITICAL", "Traceback", "Exception")
        lines = self.log.read_text(errors="replace").splitlines()
        return [f"{self.name}: {line}" for line in lines if any(m in line for m in marks)]


# --- questions ---------------------------------------------------------------------------


def answered_questions() -> dict[str, list[str]]:
    """English and Khmer questions of the eval set whose expected FAQ entry is the answer."""
    from handlers.faq.book import FaqBook

    book = FaqBook.load(ROOT / "locales")
    cases = tomllib.loads(EVAL_SET.read_text("utf-8"))["case"]
    chosen: dict[str, list[str]] = {"en": [], "km": []}
    for case in cases:
        locale, question, expected = case["locale"], case["question"], case["expected"]
        if locale in chosen and expected and book.understand(question).entry_id == expected:
            chosen[locale].append(question)
    for locale, questions in chosen.items():
        if not questions:
            raise SystemExit(f"no {locale} question in {EVAL_SET} gets its expected answer")
    return chosen


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_instance(
    name: str, arguments: list[str], folder: Path, port: int | None
) -> Instance:
    log = folder / f"{name}.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "serve",
            *arguments,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    return Instance(name, process, log, port)


async def stop_instances(instances: list[Instance]) -> None:
    """SIGTERM, then SIGKILL for any still running after 15 s."""
    for instance in instances:
        if instance.process.returncode is None:
            instance.process.terminate()
    for instance in instances:
        try:
            await asyncio.wait_for(instance.process.wait(), 15)
        except TimeoutError:
            instance.process.kill()
            await instance.process.wait()
            with instance.log.open("a") as log:
                log.write("(bench: did not stop within 15 s of SIGTERM; killed)\n")


async def until(
    done: Callable[[], bool], instances: list[Instance], timeout: float, doing: str
) -> None:
    """Waits for `done`, checking that every instance is still running."""
    deadline = time.monotonic() + timeout
    while not done():
        for instance in instances:
            instance.check(doing)
        if time.monotonic() > deadline:
            logs = "\n".join(f"  {i.name}:\n{i.tail()}" for i in instances)
            raise InstanceFailed(f"timed out after {timeout:.0f} s {doing}; logs:\n{logs}")
        await asyncio.sleep(0.005)


async def wait_for_port(instance: Instance, timeout: float) -> None:
    """Until the instance accepts connections on its webhook port."""
    assert instance.port is not None
    deadline = time.monotonic() + timeout
    while True:
        instance.check("before it listened")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", instance.port)
        except OSError:
            if time.monotonic() > deadline:
                raise InstanceFailed(
                    f"{instance.name} did not listen on port {instance.port} within "
                    f"{timeout:.0f} s; its log ends:\n{instance.tail()}"
                ) from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return


async def new_postgres_database(socket_dir: str) -> str:
    """A fresh database on the cluster, upgraded to the newest schema; its URL."""
    import asyncpg

    from models.db import create_engine, upgrade_database
    from tests.support.postgres import database_url

    name = f"bench_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = database_url(socket_dir, name)
    engine = create_engine(url)
    try:
        await upgrade_database(engine)  # once, before instances start together
    finally:
        await engine.dispose()
    return url


# --- one run -----------------------------------------------------------------------------


@dataclass
class Load:
    applicants: int
    questions: int
    texts: dict[str, list[str]]
    local_pacer: bool
    ptb_echo: str

    def language(self, applicant: int) -> str:
        return "km" if applicant % 2 == 0 else "en"


async def measure(config: Config, kind: str, database_url: str, load: Load, folder: Path) -> Run:
    """Starts the instances of the bot (`kind` "bot" or "echo"), warms up, measures, stops."""
    from tests.support.balancer import Balancer

    fake = BenchFake(flood_control=False, history=False)
    await fake.start()
    balancer: Balancer | None = None
    instances: list[Instance] = []
    run = Run()
    try:
        common = ["--kind", kind, "--framework", config.framework]
        common += ["--api-url", fake.base_url, "--token", fake.token]
        if kind == "bot":
            common += ["--database-url", database_url]
            common += ["--local-pacer"] if load.local_pacer else []
        elif config.framework == "ptb" and load.ptb_echo == "concurrent":
            common += ["--concurrent"]
        ports: list[int | None] = [None] * config.instances
        if config.mode == "webhook":
            ports = [free_port() for _ in range(config.instances)]
            balancer = Balancer([f"http://127.0.0.1:{port}" for port in ports])
            await balancer.start()
            common += ["--webhook-url", balancer.url_for(WEBHOOK_PATH)]
            common += ["--secret", secrets.token_urlsafe(24)]
        for number, port in enumerate(ports, 1):
            name = f"{next(SERIALS):02}-{config.framework}-{kind}-{config.mode}-{number}"
            arguments = [*common, "--instance-name", name]
            arguments += ["--listen", f"127.0.0.1:{port}"] if port else []
            instances.append(await start_instance(name, arguments, folder, port))
        for instance in instances:
            if instance.port is not None:
                await wait_for_port(instance, START_TIMEOUT)

        users = [FIRST_USER + i for i in range(load.applicants)]
        for user in users:  # the warm-up: every applicant exists, connections are open
            fake.user_sends(user, "/start", language_code=load.language(user))
        await until(
            lambda: len(fake.answered_chats) >= len(users),
            instances,
            START_TIMEOUT,
            "during the warm-up (one /start per applicant)",
        )
        settled = -1
        while settled != fake.delivered:  # the warm-up's last replies
            settled = fake.delivered
            await asyncio.sleep(0.3)

        before, expected = fake.delivered, load.applicants * load.questions
        run.expected = expected
        cpu_before = [i.cpu_seconds() for i in instances]
        bench_before = time.process_time()
        started = time.perf_counter()
        for round_number in range(load.questions):
            for user in users:
                texts = load.texts[load.language(user)]
                text = texts[(user + round_number * 7) % len(texts)]
                fake.user_sends(user, text, language_code=load.language(user))
        await until(
            lambda: fake.delivered - before >= expected,
            instances,
            max(60.0, expected / 20),
            f"while answering {expected} questions",
        )
        finished = fake.last_at
        run.seconds = finished - started
        run.bench_cpu = (time.process_time() - bench_before) / run.seconds
        cpu_after = [i.cpu_seconds() for i in instances]
        run.bots_cpu = sum(a - b for a, b in zip(cpu_after, cpu_before, strict=True)) / run.seconds
        await asyncio.sleep(0.3)
        run.answers = fake.delivered - before
        if run.answers != expected:
            run.log_problems.append(
                f"{config.framework} {kind} {config.mode}: {run.answers} messages for "
                f"{expected} questions"
            )
    except InstanceFailed as failure:
        run.error = str(failure)
        print(f"\n!! {config} {kind}: {failure}\n", file=sys.stderr, flush=True)
    finally:
        await stop_instances(instances)
        if balancer is not None:
            await balancer.stop()
        await fake.stop()
    for instance in instances:
        run.log_problems += instance.problems()
    return run


# --- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    config: Config
    database: str
    bot: Run
    echo: Run


def print_table(rows: list[Row]) -> None:
    header = (
        "framework", "mode", "inst", "database", "FAQ ans/s", "echo ans/s", "ratio", ">=50%",
        "bot CPU", "fake CPU", "echo CPU", "fake CPU",
    )  # fmt: skip
    line = "{:<9} {:<7} {:>4} {:<10} {:>9} {:>10} {:>6} {:>5} {:>8} {:>8} {:>8} {:>8}"
    print(line.format(*header))
    for row in rows:
        bot, echo = row.bot, row.echo
        ratio = bot.rate / echo.rate if bot.rate and echo.rate else float("nan")

        def rate(run: Run) -> str:
            return "FAILED" if run.error else f"{run.rate:.0f}"

        def share(value: float, run: Run) -> str:
            return "-" if run.error else f"{value:.0%}"

        cells = (
            row.config.framework, row.config.mode, row.config.instances, row.database,
            rate(bot), rate(echo), "-" if ratio != ratio else f"{ratio:.0%}",
            "-" if ratio != ratio else ("yes" if ratio >= 0.5 else "NO"),
            share(bot.bots_cpu, bot), share(bot.bench_cpu, bot),
            share(echo.bots_cpu, echo), share(echo.bench_cpu, echo),
        )  # fmt: skip
        print(line.format(*cells))


async def main_async(
    configs: list[tuple[Config, list[str]]],
    load: Load,
    postgres_socket: str | None,
    logs: Path,
) -> list[Row]:
    rows: list[Row] = []
    for config, databases in configs:
        label = f"{config.framework} {config.mode} x{config.instances}"
        print(f"{label}: echo bot ...", file=sys.stderr, flush=True)
        echo = await measure(config, "echo", "", load, logs)
        for database in databases:
            print(f"{label}: FAQ bot on {database} ...", file=sys.stderr, flush=True)
            if database == "sqlite":
                folder = Path(tempfile.mkdtemp(prefix="bench-db-", dir=logs))
                url = f"sqlite+aiosqlite:///{folder}/bot.sqlite3"
            elif postgres_socket is None:
                rows.append(Row(config, database, Run(error="no PostgreSQL"), echo))
                continue
            else:
                url = await new_postgres_database(postgres_socket)
            bot = await measure(config, "bot", url, load, logs)
            rows.append(Row(config, database, bot, echo))
    return rows


def configurations(args: argparse.Namespace) -> list[tuple[Config, list[str]]]:
    one = ["sqlite", "postgresql"] if args.one_instance_db == "both" else [args.one_instance_db]
    found = []
    for framework in args.frameworks:
        for mode in args.modes:
            for count in args.instances:
                if mode == "polling" and count > 1:
                    continue  # Telegram gives the updates to one poller only
                found.append(
                    (Config(framework, mode, count), one if count == 1 else ["postgresql"])
                )
    return found


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--applicants", type=int, default=200)
    parser.add_argument("--questions", type=int, default=10, help="free-text questions each")
    parser.add_argument(
        "--frameworks", nargs="+", choices=["aiogram", "ptb"], default=["aiogram", "ptb"]
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["polling", "webhook"], default=["polling", "webhook"]
    )
    parser.add_argument("--instances", type=int, nargs="+", choices=[1, 2], default=[1, 2])
    parser.add_argument(
        "--one-instance-db", choices=["sqlite", "postgresql", "both"], default="sqlite"
    )
    parser.add_argument(
        "--ptb-echo",
        choices=["sequential", "concurrent"],
        default="sequential",
        help="PTB echo polling: PTB's default, one update at a time (the faster here), or a "
        "task per update (block=False; its HTTP pool then costs more per request)",
    )
    parser.add_argument(
        "--local-pacer",
        action="store_true",
        help="on PostgreSQL too, each instance's in-process budget instead of the shared one",
    )
    parser.add_argument("--keep-logs", type=Path, help="keep the instances' logs in this folder")
    args = parser.parse_args()
    configs = configurations(args)
    load = Load(
        args.applicants, args.questions, answered_questions(), args.local_pacer, args.ptb_echo
    )
    command = [
        "python", "bench/throughput.py", "--applicants", str(args.applicants),
        "--questions", str(args.questions), "--frameworks", *args.frameworks,
        "--modes", *args.modes, "--instances", *map(str, args.instances),
        "--one-instance-db", args.one_instance_db, "--ptb-echo", args.ptb_echo,
        *(["--local-pacer"] if args.local_pacer else []),
    ]  # fmt: skip
    started = time.perf_counter()
    with ExitStack() as stack:
        postgres_socket = None
        if any("postgresql" in databases for _, databases in configs):
            from tests.support.postgres import postgres_cluster

            try:
                postgres_socket = stack.enter_context(postgres_cluster())
            except (RuntimeError, OSError) as error:
                print(f"!! no PostgreSQL cluster, its rows fail: {error}", file=sys.stderr)
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            logs = args.keep_logs
        else:
            logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        rows = asyncio.run(main_async(configs, load, postgres_socket, logs))
    elapsed = time.perf_counter() - started

    print()
    print(
        f"{args.applicants} applicants (half km, half en) x {args.questions} free-text FAQ "
        f"questions each, all queued at once, after a /start each (not measured); "
        f"answers/s = answers accepted by the fake / seconds from the first question to the "
        f"last answer."
    )
    pacer = "in-process" if args.local_pacer else f"shared in PostgreSQL at {SHARED_RATE}/s"
    print(
        "Telegram's limits lifted: fake without flood control; bot budget "
        f"{LOCAL_RATE}/s on SQLite, {pacer} on PostgreSQL, {CHAT_RATE:.0f}/s per chat; "
        "bot flood guard lifted. Echo bots: no limits at all. Webhook rows go through the "
        "round-robin balancer. CPU: share of one core, bot/echo instances summed and this "
        f"process (fake, balancer, load); {os.cpu_count()} cores here."
    )
    ptb = "one update at a time (PTB's default)" if args.ptb_echo == "sequential" else (
        "a task per update (block=False)"
    )  # fmt: skip
    print(f"PTB echo polling: {ptb}.")
    print()
    print_table(rows)
    problems = [p for row in rows for run in (row.bot, row.echo) for p in run.log_problems]
    failures = [(row, run) for row in rows for run in (row.bot, row.echo) if run.error]
    if failures or problems:
        print()
    for row, run in failures:
        first = run.error.splitlines()[0]
        print(f"failed: {row.config.framework} {row.config.mode} x{row.config.instances}: {first}")
    for problem in dict.fromkeys(problems):
        print(f"log: {problem[:300]}")
    print()
    print(f"took {elapsed:.0f} s; reproduce with: {shlex.join(command)}")


# --- the hidden `serve` subcommand: one instance, in a process of its own ----------------


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="throughput.py serve")
    parser.add_argument("--kind", choices=["bot", "echo"], required=True)
    parser.add_argument("--framework", choices=["aiogram", "ptb"], required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--webhook-url")
    parser.add_argument("--secret", default="")
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument("--instance-name", default="")
    parser.add_argument("--local-pacer", action="store_true")
    parser.add_argument("--concurrent", action="store_true")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("bot").setLevel(logging.INFO)
    if args.kind == "echo":
        from bench import echo_bots

        if args.framework == "aiogram":
            work = echo_bots.aiogram_echo(
                args.token, args.api_url, args.webhook_url, args.secret, args.listen
            )
        else:
            work = echo_bots.ptb_echo(
                args.token,
                args.api_url,
                args.webhook_url,
                args.secret,
                args.listen,
                args.concurrent,
            )
    else:
        work = serve_bot(args)
    with suppress(KeyboardInterrupt):
        asyncio.run(work)


async def serve_bot(args: argparse.Namespace) -> None:
    """The bot as `applicant-bot run` runs it, with the limits lifted (see the docstring)."""
    from bot.app import build_app, settle_heap
    from bot.config import load_settings
    from bot.instance import run_instance
    from bot.pacing import SendPacer, SharedSendPacer

    overrides: dict[str, Any] = {
        "bot_framework": args.framework,
        "telegram_api_url": args.api_url,
        "bot_token": args.token,
        "database_url": args.database_url,
        "instance_name": args.instance_name,
    }
    if args.webhook_url:
        overrides |= {
            "webhook_url": args.webhook_url,
            "webhook_secret": args.secret,
            "webhook_listen": args.listen,
        }
    settings = load_settings(_env_file=None, **overrides)
    app = build_app(settings)
    try:
        await app.prepare_database()
        settle_heap()  # as the bot's own process does after start-up
        app.conversation.flood_guard.limit = 1_000_000
        pacer: SendPacer
        if app.engine.dialect.name == "postgresql" and not args.local_pacer:
            pacer = SharedSendPacer(
                app.engine, rate=SHARED_RATE, chat_rate=CHAT_RATE, chat_burst=CHAT_RATE
            )
            await pacer.prepare()
        else:
            pacer = SendPacer(rate=LOCAL_RATE, chat_rate=CHAT_RATE, chat_burst=CHAT_RATE)
        await run_instance(settings, app, pacer=pacer)
    finally:
        await app.close()


if __name__ == "__main__":
    main()
