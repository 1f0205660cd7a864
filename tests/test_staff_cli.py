"""Staff set up exams and sessions from the command line; the shell has demo sessions."""

import subprocess
import sys
from pathlib import Path

import pytest

HEADER = (
    "exam,starts_at,venue_name_km,venue_name_en,venue_name_ja,venue_address_km,"
    "venue_address_en,venue_address_ja,latitude,longitude,capacity,"
    "registration_opens_at,registration_closes_at"
)
GOOD = (
    "jft-basic,2027-10-17 08:00,មណ្ឌល,Centre,会場,ភ្នំពេញ,Phnom Penh,プノンペン,"
    "11.55,104.92,40,2027-08-01 08:00,2027-10-12 17:00"
)


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
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
    assert cli(with_exam, "sessions", "cancel", "1").stdout.strip() == "Session 1 is cancelled."
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
