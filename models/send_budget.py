"""One sending budget for every instance of the bot, kept in PostgreSQL.

Telegram counts the messages of the whole bot, whichever instance sends them, so the
budget lives where all instances meet. The bot-wide limit is `rate` slots: a request
may start only holding a free slot, and the slot stays taken while the request is in
flight and after its answer for as long as the sender's pacer says it still counts
(one second, less twice the least time one way to Telegram: bot/pacing.py). A slot
thus carries at most one arrival in any second, and the server never sees more than
`rate` in one second, whatever the number of instances. A chat's own limit is a token
bucket per chat. All times are the database's clock, so instances whose clocks differ
still agree.

A slot is taken with a lease: if its instance dies before freeing it, it frees itself.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel

# A request never takes longer than this; a slot held longer belonged to a dead instance.
SLOT_LEASE_SECONDS = 60.0


class SendSlot(SQLModel, table=True):
    """One of the bot-wide budget's slots, and when it is free again."""

    __tablename__ = "send_slot"

    slot: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    free_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ChatPace(SQLModel, table=True):
    """A chat's token bucket: tokens left at `at`."""

    __tablename__ = "chat_pace"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    tokens: float = Field(sa_column=Column(Float, nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


async def provide_slots(connection: AsyncConnection, rate: int) -> None:
    """Makes sure slots 0..rate-1 exist (an instance with a higher SEND_RATE adds some)."""
    await connection.execute(
        text(
            "INSERT INTO send_slot (slot, free_at) "
            "SELECT n, timestamptz '2000-01-01 00:00Z' FROM generate_series(0, :last) AS n "
            "ON CONFLICT (slot) DO NOTHING"
        ),
        {"last": rate - 1},
    )


TAKE_SLOT = text(
    """
    WITH free AS (
        SELECT slot FROM send_slot
        WHERE slot < :rate AND free_at <= clock_timestamp()
        ORDER BY free_at LIMIT 1 FOR UPDATE SKIP LOCKED
    ), taken AS (
        UPDATE send_slot SET free_at = clock_timestamp() + make_interval(secs => :lease)
        FROM free WHERE send_slot.slot = free.slot
        RETURNING send_slot.slot
    )
    SELECT (SELECT slot FROM taken),
           (SELECT extract(epoch FROM min(free_at) - clock_timestamp())
            FROM send_slot WHERE slot < :rate)
    """
)


async def take_slot(connection: AsyncConnection, rate: int) -> tuple[int | None, float]:
    """A free slot of the bot-wide budget, or None and the seconds until one frees up."""
    row = (await connection.execute(TAKE_SLOT, {"rate": rate, "lease": SLOT_LEASE_SECONDS})).one()
    slot, wait = row
    return (None if slot is None else int(slot)), max(float(wait or 0.0), 0.0)


async def free_slot(connection: AsyncConnection, slot: int, hold: float = 1.0) -> None:
    """Gives the slot back, free again `hold` seconds after the answer (at most one)."""
    await connection.execute(
        text(
            "UPDATE send_slot SET free_at = clock_timestamp() + make_interval(secs => :hold) "
            "WHERE slot = :slot"
        ),
        {"slot": slot, "hold": min(max(hold, 0.0), 1.0)},
    )


async def pause_all(connection: AsyncConnection, seconds: float) -> None:
    """Telegram said 429: no instance sends anything for `seconds`."""
    await connection.execute(
        text(
            "UPDATE send_slot SET free_at = greatest(free_at, "
            "clock_timestamp() + make_interval(secs => :seconds))"
        ),
        {"seconds": seconds},
    )


TAKE_CHAT_TOKEN = text(
    """
    INSERT INTO chat_pace (chat_id, tokens, at) VALUES (:chat, :burst - 1, clock_timestamp())
    ON CONFLICT (chat_id) DO UPDATE SET
        tokens = least(:burst, chat_pace.tokens
            + extract(epoch FROM clock_timestamp() - chat_pace.at) * :rate) - 1,
        at = clock_timestamp()
    WHERE least(:burst, chat_pace.tokens
        + extract(epoch FROM clock_timestamp() - chat_pace.at) * :rate) >= 1
    RETURNING tokens
    """
)
CHAT_WAIT = text(
    """
    SELECT (1 - least(:burst, tokens + extract(epoch FROM clock_timestamp() - at) * :rate))
           / :rate
    FROM chat_pace WHERE chat_id = :chat
    """
)


async def take_chat_token(
    connection: AsyncConnection, chat_id: int, rate: float, burst: float
) -> float:
    """Takes a turn for the chat; 0 when taken, else the seconds to wait before asking again."""
    values = {"chat": chat_id, "rate": rate, "burst": burst}
    if (await connection.execute(TAKE_CHAT_TOKEN, values)).first() is not None:
        return 0.0
    wait = (await connection.execute(CHAT_WAIT, values)).scalar()
    return max(float(wait or 0.0), 0.001)


async def count_chat_from_answer(
    connection: AsyncConnection, chat_id: int, rate: float, most: float
) -> None:
    """The chat's message was answered and may have arrived only now: its bucket holds at
    most `most` tokens from now (as if the message had been taken from a full bucket now)."""
    await connection.execute(
        text(
            "UPDATE chat_pace SET tokens = least(:most, tokens "
            "+ extract(epoch FROM clock_timestamp() - at) * :rate), at = clock_timestamp() "
            "WHERE chat_id = :chat"
        ),
        {"chat": chat_id, "rate": rate, "most": most},
    )


async def forget_quiet_chats(connection: AsyncConnection, idle_seconds: float = 600) -> int:
    """Deletes buckets of chats quiet for a while: they are full again anyway."""
    result = await connection.execute(
        text("DELETE FROM chat_pace WHERE at < clock_timestamp() - make_interval(secs => :idle)"),
        {"idle": idle_seconds},
    )
    return int(result.rowcount or 0)
