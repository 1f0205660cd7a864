"""Staff set-up from the command line: `applicant-bot exams ...`, `applicant-bot sessions ...`."""

import asyncio
import csv
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import ConfigurationError, Settings, load_settings
from handlers.context import Services
from handlers.notices import session_cancelled, session_moved
from models.db import create_engine, session_factory, upgrade_database
from models.outbox import OutboxStatus, count_by_status, oldest_pending, requeue_failed
from models.sessions import (
    Exam,
    SessionDraft,
    SessionStatus,
    TestSession,
    add_session,
    find_exam,
    list_sessions,
    set_session_status,
)

T = TypeVar("T")
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M"
CSV_COLUMNS = [
    "exam", "starts_at", "venue_name_km", "venue_name_en", "venue_name_ja",
    "venue_address_km", "venue_address_en", "venue_address_ja", "latitude", "longitude",
    "capacity", "registration_opens_at", "registration_closes_at",
]  # fmt: skip

exams_cli = typer.Typer(help="The exams sessions belong to.", no_args_is_help=True)
sessions_cli = typer.Typer(help="Test sessions: dates, venues, seats.", no_args_is_help=True)


def in_database(work: Callable[[AsyncSession, ZoneInfo], Awaitable[T]]) -> T:
    """Runs `work` in one transaction on the configured database, upgraded first."""
    settings = settings_or_exit()

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            if engine.dialect.name == "sqlite":
                await upgrade_database(engine)
            async with session_factory(engine)() as db, db.begin():
                return await work(db, settings.zone)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        typer.echo(f"Configuration error: {error}", err=True)
        raise typer.Exit(2) from None


def _print(table: Table) -> None:
    # Piped into a file or a test, keep every row on one line instead of wrapping at 80.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def local_time(text: str, zone: ZoneInfo) -> datetime:
    """ "2026-10-18 08:00" in the bot's time zone."""
    return datetime.strptime(text.strip(), LOCAL_TIME_FORMAT).replace(tzinfo=zone)


@exams_cli.command("add")
def exams_add(
    exam_id: Annotated[str, typer.Argument(help="A short id, e.g. jft-basic")],
    name_km: Annotated[str, typer.Option()],
    name_en: Annotated[str, typer.Option()],
    name_ja: Annotated[str, typer.Option()],
    min_age: Annotated[int, typer.Option(help="Youngest age allowed on the test day")] = 18,
) -> None:
    """Adds an exam (or updates its names and minimum age)."""

    async def work(db: AsyncSession, zone: ZoneInfo) -> None:
        exam = await find_exam(db, exam_id) or Exam(id=exam_id, name_km="", name_en="", name_ja="")
        exam.name_km, exam.name_en, exam.name_ja, exam.min_age = name_km, name_en, name_ja, min_age
        db.add(exam)

    in_database(work)
    typer.echo(f"Exam {exam_id} saved.")


@exams_cli.command("list")
def exams_list() -> None:
    """Lists the exams."""

    async def work(db: AsyncSession, zone: ZoneInfo) -> list[Exam]:
        return list((await db.exec(select(Exam))).all())

    table = Table("id", "English", "Khmer", "Japanese", "min age")
    for exam in in_database(work):
        table.add_row(exam.id, exam.name_en, exam.name_km, exam.name_ja, str(exam.min_age))
    _print(table)


@sessions_cli.command("list")
def sessions_list() -> None:
    """Lists every session with its seats, in the bot's time zone."""

    async def work(db: AsyncSession, zone: ZoneInfo) -> list[tuple[Any, ...]]:
        return [
            (
                str(s.id),
                s.exam_id,
                s.starts_at.astimezone(zone).strftime(LOCAL_TIME_FORMAT),
                s.venue_name_en,
                f"{s.seats_taken}/{s.capacity}",
                s.registration_closes_at.astimezone(zone).strftime(LOCAL_TIME_FORMAT),
                s.status,
            )
            for s in await list_sessions(db)
        ]

    table = Table("id", "exam", "starts", "venue", "seats", "registration closes", "status")
    for row in in_database(work):
        table.add_row(*row)
    _print(table)


@sessions_cli.command("add")
def sessions_add(
    exam: Annotated[str, typer.Option(help="Exam id, see `exams list`")],
    starts_at: Annotated[str, typer.Option(help="Local time, e.g. '2027-10-17 08:00'")],
    venue_name_km: Annotated[str, typer.Option()],
    venue_name_en: Annotated[str, typer.Option()],
    venue_name_ja: Annotated[str, typer.Option()],
    venue_address_km: Annotated[str, typer.Option()],
    venue_address_en: Annotated[str, typer.Option()],
    venue_address_ja: Annotated[str, typer.Option()],
    latitude: Annotated[str, typer.Option()],
    longitude: Annotated[str, typer.Option()],
    capacity: Annotated[str, typer.Option()],
    registration_opens_at: Annotated[str, typer.Option(help="Local time")],
    registration_closes_at: Annotated[str, typer.Option(help="Local time")],
) -> None:
    """Adds one session, open for registration."""
    row = {name: value for name, value in locals().items() if name in CSV_COLUMNS}
    try:
        draft = draft_from_row(row, settings_or_exit().zone)
    except (ValueError, ValidationError) as error:
        typer.echo(describe(error), err=True)
        raise typer.Exit(1) from None

    async def work(db: AsyncSession, zone: ZoneInfo) -> int | None:
        if await find_exam(db, draft.exam_id) is None:
            return None
        return (await add_session(db, draft)).id

    session_id = in_database(work)
    if session_id is None:
        typer.echo(f"Unknown exam '{draft.exam_id}'.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Session {session_id} added.")


@sessions_cli.command("import")
def sessions_import(
    path: Annotated[Path, typer.Argument(help="CSV with the columns listed in the README")],
) -> None:
    """Adds every session in a CSV file, or none if any row is bad."""
    settings_zone = settings_or_exit().zone
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            rows = list(csv.DictReader(file))
            header = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError) as error:
        typer.echo(f"{path}: cannot read: {error}", err=True)
        raise typer.Exit(1) from None
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing or not rows:
        typer.echo(f"{path}: missing columns: {', '.join(missing) or 'no rows'}", err=True)
        raise typer.Exit(1)
    drafts, problems = [], []
    for line, row in enumerate(rows, start=2):
        try:
            drafts.append((line, draft_from_row(row, settings_zone)))
        except (ValueError, ValidationError) as error:
            problems.append(f"line {line}: {describe(error)}")

    async def work(db: AsyncSession, zone: ZoneInfo) -> int:
        for line, draft in drafts:
            if await find_exam(db, draft.exam_id) is None:
                problems.append(f"line {line}: unknown exam '{draft.exam_id}'")
        if problems:
            return 0
        for _, draft in drafts:
            await add_session(db, draft)
        return len(drafts)

    added = in_database(work)
    if problems:
        for problem in sorted(problems, key=lambda p: int(p.split()[1].rstrip(":"))):
            typer.echo(problem, err=True)
        typer.echo(f"Nothing imported: {len(problems)} bad row(s).", err=True)
        raise typer.Exit(1)
    typer.echo(f"Imported {added} session(s).")


def draft_from_row(row: dict[str, str], zone: ZoneInfo) -> SessionDraft:
    """One CSV row as a checked session; raises ValueError or ValidationError."""
    values: dict[str, Any] = {key: (value or "").strip() for key, value in row.items() if key}
    values["exam_id"] = values.pop("exam")
    for column in ("starts_at", "registration_opens_at", "registration_closes_at"):
        try:
            values[column] = local_time(values[column], zone)
        except ValueError:
            raise ValueError(f"{column} must look like 2026-10-18 08:00") from None
    return SessionDraft(**values)


def describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'row'}: {item['msg']}" for item in error.errors()
        )
    return str(error)


def _set_status(session_id: int, status: SessionStatus) -> None:
    async def work(db: AsyncSession, zone: ZoneInfo) -> bool:
        return await set_session_status(db, session_id, status) is not None

    if not in_database(work):
        typer.echo(f"No session {session_id}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Session {session_id} is {status.value}.")


@sessions_cli.command("close")
def sessions_close(session_id: int) -> None:
    """Stops registration for a session."""
    _set_status(session_id, SessionStatus.CLOSED)


@sessions_cli.command("cancel")
def sessions_cancel(session_id: int) -> None:
    """Cancels a session: its registrations are cancelled and everyone registered is told."""

    async def work(db: AsyncSession, services: Services) -> int | None:
        session = await set_session_status(db, session_id, SessionStatus.CANCELLED)
        return None if session is None else await session_cancelled(db, services, session)

    told = in_app(work)
    if told is None:
        typer.echo(f"No session {session_id}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Session {session_id} is cancelled; {told} registered applicant(s) will be told.")


@sessions_cli.command("move")
def sessions_move(
    session_id: int,
    starts_at: Annotated[str, typer.Option(help="The new start, local time: 2027-10-18 08:00")],
) -> None:
    """Moves a session to another time; everyone registered is told, reminders follow."""
    zone = settings_or_exit().zone
    try:
        new_start = local_time(starts_at, zone)
    except ValueError:
        typer.echo(f"--starts-at: write the local time as {LOCAL_TIME_FORMAT!r}", err=True)
        raise typer.Exit(2) from None

    async def work(db: AsyncSession, services: Services) -> int | None:
        session = await db.get(TestSession, session_id)
        if session is None:
            return None
        was = session.starts_at
        session.starts_at = new_start
        # Registration cannot stay open after the test has begun.
        session.registration_closes_at = min(session.registration_closes_at, new_start)
        db.add(session)
        await db.flush()
        return await session_moved(db, services, session, was)

    told = in_app(work)
    if told is None:
        typer.echo(f"No session {session_id}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Session {session_id} now starts {starts_at}; {told} applicant(s) will be told.")


def in_app(work: Callable[[AsyncSession, Services], Awaitable[T]]) -> T:
    """Runs `work` in one transaction with the bot's services (texts, reminders, quiet hours)."""
    from bot.app import build_app

    settings = settings_or_exit()

    async def go() -> T:
        app = build_app(settings)
        try:
            await app.prepare_database()
            async with app.conversation.sessions() as db, db.begin():
                return await work(db, app.conversation.services)
        finally:
            await app.close()

    try:
        return asyncio.run(go())
    except ConfigurationError as error:
        typer.echo(f"Configuration error: {error}", err=True)
        raise typer.Exit(2) from None


outbox_cli = typer.Typer(help="Messages waiting to be sent (seat offers).", no_args_is_help=True)


@outbox_cli.command("status")
def outbox_status() -> None:
    """Counts the messages by status and shows the oldest one still waiting."""

    async def work(db: AsyncSession, zone: ZoneInfo) -> tuple[dict[str, int], str | None]:
        oldest = await oldest_pending(db)
        due = oldest.send_after.astimezone(zone).strftime(LOCAL_TIME_FORMAT) if oldest else None
        described = f"#{oldest.id} {oldest.dedupe_key}, due {due}" if oldest else None
        return await count_by_status(db), described

    counts, oldest = in_database(work)
    table = Table("status", "messages")
    for status in OutboxStatus:
        table.add_row(status.value, str(counts.get(status.value, 0)))
    Console().print(table)
    typer.echo(f"Oldest pending: {oldest}" if oldest else "Nothing is waiting to be sent.")


@outbox_cli.command("retry-failed")
def outbox_retry_failed() -> None:
    """Puts every failed message back in line to be sent again."""

    async def work(db: AsyncSession, _zone: ZoneInfo) -> int:
        return await requeue_failed(db)

    typer.echo(f"{in_database(work)} failed message(s) queued again.")
