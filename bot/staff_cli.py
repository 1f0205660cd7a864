"""Staff work from the command line: exams, sessions, outbox, staff, audit, export, broadcast."""

import asyncio
import getpass
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import build_app
from bot.config import ConfigurationError, Settings, load_settings
from handlers.core.commands import end_staff, make_staff
from handlers.core.content import to_content
from handlers.core.events import TEXT_MAX_LENGTH, SendText
from handlers.core.services import Services
from handlers.staff import exports
from handlers.staff import sessions as session_work
from handlers.staff.broadcast import telegram_text_problem
from handlers.staff.sessions import (
    CSV_COLUMNS,
    LOCAL_TIME_FORMAT,
    describe,
    draft_from_row,
    local_time,
    read_sessions_csv,
)
from models.broadcasts import (
    Broadcast,
    broadcast_counts,
    count_audience,
    create_broadcast,
)
from models.outbox import OutboxStatus, count_by_status, oldest_pending, requeue_failed
from models.sessions import (
    Exam,
    SessionStatus,
    find_exam,
    list_exams,
    list_sessions,
)
from models.staff import Role, audit_trail, list_staff

T = TypeVar("T")

exams_cli = typer.Typer(help="The exams sessions belong to.", no_args_is_help=True)
sessions_cli = typer.Typer(help="Test sessions: dates, venues, seats.", no_args_is_help=True)


def in_database(work: Callable[[AsyncSession, ZoneInfo], Awaitable[T]]) -> T:
    """Runs `work` in one transaction on the configured database, upgraded first."""

    async def with_zone(db: AsyncSession, services: Services) -> T:
        return await work(db, services.zone)

    return in_app(with_zone)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        typer.echo(f"Configuration error: {error}", err=True)
        raise typer.Exit(2) from None


def _print(table: Table) -> None:
    # Piped into a file or a test, keep every row on one line instead of wrapping at 80.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


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
        return list(await list_exams(db))

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
        return await session_work.add_one_session(db, draft, cli_actor())

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
    zone = settings_or_exit().zone
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        typer.echo(f"{path}: cannot read: {error}", err=True)
        raise typer.Exit(1) from None
    drafts, problems = read_sessions_csv(text, zone)
    if problems and not drafts and problems[0].startswith("missing columns"):
        typer.echo(f"{path}: {problems[0]}", err=True)
        raise typer.Exit(1)

    async def work(db: AsyncSession, zone: ZoneInfo) -> list[str]:
        return await session_work.import_sessions(db, drafts, problems, cli_actor())

    problems = in_database(work)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        typer.echo(f"Nothing imported: {len(problems)} bad row(s).", err=True)
        raise typer.Exit(1)
    added = len(drafts)
    typer.echo(f"Imported {added} session(s).")


@sessions_cli.command("close")
def sessions_close(session_id: int) -> None:
    """Stops registration for a session."""

    async def work(db: AsyncSession, zone: ZoneInfo) -> bool:
        return await session_work.close(db, session_id, cli_actor()) is not None

    if not in_database(work):
        typer.echo(f"No session {session_id}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Session {session_id} is {SessionStatus.CLOSED.value}.")


@sessions_cli.command("cancel")
def sessions_cancel(session_id: int) -> None:
    """Cancels a session: its registrations are cancelled and everyone registered is told."""

    async def work(db: AsyncSession, services: Services) -> int | None:
        return await session_work.cancel(db, services, session_id, cli_actor())

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
        return await session_work.move(db, services, session_id, new_start, cli_actor())

    told = in_app(work)
    if told is None:
        typer.echo(f"No session {session_id}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Session {session_id} now starts {starts_at}; {told} applicant(s) will be told.")


def in_app(work: Callable[[AsyncSession, Services], Awaitable[T]]) -> T:
    """Runs `work` in one transaction with the bot's services (texts, reminders, quiet hours)."""
    with staff_app() as app:
        return app.run(work)


class StaffApp:
    """The bot's app for one staff command: built by the factory as `run` builds it, its
    database prepared once, and one event loop for every transaction the command runs."""

    def __init__(self, settings: Settings) -> None:
        self._loop = asyncio.Runner()
        self._app = build_app(settings)

    def prepare(self) -> None:
        """Upgrades an SQLite database, or checks a PostgreSQL one is up to date: once."""
        self._loop.run(self._app.prepare_database(understanding=False))

    def run(self, work: Callable[[AsyncSession, Services], Awaitable[T]]) -> T:
        """Runs `work` in a transaction of its own."""
        return self._loop.run(self._app.in_transaction(work))

    def close(self) -> None:
        self._loop.run(self._app.close())
        self._loop.close()


@contextmanager
def staff_app() -> Iterator[StaffApp]:
    """The app for a staff command, its database prepared; a configuration error exits."""
    try:
        with closing(StaffApp(settings_or_exit())) as app:
            app.prepare()
            yield app
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


staff_cli = typer.Typer(help="Who works for the test office in the chat.", no_args_is_help=True)


def cli_actor() -> str:
    """The person at this terminal, as the audit trail names them."""
    return f"cli:{getpass.getuser()}"[:64]


@staff_cli.command("add")
def staff_add(
    telegram_id: int,
    role: Annotated[str, typer.Option(help="admin (everything) or operator")] = "operator",
) -> None:
    """Makes a Telegram user staff with a role (or changes their role)."""
    if role not in (Role.ADMIN, Role.OPERATOR):
        typer.echo("--role: admin or operator (owners come from ADMIN_IDS)", err=True)
        raise typer.Exit(2)

    async def work(db: AsyncSession, services: Services) -> None:
        await make_staff(db, services, telegram_id, Role(role), cli_actor())

    in_app(work)
    typer.echo(f"{telegram_id} is now staff ({role}).")


@staff_cli.command("remove")
def staff_remove(telegram_id: int) -> None:
    """Takes a user's staff role away."""

    async def work(db: AsyncSession, services: Services) -> bool:
        return await end_staff(db, services, telegram_id, cli_actor())

    if not in_app(work):
        typer.echo(f"{telegram_id} was not staff.", err=True)
        raise typer.Exit(1)
    typer.echo(f"{telegram_id} is no longer staff.")


@staff_cli.command("list")
def staff_list() -> None:
    """The staff and their roles (owners come from ADMIN_IDS)."""
    settings = settings_or_exit()

    async def work(db: AsyncSession, zone: ZoneInfo) -> list[tuple[str, str, str, str]]:
        return [
            (
                str(m.telegram_id),
                str(m.role),
                m.added_by,
                m.added_at.astimezone(zone).strftime(LOCAL_TIME_FORMAT),
            )
            for m in await list_staff(db)
        ]

    table = Table("telegram id", "role", "added by", "added at")
    for owner in sorted(settings.admin_ids):
        table.add_row(str(owner), "owner", "ADMIN_IDS", "")
    for row in in_database(work):
        table.add_row(*row)
    _print(table)


def show_audit(
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 50,
) -> None:
    """Lists what staff did: who, what, when, on what."""

    async def work(db: AsyncSession, zone: ZoneInfo) -> list[tuple[str, ...]]:
        return [
            (
                entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                entry.actor,
                entry.action,
                entry.target or "",
                json.dumps(entry.detail, ensure_ascii=False) if entry.detail else "",
            )
            for entry in await audit_trail(db, limit)
        ]

    table = Table("when", "who", "what", "on what", "detail")
    for row in in_database(work):
        table.add_row(*row)
    _print(table)


def export_sheets(
    session: Annotated[
        int | None, typer.Option(help="One session's number; all if left out.")
    ] = None,
    out: Annotated[Path, typer.Option(help="The folder to write the files in.")] = Path("."),
    language: Annotated[str, typer.Option(help="km, en or ja, for headers and names.")] = "km",
) -> None:
    """Writes the sign-in sheet as CSV and XLSX (the same files /export sends to staff)."""
    if language not in ("km", "en", "ja"):
        typer.echo("--language: km, en or ja", err=True)
        raise typer.Exit(2)

    async def work(db: AsyncSession, services: Services) -> list[Path] | None:
        texts = services.texts(language)
        files = await exports.export_sheets(db, texts, cli_actor(), session, services.now())
        if files is None:
            return None
        for file in files:
            (out / file.filename).write_bytes(file.data)
        return [out / file.filename for file in files]

    out.mkdir(parents=True, exist_ok=True)
    written = in_app(work)
    if written is None:
        typer.echo(f"No session {session}.", err=True)
        raise typer.Exit(1)
    for path in written:
        typer.echo(f"Wrote {path}")


def broadcast(
    audience: Annotated[
        str, typer.Option(help="all, exam:ID, session:N, waitlisted or lang:km|en|ja")
    ],
    text_file: Annotated[Path, typer.Option(help="The message: Telegram HTML, UTF-8.")],
    at: Annotated[
        str | None, typer.Option(help="Local time to send, e.g. 2027-10-01 08:00")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Show the progress until it is all sent.")] = True,
    urgent: Annotated[
        bool, typer.Option(help="Send even in quiet hours, instead of waiting for the morning.")
    ] = False,
) -> None:
    """Sends one message to a chosen group, now or at a time; the running bot delivers it."""
    settings = settings_or_exit()
    html = text_file.read_text("utf-8").strip()
    send_at = None
    if at is not None:
        try:
            send_at = local_time(at, settings.zone)
        except ValueError:
            typer.echo(f"--at: write the local time as {LOCAL_TIME_FORMAT!r}", err=True)
            raise typer.Exit(2) from None

    async def work(db: AsyncSession, services: Services) -> tuple[int, int, str] | str:
        problem = telegram_text_problem(services.texts("en"), html, TEXT_MAX_LENGTH)
        if problem:
            return problem
        try:
            count_check = await count_audience(db, audience, services.default_locale)
        except ValueError:
            return f"--audience: unknown audience {audience!r}"
        if count_check == 0:
            return "Nobody is in this audience."
        record = Broadcast(
            author_id=0,
            author_locale="en",
            texts={"all": html},
            audience=audience,
            send_at=send_at or services.now(),
        )
        content = to_content([SendText(html)])
        queued = await create_broadcast(
            db, record, {"all": content}, services.default_locale, cli_actor(), urgent
        )
        assert record.id is not None
        quiet, note = services.quiet, ""
        if quiet is not None and quiet.contains(record.send_at) and not urgent:
            goes_at = quiet.next_daytime(record.send_at).astimezone(settings.zone)
            note = (
                f"That is in quiet hours ({quiet.start:%H:%M}-{quiet.end:%H:%M}): it will go out "
                f"at {goes_at:%Y-%m-%d %H:%M}. Use --urgent to send it at once."
            )
        return record.id, queued, note

    with staff_app() as app:
        outcome = app.run(work)
        if isinstance(outcome, str):
            typer.echo(outcome, err=True)
            raise typer.Exit(1)
        broadcast_id, queued, note = outcome
        typer.echo(f"Broadcast #{broadcast_id} is queued for {queued} people.")
        if note:
            typer.echo(note)
        if wait:
            follow(app, broadcast_id, queued)


def follow(app: StaffApp, broadcast_id: int, total: int) -> None:
    """A progress bar of the running bot's sending until nothing is left; Ctrl-C stops watching.

    Each second is one short transaction on the command's one engine.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    async def counts(db: AsyncSession, services: Services) -> dict[str, int]:
        return await broadcast_counts(db, broadcast_id)

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("sending", total=total)
        while True:
            now = app.run(counts)
            left = now.get("pending", 0) + now.get("sending", 0)
            progress.update(task, completed=total - left)
            if left == 0:
                break
            time.sleep(1)
    typer.echo(
        "Sent {sent}, unreachable or skipped {skipped}, failed {failed}.".format(
            sent=now.get("sent", 0), skipped=now.get("skipped", 0), failed=now.get("failed", 0)
        )
    )
