"""The command line: `applicant-bot run | shell | db upgrade | faq check`."""

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from bot.app import App, running_app
from bot.config import ConfigurationError, Settings, load_settings
from bot.delivery import OutboxSender
from bot.i18n import LOCALES_DIR
from bot.logs import configure_logging
from bot.staff_cli import (
    broadcast,
    exams_cli,
    export_sheets,
    outbox_cli,
    sessions_cli,
    show_audit,
    staff_cli,
)
from handlers.faq.book import FaqError, check_faq

cli = typer.Typer(help="Applicant Bot: the Japan work programmes assistant.", no_args_is_help=True)
db_cli = typer.Typer(help="The database.", no_args_is_help=True)
faq_cli = typer.Typer(help="The FAQ content.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(faq_cli, name="faq")
cli.add_typer(exams_cli, name="exams")
cli.add_typer(sessions_cli, name="sessions")
cli.add_typer(outbox_cli, name="outbox")
cli.add_typer(staff_cli, name="staff")
cli.command("audit")(show_audit)
cli.command("export")(export_sheets)
cli.command("broadcast")(broadcast)


def main() -> None:
    """Entry point of the `applicant-bot` script."""
    cli()


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        _fail(f"Configuration error: {error}")


def _fail(line: str) -> NoReturn:
    """Stops with one line on stderr and exit status 2."""
    typer.echo(line, err=True)
    raise typer.Exit(2)


def _configure_logging(settings: Settings, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else getattr(logging, settings.log_level)
    secrets = [settings.bot_token.get_secret_value()] if settings.bot_token else []
    if settings.webhook_secret:
        secrets.append(settings.webhook_secret.get_secret_value())
    if settings.panel_secret:
        secrets.append(settings.panel_secret.get_secret_value())
    configure_logging(level, secrets, sys.stderr)


def _with_app(
    settings: Settings, work: Callable[[App], Awaitable[None]], understanding: bool = True
) -> None:
    """Builds the app, prepares its database, runs `work`, and always closes it;
    `understanding` readies the FAQ for questions first (the bot needs it, the panel not)."""

    async def go() -> None:
        async with running_app(settings, understanding) as app:
            await work(app)

    try:
        asyncio.run(go())
    except ConfigurationError as error:
        _fail(f"Configuration error: {error}")
    except FaqError as error:
        _fail(f"FAQ content has problems (see `applicant-bot faq check`): {error.problems[0]}")
    except KeyboardInterrupt:
        pass


@cli.command()
def run() -> None:
    """Runs the bot on Telegram: long polling, or webhook mode when WEBHOOK_URL is set."""
    from bot.channels.telegram import TelegramUnavailable
    from bot.instance import run_instance

    settings = _settings()
    try:
        settings.require_bot_token()
    except ConfigurationError as error:
        _fail(f"Configuration error: {error}")
    _configure_logging(settings)

    async def work(app: App) -> None:
        await run_instance(settings, app)

    try:
        _with_app(settings, work)
    except TelegramUnavailable as error:
        _fail(f"Cannot start: the Bot API server at {settings.telegram_api_url}: {error}")


@cli.command()
def panel() -> None:
    """Serves the web panel for the test office on PANEL_LISTEN (needs PANEL_URL and
    PANEL_SECRET), on the same database as `run`."""
    import signal

    from bot.panel.app import serve_panel

    settings = _settings()
    try:
        settings.require_panel()
    except ConfigurationError as error:
        _fail(f"Configuration error: {error}")
    _configure_logging(settings)

    async def work(app: App) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await serve_panel(app, settings, stop)

    _with_app(settings, work, understanding=False)  # the panel matches no questions


@cli.command()
def shell(
    script: Annotated[
        bool, typer.Option(help="One action per stdin line in, one JSON object per line out.")
    ] = False,
    user_id: Annotated[int, typer.Option(help="The Telegram user id to play.")] = 1,
    language: Annotated[
        str | None, typer.Option(help="The Telegram language code to play, e.g. km, en, ja.")
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Add demo exams and sessions to an empty database.")
    ] = True,
) -> None:
    """Chats with the bot in this terminal, on the configured database."""
    from bot.channels.console import ConsoleChannel
    from bot.demo import seed_demo

    settings = _settings()
    _configure_logging(settings, quiet=True)

    async def work(app: App) -> None:
        if demo:
            async with app.conversation.sessions() as db, db.begin():
                await seed_demo(db, settings.zone)
        channel = ConsoleChannel(
            app.conversation, user_id=user_id, language_hint=language, script=script
        )
        channel.outbox = OutboxSender(
            app.conversation.sessions, channel.send_one, only_chat=user_id
        )
        await channel.run()

    _with_app(settings, work)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Brings the database schema to the newest migration."""
    from models.db import create_engine, upgrade_database

    settings = _settings()

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_database(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())
    typer.echo("Database is up to date.")


@faq_cli.command("check")
def faq_check(
    locales: Annotated[Path, typer.Option(help="The locales folder to check.")] = LOCALES_DIR,
    taught: Annotated[
        bool, typer.Option(help="Also check the phrasings staff taught, in the database.")
    ] = True,
) -> None:
    """Validates the FAQ content in every locale and the phrasings staff taught; lists the
    problems and exits 1 if any."""
    problems = check_faq(locales)
    for problem in problems:
        typer.echo(problem)
    if not problems and taught:
        problems = _check_taught(locales)
    if problems:
        typer.echo(f"{len(problems)} problem(s) found.", err=True)
        raise typer.Exit(1)
    typer.echo("FAQ content is complete in every locale.")


def _check_taught(locales: Path) -> list[str]:
    """Lists the taught phrasings per entry, and their problems (none without a database)."""
    from bot.staff_cli import in_app, settings_or_exit
    from handlers.faq.book import FaqBook
    from handlers.faq.teaching import taught_per_entry, taught_problems
    from models.questions import TaughtPhrasing, taught_phrasings

    settings = settings_or_exit()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        typer.echo("No database yet: no taught phrasings.")
        return []

    async def work(db: Any, _services: Any) -> list[TaughtPhrasing]:
        return list(await taught_phrasings(db))

    phrasings = in_app(work)
    book = FaqBook.load(locales)
    problems = taught_problems(book, phrasings)
    for problem in problems:
        typer.echo(problem)
    rows = taught_per_entry(book, phrasings)
    if rows:
        table = Table("entry", "taught", "in the files already")
        for entry_key, n, in_files in rows:
            table.add_row(entry_key, str(n), str(in_files))
        Console(width=120).print(table)
    typer.echo(f"{len(phrasings)} taught phrasing(s) in the database.")
    return problems


@faq_cli.command("unanswered")
def faq_unanswered(
    limit: Annotated[int, typer.Option(help="How many questions, most asked first.")] = 30,
) -> None:
    """The questions the FAQ could not answer and the office has not settled, most asked
    first (asked the same way counts once); attach one with `faq attach`."""
    from bot.staff_cli import in_database
    from models.questions import OpenQuestion, most_asked_unanswered

    async def work(db: Any, zone: Any) -> list[OpenQuestion]:
        return await most_asked_unanswered(db, limit)

    questions = in_database(work)
    table = Table("id", "times asked", "language", "question (latest wording)")
    for question in questions:
        table.add_row(
            str(question.question_id), str(question.times), question.locale, question.text
        )
    Console(width=120).print(table)
    if not questions:
        typer.echo("No unanswered questions are waiting.")


@faq_cli.command("attach")
def faq_attach(
    question_id: Annotated[int, typer.Argument(help="The id `faq unanswered` shows.")],
    entry_key: Annotated[str, typer.Argument(help="The FAQ entry, e.g. fees-total.")],
) -> None:
    """Attaches an unanswered question to an FAQ entry: its wording becomes a phrasing,
    used by every running instance within seconds."""
    from bot.staff_cli import cli_actor, in_app
    from handlers.faq.teaching import Teaching, attach

    async def work(db: Any, services: Any) -> Teaching:
        return await attach(db, services, question_id, entry_key.strip(), cli_actor())

    _tell_outcome(in_app(work), question_id, entry_key)


@faq_cli.command("mark")
def faq_mark(
    question_id: Annotated[int, typer.Argument(help="The id `faq unanswered` shows.")],
    kind: Annotated[str, typer.Argument(help="smalltalk or offtopic")],
) -> None:
    """Marks an unanswered question as small talk or off-topic: it leaves the lists."""
    from bot.staff_cli import cli_actor, in_app
    from handlers.faq.teaching import Teaching, set_aside
    from models.questions import Resolution

    if kind not in (Resolution.SMALL_TALK, Resolution.OFF_TOPIC):
        _fail("KIND: smalltalk or offtopic")

    async def work(db: Any, services: Any) -> Teaching:
        return await set_aside(db, services, question_id, Resolution(kind), cli_actor())

    _tell_outcome(in_app(work), question_id, "")


def _tell_outcome(done: Any, question_id: int, entry_key: str) -> None:
    """One line on what came of `faq attach` or `faq mark`; exit 1 when nothing changed."""
    from handlers.faq.teaching import Outcome

    question = done.question
    if done.outcome is Outcome.NO_QUESTION:
        _refuse(f"No unanswered question {question_id}; see `applicant-bot faq unanswered`.")
    if done.outcome is Outcome.NO_ENTRY:
        _refuse(f"No FAQ entry '{entry_key}'; the entry keys are in locales/faq.toml.")
    if done.outcome is Outcome.SETTLED_ALREADY:
        how = str(question.resolution)
        if done.entry is not None:
            how += f" to {done.entry.id}"
        _refuse(f"Question {question_id} was settled already ({how}); nothing changed.")
    if done.entry is not None:
        typer.echo(
            f"Question {question_id} attached to {done.entry.id}: "
            f"{question.text!r} is now one of its phrasings ({done.settled} question(s) settled)."
        )
    else:
        typer.echo(
            f"Question {question_id} marked {question.resolution} "
            f"({done.settled} question(s) settled)."
        )


def _refuse(line: str) -> NoReturn:
    typer.echo(line, err=True)
    raise typer.Exit(1)


@faq_cli.command("export-phrasings")
def faq_export_phrasings(
    locales: Annotated[Path, typer.Option(help="The locales folder to write.")] = LOCALES_DIR,
) -> None:
    """Writes the phrasings staff taught into the FAQ's TOML files (those the files lack),
    leaving everything else in the files as it was."""
    from bot.staff_cli import cli_actor, in_app
    from handlers.faq.book import FaqBook
    from handlers.faq.teaching import Exported, export_phrasings
    from models.questions import taught_phrasings
    from models.staff import audit

    book = FaqBook.load(locales)

    async def work(db: Any, _services: Any) -> list[Exported]:
        written = export_phrasings(locales, book, await taught_phrasings(db))
        await audit(db, cli_actor(), "export_phrasings", str(locales)[:128], written=len(written))
        return written

    written = in_app(work)
    for item in written:
        typer.echo(f"{item.path.relative_to(locales)} [{item.entry_key}] + {item.text!r}")
    typer.echo(f"{len(written)} phrasing(s) written.")
