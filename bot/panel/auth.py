"""Who is at the panel: login links and the Telegram Login Widget, sessions kept in the
database (aiohttp-session with a database storage), CSRF tokens and roles per route."""

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, SessionData, get_session, new_session
from itsdangerous import BadSignature, Signer

from bot.app import App
from bot.config import Settings
from handlers.core.texts import LOCALES, Texts
from models.applicants import find_applicant
from models.panel import (
    SESSION_LIFETIME,
    end_panel_session,
    find_panel_session,
    redeem_login_link,
    save_panel_session,
)
from models.staff import REFUSED, Role, audit, may, role_of

logger = logging.getLogger(__name__)

COOKIE = "panel"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
WIDGET_FRESHNESS = timedelta(minutes=10)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PUBLIC = ("/login", "/static/", "/healthz")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
APP_KEY = web.AppKey("app", App)
SETTINGS_KEY = web.AppKey("settings", Settings)


@dataclass(frozen=True)
class Staff:
    """The staff member behind one request, with the role they have now."""

    telegram_id: int
    role: Role
    locale: str
    csrf: str
    texts: Texts

    @property
    def actor(self) -> str:
        """As the audit trail names them: the same as in the chat."""
        return f"telegram:{self.telegram_id}"

    def may(self, needed: Role) -> bool:
        return may(self.role, needed)


def staff_of(request: web.Request) -> Staff:
    """The logged-in staff member (every page but the login pages has one)."""
    staff: Staff = request["staff"]
    return staff


def secure_cookies(panel_url: str) -> bool:
    """Secure cookies everywhere but on this machine's loopback address."""
    return (urlsplit(panel_url).hostname or "") not in LOOPBACK


class DatabaseStorage(AbstractStorage):
    """Panel sessions in the database, so that every panel process sees a logout or a
    removal at once. The cookie holds a random key signed with PANEL_SECRET; the database
    holds only its digest."""

    def __init__(self, app: App, secret: str, secure: bool) -> None:
        super().__init__(
            cookie_name=COOKIE,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            httponly=True,
            samesite="Lax",
            secure=secure,
        )
        self._app = app
        self._signer = Signer(secret, salt="panel-session")

    def load_cookie(self, request: web.Request) -> str | None:
        signed = super().load_cookie(request)
        if not signed:
            return None
        try:
            return self._signer.unsign(signed).decode()
        except BadSignature:
            return None

    def save_cookie(
        self, response: web.StreamResponse, cookie_data: str, *, max_age: int | None = None
    ) -> None:
        signed = self._signer.sign(cookie_data).decode() if cookie_data else ""
        super().save_cookie(response, signed, max_age=max_age)

    async def load_session(self, request: web.Request) -> Session:
        key = self.load_cookie(request)
        if key is not None:
            async with self._app.conversation.sessions() as db:
                found = await find_panel_session(db, key, self._now())
            if found is not None:
                created = int(found.created_at.timestamp())
                data: SessionData = {"created": created, "session": found.data}
                return Session(key, data=data, new=False, max_age=self.max_age)
        return Session(None, data=None, new=True, max_age=self.max_age)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        key = session.identity
        async with self._app.conversation.sessions() as db, db.begin():
            if session.empty:
                if key is not None:
                    await end_panel_session(db, str(key))
                self.save_cookie(response, "", max_age=0)
                return
            if key is None:
                key = secrets.token_urlsafe(32)
            await save_panel_session(
                db, str(key), int(session["staff"]), dict(session), self._now()
            )
        self.save_cookie(response, str(key), max_age=session.max_age)

    def _now(self) -> datetime:
        return self._app.conversation.services.now()


@web.middleware
async def staff_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but the login pages: a staff member now, and a CSRF token on every POST."""
    if request.path.startswith(PUBLIC):
        return await handler(request)
    session = await get_session(request)
    app = request.app[APP_KEY]
    telegram_id = session.get("staff")
    role = None
    if isinstance(telegram_id, int):
        async with app.conversation.sessions() as db:
            role = await role_of(db, telegram_id, app.conversation.services.owner_ids)
    if role is None or telegram_id is None:
        if not session.new:
            session.invalidate()  # removed from staff: the session ends here
        raise web.HTTPSeeOther("/login")
    if request.method not in ("GET", "HEAD") and not await _csrf_ok(request, session):
        raise web.HTTPForbidden(text="CSRF token missing or wrong")
    locale = str(session.get("locale", "en"))
    request["staff"] = Staff(
        telegram_id=telegram_id,
        role=role,
        locale=locale,
        csrf=str(session.get("csrf", "")),
        texts=app.conversation.services.texts(locale),
    )
    return await handler(request)


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    expected = session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.post()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return bool(expected) and given is not None and hmac.compare_digest(given, str(expected))


def needs(role: Role) -> Callable[[Handler], Handler]:
    """Lets only staff of at least `role` use a route; others get 403, and it is audited."""

    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            staff = staff_of(request)
            if not staff.may(role):
                app = request.app[APP_KEY]
                async with app.conversation.sessions() as db, db.begin():
                    await audit(db, staff.actor, REFUSED, f"panel:{request.method}", needs=role)
                _ = staff.texts
                raise web.HTTPForbidden(text=_("Your role does not allow this."))
            return await handler(request)

        checked.__doc__ = handler.__doc__
        return checked

    return wrap


def widget_login_id(fields: Mapping[str, str], bot_token: str, now: datetime) -> int | None:
    """The Telegram id the Login Widget vouches for, or None when the data is not genuine.

    As Telegram documents it: the fields but `hash`, sorted, as `key=value` lines; their
    HMAC-SHA256 with the SHA-256 of the bot token as the key must equal `hash`; and
    `auth_date` must be recent.
    """
    given = fields.get("hash", "")
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")
    secret = hashlib.sha256(bot_token.encode()).digest()
    wanted = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    if not given or not hmac.compare_digest(given, wanted):
        return None
    try:
        signed_at = int(fields["auth_date"])
        telegram_id = int(fields["id"])
    except (KeyError, ValueError):
        return None
    if not 0 <= now.timestamp() - signed_at <= WIDGET_FRESHNESS.total_seconds():
        return None
    return telegram_id


async def log_in(request: web.Request, telegram_id: int, how: str) -> bool:
    """Opens a fresh session for a staff member (never one reused from before) and goes to
    the dashboard; False when they are not staff."""
    app = request.app[APP_KEY]
    services = app.conversation.services
    async with app.conversation.sessions() as db, db.begin():
        if await role_of(db, telegram_id, services.owner_ids) is None:
            return False
        person = await find_applicant(db, telegram_id)
        await audit(db, f"telegram:{telegram_id}", "panel_login", how=how)
    locale = person.locale if person and person.locale in LOCALES else services.staff_locale
    session = await new_session(request)
    session["staff"] = telegram_id
    session["locale"] = locale
    session["csrf"] = secrets.token_urlsafe(32)
    raise web.HTTPSeeOther("/")


async def redeem(request: web.Request, token: str) -> int | None:
    """The Telegram id a login link was for, using it up; None when it cannot be used."""
    app = request.app[APP_KEY]
    async with app.conversation.sessions() as db, db.begin():
        return await redeem_login_link(db, token, app.conversation.services.now())


def fields_of(form: Mapping[str, Any]) -> dict[str, str]:
    """The Login Widget's fields from a posted form."""
    names = ("id", "first_name", "last_name", "username", "photo_url", "auth_date", "hash")
    return {name: str(form[name]) for name in names if name in form}
