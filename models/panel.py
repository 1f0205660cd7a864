"""The web panel's ways in: one-time login links and the staff's open panel sessions.

Both are kept as SHA-256 digests of random tokens: the database never holds a token that
would let its reader in.
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, String, delete, update
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import UtcDateTime

LOGIN_LINK_LIFETIME = timedelta(minutes=5)
SESSION_LIFETIME = timedelta(hours=8)


def digest(token: str) -> str:
    """The SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class PanelLoginLink(SQLModel, table=True):
    """A login link sent by the bot: one staff member, once, within minutes."""

    __tablename__ = "panel_login_link"

    token_digest: str = Field(sa_column=Column(String(64), primary_key=True))
    telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class PanelSession(SQLModel, table=True):
    """A staff member logged in to the panel, until logout or expiry."""

    __tablename__ = "panel_session"

    key_digest: str = Field(sa_column=Column(String(64), primary_key=True))
    telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))


async def issue_login_link(db: AsyncSession, telegram_id: int, now: datetime) -> str:
    """A new one-time login token for this staff member; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    db.add(
        PanelLoginLink(
            token_digest=digest(token),
            telegram_id=telegram_id,
            expires_at=now + LOGIN_LINK_LIFETIME,
        )
    )
    await db.flush()
    return token


async def redeem_login_link(db: AsyncSession, token: str, now: datetime) -> int | None:
    """Uses up a login token: the Telegram id it was for, or None (unknown, used, expired).

    One conditional update, so two requests with the same link cannot both get in.
    """
    result = await db.exec(
        update(PanelLoginLink)
        .where(
            col(PanelLoginLink.token_digest) == digest(token),
            col(PanelLoginLink.used_at).is_(None),
            col(PanelLoginLink.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(PanelLoginLink.telegram_id))
    )
    row = result.first()
    return None if row is None else int(row[0])


async def find_panel_session(db: AsyncSession, key: str, now: datetime) -> PanelSession | None:
    """The open session with this cookie key; None when unknown or expired."""
    found = await db.get(PanelSession, digest(key))
    if found is None or found.expires_at <= now:
        return None
    return found


async def save_panel_session(
    db: AsyncSession, key: str, telegram_id: int, data: dict[str, Any], now: datetime
) -> None:
    """Stores a session's data; a new one lives SESSION_LIFETIME from now."""
    found = await db.get(PanelSession, digest(key))
    if found is None:
        found = PanelSession(
            key_digest=digest(key),
            telegram_id=telegram_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    found.data = data
    db.add(found)
    await db.flush()


async def end_panel_session(db: AsyncSession, key: str) -> None:
    """Logs out: the session is gone for every panel process."""
    await db.exec(delete(PanelSession).where(col(PanelSession.key_digest) == digest(key)))


async def end_sessions_of(db: AsyncSession, telegram_id: int) -> int:
    """Ends every panel session of one person (who is no longer staff)."""
    result = await db.exec(
        delete(PanelSession).where(col(PanelSession.telegram_id) == telegram_id)
    )
    return int(result.rowcount or 0)


async def forget_expired(db: AsyncSession, now: datetime) -> int:
    """Deletes expired sessions and login links."""
    sessions = await db.exec(delete(PanelSession).where(col(PanelSession.expires_at) <= now))
    links = await db.exec(delete(PanelLoginLink).where(col(PanelLoginLink.expires_at) <= now))
    return int(sessions.rowcount or 0) + int(links.rowcount or 0)
