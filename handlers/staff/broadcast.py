"""Broadcast: an admin writes a message, chooses who gets it, previews it, and sends it.

The wizard: the text (one for everyone, or one per language; Telegram's own formatting,
optionally on a photo or document), the audience, the number of recipients and a preview
exactly as they will see it, now or at a chosen time, and a confirmation. A text
Telegram would refuse is refused here, with the reason, before anyone gets it. While it
sends, the admin's progress message is edited every few seconds, with a Stop button.
"""

from dataclasses import dataclass
from datetime import datetime
from html import escape
from html.parser import HTMLParser
from typing import Any, Literal, NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.applicant.describe import exam_name
from handlers.core.buttons import ButtonData
from handlers.core.content import to_content
from handlers.core.context import Context
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
from handlers.core.letters import post_to_chat
from handlers.core.routing import Journey, requires
from handlers.core.services import Services
from handlers.core.texts import LANGUAGE_NAMES, LOCALES, Texts
from models.broadcasts import (
    Broadcast,
    BroadcastStatus,
    active_broadcasts,
    audience_by_language,
    broadcast_counts,
    create_broadcast,
    progress_key,
    progress_post,
    recent_rate,
    stop_broadcast,
)
from models.sessions import exams_open_for_booking, list_sessions
from models.staff import Role, audit

journey = Journey(
    "broadcast", gate=requires(Role.ADMIN, lambda _: _("Only admins can send broadcasts."))
)

CAPTION_MAX_LENGTH = 1024
TEXT_STEP, WHEN_STEP = "bc:text", "bc:when"
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "span", "tg-spoiler", "blockquote", "tg-emoji",
}  # fmt: skip
PROGRESS_BAR = 20


@dataclass(frozen=True)
class PerLanguage(ButtonData, prefix="bc:perlang"):
    pass


@dataclass(frozen=True)
class SkipLanguage(ButtonData, prefix="bc:skip"):
    """This language gets the default language's text."""

    locale: str


@dataclass(frozen=True)
class CancelBroadcast(ButtonData, prefix="bc:cancel"):
    pass


@dataclass(frozen=True)
class PickGroup(ButtonData, prefix="bc:pick"):
    group: Literal["exam", "session", "lang"]


@dataclass(frozen=True)
class PickAudience(ButtonData, prefix="bc:aud"):
    audience: str  # "all", "waitlisted", "exam:<id>", "session:<id>", "lang:<locale>"


@dataclass(frozen=True)
class SendNow(ButtonData, prefix="bc:now"):
    pass


@dataclass(frozen=True)
class SendLater(ButtonData, prefix="bc:at"):
    pass


@dataclass(frozen=True)
class ConfirmBroadcast(ButtonData, prefix="bc:confirm"):
    pass


@dataclass(frozen=True)
class ConfirmUrgentBroadcast(ButtonData, prefix="bc:urgent"):
    """Sends at the time chosen even in quiet hours."""


@dataclass(frozen=True)
class StopBroadcast(ButtonData, prefix="bc:stop"):
    broadcast_id: int


# --- 1. The message -------------------------------------------------------------------------


@journey.command("broadcast")
async def begin(ctx: Context) -> None:
    """Asks for the message (admins only)."""
    await ctx.go_to(TEXT_STEP, texts={}, skipped=[], media=None, per_language=False)
    ctx.say(
        ctx._(
            "📣 <b>New broadcast</b>\n\nSend the message for everyone, with Telegram's own "
            "formatting, as text or as the caption of a photo or document. Or write one "
            "text per language."
        ),
        InlineKeyboard.of(
            [PerLanguage().button(ctx._("🌐 One text per language"))],
            [_cancel_button(ctx)],
        ),
    )


@journey.button(PerLanguage)
async def one_text_per_language(ctx: Context, _: PerLanguage) -> None:
    """Asks for the text language by language, before any text was sent."""
    if not _in_wizard(ctx) or ctx.data["texts"]:
        ctx.out_of_date()
        return
    await ctx.go_to(TEXT_STEP, per_language=True)
    _ask_for_next_language(ctx, {}, [])


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
    skipped = list(ctx.data.get("skipped", []))
    next_language = _next_language(ctx, texts, skipped)
    texts[next_language if ctx.data["per_language"] else "all"] = html
    media = ctx.data["media"]
    if ctx.event.kind is Kind.MEDIA:
        media = {"kind": ctx.event.content, "file_id": ctx.event.file_id}
    await ctx.go_to(TEXT_STEP, texts=texts, media=media)
    if ctx.data["per_language"] and _next_language(ctx, texts, skipped):
        _ask_for_next_language(ctx, texts, skipped)
        return
    await choose_audience(ctx)


@journey.button(SkipLanguage)
async def skip_language(ctx: Context, pressed: SkipLanguage) -> None:
    """No text in this language: its readers get the default language's text."""
    texts, skipped = ctx.data.get("texts") or {}, list(ctx.data.get("skipped", []))
    if (
        not _in_wizard(ctx)
        or not ctx.data.get("per_language")
        or pressed.locale != _next_language(ctx, texts, skipped)
        or pressed.locale == ctx.services.default_locale
    ):
        ctx.out_of_date()
        return
    skipped.append(pressed.locale)
    await ctx.go_to(TEXT_STEP, skipped=skipped)
    if _next_language(ctx, texts, skipped):
        _ask_for_next_language(ctx, texts, skipped)
        return
    await choose_audience(ctx)


def _next_language(ctx: Context, texts: dict[str, str], skipped: list[str]) -> str:
    """The next language to ask a text for, the default first; "" when all are given."""
    default = ctx.services.default_locale
    order = [default, *(locale for locale in LOCALES if locale != default)]
    return next((loc for loc in order if loc not in texts and loc not in skipped), "")


def _ask_for_next_language(ctx: Context, texts: dict[str, str], skipped: list[str]) -> None:
    locale = _next_language(ctx, texts, skipped)
    prompt = ctx._("Send the text in {language}.").format(language=LANGUAGE_NAMES[locale])
    if locale == ctx.services.default_locale:
        ctx.say(prompt, InlineKeyboard.of([_cancel_button(ctx)]))
        return
    skip = ctx._("⏭ Skip: {language} readers get the {default} text").format(
        language=LANGUAGE_NAMES[locale], default=LANGUAGE_NAMES[ctx.services.default_locale]
    )
    ctx.say(
        prompt,
        InlineKeyboard.of([SkipLanguage(locale).button(skip)], [_cancel_button(ctx)]),
    )


# --- 2. Who gets it -------------------------------------------------------------------------


async def choose_audience(ctx: Context) -> None:
    ctx.say(
        ctx._("👥 Who should get it?"),
        InlineKeyboard.of(
            [PickAudience("all").button(ctx._("Everyone"))],
            [PickGroup("exam").button(ctx._("Registered for a test"))],
            [PickGroup("session").button(ctx._("Registered for a session"))],
            [PickAudience("waitlisted").button(ctx._("On a waitlist"))],
            [PickGroup("lang").button(ctx._("By language"))],
            [_cancel_button(ctx)],
        ),
    )


@journey.button(PickGroup)
async def pick_group(ctx: Context, pressed: PickGroup) -> None:
    """The exams, sessions or languages to choose from."""
    if not _in_wizard(ctx) or not _texts_done(ctx):
        ctx.out_of_date()
        return
    now = ctx.now
    if pressed.group == "exam":
        rows = [[PickAudience(f"exam:{e.id}").button(exam_name(e, ctx.locale))]
                for e in await exams_open_for_booking(ctx.db, now)]  # fmt: skip
    elif pressed.group == "session":
        rows = [
            [PickAudience(f"session:{s.id}").button(
                f"#{s.id} {s.exam_id} {ctx.texts.brief_moment(s.starts_at)}")]
            for s in await list_sessions(ctx.db)
            if s.starts_at > now
        ][:30]  # fmt: skip
    else:
        rows = [[PickAudience(f"lang:{loc}").button(LANGUAGE_NAMES[loc])] for loc in LOCALES]
    ctx.show(ctx._("👥 Who should get it?"), InlineKeyboard.of(*rows, [_cancel_button(ctx)]))


@journey.button(PickAudience)
async def pick_audience(ctx: Context, pressed: PickAudience) -> None:
    """The group chosen: the preview for it."""
    if not _in_wizard(ctx) or not _texts_done(ctx):
        ctx.out_of_date()
        return
    try:
        await preview(ctx, pressed.audience)
    except ValueError:
        ctx.out_of_date()


# --- 3. Preview, time, confirmation --------------------------------------------------------


async def preview(ctx: Context, audience: str) -> None:
    """The number of recipients and the message exactly as they will see it."""
    default = ctx.services.default_locale
    by_language = await audience_by_language(ctx.db, audience, default)
    count = sum(by_language.values())
    await ctx.go_to(TEXT_STEP, audience=audience, count=count, send_at=None)
    if count == 0:
        ctx.show(ctx._("Nobody is in this group. Choose another."))
        await choose_audience(ctx)
        return
    for locale, html in ctx.data["texts"].items():
        if locale != "all":
            ctx.say(ctx._("Preview in {language}:").format(language=LANGUAGE_NAMES[locale]))
        ctx.actions.extend(_message(html, ctx.data["media"]))
    for locale in ctx.data.get("skipped", []):
        ctx.say(
            ctx._("{language}: skipped; its readers get the {default} text above.").format(
                language=LANGUAGE_NAMES[locale], default=LANGUAGE_NAMES[default]
            )
        )
    people = [
        ctx.texts.plural("{language}: {count} person", "{language}: {count} people", n).format(
            language=LANGUAGE_NAMES.get(locale, locale), count=ctx.texts.number(n)
        )
        for locale, n in sorted(by_language.items(), key=lambda item: -item[1])
    ]
    ctx.say(
        ctx.texts.plural(
            "This goes to <b>{count}</b> person ({languages}). Send it now, or at a time?",
            "This goes to <b>{count}</b> people ({languages}). Send it now, or at a time?",
            count,
        ).format(count=ctx.texts.number(count), languages=" · ".join(people)),
        InlineKeyboard.of(
            [SendNow().button(ctx._("▶️ Send now"))],
            [SendLater().button(ctx._("🕘 At a time…"))],
            [_cancel_button(ctx)],
        ),
    )


@journey.button(SendNow)
async def send_now(ctx: Context, _: SendNow) -> None:
    """Asks to confirm sending at once."""
    if not _previewed(ctx):
        ctx.out_of_date()
        return
    await ask_to_confirm(ctx)


@journey.button(SendLater)
async def send_later(ctx: Context, _: SendLater) -> None:
    """Asks for the time to send it."""
    if not _previewed(ctx):
        ctx.out_of_date()
        return
    await ctx.go_to(WHEN_STEP)
    ctx.say(ctx._("When? Write the Phnom Penh time, for example 2027-10-01 08:00."))


@journey.step(WHEN_STEP)
async def take_time(ctx: Context) -> None:
    """A local time in the future, written 2027-10-01 08:00."""
    try:
        local = datetime.strptime(ctx.event.text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        ctx.say(ctx._("Please write the time as 2027-10-01 08:00 (Phnom Penh time)."))
        return
    send_at = local.replace(tzinfo=ctx.texts.zone)
    if send_at <= ctx.now:
        ctx.say(ctx._("That time has passed. Please write a time in the future."))
        return
    await ctx.go_to(TEXT_STEP, send_at=send_at.isoformat())
    await ask_to_confirm(ctx)


async def ask_to_confirm(ctx: Context) -> None:
    """Asks to confirm; in quiet hours, says when it will really go and offers urgency."""
    when = ctx.data.get("send_at")
    send_at = datetime.fromisoformat(when) if when else ctx.now
    moment = ctx.texts.moment(send_at) if when else ctx._("now")
    text = ctx.texts.plural(
        "Send this broadcast to <b>{count}</b> person, {when}?",
        "Send this broadcast to <b>{count}</b> people, {when}?",
        ctx.data["count"],
    ).format(count=ctx.texts.number(ctx.data["count"]), when=moment)
    rows = [[ConfirmBroadcast().button(ctx._("✅ Confirm and send"))]]
    quiet = ctx.services.quiet
    if quiet is not None and quiet.contains(send_at):
        text += "\n\n" + ctx._(
            "🌙 That is in quiet hours ({start}–{end}), so it will go out at {moment}. "
            "Send it anyway only if it is urgent."
        ).format(
            start=quiet.start.strftime("%H:%M"),
            end=quiet.end.strftime("%H:%M"),
            moment=ctx.texts.moment(quiet.next_daytime(send_at)),
        )
        urgent = (
            ctx._("🚨 Send at my time (urgent)") if when else ctx._("🚨 Send now anyway (urgent)")
        )
        at_morning = ctx._("✅ Send at {time}").format(time=quiet.end.strftime("%H:%M"))
        rows = [
            [ConfirmBroadcast().button(at_morning)],
            [ConfirmUrgentBroadcast().button(urgent)],
        ]
    ctx.say(text, InlineKeyboard.of(*rows, [_cancel_button(ctx)]))


@journey.button(ConfirmBroadcast)
async def confirm(ctx: Context, _: ConfirmBroadcast) -> None:
    """Queues one message per recipient, and the progress message with its Stop button."""
    await _queue(ctx, urgent=False)


@journey.button(ConfirmUrgentBroadcast)
async def confirm_urgent(ctx: Context, _: ConfirmUrgentBroadcast) -> None:
    """The same, at the time chosen even in quiet hours."""
    await _queue(ctx, urgent=True)


async def _queue(ctx: Context, urgent: bool) -> None:
    if not _previewed(ctx):
        ctx.out_of_date()
        return
    data = dict(ctx.data)
    await ctx.finish()  # a second press of Confirm finds no wizard, and sends nothing
    now = ctx.now
    send_at = datetime.fromisoformat(data["send_at"]) if data.get("send_at") else now
    broadcast = Broadcast(
        author_id=ctx.event.user_id,
        author_locale=ctx.locale,
        texts=data["texts"],
        media=data["media"],
        audience=data["audience"],
        send_at=send_at,
    )
    queued = await queue_broadcast(ctx.db, ctx.services, broadcast, ctx.actor, urgent)
    assert broadcast.id is not None
    await post_to_chat(
        ctx.db,
        ctx.event.chat_id,
        progress_key(broadcast.id),
        [SendText(*progress_report(ctx.texts, broadcast, {"pending": queued}, 0.0))],
    )
    ctx.show(ctx._("📣 Broadcast #{id} is queued for {count} people.").format(
        id=broadcast.id, count=ctx.texts.number(queued)))  # fmt: skip


@journey.button(CancelBroadcast)
async def cancel(ctx: Context, _: CancelBroadcast) -> None:
    """Leaves the wizard at any point; nothing is sent."""
    await cancel_broadcast_wizard(ctx)


@journey.cancel_on_step(TEXT_STEP, WHEN_STEP)
async def cancel_broadcast_wizard(ctx: Context) -> None:
    """Leaves the wizard (its ✖ button, or /cancel); nothing is sent."""
    await ctx.finish()
    ctx.show(ctx._("The broadcast was cancelled. Nothing was sent."))


def _cancel_button(ctx: Context) -> Button:
    return CancelBroadcast().button(ctx._("✖ Cancel"))


def _in_wizard(ctx: Context) -> bool:
    """Whether the admin is writing a broadcast: its buttons are valid only then."""
    return ctx.step == TEXT_STEP and ctx.data.get("texts") is not None


def _previewed(ctx: Context) -> bool:
    return _in_wizard(ctx) and "count" in ctx.data


def _texts_done(ctx: Context) -> bool:
    texts = ctx.data.get("texts") or {}
    skipped = ctx.data.get("skipped") or []
    return bool(texts) and (
        not ctx.data.get("per_language") or not _next_language(ctx, texts, skipped)
    )


# --- 4. While it sends ------------------------------------------------------------------------


@journey.button(StopBroadcast)
async def stop(ctx: Context, pressed: StopBroadcast) -> None:
    """Cancels whatever of the broadcast is not sent yet."""
    broadcast_id = pressed.broadcast_id
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
    assert broadcast.id is not None
    keyboard = (
        InlineKeyboard.of([StopBroadcast(broadcast.id).button(_("⏹ Stop"))])
        if left and broadcast.status == BroadcastStatus.SENDING
        else None
    )
    return Progress(text, keyboard)


# --- Shared pieces ----------------------------------------------------------------------------


async def queue_broadcast(
    db: AsyncSession, services: Services, broadcast: Broadcast, actor: str, urgent: bool
) -> int:
    """Saves the broadcast and queues one message per recipient in their language (from the
    chat wizard or the web panel), audited; how many it queued."""
    contents = {
        locale: to_content(_message(html, broadcast.media))
        for locale, html in broadcast.texts.items()
    }
    return await create_broadcast(db, broadcast, contents, services.default_locale, actor, urgent)


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
