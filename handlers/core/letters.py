"""Messages to other people than the one who acted: rendered now, queued in the outbox.

The text is rendered in the recipient's language at the moment of the change, and
stored as plain JSON, so the sender needs no handler code to send it later.
"""

from collections.abc import Callable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.core.content import to_content
from handlers.core.events import Outgoing
from handlers.core.services import Services
from handlers.core.texts import Texts
from models.applicants import Applicant
from models.outbox import enqueue

Compose = Callable[[Texts], list[Outgoing]]


async def tell(
    db: AsyncSession,
    services: Services,
    recipient: Applicant,
    dedupe_key: str,
    compose: Compose,
    *,
    send_after: datetime | None = None,
    registration_id: int | None = None,
    urgent: bool = True,
    revive: bool = False,
) -> int:
    """Queues a message for `recipient` in their language; returns how many rows were new.

    Each action becomes a row of its own ("key", or "key:1", "key:2"... for the rest),
    so a failure half-way never sends the first part twice. A non-urgent message that
    falls in quiet hours waits for the morning.
    """
    texts = services.texts(recipient.locale or services.default_locale)
    send_after = send_after or services.now()
    if not urgent and services.quiet is not None:
        send_after = services.quiet.next_daytime(send_after)
    queued = 0
    for number, action in enumerate(compose(texts)):
        queued += await enqueue(
            db,
            chat_id=recipient.chat_id,
            applicant_id=recipient.id,
            content=to_content([action]),
            dedupe_key=dedupe_key if number == 0 else f"{dedupe_key}:{number}",
            send_after=send_after,
            registration_id=registration_id,
            urgent=urgent,
            revive=revive,
        )
    return queued


async def post_to_chat(
    db: AsyncSession, chat_id: int, dedupe_key: str, actions: list[Outgoing]
) -> bool:
    """Queues a message for a chat that is not an applicant's (the staff group)."""
    return await enqueue(
        db, chat_id=chat_id, applicant_id=None, content=to_content(actions), dedupe_key=dedupe_key
    )
