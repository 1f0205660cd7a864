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


class PostgresCluster:
    """A cluster in a temporary folder, on a Unix socket; it can be stopped and started again
    (the database away, then back) on the same socket."""

    def __init__(self) -> None:
        if shutil.which("initdb") is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH")
        self.base = Path(tempfile.mkdtemp(prefix="applicant-bot-pg-"))
        self.data, self.socket = self.base / "data", str(self.base / "socket")
        self.log = self.base / "log"
        Path(self.socket).mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.base, "nobody")
            shutil.chown(self.socket, "nobody")
        os.chmod(self.base, 0o755)
        subprocess.run(
            _as_postgres_user(
                ["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )

    def running(self) -> bool:
        status = subprocess.run(
            _as_postgres_user(["pg_ctl", "-D", str(self.data), "status"]), capture_output=True
        )
        return status.returncode == 0

    def start(self) -> None:
        """Starts the server, if it is not running."""
        if self.running():
            return
        options = f"-c listen_addresses='' -c unix_socket_directories={self.socket} -c fsync=off"
        subprocess.run(
            _as_postgres_user(
                ["pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l", str(self.log), "start"]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stops the server: "fast" ends every session cleanly, "immediate" as in a crash."""
        subprocess.run(
            _as_postgres_user(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"]),
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Starts a cluster; yields the socket folder (the "host" for asyncpg); stops and wipes it."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster.socket
    finally:
        cluster.remove()


def database_url(socket: str, database: str) -> str:
    return f"postgresql+asyncpg://postgres@/{database}?host={socket}"
