"""The commands the bot knows, by who may use them: the source of /help's staff section and
of the command menus (everyone's, and each staff member's own, by role)."""

from collections.abc import Callable
from dataclasses import dataclass
from uuid import uuid4

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.content import to_content
from handlers.core.events import SetCommands
from handlers.core.services import Services
from handlers.core.texts import Texts
from models.applicants import Applicant
from models.outbox import enqueue
from models.staff import Role, add_staff, list_staff, may, remove_staff


@dataclass(frozen=True)
class Command:
    """A command, the least role that may use it (None: everyone), and what it does."""

    name: str
    role: Role | None
    describe: Callable[[Texts], str]


# The menu everyone sees, in their language.
EVERYONE = (
    Command("start", None, lambda _: _("Main menu")),
    Command("book", None, lambda _: _("Book a test seat")),
    Command("mybookings", None, lambda _: _("My registrations")),
    Command("faq", None, lambda _: _("Questions and answers")),
    Command("language", None, lambda _: _("Change the language")),
    Command("help", None, lambda _: _("What this bot can do")),
)
STAFF = (
    Command("checkin", Role.OPERATOR, lambda _: _("Check someone in by their code")),
    Command("absent", Role.OPERATOR, lambda _: _("Mark absent who did not come")),
    Command("unanswered", Role.OPERATOR, lambda _: _("Questions the bot could not answer")),
    Command("stats", Role.OPERATOR, lambda _: _("Seats, applicants and questions")),
    Command("panel", Role.OPERATOR, lambda _: _("A login link to the web panel")),
    Command("export", Role.ADMIN, lambda _: _("Sign-in sheet as CSV and XLSX")),
    Command("broadcast", Role.ADMIN, lambda _: _("Send news to applicants")),
    Command("staff", Role.OWNER, lambda _: _("Add or remove staff")),
)


def staff_commands(role: Role | None) -> list[Command]:
    """The staff commands `role` may use, none for an applicant."""
    return [command for command in STAFF if command.role is not None and may(role, command.role)]


def menu(texts: Texts, role: Role | None) -> tuple[tuple[str, str], ...]:
    """The command menu for someone of `role`: everyone's, then their staff commands."""
    return tuple((c.name, c.describe(texts)) for c in (*EVERYONE, *staff_commands(role)))


def staff_menu(services: Services, user_id: int, role: Role | None, locale: str) -> SetCommands:
    """The menu of one staff member; an empty one (everyone's) once they are not staff."""
    commands = menu(services.texts(locale), role) if role is not None else ()
    return SetCommands(user_id, commands)


async def staff_menus(
    db: AsyncSession, services: Services, only: int | None = None
) -> list[SetCommands]:
    """The menu of every staff member and owner (or of `only`, staff or not), each in the
    language they read."""
    roles: dict[int, Role | None] = {m.telegram_id: Role(m.role) for m in await list_staff(db)}
    roles |= dict.fromkeys(services.owner_ids, Role.OWNER)
    if only is not None:
        roles = {only: roles.get(only)}
    found = await db.exec(
        select(Applicant.telegram_id, Applicant.locale).where(
            col(Applicant.telegram_id).in_(list(roles))
        )
    )
    locales = {telegram_id: locale for telegram_id, locale in found.all()}
    return [
        staff_menu(services, user_id, role, locales.get(user_id) or services.default_locale)
        for user_id, role in sorted(roles.items())
    ]


async def queue_staff_menu(db: AsyncSession, services: Services, telegram_id: int) -> None:
    """Sends one person's menu through the outbox, as their role now is: for changes made
    outside their chat (the command line), which a running bot learns of no other way."""
    [changed] = await staff_menus(db, services, only=telegram_id)
    await enqueue(
        db,
        chat_id=telegram_id,
        applicant_id=None,  # a refused menu must not mark anyone unreachable
        content=to_content([changed]),
        dedupe_key=f"menu:{telegram_id}:{uuid4().hex}",
    )


async def make_staff(
    db: AsyncSession, services: Services, telegram_id: int, role: Role, actor: str
) -> None:
    """Gives someone a staff role (or another one), audited, and their menu to match: for the
    command line and the panel, whose changes reach the bot only through the outbox."""
    await add_staff(db, telegram_id, role, actor)
    await queue_staff_menu(db, services, telegram_id)


async def end_staff(db: AsyncSession, services: Services, telegram_id: int, actor: str) -> bool:
    """Takes someone's staff role away, audited, and gives them everyone's menu back."""
    removed = await remove_staff(db, telegram_id, actor)
    if removed:
        await queue_staff_menu(db, services, telegram_id)
    return removed
