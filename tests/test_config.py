"""Settings: defaults, parsing, and one clear line for each bad setting."""

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigurationError, load_settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite:///./data/")
    assert settings.default_locale == "km"
    assert settings.timezone == "Asia/Phnom_Penh"
    assert str(settings.telegram_api_url) == "https://api.telegram.org/"


def test_admin_ids_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "111, 222,333")
    assert load_settings(_env_file=None).admin_ids == [111, 222, 333]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_IDS", "12,abc"),
        ("DEFAULT_LOCALE", "fr"),
        ("TIMEZONE", "Mars/Olympus"),
        ("DATABASE_URL", "mysql://x"),
        ("STAFF_CHAT_ID", "group"),
        ("TELEGRAM_API_URL", "not a url"),
        ("LOG_LEVEL", "LOUD"),
        ("BOT_FRAMEWORK", "telethon"),
        ("WEBHOOK_URL", "not a url"),
        ("WEBHOOK_LISTEN", "8080"),
        ("WEBHOOK_LISTEN", "0.0.0.0:99999"),
        ("METRICS_LISTEN", "9100"),
        ("METRICS_LISTEN", "localhost:http"),
    ],
)
def test_a_malformed_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings(_env_file=None)


def test_a_webhook_needs_a_well_formed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/telegram")
    with pytest.raises(ConfigurationError, match=r"^WEBHOOK_SECRET: must be set"):
        load_settings(_env_file=None)
    for bad in ("has spaces in it but is long enough to pass", "s3cret_-OK-but-31-characters-xy"):
        monkeypatch.setenv("WEBHOOK_SECRET", bad)
        with pytest.raises(ConfigurationError, match=r"^WEBHOOK_SECRET: use 32 to 256"):
            load_settings(_env_file=None)
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret_-OK-and-32-characters-xyz")
    monkeypatch.setenv("WEBHOOK_LISTEN", "0.0.0.0:8443")
    settings = load_settings(_env_file=None)
    assert settings.listen == ("0.0.0.0", 8443)
    assert settings.instance.endswith(":8443")  # two instances on one host differ


def test_empty_webhook_settings_mean_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEBHOOK_URL", "WEBHOOK_SECRET", "STAFF_CHAT_ID", "INSTANCE_NAME"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("METRICS_LISTEN", "")
    settings = load_settings(_env_file=None)
    assert settings.webhook_url is None
    assert settings.metrics_address is None  # no /metrics of its own
    assert settings.instance  # the host name


def test_run_without_token_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "BOT_TOKEN": ""},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: BOT_TOKEN is not set: put the token from @BotFather in the "
        "environment or .env"
    ]


def test_malformed_setting_at_start_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TIMEZONE": "Nowhere/Town"},
        input="",
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "TIMEZONE" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_listen_is_off_by_default_and_read_as_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(_env_file=None).metrics_address is None
    monkeypatch.setenv("METRICS_LISTEN", "0.0.0.0:9464")
    assert load_settings(_env_file=None).metrics_address == ("0.0.0.0", 9464)
