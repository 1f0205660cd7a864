"""A throwaway PostgreSQL cluster for the tests: started in a temporary folder, on a Unix socket.

PostgreSQL refuses to run as root, so under root (as in CI) the cluster runs as `nobody`.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "nobody", "--", *command]


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Starts a cluster; yields the socket folder (the "host" for asyncpg); stops and wipes it."""
    if shutil.which("initdb") is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH")
    base = Path(tempfile.mkdtemp(prefix="applicant-bot-pg-"))
    data, socket = base / "data", base / "socket"
    socket.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "nobody")
        shutil.chown(socket, "nobody")
    os.chmod(base, 0o755)
    subprocess.run(
        _as_postgres_user(
            ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses='' -c unix_socket_directories={socket} -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            ["pg_ctl", "-D", str(data), "-o", options, "-w", "-l", str(base / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield str(socket)
    finally:
        subprocess.run(
            _as_postgres_user(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def database_url(socket: str, database: str) -> str:
    return f"postgresql+asyncpg://postgres@/{database}?host={socket}"
