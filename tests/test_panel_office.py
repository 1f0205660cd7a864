"""The web panel's desk pages against the real `applicant-bot panel` process: the dashboard,
applicant lookup (audited), the audit trail by filter, and owners managing staff."""

from sqlmodel import select

from bot.app import App
from models.outbox import OutboxMessage
from models.questions import UnansweredQuestion
from models.staff import AuditEntry, Role, role_of
from tests.support.panel import ADMIN, OPERATOR, OWNER, as_staff
from tests.support.sessions import open_session
from tests.test_panel_sessions import book


async def test_the_dashboard_shows_seats_check_ins_questions_and_the_chart(
    office: tuple[App, str],
) -> None:
    app, _ = office
    session_id = await open_session(app, "Takhmao centre")
    await book(app, session_id, 3)
    async with app.conversation.sessions() as db, db.begin():
        db.add(UnansweredQuestion(locale="km", text="តើ?", normalized="តើ"))
    browser = await as_staff(office, OPERATOR)
    await browser.post("/registrations/1/checkin")
    status, body, _ = await browser.get("/")
    assert status == 200
    assert "Takhmao centre" in body
    assert "3 / 10" in body
    assert "Checked in today: 1" in body
    assert "Unanswered questions this week: 1" in body
    status, png, _ = await browser.download("/chart.png")
    assert (status, png[:4]) == (200, b"\x89PNG")
    await browser.close()


async def test_an_applicant_is_found_by_phone_and_opening_them_is_audited(
    office: tuple[App, str],
) -> None:
    app, _ = office
    session_id = await open_session(app, "Centre")
    codes = await book(app, session_id, 3)
    browser = await as_staff(office, OPERATOR)
    await browser.get("/applicants")
    status, body, _ = await browser.post("/applicants", {"q": "12000001"})
    assert status == 200
    assert body.count("SOK DARA") == 1
    assert "/applicants/2" in body
    by_code = (await browser.post("/applicants", {"q": codes[2]}))[1]
    assert "/applicants/3" in by_code
    status, body, _ = await browser.get("/applicants/2")
    assert status == 200
    assert codes[1] in body
    assert "Reachable in Telegram" in body
    async with app.conversation.sessions() as db:
        opened = (
            await db.exec(select(AuditEntry).where(AuditEntry.action == "open_applicant"))
        ).all()
    assert [(e.actor, e.target) for e in opened] == [(f"telegram:{OPERATOR}", "applicant:2")]
    await browser.close()


async def test_the_audit_trail_filters_by_action_and_is_for_admins(
    office: tuple[App, str],
) -> None:
    app, _ = office
    session_id = await open_session(app, "Centre")
    await book(app, session_id, 1)
    operator = await as_staff(office, OPERATOR)
    await operator.post("/registrations/1/checkin")
    assert (await operator.get("/audit"))[0] == 403
    admin = await as_staff(office, ADMIN)
    body = (await admin.get("/audit?action=check_in"))[1]
    assert f"telegram:{OPERATOR}" in body
    assert "panel_login" not in body.split('id="audit"')[1]
    everything = (await admin.get("/audit"))[1]
    assert "panel_login" in everything
    await operator.close()
    await admin.close()


async def test_owners_add_change_and_remove_staff(office: tuple[App, str]) -> None:
    app, _ = office
    admin = await as_staff(office, ADMIN)
    assert (await admin.get("/staff"))[0] == 403
    owner = await as_staff(office, OWNER)
    await owner.get("/staff")
    await owner.post("/staff", {"telegram_id": "555", "role": "operator"})
    assert "555 is now staff (operator)." in (await owner.get("/staff"))[1]
    await owner.post("/staff", {"telegram_id": "555", "role": "admin"})

    async def role(db, services):  # type: ignore[no-untyped-def]
        return await role_of(db, 555, services.owner_ids)

    assert await app.in_transaction(role) == Role.ADMIN
    await owner.post("/staff/555/remove")
    assert "555 is no longer staff." in (await owner.get("/staff"))[1]
    assert await app.in_transaction(role) is None

    async def menus(db, services):  # type: ignore[no-untyped-def]
        rows = (await db.exec(select(OutboxMessage).where(OutboxMessage.chat_id == 555))).all()
        return [row.content[0] for row in rows]

    # The running bot sets their Telegram command menu each time (the outbox carries it).
    queued = await app.in_transaction(menus)
    assert [item["type"] for item in queued] == ["commands"] * 3
    assert "checkin" in {name for name, _ in queued[0]["commands"]}
    assert "broadcast" in {name for name, _ in queued[1]["commands"]}
    assert queued[2]["commands"] == []  # back to everyone's menu
    await admin.close()
    await owner.close()
