"""Booking a seat: choose the test, then a session, agree, give your details, confirm.

Agreement comes before the first detail, and is remembered with the version of its text:
it is asked again only when that text changes.

The wizard's answers live in the conversation state, so it survives a restart and
goes on where it was. Every button is checked against the database and the current
step; a stale or forged press changes nothing.
"""

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Any

from handlers.applicant.buttons import (
    Agree,
    BookSeat,
    ConfirmBooking,
    Disagree,
    EditDetail,
    JoinWaitlist,
    KeepAnswer,
    MyRegistrations,
    NewDetails,
    PickExam,
    PickProvince,
    PickSession,
    PickSex,
    ReuseDetails,
    SkipKhmerName,
    StepBack,
    StopRegistering,
)
from handlers.applicant.describe import (
    exam_name,
    registered,
    seats_left,
    session_button,
    session_details,
    venue_pin,
)
from handlers.applicant.details import (
    PROVINCES,
    SEXES,
    DetailRejected,
    Rejection,
    age_on,
    format_phone,
)
from handlers.applicant.identity import (
    BY_NAME,
    DETAILS,
    Detail,
    back_and_stop,
    back_label,
    complete,
    details_list,
    keep_label,
    save_answers,
    saved_answers,
    stop_label,
)
from handlers.applicant.menus import home_button
from handlers.applicant.notices import plan_reminders
from handlers.applicant.ticket import send_ticket
from handlers.core.context import Context
from handlers.core.events import InlineKeyboard, Kind, RemoveKeyboard
from handlers.core.routing import Journey
from handlers.core.texts import Texts
from models.applicants import has_consented, record_consent
from models.registrations import (
    BookingRefused,
    RegistrationStatus,
    book_seat,
    live_registration_for_exam,
    waitlist_length,
    waitlist_position,
)
from models.sessions import (
    Exam,
    TestSession,
    bookable_sessions,
    exams_open_for_booking,
    find_exam,
    is_bookable,
)

journey = Journey("registration")

CONSENT, SUMMARY, REUSE = "reg:consent", "reg:summary", "reg:reuse"
SESSION = "reg:session"  # back at the list of sessions, with the answers given so far


# --- 1. Which test? ---------------------------------------------------------------------------


@journey.command("book", "register")
async def choose_exam(ctx: Context) -> None:
    """Lists the tests that take registrations now."""
    await ctx.finish()
    exams = await exams_open_for_booking(ctx.db, ctx.now)
    if not exams:
        ctx.show(
            ctx._(
                "There are no test sessions open for registration right now. The test office "
                "announces new sessions here; please check again later."
            ),
            InlineKeyboard.of([home_button(ctx.texts)]),
        )
        return
    ctx.show(
        ctx._("📝 <b>Book a test seat</b>\n\nWhich test do you want to take?"),
        InlineKeyboard.of(
            *[[PickExam(exam.id).button(exam_name(exam, ctx.locale))] for exam in exams],
            [home_button(ctx.texts)],
        ),
    )


@journey.button(BookSeat)
async def book_button(ctx: Context, _: BookSeat) -> None:
    """Lists the tests, in place of the screen the button was on."""
    await choose_exam(ctx)


# --- 2. Which session? ------------------------------------------------------------------------


@journey.button(PickExam)
async def choose_session(ctx: Context, pressed: PickExam) -> None:
    """Lists the exam's open sessions with their seats left; full ones join the waitlist."""
    exam = await find_exam(ctx.db, pressed.exam_id)
    if exam is None or not exam.active:
        ctx.out_of_date()
        return
    assert ctx.applicant.id is not None
    existing = await live_registration_for_exam(ctx.db, ctx.applicant.id, exam.id)
    if existing is not None:
        ctx.show(
            ctx._(
                "You are already registered for this test (code <b>{code}</b>). To change the "
                "date or cancel, open My registrations."
            ).format(code=existing.code),
            InlineKeyboard.of(
                [MyRegistrations().button(ctx._("📋 My registrations"))], [home_button(ctx.texts)]
            ),
        )
        return
    sessions = await bookable_sessions(ctx.db, exam.id, ctx.now)
    if not sessions:
        ctx.show(
            ctx._("No session of this test is open for registration right now."),
            InlineKeyboard.of(
                [BookSeat().button(ctx._("⬅️ Other tests"))], [home_button(ctx.texts)]
            ),
        )
        return
    ctx.show(
        ctx._(
            "📝 <b>{exam}</b>\n\nChoose a date and place. Times are Phnom Penh time. "
            "When a session is full you can join its waitlist."
        ).format(exam=exam_name(exam, ctx.locale)),
        InlineKeyboard.of(
            *[
                [session_button(ctx.texts, s, PickSession(s.id))]
                for s in sessions
                if s.id is not None
            ],
            [BookSeat().button(ctx._("⬅️ Other tests"))],
        ),
    )


# --- 3. The applicant's details ---------------------------------------------------------------


@journey.button(PickSession)
async def begin_details(ctx: Context, pressed: PickSession) -> None:
    """Remembers the session, asks for agreement if not given to this text yet, then asks for
    the details or offers the ones given before. A full session is flagged first."""
    found = await _bookable_session(ctx, pressed.session_id)
    if found is None:
        return
    session, exam = found
    # The list's button names only the town: its message now says the venue in full.
    ctx.show(
        ctx._("<b>Your choice</b>\n{session}").format(
            session=session_details(ctx.texts, exam, session)
        )
    )
    if seats_left(session) == 0:
        await flag_full_session(ctx, session, exam)
        return
    await _choose(ctx, session, exam)


async def flag_full_session(ctx: Context, session: TestSession, exam: Exam) -> None:
    """Before any detail: this session means the waitlist; sessions with seats are offered."""
    assert session.id is not None
    await ctx.go_to(SESSION, exam_id=exam.id)
    others = [
        s
        for s in await bookable_sessions(ctx.db, exam.id, ctx.now)
        if s.id is not None and s.id != session.id and seats_left(s) > 0
    ]
    text = await _full_line(ctx, session.id)
    if others:
        text += "\n\n" + ctx._("These sessions of the same test still have seats:")
    ctx.say(
        text,
        InlineKeyboard.of(
            *[[session_button(ctx.texts, s, PickSession(s.id))] for s in others if s.id],
            [JoinWaitlist(session.id).button(ctx._("⏳ Join the waitlist"))],
            [StepBack(SESSION.removeprefix("reg:")).button(back_label(ctx.texts))],
        ),
    )


@journey.button(JoinWaitlist)
async def join_waitlist(ctx: Context, pressed: JoinWaitlist) -> None:
    """Goes on with the full session: the details, then a place in its line."""
    found = await _bookable_session(ctx, pressed.session_id)
    if found is None:
        return
    await _choose(ctx, *found)


async def _choose(ctx: Context, session: TestSession, exam: Exam) -> None:
    # Another session chosen in the middle of the wizard keeps the answers given so far.
    in_wizard = (ctx.step or "").startswith("reg:")
    fields = dict(ctx.data.get("fields", {})) if in_wizard else {}
    await ctx.go_to(REUSE, session_id=session.id, exam_id=exam.id, fields=fields, editing=False)
    if not has_consented(ctx.applicant, CONSENT_VERSION):
        await ask_consent(ctx)
        return
    await _details(ctx)


async def _full_line(ctx: Context, session_id: int) -> str:
    place = await waitlist_length(ctx.db, session_id) + 1
    return ctx._(
        "⏳ <b>This session is full</b>: you will join the waitlist (place {place})."
    ).format(place=ctx.texts.number(place))


async def _details(ctx: Context) -> None:
    """The summary when every detail is known, else the next one not answered yet, else the
    details given before, or step 1."""
    fields = ctx.data.get("fields", {})
    if complete(fields):
        await show_summary(ctx)
        return
    if fields:
        await ask(ctx, next(d for d in DETAILS if d.name not in fields))
        return
    if saved_answers(ctx.applicant):
        await offer_saved_details(ctx)
        return
    await ctx.go_to(REUSE, fields={})
    await ask(ctx, DETAILS[0])


async def offer_saved_details(ctx: Context) -> None:
    """Shows the details given last time and asks whether to use them again."""
    await ctx.go_to(REUSE, fields=saved_answers(ctx.applicant), editing=False)
    ctx.say(
        ctx._("You gave these details last time:\n\n{details}\n\nUse them again?").format(
            details=details_list(ctx.texts, ctx.data["fields"])
        ),
        InlineKeyboard.of(
            [ReuseDetails().button(ctx._("✅ Yes, use them"))],
            [NewDetails().button(ctx._("✏️ No, enter new details"))],
            back_and_stop(ctx.texts, REUSE),
        ),
    )


async def ask(ctx: Context, detail: Detail) -> None:
    """Asks for one detail and waits for the answer on that step; an answer given before
    (the applicant stepped back) is shown, and can be kept."""
    await ctx.go_to(detail.step)
    step = ctx._("Step {n} of {total}").format(n=DETAILS.index(detail) + 1, total=len(DETAILS))
    text = f"<i>{step}</i>\n{detail.question(ctx.texts)}"
    fields = ctx.data.get("fields", {})
    answered = detail.name in fields
    if answered:
        given = fields[detail.name]
        text += "\n\n" + ctx._("Your answer now: <b>{answer}</b>").format(
            answer=detail.show(ctx.texts, given) if given else "–"
        )
    ctx.say(text, detail.keyboard(ctx.texts, answered))


@journey.step(*(detail.step for detail in DETAILS))
async def answer(ctx: Context) -> None:
    """Checks a typed (or shared) answer; a wrong one is explained and asked again."""
    assert ctx.step is not None
    detail = BY_NAME[ctx.step.removeprefix("reg:")]
    if detail.shares_contact and ctx.event.kind is Kind.TEXT:
        # The buttons of a reply keyboard arrive as their labels, typed.
        pressed = ctx.event.text.strip()
        if pressed == back_label(ctx.texts):
            await back(ctx)
            return
        if pressed == stop_label(ctx.texts):
            await stop(ctx)
            return
        if pressed == keep_label(ctx.texts) and detail.name in ctx.data.get("fields", {}):
            await _keep(ctx, detail.name, ctx.data["fields"][detail.name])
            return
    if detail.parse is None:
        ctx.say(ctx._("Please choose one of the buttons above."))
        return
    if ctx.event.kind is Kind.MEDIA:
        ctx.say(ctx._("Please type your answer as text."))
        return
    if detail.name == "phone" and ctx.event.kind is Kind.CONTACT:
        if not ctx.event.contact_is_own:
            ctx.say(ctx._("Please share your own phone number, not someone else's."))
            return
        typed = ctx.event.contact_phone
    elif ctx.event.kind is Kind.CONTACT:
        ctx.say(ctx._("Thank you, but I do not need your phone number now."))
        return
    else:
        typed = ctx.event.text
    today = ctx.now.astimezone(ctx.texts.zone).date()
    try:
        value = detail.parse(typed, today)
    except DetailRejected as rejected:
        ctx.say(_rejection_text(ctx.texts, rejected.reason))
        return
    if detail.name == "date_of_birth" and not await _old_enough(ctx, date.fromisoformat(value)):
        return
    await _keep(ctx, detail.name, value)


@journey.step(CONSENT, SUMMARY, REUSE, SESSION)
async def use_the_buttons(ctx: Context) -> None:
    """Typed text on a step that is answered with buttons."""
    ctx.say(ctx._("Please answer with the buttons above, or send /cancel to stop registering."))


# The wizard's buttons: each is valid only on its own step; elsewhere it is out of date.


@journey.button(StopRegistering)
async def stop_button_pressed(ctx: Context, _: StopRegistering) -> None:
    """Leaves the wizard at any step; nothing is saved."""
    await stop(ctx)


@journey.button(StepBack)
async def step_back(ctx: Context, pressed: StepBack) -> None:
    """Goes back one step; a Back under an earlier step is out of date."""
    if ctx.step != f"reg:{pressed.step}":
        ctx.out_of_date()
        return
    await back(ctx)


async def back(ctx: Context) -> None:
    """The step before this one, keeping every answer given: from a detail the one before it
    (or the summary it was changed from), from the first the details given last time or the
    sessions, from the summary the last detail."""
    if ctx.step in (CONSENT, REUSE, SESSION):
        await _back_to_sessions(ctx)
        return
    if ctx.step == SUMMARY:
        await ctx.go_to(SUMMARY, editing=False)
        await ask(ctx, DETAILS[-1])
        return
    assert ctx.step is not None
    detail = BY_NAME[ctx.step.removeprefix("reg:")]
    if detail.shares_contact:
        # The phone's keyboard of buttons must go before the previous step is asked.
        ctx.say(ctx._("One step back."), RemoveKeyboard())
    index = DETAILS.index(detail)
    if ctx.data.get("editing"):
        await show_summary(ctx)
    elif index > 0:
        await ask(ctx, DETAILS[index - 1])
    elif saved_answers(ctx.applicant):
        await offer_saved_details(ctx)
    else:
        await _back_to_sessions(ctx)


async def _back_to_sessions(ctx: Context) -> None:
    await ctx.go_to(SESSION)
    await choose_session(ctx, PickExam(str(ctx.data["exam_id"])))


@journey.button(KeepAnswer)
async def keep_answer(ctx: Context, pressed: KeepAnswer) -> None:
    """Keeps the answer given before, and goes on."""
    fields = ctx.data.get("fields", {})
    if ctx.step != f"reg:{pressed.detail}" or pressed.detail not in fields:
        ctx.out_of_date()
        return
    await _keep(ctx, pressed.detail, fields[pressed.detail])


@journey.button(ReuseDetails, on_step=REUSE)
async def reuse_details(ctx: Context, _: ReuseDetails) -> None:
    """Takes the details given last time, then shows them all to be checked."""
    if not complete(ctx.data.get("fields", {})):
        await _new_details(ctx)
    else:
        await show_summary(ctx)


@journey.button(NewDetails, on_step=REUSE)
async def new_details(ctx: Context, _: NewDetails) -> None:
    """Asks for every detail afresh."""
    await _new_details(ctx)


async def _new_details(ctx: Context) -> None:
    await ctx.go_to(REUSE, fields={})
    await ask(ctx, DETAILS[0])


@journey.button(SkipKhmerName, on_step="reg:name_khmer")
async def skip_khmer_name(ctx: Context, _: SkipKhmerName) -> None:
    await _keep(ctx, "name_khmer", None)


@journey.button(PickSex, on_step="reg:sex")
async def pick_sex(ctx: Context, pressed: PickSex) -> None:
    if pressed.sex not in SEXES:
        ctx.out_of_date()
        return
    await _keep(ctx, "sex", pressed.sex)


@journey.button(PickProvince, on_step="reg:province")
async def pick_province(ctx: Context, pressed: PickProvince) -> None:
    if pressed.province not in PROVINCES:
        ctx.out_of_date()
        return
    await _keep(ctx, "province", pressed.province)


@journey.button(Agree, on_step=CONSENT)
async def agree(ctx: Context, _: Agree) -> None:
    await consent(ctx, True)


@journey.button(Disagree, on_step=CONSENT)
async def disagree(ctx: Context, _: Disagree) -> None:
    await consent(ctx, False)


@journey.button(EditDetail, on_step=SUMMARY)
async def edit_detail(ctx: Context, pressed: EditDetail) -> None:
    """Asks one detail again, then goes back to the summary."""
    if pressed.field not in BY_NAME:
        ctx.out_of_date()
        return
    await ctx.go_to(SUMMARY, editing=True)
    await ask(ctx, BY_NAME[pressed.field])


@journey.button(ConfirmBooking, on_step=SUMMARY)
async def confirm_booking(ctx: Context, _: ConfirmBooking) -> None:
    await confirm(ctx)


async def _keep(ctx: Context, field: str, value: Any) -> None:
    """Stores one answer, then asks the next detail (or goes back to the summary)."""
    fields = {**ctx.data.get("fields", {}), field: value}
    await ctx.go_to(ctx.step or REUSE, fields=fields)
    if field == "phone":
        ctx.say(ctx._("✅ Phone: {phone}").format(phone=format_phone(value)), RemoveKeyboard())
    if ctx.data.get("editing"):
        await show_summary(ctx)
        return
    later = DETAILS[DETAILS.index(BY_NAME[field]) + 1 :]
    if later:
        await ask(ctx, later[0])
    else:
        await show_summary(ctx)


# --- 4. Consent, summary and confirmation -----------------------------------------------------


def consent_text(_: Callable[[str], str]) -> str:
    """What the applicant agrees to before giving any detail."""
    return _(
        "🔒 <b>Your data</b>\n\n"
        "To register you, I will ask for your name, date of birth, sex, phone, ID or passport "
        "number and province. The ministry's test office keeps these details to register you "
        "for the test, to check your identity on the test day and to contact you about your "
        "registration. Only the office staff can see them. You can see them at any time with "
        "/mydata and erase them with /deleteme.\n\nDo you agree?"
    )


# The version of the text agreed to: a new text (in the source language) is asked again.
CONSENT_VERSION = hashlib.sha256(consent_text(str).encode()).hexdigest()[:16]


async def ask_consent(ctx: Context) -> None:
    """Says what will be asked, who sees it and why, and asks for agreement first."""
    await ctx.go_to(CONSENT)
    ctx.say(
        consent_text(ctx.texts),
        InlineKeyboard.of(
            [Agree().button(ctx._("✅ I agree"))],
            [Disagree().button(ctx._("✖ I do not agree"))],
            [StepBack(CONSENT.removeprefix("reg:")).button(back_label(ctx.texts))],
        ),
    )


async def consent(ctx: Context, agreed: bool) -> None:
    if not agreed:
        await ctx.finish()
        ctx.show(
            ctx._(
                "Without your agreement I cannot register you. Nothing was saved. You can "
                "start again at any time with /book."
            ),
            InlineKeyboard.of([home_button(ctx.texts)]),
        )
        return
    record_consent(ctx.applicant, CONSENT_VERSION, ctx.now)
    ctx.db.add(ctx.applicant)
    await _details(ctx)


async def show_summary(ctx: Context) -> None:
    """Everything in one place; any detail can be changed before confirming."""
    found = await _bookable_session(ctx, int(ctx.data["session_id"]))
    if found is None:
        return
    session, exam = found
    await ctx.go_to(SUMMARY, editing=True)
    edits = [EditDetail(d.name).button(f"✏️ {d.label(ctx.texts)}") for d in DETAILS]
    text = ctx._("<b>Please check your registration</b>\n\n{session}\n\n{details}").format(
        session=session_details(ctx.texts, exam, session),
        details=details_list(ctx.texts, ctx.data["fields"]),
    )
    full = seats_left(session) == 0
    if full:
        assert session.id is not None
        text += "\n\n" + await _full_line(ctx, session.id)
    ctx.say(
        text,
        InlineKeyboard.of(
            [
                ConfirmBooking().button(
                    ctx._("⏳ Join the waitlist") if full else ctx._("✅ Confirm booking")
                )
            ],
            *[edits[i : i + 2] for i in range(0, len(edits), 2)],
            back_and_stop(ctx.texts, SUMMARY),
        ),
    )


async def confirm(ctx: Context) -> None:
    """Books the seat (or a place in line), saves the details, and says what comes next."""
    fields = ctx.data.get("fields", {})
    if not has_consented(ctx.applicant, CONSENT_VERSION) or not complete(fields):
        ctx.out_of_date()
        return
    found = await _bookable_session(ctx, int(ctx.data["session_id"]))
    if found is None:
        return
    session, exam = found
    if not await _old_enough(ctx, date.fromisoformat(fields["date_of_birth"])):
        return
    assert ctx.applicant.id is not None
    assert session.id is not None
    try:
        registration = await book_seat(ctx.db, ctx.applicant.id, session.id, ctx.now)
    except BookingRefused as refused:
        await ctx.finish()
        if refused.reason == "already_registered":
            ctx.say(
                ctx._("You are already registered for this test. See My registrations."),
                InlineKeyboard.of([MyRegistrations().button(ctx._("📋 My registrations"))]),
            )
        else:
            await session_gone(ctx, exam)
        return
    _save_identity(ctx, fields)
    await plan_reminders(ctx.db, ctx.services, registration)
    await ctx.finish()
    details = session_details(ctx.texts, exam, session)
    if registration.status == RegistrationStatus.CONFIRMED:
        ctx.show(registered(ctx.texts, registration.code, exam, session))
        ctx.show_venue(venue_pin(ctx.texts, session))
        await send_ticket(ctx, registration)
        return
    else:
        position = await waitlist_position(ctx.db, registration)
        ctx.show(
            ctx._(
                "⏳ <b>This session is full, so you are on its waitlist</b>: number {position} "
                "in line.\n\nCode: <b>{code}</b>\n{session}\n\nIf a seat becomes free, I will "
                "hold it for you and send you a message to accept it."
            ).format(position=position, code=registration.code, session=details)
        )
    ctx.show_venue(venue_pin(ctx.texts, session))


@journey.command("cancel")
async def stop(ctx: Context) -> None:
    """Leaves the wizard at any step; nothing is saved."""
    was_registering = (ctx.step or "").startswith("reg:")
    await ctx.finish()
    text = (
        ctx._("Registration stopped. Nothing was saved. Start again at any time with /book.")
        if was_registering
        else ctx._("There is nothing to cancel. Send /start to see the menu.")
    )
    if ctx.event.kind is Kind.BUTTON:
        ctx.show(text, InlineKeyboard.of([home_button(ctx.texts)]))
    else:
        ctx.say(text, RemoveKeyboard())


# --- Shared pieces ----------------------------------------------------------------------------


async def session_gone(ctx: Context, exam: Exam) -> None:
    """The session closed, filled or was cancelled meanwhile: offers the others."""
    ctx.say(
        ctx._("Sorry, this session no longer takes registrations. Please choose another one."),
        InlineKeyboard.of([PickExam(exam.id).button(ctx._("📝 Choose a session"))]),
    )


async def _bookable_session(ctx: Context, session_id: int) -> tuple[TestSession, Exam] | None:
    """The session and its exam if they still take registrations; else tells the user."""
    session = await ctx.db.get(TestSession, session_id)
    exam = await find_exam(ctx.db, session.exam_id) if session else None
    if session is None or exam is None:
        ctx.out_of_date()
        return None
    if not exam.active or not is_bookable(session, ctx.now):
        await session_gone(ctx, exam)
        return None
    return session, exam


async def _old_enough(ctx: Context, birth: date) -> bool:
    """Whether the applicant reaches the exam's minimum age on the test day; else says so."""
    found = await _bookable_session(ctx, int(ctx.data["session_id"]))
    if found is None:
        return False
    session, exam = found
    if age_on(birth, session.starts_at.astimezone(ctx.texts.zone).date()) < exam.min_age:
        ctx.say(_too_young(ctx.texts, exam))
        return False
    return True


def _save_identity(ctx: Context, fields: dict[str, Any]) -> None:
    applicant = ctx.applicant
    save_answers(applicant, fields)
    # Messages sent later (a seat offer) must be in the language the wizard was in.
    applicant.locale = applicant.locale or ctx.locale
    ctx.db.add(applicant)


def _too_young(_: Texts, exam: Exam) -> str:
    return _("You must be at least {age} years old on the test day to take this test.").format(
        age=exam.min_age
    )


def _rejection_text(_: Texts, reason: Rejection) -> str:
    """Why an answer was refused, and how to write it, in the applicant's words."""
    texts = {
        Rejection.NOT_LATIN: _(
            "Please write your name in Latin letters (A to Z) exactly as in your passport, "
            "for example: SOK DARA."
        ),
        Rejection.NOT_KHMER: _(
            "Please write your name in Khmer script, or tap Skip to leave it out."
        ),
        Rejection.TOO_SHORT: _("That is too short. Please write your full name."),
        Rejection.TOO_LONG: _("That is too long. Please write at most 80 characters."),
        Rejection.NAME_IS_A_QUESTION: _(
            "That looks like a question, not a name. Please write only your name here; you "
            "can ask your question after the booking, or tap ✖ Cancel."
        ),
        Rejection.NAME_HAS_DIGITS: _(
            "A name has no digits. Please write only your name, for example: SOK DARA."
        ),
        Rejection.NAME_TOO_MANY_WORDS: _(
            "That is more words than a name has. Please write only your name, as in your passport."
        ),
        Rejection.NOT_A_DATE: _(
            "I could not read a date. Please write day, month and year, for example: 25/12/2001."
        ),
        Rejection.YEAR_NEEDED: _(
            "Please write the year with four digits, for example: 25/12/2001."
        ),
        Rejection.IMPOSSIBLE_DATE: _(
            "That date does not exist. Please check the day and the month."
        ),
        Rejection.IN_FUTURE: _("That date is in the future. Please write your date of birth."),
        Rejection.TOO_OLD: _("Please check the year of your date of birth."),
        Rejection.INVALID_PHONE: _(
            "That does not look like a phone number. Please type it with all its digits, for "
            "example: 012 345 678, or tap the button to share it."
        ),
        Rejection.INVALID_ID: _(
            "Please type your national ID card number (9 digits) or your passport number "
            "(letters and digits), for example: N01234567."
        ),
    }
    return texts.get(reason, _("Please check your answer and try again."))
