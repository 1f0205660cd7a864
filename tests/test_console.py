"""The console channel's script mode, as a script or a newcomer would use it."""

import json
import subprocess
import sys
from pathlib import Path


def run_shell(tmp_path: Path, lines: list[str], *extra: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script", *extra],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_whole_visit_in_script_mode(tmp_path: Path) -> None:
    out = run_shell(
        tmp_path,
        [
            "/start",
            "English",  # a button pressed by its label
            "3",  # ... and by its number: Questions and answers
            "Fees and fraud",
            "/language",
            "ភាសាខ្មែរ",
            "how much is the passport",
            "contact:+85512345678",
            "\\1",  # a backslash sends the line as typed text
        ],
        "--language",
        "en",
    )
    kinds = [record["kind"] for record in out]
    assert kinds[0] == "message"
    assert out[0]["buttons"] == [["ភាសាខ្មែរ", "English", "日本語"]]
    assert out[1] == {
        "kind": "notice",
        "text": "Language: English",
        "buttons": [],
    }
    assert out[2]["kind"] == "edit"
    assert out[2]["text"].startswith("Main menu")
    assert out[3]["kind"] == "edit"
    assert "Choose a topic" in out[3]["text"]
    assert out[4]["kind"] == "edit"
    assert "Choose a question" in out[4]["text"]
    assert "ម៉ឺនុយមេ" in out[-4]["text"]
    passport = out[-3]
    assert passport["kind"] == "message"
    assert "passport" in passport["text"].lower() or "លិខិតឆ្លងដែន" in passport["text"]
    assert "មិនត្រូវការលេខទូរស័ព្ទ" in out[-2]["text"]
    assert out[-1]["kind"] == "message"


def test_the_conversation_survives_a_restart(tmp_path: Path) -> None:
    run_shell(tmp_path, ["/start", "日本語"])
    out = run_shell(tmp_path, ["/start"])
    assert out[0]["text"].startswith("メインメニュー")


def test_booking_a_demo_seat_in_script_mode(tmp_path: Path) -> None:
    out = run_shell(
        tmp_path,
        [
            "/book",
            "1",  # the first demo exam
            "1",  # its first session
            "✅ I agree",
            "sok dara",
            "Skip ➡️",
            "31/02/2001",  # refused: no such day
            "15/03/2001",
            "Female",
            "contact:+85512345678",
            "N01234567",
            "Kampot",
            "✅ Confirm booking",
        ],
        "--language",
        "en",
    )
    chosen = out[2]  # the list of sessions, edited: the venue in full
    assert (chosen["kind"], chosen["text"].split("\n")[-1]) == (
        "edit",
        "📍 Phnom Penh test centre (demo), Phnom Penh (demo address)",
    )
    assert "does not exist" in out[7]["text"]
    assert "SOK DARA" in out[-5]["text"]
    confirmed, venue, ticket, calendar = out[-4:]
    assert "You are registered!" in confirmed["text"]
    assert venue["kind"] == "venue"
    assert venue["text"].startswith("📍 Phnom Penh test centre (demo)")
    assert (ticket["kind"], calendar["kind"]) == ("photo", "document")
    assert ticket["text"].startswith("📎 ticket-")
    assert calendar["text"].split("\n")[0].endswith(".ics")
