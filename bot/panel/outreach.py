"""Reaching applicants from the panel: broadcasts (three languages side by side, a preview,
the audience counted per language, live progress, Stop), the questions the FAQ could not
answer (answer, attach to an entry, set aside) and the FAQ with its taught phrasings."""

import re
from datetime import datetime
from html import escape
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.panel.auth import APP_KEY, needs, staff_of
from bot.panel.sessions import in_transaction, pop_notice, tell
from handlers.core.events import TEXT_MAX_LENGTH
from handlers.core.services import Services
from handlers.core.texts import LANGUAGE_NAMES, LOCALES
from handlers.faq.teaching import Outcome, attach, set_aside
from handlers.staff.broadcast import queue_broadcast, telegram_text_problem
from handlers.staff.replies import deliver_answer
from handlers.staff.sessions import local_time
from models.broadcasts import (
    Broadcast,
    BroadcastStatus,
    audience_by_language,
    broadcast_counts,
    recent_rate,
    stop_broadcast,
)
from models.questions import (
    Resolution,
    UnansweredQuestion,
    most_asked_unanswered,
    remove_taught_phrasing,
    taught_phrasings,
)
from models.sessions import list_exams, list_sessions
from models.staff import Role, audit

# The tags Telegram's HTML allows without attributes, shown as they will look.
SIMPLE_TAGS = re.compile(r"&lt;(/?)(b|strong|i|em|u|ins|s|strike|del|code|pre)&gt;")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/broadcasts", broadcasts_page)
    router.add_get("/broadcasts/audience", audience_count)
    router.add_post("/broadcasts/preview", preview)
    router.add_post("/broadcasts", send_broadcast)
    router.add_get("/broadcasts/{id:\\d+}/progress", progress)
    router.add_post("/broadcasts/{id:\\d+}/stop", stop)
    router.add_get("/questions", questions_page)
    router.add_post("/questions/{id:\\d+}/attach", attach_question)
    router.add_post("/questions/{id:\\d+}/mark", mark_question)
    router.add_post("/questions/{id:\\d+}/answer", answer_question)
    router.add_get("/faq", faq_page)
    router.add_post("/faq/phrasings/{id:\\d+}/remove", remove_phrasing)


def telegram_preview(html: str) -> Markup:
    """The text as Telegram shows it: everything escaped, then the simple tags put back."""
    shown = SIMPLE_TAGS.sub(r"<\1\2>", escape(html, quote=True)).replace("\n", "<br>")
    return Markup(shown)


# --- Broadcasts -------------------------------------------------------------------------------


@needs(Role.ADMIN)
async def broadcasts_page(request: web.Request) -> web.Response:
    """Compose a broadcast; the ones sent, with their progress."""
    return await _broadcasts_page(request, {})


async def _broadcasts_page(request: web.Request, extra: dict[str, Any]) -> web.Response:

    async def read(db: AsyncSession, services: Services) -> dict[str, Any]:
        found = await db.exec(select(Broadcast).order_by(col(Broadcast.id).desc()).limit(20))
        return {
            "broadcasts": list(found.all()),
            "exams": list(await list_exams(db)),
            "sessions": list(await list_sessions(db)),
        }

    context = await in_transaction(request, read)
    context |= {"form": {}, "locales": LOCALES, "notice": await pop_notice(request)}
    context |= extra
    return aiohttp_jinja2.render_template("broadcasts.html", request, context)


@needs(Role.ADMIN)
async def audience_count(request: web.Request) -> web.Response:
    """How many reachable people the audience has, per language (a live part of the form)."""
    audience = request.query.get("audience", "all")

    async def count(db: AsyncSession, services: Services) -> dict[str, int] | None:
        try:
            return await audience_by_language(db, audience, services.default_locale)
        except ValueError:
            return None

    counts = await in_transaction(request, count)
    return aiohttp_jinja2.render_template(
        "audience.html", request, {"counts": counts or {}, "locales": LOCALES}
    )


@needs(Role.ADMIN)
async def preview(request: web.Request) -> web.Response:
    """The three texts as Telegram will show them, with what Telegram would refuse."""
    staff = staff_of(request)
    form = await request.post()
    texts = {locale: str(form.get(f"text_{locale}", "")).strip() for locale in LOCALES}
    problems = _problems(staff.texts, texts)
    default = request.app[APP_KEY].conversation.services.default_locale
    context = {"texts": texts, "problems": problems, "show": telegram_preview}
    context["default_language"] = LANGUAGE_NAMES[default]
    return aiohttp_jinja2.render_template("preview.html", request, context)


def _problems(_: Any, texts: dict[str, str]) -> dict[str, str]:
    found = {}
    for locale, html in texts.items():
        if html and (problem := telegram_text_problem(_, html, TEXT_MAX_LENGTH)):
            found[locale] = problem
    return found


@needs(Role.ADMIN)
async def send_broadcast(request: web.Request) -> web.StreamResponse:
    """Queues the broadcast now or at a time; a language left empty gets the default one's."""
    staff = staff_of(request)
    _ = staff.texts
    form = {key: str(value) for key, value in (await request.post()).items()}
    texts = {locale: form.get(f"text_{locale}", "").strip() for locale in LOCALES}
    texts = {locale: html for locale, html in texts.items() if html}
    problems = list(_problems(_, texts).values())
    send_at: datetime | None = None
    if form.get("when") == "later":
        try:
            send_at = local_time(form.get("send_at", "").replace("T", " "), staff.texts.zone)
        except ValueError:
            problems.append(_("Write the date and time to send it, e.g. 2027-10-01 08:00."))
    audience = form.get("audience", "all")

    async def queue(db: AsyncSession, services: Services) -> int | str:
        if services.default_locale not in texts:
            return _("Write at least the text in {language}.").format(
                language=LANGUAGE_NAMES[services.default_locale]
            )
        broadcast = Broadcast(
            author_id=staff.telegram_id,
            author_locale=staff.locale,
            texts=texts,
            audience=audience,
            send_at=send_at or services.now(),
        )
        try:
            return await queue_broadcast(
                db, services, broadcast, staff.actor, form.get("urgent") == "on"
            )
        except ValueError:
            return _("Nobody is in this audience.")

    outcome = await in_transaction(request, queue) if not problems else problems[0]
    if isinstance(outcome, str) or outcome == 0:
        problem = outcome if isinstance(outcome, str) else _("Nobody is in this audience.")
        return await _broadcasts_page(request, {"form": form, "problem": problem})
    await tell(request, _("Broadcast queued for {count} people.").format(count=outcome))
    raise web.HTTPSeeOther("/broadcasts")


@needs(Role.ADMIN)
async def progress(request: web.Request) -> web.Response:
    """One broadcast's progress: sent, unreachable, failed, time left (polled by htmx)."""
    broadcast_id = int(request.match_info["id"])

    async def read(db: AsyncSession, services: Services) -> dict[str, Any] | None:
        broadcast = await db.get(Broadcast, broadcast_id)
        if broadcast is None:
            return None
        counts = await broadcast_counts(db, broadcast_id)
        rate = await recent_rate(db, broadcast_id, services.now())
        return {"broadcast": broadcast, **_figures(broadcast, counts, rate)}

    context = await in_transaction(request, read)
    if context is None:
        raise web.HTTPNotFound()
    return aiohttp_jinja2.render_template("progress.html", request, context)


def _figures(broadcast: Broadcast, counts: dict[str, int], rate: float) -> dict[str, Any]:
    total = broadcast.total or sum(counts.values())
    left = counts.get("pending", 0) + counts.get("sending", 0)
    return {
        "total": total,
        "sent": counts.get("sent", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("failed", 0),
        "left": left,
        "percent": 100 * (total - left) // total if total else 100,
        "minutes_left": max(1, round(left / rate / 60)) if rate > 0 and left else None,
        "running": left > 0 and broadcast.status == BroadcastStatus.SENDING,
    }


@needs(Role.ADMIN)
async def stop(request: web.Request) -> web.StreamResponse:
    """Cancels whatever of the broadcast is not sent yet."""
    staff, broadcast_id = staff_of(request), int(request.match_info["id"])
    _ = staff.texts

    async def halt(db: AsyncSession, services: Services) -> int | None:
        broadcast = await db.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
            return None
        cancelled = await stop_broadcast(db, broadcast)
        await audit(db, staff.actor, "broadcast_stop", f"broadcast:{broadcast_id}",
                    cancelled=cancelled)  # fmt: skip
        return cancelled

    cancelled = await in_transaction(request, halt)
    if cancelled is None:
        await tell(request, _("This broadcast is not sending any more."), error=True)
    else:
        await tell(
            request, _("Stopped: {count} messages will not be sent.").format(count=cancelled)
        )
    raise web.HTTPSeeOther("/broadcasts")


# --- Questions and the FAQ --------------------------------------------------------------------


@needs(Role.OPERATOR)
async def questions_page(request: web.Request) -> web.Response:
    """The open questions, those asked nearly the same way counted as one, most asked first."""

    async def read(db: AsyncSession, services: Services) -> dict[str, Any]:
        return {"questions": await most_asked_unanswered(db, 100), "faq": services.faq}

    context = await in_transaction(request, read)
    context["notice"] = await pop_notice(request)
    return aiohttp_jinja2.render_template("questions.html", request, context)


@needs(Role.OPERATOR)
async def attach_question(request: web.Request) -> web.StreamResponse:
    """The question's wording becomes a phrasing of an entry, for every instance."""
    staff, question_id = staff_of(request), int(request.match_info["id"])
    _ = staff.texts
    entry_key = str((await request.post()).get("entry", "")).strip()

    async def teach(db: AsyncSession, services: Services) -> Outcome:
        return (await attach(db, services, question_id, entry_key, staff.actor)).outcome

    outcome = await in_transaction(request, teach)
    if outcome is Outcome.DONE:
        await tell(request, _("Attached: the bot now answers this question with that entry."))
    else:
        await tell(request, _("Nothing changed: the question or the entry is gone."), error=True)
    raise web.HTTPSeeOther("/questions")


@needs(Role.OPERATOR)
async def mark_question(request: web.Request) -> web.StreamResponse:
    """Sets a question aside as small talk or off-topic: it leaves the list."""
    staff, question_id = staff_of(request), int(request.match_info["id"])
    _ = staff.texts
    kind = str((await request.post()).get("kind", ""))
    if kind not in (Resolution.SMALL_TALK, Resolution.OFF_TOPIC):
        raise web.HTTPBadRequest()

    async def put_aside(db: AsyncSession, services: Services) -> Outcome:
        return (await set_aside(db, services, question_id, Resolution(kind), staff.actor)).outcome

    outcome = await in_transaction(request, put_aside)
    done = outcome is Outcome.DONE
    await tell(request, _("Set aside.") if done else _("Nothing changed."), error=not done)
    raise web.HTTPSeeOther("/questions")


@needs(Role.OPERATOR)
async def answer_question(request: web.Request) -> web.StreamResponse:
    """Sends the office's answer to who asked, through the outbox."""
    staff, question_id = staff_of(request), int(request.match_info["id"])
    _ = staff.texts
    answer = str((await request.post()).get("answer", "")).strip()[:3500]
    if not answer:
        await tell(request, _("Write the answer first."), error=True)
        raise web.HTTPSeeOther("/questions")

    async def send(db: AsyncSession, services: Services) -> bool:
        question = await db.get(UnansweredQuestion, question_id)
        if question is None:
            return False
        key = f"panel:{int(services.now().timestamp())}"
        return await deliver_answer(
            db, services, question, staff.telegram_id, answer, staff.actor, key
        )

    sent = await in_transaction(request, send)
    await tell(
        request,
        _("The answer is on its way.") if sent else _("Nobody to send it to."),
        error=not sent,
    )
    raise web.HTTPSeeOther("/questions")


@needs(Role.OPERATOR)
async def faq_page(request: web.Request) -> web.Response:
    """Every entry by category in the three languages, with its phrasings; the ones staff
    taught are marked."""

    async def read(db: AsyncSession, services: Services) -> dict[str, Any]:
        taught: dict[str, list[Any]] = {}
        for phrasing in await taught_phrasings(db):
            taught.setdefault(phrasing.entry_key, []).append(phrasing)
        return {"faq": services.faq, "taught": taught, "locales": LOCALES}

    context = await in_transaction(request, read)
    context["notice"] = await pop_notice(request)
    return aiohttp_jinja2.render_template("faq.html", request, context)


@needs(Role.OPERATOR)
async def remove_phrasing(request: web.Request) -> web.StreamResponse:
    """Takes back a phrasing staff taught: every process stops using it within seconds."""
    staff, phrasing_id = staff_of(request), int(request.match_info["id"])
    _ = staff.texts

    async def remove(db: AsyncSession, services: Services) -> bool:
        removed = await remove_taught_phrasing(db, phrasing_id, staff.actor, services.now())
        if removed is not None and services.lessons is not None:
            services.lessons.expect_news()
        return removed is not None

    removed = await in_transaction(request, remove)
    await tell(request, _("Removed.") if removed else _("Nothing changed."), error=not removed)
    raise web.HTTPSeeOther("/faq")
