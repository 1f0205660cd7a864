"""Staff set up exams and sessions from the command line; the shell has demo sessions."""

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import bot.app
from bot.app import App
from bot.staff_cli import follow, staff_app
from handlers.core.content import to_content
from handlers.core.events import SendText
from handlers.core.services import Services
from models.broadcasts import Broadcast
from models.columns import utcnow
from models.outbox import OutboxMessage, OutboxStatus
from tests.support.sessions import CSV_HEADER, CSV_ROW

T = TypeVar("T")

HEADER, GOOD = CSV_HEADER, CSV_ROW


def cli(tmp_path: Path, *args: str, typed: str | None = None) -> subprocess.CompletedProcess[str]:
    """`applicant-bot ARGS` on this test's database, with `typed` as its standard input."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=typed,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/s.db"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def with_exam(tmp_path: Path) -> Path:
    added = cli(
        tmp_path, "exams", "add", "jft-basic",
        "--name-km", "JFT", "--name-en", "JFT-Basic", "--name-ja", "JFT",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    return tmp_path


def test_import_adds_every_row_and_list_shows_them(with_exam: Path) -> None:
    csv_file = with_exam / "sessions.csv"
    csv_file.write_text(f"{HEADER}\n{GOOD}\n{GOOD.replace('10-17', '11-14')}\n", "utf-8")
    result = cli(with_exam, "sessions", "import", str(csv_file))
    assert result.returncode == 0, result.stderr
    assert "Imported 2 session(s)." in result.stdout
    listing = cli(with_exam, "sessions", "list")
    assert "2027-10-17 08:00" in listing.stdout
    assert "0/40" in listing.stdout


def test_import_is_all_or_nothing_and_names_every_bad_line(with_exam: Path) -> None:
    bad_date = GOOD.replace("2027-10-17 08:00", "17/10/2027")
    bad_seats = GOOD.replace(",40,", ",0,")
    late_window = GOOD.replace("2027-10-12 17:00", "2027-10-20 17:00")
    unknown_exam = GOOD.replace("jft-basic", "welding")
    csv_file = with_exam / "sessions.csv"
    csv_file.write_text(
        "\n".join([HEADER, GOOD, bad_date, bad_seats, late_window, unknown_exam]) + "\n", "utf-8"
    )
    result = cli(with_exam, "sessions", "import", str(csv_file))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("line 3: starts_at must look like")
    assert lines[1].startswith("line 4: capacity")
    assert lines[2].startswith("line 5: ")
    assert lines[3] == "line 6: unknown exam 'welding'"
    assert lines[4] == "Nothing imported: 4 bad row(s)."
    assert "0/40" not in cli(with_exam, "sessions", "list").stdout


def test_close_and_cancel(with_exam: Path) -> None:
    csv_file = with_exam / "sessions.csv"
    csv_file.write_text(f"{HEADER}\n{GOOD}\n", "utf-8")
    assert cli(with_exam, "sessions", "import", str(csv_file)).returncode == 0
    assert cli(with_exam, "sessions", "close", "1").stdout.strip() == "Session 1 is closed."
    cancelled = cli(with_exam, "sessions", "cancel", "1").stdout.strip()
    assert cancelled == "Session 1 is cancelled; 0 registered applicant(s) will be told."
    missing = cli(with_exam, "sessions", "cancel", "99")
    assert (missing.returncode, missing.stderr.strip()) == (1, "No session 99.")


def test_the_shell_starts_with_demo_sessions(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script"],
        input="",
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/s.db"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listing = cli(tmp_path, "sessions", "list").stdout
    assert "Phnom Penh test centre (demo)" in listing
    assert "Siem Reap test centre (demo)" in listing
    assert listing.count("-10-") >= 3
    assert listing.count("-11-") >= 3
    assert {"jft-basic", "nursing-care"} <= set(listing.split())


def test_add_one_session(with_exam: Path) -> None:
    values = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    options = [f"--{name.replace('_', '-')}={value}" for name, value in values.items()]
    added = cli(with_exam, "sessions", "add", *options)
    assert (added.returncode, added.stdout.strip()) == (0, "Session 1 added."), added.stderr
    bad = cli(with_exam, "sessions", "add", *[o.replace("=40", "=-3") for o in options])
    assert bad.returncode == 1
    assert "capacity" in bad.stderr


def test_outbox_status_and_retry_failed(tmp_path: Path) -> None:
    import sqlite3

    empty = cli(tmp_path, "outbox", "status")  # also creates the database
    assert empty.returncode == 0, empty.stderr
    assert "Nothing is waiting to be sent." in empty.stdout
    with sqlite3.connect(tmp_path / "s.db") as db:
        for key, status, due in [
            ("offer:1", "pending", "2026-11-20 02:00:00.000000"),
            ("offer:2", "pending", "2026-11-21 02:00:00.000000"),
            ("offer:3", "failed", "2026-11-19 02:00:00.000000"),
            ("offer:4", "sent", "2026-11-18 02:00:00.000000"),
        ]:
            db.execute(
                "INSERT INTO outbox (chat_id, content, dedupe_key, send_after, status, attempts,"
                " created_at) VALUES (1, '[]', ?, ?, ?, 5, ?)",
                (key, due, status, due),
            )
    status = cli(tmp_path, "outbox", "status")
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()]
    counts = {cells[1]: cells[3] for cells in rows if len(cells) == 5}  # "│ sent │ 1 │"
    assert (counts["pending"], counts["failed"], counts["sent"]) == ("2", "1", "1")
    assert "Oldest pending: #1 offer:1, due 2026-11-20 09:00" in status.stdout  # Phnom Penh time

    retried = cli(tmp_path, "outbox", "retry-failed")
    assert "1 failed message(s) queued again." in retried.stdout
    with sqlite3.connect(tmp_path / "s.db") as db:
        row = db.execute("SELECT status, attempts FROM outbox WHERE dedupe_key = 'offer:3'")
        assert row.fetchone() == ("pending", 0)
    again = cli(tmp_path, "outbox", "retry-failed")
    assert "0 failed message(s) queued again." in again.stdout


def test_moving_a_session(with_exam: Path) -> None:
    csv_file = with_exam / "sessions.csv"
    csv_file.write_text(f"{HEADER}\n{GOOD}\n", "utf-8")
    assert cli(with_exam, "sessions", "import", str(csv_file)).returncode == 0
    moved = cli(with_exam, "sessions", "move", "1", "--starts-at", "2027-10-18 09:30")
    assert (
        moved.stdout.strip()
        == "Session 1 now starts 2027-10-18 09:30; 0 applicant(s) will be told."
    )
    assert "2027-10-18 09:30" in cli(with_exam, "sessions", "list").stdout
    bad = cli(with_exam, "sessions", "move", "1", "--starts-at", "next Tuesday")
    assert bad.returncode == 2
    assert "--starts-at" in bad.stderr


def test_staff_on_the_command_line_and_the_audit_trail(tmp_path: Path) -> None:
    assert cli(tmp_path, "staff", "add", "300", "--role", "operator").returncode == 0
    assert cli(tmp_path, "staff", "add", "301", "--role", "admin").returncode == 0
    assert cli(tmp_path, "staff", "add", "302", "--role", "owner").returncode == 2
    listed = cli(tmp_path, "staff", "list").stdout
    assert "300" in listed
    assert "operator" in listed
    assert "admin" in listed
    assert cli(tmp_path, "staff", "remove", "301").returncode == 0
    assert cli(tmp_path, "staff", "remove", "301").returncode == 1
    trail = cli(tmp_path, "audit").stdout
    assert trail.count("staff_add") == 2
    assert trail.count("staff_remove") == 2
    assert "cli:" in trail


def test_faq_unanswered_lists_questions_by_count(tmp_path: Path) -> None:
    lines = "best noodle soup\nIs there wifi in the dormitory\nis there WIFI in the dormitory?\n"
    shell = cli(tmp_path, "shell", "--script", "--language", "en", typed=lines)
    assert shell.returncode == 0, shell.stderr
    listed = cli(tmp_path, "faq", "unanswered").stdout
    rows = [[c.strip() for c in line.split("│")] for line in listed.splitlines() if "│" in line]
    # id, times asked, language, the latest wording: asked the same way counts once.
    assert ["", "3", "2", "en", "is there WIFI in the dormitory?", ""] in rows
    assert listed.index("WIFI") < listed.index("noodle")


def test_export_writes_both_files(with_exam: Path) -> None:
    csv_file = with_exam / "sessions.csv"
    csv_file.write_text(f"{HEADER}\n{GOOD}\n", "utf-8")
    assert cli(with_exam, "sessions", "import", str(csv_file)).returncode == 0
    result = cli(with_exam, "export", "--session", "1", "--out", "out", "--language", "en")
    assert result.returncode == 0, result.stderr
    written = sorted(path.suffix for path in (with_exam / "out").iterdir())
    assert written == [".csv", ".xlsx"]
    assert "Code" in next((with_exam / "out").glob("*.csv")).read_text("utf-8-sig")
    assert cli(with_exam, "export", "--session", "9").returncode == 1
    assert "export" in cli(with_exam, "audit").stdout


def test_broadcast_from_the_command_line(tmp_path: Path) -> None:
    shell = cli(tmp_path, "shell", "--script", "--language", "en", typed="/start\nEnglish\n")
    assert shell.returncode == 0, shell.stderr
    broken = tmp_path / "broken.html"
    broken.write_text("<b>Test day moved", "utf-8")
    refused = cli(tmp_path, "broadcast", "--audience", "all", "--text-file", str(broken))
    assert refused.returncode == 1
    assert "would refuse this formatting" in refused.stderr
    good = tmp_path / "news.html"
    good.write_text("<b>Test day</b> is on 17 October.", "utf-8")
    args = ["--text-file", str(good), "--at", "2027-10-01 08:00", "--no-wait"]
    queued = cli(tmp_path, "broadcast", "--audience", "lang:en", *args)
    assert queued.stdout.strip() == "Broadcast #1 is queued for 1 people."
    again = cli(tmp_path, "broadcast", "--audience", "lang:ja", *args)
    assert again.returncode == 1
    assert "Nobody" in again.stderr
    at_night = ["--text-file", str(good), "--at", "2027-10-01 22:30", "--no-wait"]
    waits = cli(tmp_path, "broadcast", "--audience", "lang:en", *at_night)
    assert "it will go out at 2027-10-02 07:00. Use --urgent" in waits.stdout
    urgent = cli(tmp_path, "broadcast", "--audience", "lang:en", *at_night, "--urgent")
    assert urgent.stdout.strip() == "Broadcast #3 is queued for 1 people."
    assert "broadcast" in cli(tmp_path, "audit").stdout


def test_following_a_broadcast_prepares_the_database_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/s.db")
    prepared = []
    monkeypatch.setattr(App, "prepare_database", counted(App.prepare_database, prepared))
    engines = []
    monkeypatch.setattr(bot.app, "create_engine", counted(bot.app.create_engine, engines))

    async def queue(db: AsyncSession, services: Services) -> int:
        record = Broadcast(author_id=0, texts={"all": "News"}, audience="all", send_at=utcnow())
        db.add(record)
        await db.flush()
        assert record.id is not None
        for chat in (1, 2, 3):
            message = OutboxMessage(chat_id=chat, content=to_content([SendText("News")]),
                                    dedupe_key=f"news:{chat}", broadcast_id=record.id,
                                    send_after=record.send_at)  # fmt: skip
            db.add(message)
        return record.id

    async def send_one(db: AsyncSession, services: Services) -> None:
        pending = await db.exec(select(OutboxMessage).where(OutboxMessage.status == "pending"))
        pending.first().status = OutboxStatus.SENT  # type: ignore[union-attr]

    with staff_app() as app:
        broadcast_id = app.run(queue)
        monkeypatch.setattr(time, "sleep", lambda seconds: app.run(send_one))  # the bot sends
        follow(app, broadcast_id, 3)
    assert "Sent 3, unreachable or skipped 0, failed 0." in capsys.readouterr().out
    assert (len(prepared), len(engines)) == (1, 1)


def counted(function: Callable[..., T], calls: list[None]) -> Callable[..., T]:
    """`function`, noting each call in `calls`."""

    def note(*args: object, **kwargs: object) -> T:
        calls.append(None)
        return function(*args, **kwargs)

    return note
