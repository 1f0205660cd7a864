"""The command line: `applicant-bot run | shell | db upgrade | faq check`."""

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from bot.app import App, running_app
from bot.config import ConfigurationError, Settings, load_settings
from bot.delivery import OutboxSender
from bot.i18n import LOCALES_DIR
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
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # The scheduler ticks every second; its own "job ran" lines would drown everything else.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    # httpx (under python-telegram-bot) logs each request's URL, and the URL holds the token.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def _with_app(settings: Settings, work: Callable[[App], Awaitable[None]]) -> None:
    """Builds the app, prepares its database, runs `work`, and always closes it."""

    async def go() -> None:
        async with running_app(settings) as app:
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
    from bot.instance import run_instance

    settings = _settings()
    try:
        settings.require_bot_token()
    except ConfigurationError as error:
        _fail(f"Configuration error: {error}")
    _configure_logging(settings)

    async def work(app: App) -> None:
        await run_instance(settings, app)

    _with_app(settings, work)


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
) -> None:
    """Validates the FAQ content in every locale; lists the problems and exits 1 if any."""
    problems = check_faq(locales)
    for problem in problems:
        typer.echo(problem)
    if problems:
        typer.echo(f"{len(problems)} problem(s) found.", err=True)
        raise typer.Exit(1)
    typer.echo("FAQ content is complete in every locale.")


@faq_cli.command("unanswered")
def faq_unanswered(
    limit: Annotated[int, typer.Option(help="How many questions, most asked first.")] = 30,
) -> None:
    """The questions the FAQ could not answer, most asked first: material for new entries."""
    from rich.console import Console
    from rich.table import Table

    from bot.staff_cli import in_database
    from models.questions import most_asked_unanswered

    async def work(db: Any, zone: Any) -> list[tuple[str, int]]:
        return list(await most_asked_unanswered(db, limit))

    table = Table("times asked", "question (normalised)")
    for text, times in in_database(work):
        table.add_row(str(times), text)
    Console(width=120).print(table)
