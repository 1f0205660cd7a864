"""`applicant-bot run` as its own process, the way an operator starts it."""

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_environment(port: int, secret: str) -> dict[str, str]:
    """The settings of webhook mode on 127.0.0.1:`port`, Telegram posting to /telegram."""
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
    }


@asynccontextmanager
async def running_bot(environment: dict[str, str], cwd: Path) -> AsyncIterator[None]:
    """Runs `applicant-bot run` until the block ends, then stops it with SIGTERM: it must
    exit 0, without a traceback."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        env=environment, cwd=cwd, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
