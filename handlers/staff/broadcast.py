"""Broadcast: an admin writes a message, chooses who gets it, previews it, and sends it.

The wizard: the text (one for everyone, or one per language; Telegram's own formatting,
optionally on a photo or document), the audience, the number of recipients and a preview
exactly as they will see it, now or at a chosen time, and a confirmation. A text
Telegram would refuse is refused here, with the reason, before anyone gets it. While it
sends, the admin's progress message is edited every few seconds, with a Stop button.
"""

from datetime import datetime
from html import escape
from html.parser import HTMLParser
from typing import Any, NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.applicant.describe import exam_name
from handlers.core.context import Context, Services
from handlers.core.events import (
    TEXT_MAX_LENGTH,
    Button,
    EditText,
    InlineKeyboard,
    Kind,
    Outgoing,
    SendMedia,
    SendText,
)
from handlers.core.letters import post_to_chat, to_content
from handlers.core.routing import Journey
from handlers.core.texts import LANGUAGE_NAMES, LOCALES, Texts
from handlers.staff.office import is_staff, note_refusal
from models.broadcasts import (
    Broadcast,
    BroadcastStatus,
    active_broadcasts,
    broadcast_counts,
    count_audience,
    create_broadcast,
    progress_key,
    progress_post,
    recent_rate,
    stop_broadcast,
)
from models.sessions import exams_open_for_booking, list_sessions
from models.staff import Role, audit, may

journey = Journey("broadcast", gate=is_staff, refused=note_refusal)

CAPTION_MAX_LENGTH = 1024
TEXT_STEP, WHEN_STEP = "bc:text", "bc:when"
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "span", "tg-spoiler", "blockquote", "tg-emoji",
}  # fmt: skip
PROGRESS_BAR = 20


# --- 1. The message -------------------------------------------------------------------------


@journey.command("broadcast")
async def begin(ctx: Context) -> None:
    """Asks for the message (admins only)."""
    if not may(await ctx.staff_role(), Role.ADMIN):
        ctx.say(ctx._("Only admins can send broadcasts."))
        return
    await ctx.go_to(TEXT_STEP, texts={}, media=None, per_language=False)
    ctx.say(
        ctx._(
            "📣 <b>New broadcast</b>\n\nSend the message for everyone, with Telegram's own "
            "formatting, as text or as the caption of a photo or document. Or write one "
            "text per language."
        ),
        InlineKeyboard.of(
            [Button(ctx._("🌐 One text per language"), "bc:perlang")],
            [Button(ctx._("✖ Cancel"), "bc:cancel")],
        ),
    )


@journey.step(TEXT_STEP)
async def take_text(ctx: Context) -> None:
    """Keeps the text (checked as Telegram would check it), then asks for the next one."""
    if ctx.event.kind not in (Kind.TEXT, Kind.MEDIA):
        ctx.say(
            ctx._("Please send the message as text, or as a photo or document with a caption.")
        )
        return
    html = ctx.event.html or escape(ctx.event.text, quote=False)
    limit = CAPTION_MAX_LENGTH if ctx.event.kind is Kind.MEDIA else TEXT_MAX_LENGTH
    problem = telegram_text_problem(ctx.texts, html, limit)
    if problem:
        ctx.say(problem)
        return
    texts = dict(ctx.data["texts"])
    missing = [locale for locale in LOCALES if locale not in texts]
    texts[missing[0] if ctx.data["per_language"] else "all"] = html
    media = ctx.data["media"]
    if ctx.event.kind is Kind.MEDIA:
        media = {"kind": ctx.event.content, "file_id": ctx.event.file_id}
    await ctx.go_to(TEXT_STEP, texts=texts, media=media)
    if ctx.data["per_language"] and len(texts) < len(LOCALES):
        _ask_for_language(ctx, LOCALES[len(texts)])
        return
    await choose_audience(ctx)


def _ask_for_language(ctx: Context, locale: str) -> None:
    ctx.say(ctx._("Send the text in {language}.").format(language=LANGUAGE_NAMES[locale]))


# --- 2. Who gets it -------------------------------------------------------------------------


async def choose_audience(ctx: Context) -> None:
    ctx.say(
        ctx._("👥 Who should get it?"),
        InlineKeyboard.of(
            [Button(ctx._("Everyone"), "bc:aud:all")],
            [Button(ctx._("Registered for a test"), "bc:pick:exam")],
            [Button(ctx._("Registered for a session"), "bc:pick:session")],
            [Button(ctx._("On a waitlist"), "bc:aud:waitlisted")],
            [Button(ctx._("By language"), "bc:pick:lang")],
            [Button(ctx._("✖ Cancel"), "bc:cancel")],
        ),
    )


async def pick_group(ctx: Context, what: str) -> None:
    """The exams, sessions or languages to choose from."""
    now = ctx.services.now()
    if what == "exam":
        rows = [[Button(exam_name(e, ctx.locale), f"bc:aud:exam:{e.id}")]
                for e in await exams_open_for_booking(ctx.db, now)]  # fmt: skip
    elif what == "session":
        rows = [
            [Button(f"#{s.id} {s.exam_id} {ctx.texts.brief_moment(s.starts_at)}",
                    f"bc:aud:session:{s.id}")]
            for s in await list_sessions(ctx.db)
            if s.starts_at > now
        ][:30]  # fmt: skip
    else:
        rows = [[Button(LANGUAGE_NAMES[loc], f"bc:aud:lang:{loc}")] for loc in LOCALES]
    ctx.show(
        ctx._("👥 Who should get it?"),
        InlineKeyboard.of(*rows, [Button(ctx._("✖ Cancel"), "bc:cancel")]),
    )


# --- 3. Preview, time, confirmation --------------------------------------------------------


async def preview(ctx: Context, audience: str) -> None:
    """The number of recipients and the message exactly as they will see it."""
    count = await count_audience(ctx.db, audience, ctx.services.default_locale)
    await ctx.go_to(TEXT_STEP, audience=audience, count=count, send_at=None)
    if count == 0:
        ctx.show(ctx._("Nobody is in this group. Choose another."))
        await choose_audience(ctx)
        return
    for locale, html in ctx.data["texts"].items():
        if locale != "all":
            ctx.say(ctx._("Preview in {language}:").format(language=LANGUAGE_NAMES[locale]))
        ctx.actions.extend(_message(html, ctx.data["media"]))
    ctx.say(
        ctx._("This goes to <b>{count}</b> people. Send it now, or at a time?").format(
            count=ctx.texts.number(count)
        ),
        InlineKeyboard.of(
            [Button(ctx._("▶️ Send now"), "bc:now")],
            [Button(ctx._("🕘 At a time…"), "bc:at")],
            [Button(ctx._("✖ Cancel"), "bc:cancel")],
        ),
    )


@journey.step(WHEN_STEP)
async def take_time(ctx: Context) -> None:
    """A local time in the future, written 2027-10-01 08:00."""
    try:
        local = datetime.strptime(ctx.event.text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        ctx.say(ctx._("Please write the time as 2027-10-01 08:00 (Phnom Penh time)."))
        return
    send_at = local.replace(tzinfo=ctx.texts.zone)
    if send_at <= ctx.services.now():
        ctx.say(ctx._("That time has passed. Please write a time in the future."))
        return
    await ctx.go_to(TEXT_STEP, send_at=send_at.isoformat())
    await ask_to_confirm(ctx)


async def ask_to_confirm(ctx: Context) -> None:
    when = ctx.data.get("send_at")
    moment = ctx.texts.moment(datetime.fromisoformat(when)) if when else ctx._("now")
    ctx.say(
        ctx._("Send this broadcast to <b>{count}</b> people, {when}?").format(
            count=ctx.texts.number(ctx.data["count"]), when=moment
        ),
        InlineKeyboard.of(
            [Button(ctx._("✅ Confirm and send"), "bc:confirm")],
            [Button(ctx._("✖ Cancel"), "bc:cancel")],
        ),
    )


async def confirm(ctx: Context) -> None:
    """Queues one message per recipient, and the progress message with its Stop button."""
    data = dict(ctx.data)
    await ctx.finish()  # a second press of Confirm finds no wizard, and sends nothing
    now = ctx.services.now()
    send_at = datetime.fromisoformat(data["send_at"]) if data.get("send_at") else now
    broadcast = Broadcast(
        author_id=ctx.event.user_id,
        author_locale=ctx.locale,
        texts=data["texts"],
        media=data["media"],
        audience=data["audience"],
        send_at=send_at,
    )
    contents = {
        locale: to_content(_message(html, data["media"])) for locale, html in data["texts"].items()
    }
    queued = await create_broadcast(
        ctx.db, broadcast, contents, ctx.services.default_locale, ctx.actor
    )
    assert broadcast.id is not None
    await post_to_chat(
        ctx.db,
        ctx.event.chat_id,
        progress_key(broadcast.id),
        [SendText(*progress_report(ctx.texts, broadcast, {"pending": queued}, 0.0))],
    )
    ctx.show(ctx._("📣 Broadcast #{id} is queued for {count} people.").format(
        id=broadcast.id, count=ctx.texts.number(queued)))  # fmt: skip


@journey.button("bc")
async def wizard_button(ctx: Context) -> None:
    """Every button of the broadcast wizard, each valid only where it belongs."""
    if not may(await ctx.staff_role(), Role.ADMIN):
        ctx.notify(ctx._("Only admins can send broadcasts."))
        return
    _, action, *rest = ctx.event.button_data.split(":")
    in_wizard = ctx.step == TEXT_STEP and bool(ctx.data.get("texts") is not None)
    if action == "stop" and rest and rest[0].isdigit():
        await stop(ctx, int(rest[0]))
    elif action == "cancel":
        await ctx.finish()
        ctx.show(ctx._("The broadcast was cancelled. Nothing was sent."))
    elif not in_wizard:
        ctx.out_of_date()
    elif action == "perlang" and not ctx.data["texts"]:
        await ctx.go_to(TEXT_STEP, per_language=True)
        _ask_for_language(ctx, LOCALES[0])
    elif action == "pick" and rest and _texts_done(ctx):
        await pick_group(ctx, rest[0])
    elif action == "aud" and rest and _texts_done(ctx):
        audience = ":".join(rest)
        try:
            await preview(ctx, audience)
        except ValueError:
            ctx.out_of_date()
    elif action == "now" and "count" in ctx.data:
        await ask_to_confirm(ctx)
    elif action == "at" and "count" in ctx.data:
        await ctx.go_to(WHEN_STEP)
        ctx.say(ctx._("When? Write the Phnom Penh time, for example 2027-10-01 08:00."))
    elif action == "confirm" and "count" in ctx.data:
        await confirm(ctx)
    else:
        ctx.out_of_date()


def _texts_done(ctx: Context) -> bool:
    texts = ctx.data.get("texts") or {}
    return bool(texts) and (not ctx.data.get("per_language") or len(texts) == len(LOCALES))


# --- 4. While it sends ------------------------------------------------------------------------


async def stop(ctx: Context, broadcast_id: int) -> None:
    """Cancels whatever of the broadcast is not sent yet."""
    broadcast = await ctx.db.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
        ctx.notify(ctx._("This broadcast is not sending any more."))
        return
    cancelled = await stop_broadcast(ctx.db, broadcast)
    await audit(ctx.db, ctx.actor, "broadcast_stop", f"broadcast:{broadcast_id}",
                cancelled=cancelled)  # fmt: skip
    ctx.notify(ctx._("Stopped: {count} messages will not be sent.").format(count=cancelled))
    counts = await broadcast_counts(ctx.db, broadcast_id)
    ctx.show(progress_report(ctx.texts, broadcast, counts, 0.0).text)


async def report_progress(db: AsyncSession, services: Services, now: datetime) -> int:
    """The scheduled job: edits each sending broadcast's progress message; closes finished ones."""
    edited = 0
    for broadcast in await active_broadcasts(db):
        assert broadcast.id is not None
        counts = await broadcast_counts(db, broadcast.id)
        if not counts.get("pending") and not counts.get("sending"):
            broadcast.status = BroadcastStatus.DONE
            db.add(broadcast)
        post = await progress_post(db, broadcast.id)
        if post is None or post.telegram_message_id is None:
            continue
        author = services.texts(broadcast.author_locale)
        rate = await recent_rate(db, broadcast.id, now)
        update = progress_report(author, broadcast, counts, rate)
        key = "{post}:{sent}:{failed}:{skipped}:{status}".format(
            post=progress_key(broadcast.id),
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            skipped=counts.get("skipped", 0),
            status=broadcast.status,
        )
        edited += await post_to_chat(
            db,
            post.chat_id,
            key,
            [EditText(post.telegram_message_id, update.text, update.inline)],
        )
    return edited


class Progress(NamedTuple):
    text: str
    inline: InlineKeyboard | None


def progress_report(
    _: Texts, broadcast: Broadcast, counts: dict[str, int], rate: float
) -> Progress:
    """The progress message: a bar, sent/total, unreachable and failed, time left, Stop.

    The bar and the percentage round down: 100% means nothing is left to send.
    """
    total = broadcast.total or sum(counts.values())
    sent, failed = counts.get("sent", 0), counts.get("failed", 0)
    skipped = counts.get("skipped", 0)
    left = counts.get("pending", 0) + counts.get("sending", 0)
    done = total - left
    filled = PROGRESS_BAR * done // total if total else PROGRESS_BAR
    bar = "▓" * filled + "░" * (PROGRESS_BAR - filled)
    if broadcast.status == BroadcastStatus.STOPPED:
        state = _("⏹ Stopped.")
    elif left == 0:
        state = _("✅ Finished.")
    elif rate > 0:
        state = _("About {minutes} min left at the current rate.").format(
            minutes=max(1, round(left / rate / 60))
        )
    else:
        state = _("Waiting to send.")
    text = _(
        "📣 <b>Broadcast #{id}</b>\n{bar} {percent}%\nSent: {sent}/{total}\n"
        "Unreachable or skipped: {skipped} · Failed: {failed}\n{state}"
    ).format(
        id=broadcast.id,
        bar=bar,
        percent=100 * done // total if total else 100,
        sent=sent,
        total=total,
        skipped=skipped,
        failed=failed,
        state=state,
    )
    keyboard = (
        InlineKeyboard.of([Button(_("⏹ Stop"), f"bc:stop:{broadcast.id}")])
        if left and broadcast.status == BroadcastStatus.SENDING
        else None
    )
    return Progress(text, keyboard)


# --- Shared pieces ----------------------------------------------------------------------------


def _message(html: str, media: dict[str, Any] | None) -> list[Outgoing]:
    """The broadcast as a recipient gets it."""
    if media:
        return [SendMedia(media["kind"], media["file_id"], html)]
    return [SendText(html)]


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problem: str | None = None
        self.visible = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f"<{tag}>"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = self.problem or f"</{tag}>"
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.visible += len(data.encode("utf-16-le")) // 2


def telegram_text_problem(_: Texts, html: str, limit: int) -> str | None:
    """Why Telegram would refuse this HTML text, in the admin's language; None when it is fine."""
    checker = _TagChecker()
    checker.feed(html)
    checker.close()
    if checker.problem or checker.open:
        return _(
            "Telegram would refuse this formatting ({tag}). Please fix it and send again."
        ).format(tag=escape(checker.problem or f"<{checker.open[-1]}>"))
    if checker.visible == 0:
        return _("The message is empty. Please send some text.")
    if checker.visible > limit:
        return _(
            "The message is {length} characters long; Telegram allows {limit}. Please shorten it."
        ).format(length=checker.visible, limit=limit)
    return None
