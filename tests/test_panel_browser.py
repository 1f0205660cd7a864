"""The web panel in a real headless Chromium (Debian's, driven by Playwright), against the
real `applicant-bot panel` and `applicant-bot run` processes and the fake Bot API server:
an owner logs in with a link from the bot and runs the office's day, and the applicant's
side happens in Telegram (the aiogram channel). Screenshots of each page, in Khmer and in
English, are saved under the test's temporary folder."""

import asyncio
import csv
import io
import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.app import build_app
from handlers.applicant.buttons import PickSession
from models.columns import utcnow
from models.sessions import Exam
from tests.support.app import settings_for_test
from tests.support.fake_telegram import FakeTelegram
from tests.support.panel import LINK, OWNER, panel_environment, running_panel
from tests.support.process import free_port, running_bot
from tests.support.telegram import answer_and_read, book_through_telegram
from tests.test_metrics import quiet_hours_far_from_now

CHROMIUM = "/usr/bin/chromium"
APPLICANT = 4242
QUESTION = "Which football club won the league in 1987?"  # nothing in the FAQ
PAGES = ["/", "/sessions", "/sessions/1", "/applicants", "/questions", "/faq", "/broadcasts",
         "/audit", "/staff"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(chat_burst=30)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        yield chromium
        await chromium.close()


def polling(fake: FakeTelegram) -> bool:
    """Whether the bot has started asking for updates."""
    return any(request.method == "getUpdates" for request in fake.requests)


def local(moment_in_days: float) -> str:
    """A datetime-local field's value, `moment_in_days` from now in Phnom Penh."""
    zone = settings_for_test(Path("/tmp")).zone
    return (utcnow() + timedelta(days=moment_in_days)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")


async def test_an_owner_runs_the_office_in_a_browser(
    tmp_path: Path, telegram: FakeTelegram, browser: Browser
) -> None:
    port = free_port()
    environment = panel_environment(
        tmp_path,
        port,
        BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.base_url,
        QUIET_HOURS=quiet_hours_far_from_now(),
        HOME=os.environ.get("HOME", str(tmp_path)),
    )
    app = build_app(settings_for_test(tmp_path))
    await app.prepare_database()
    async with app.conversation.sessions() as db, db.begin():
        db.add(Exam(id="jft-basic", name_km="JFT-Basic", name_en="JFT-Basic", name_ja="JFT-Basic"))
    await app.close()
    screens = tmp_path / "screens"
    screens.mkdir()

    async with running_bot(environment, tmp_path), running_panel(environment, tmp_path) as base:
        await telegram.wait_for(
            lambda fake: any(r.method == "getUpdates" for r in fake.requests), 60
        )
        # 1. The owner asks the bot for a login link and opens it.
        message = await answer_and_read(telegram, OWNER, "user_sends", "/panel")
        link = LINK.search(message.text)
        assert link, message.text
        page = await browser.new_page(
            viewport={"width": 1100, "height": 900}, accept_downloads=True
        )
        await page.goto(link.group(1))
        await page.get_by_role("button", name="Log in to the panel").click()
        await expect(page.locator("h1")).to_have_text(re.compile("Dashboard|ទិដ្ឋភាពទូទៅ"))
        await _language(page, "en")

        # 2. They add a session.
        await page.goto(f"{base}/sessions")
        await page.fill("input[name=starts_at]", local(30))
        for field, value in {
            "venue_name_km": "មណ្ឌលប្រឡង", "venue_name_en": "Browser centre",
            "venue_name_ja": "会場", "venue_address_km": "ភ្នំពេញ",
            "venue_address_en": "Phnom Penh", "venue_address_ja": "プノンペン",
            "latitude": "11.55", "longitude": "104.92", "capacity": "5",
        }.items():  # fmt: skip
            await page.fill(f"input[name={field}]", value)
        await page.fill("input[name=registration_opens_at]", local(-1))
        await page.fill("input[name=registration_closes_at]", local(20))
        await page.get_by_role("button", name="Add the session").click()
        await expect(page.locator("p.notice")).to_have_text("Session 1 added.")

        # 3-4. An applicant books it in Telegram; the registration appears in the panel.
        confirmed = await book_through_telegram(telegram, APPLICANT, PickSession(1).pack())
        assert "registered" in confirmed.text
        await page.reload()
        row = page.locator("#registrations tbody tr", has_text="CHAN SOKHA")
        await expect(row).to_contain_text("confirmed")

        # 5. Checked in, then undone.
        await row.get_by_role("button", name="Checked in").click()
        await expect(
            page.locator("#registrations tbody tr", has_text="CHAN SOKHA")
        ).to_contain_text("attended")
        await page.get_by_role("button", name="Undo check-in").click()
        await expect(
            page.locator("#registrations tbody tr", has_text="CHAN SOKHA")
        ).to_contain_text("confirmed")

        # 8. The sign-in sheet downloads and reads back.
        async with page.expect_download() as waiting:
            await page.get_by_role("link", name="CSV").click()
        download = await waiting.value
        sheet = (await asyncio.to_thread(Path(await download.path()).read_bytes)).decode(
            "utf-8-sig"
        )
        rows = list(csv.reader(io.StringIO(sheet)))
        assert any("CHAN SOKHA" in cell.upper() for cell in rows[1])

        # 6. A broadcast in three languages runs to 100%, the progress updating on screen.
        await page.goto(f"{base}/broadcasts")
        await page.fill("textarea[name=text_km]", "<b>សូមយកប៊ិចមកជាមួយ</b>")
        await page.fill("textarea[name=text_en]", "<b>Bring a pen</b>")
        await page.fill("textarea[name=text_ja]", "<b>ペンを持ってきてください</b>")
        await expect(page.locator("#preview b", has_text="Bring a pen")).to_be_visible()
        await expect(page.locator("#recipient-total")).to_have_text("2")
        await page.get_by_role("button", name="Send the broadcast").click()
        await expect(page.locator("p.notice")).to_contain_text("Broadcast queued for 2 people.")
        await expect(page.locator(".progress b")).to_have_text("100%", timeout=30_000)
        await expect(page.locator(".progress")).to_contain_text("Finished")
        await telegram.wait_until_message(APPLICANT, "Bring a pen", timeout=10)

        # 7. An unanswered question is attached to an entry; asked again, the bot answers it.
        telegram.user_sends(APPLICANT, QUESTION)
        question = page.locator("section.question", has_text=QUESTION)
        for _ in range(50):  # until the bot has handled it (the broadcast came first)
            await page.goto(f"{base}/questions")
            if await question.count():
                break
            await asyncio.sleep(0.2)
        await question.locator("select[name=entry]").select_option("titp-what")
        await question.get_by_role("button", name="Attach to this entry").click()
        await expect(page.locator("p.notice")).to_contain_text("Attached")
        answer = await _answer_after_teaching(telegram)
        assert "Technical Intern Training" in answer

        # Screenshots of every page, in Khmer and in English.
        for language in ("km", "en"):
            await _language(page, language)
            for path in PAGES:
                await page.goto(base + path)
                name = path.strip("/").replace("/", "-") or "dashboard"
                await page.screenshot(path=screens / f"{name}-{language}.png", full_page=True)
        # On a phone: nothing wider than the screen but the tables, which scroll in place.
        await page.set_viewport_size({"width": 390, "height": 844})
        for path in PAGES:
            await page.goto(base + path)
            wider = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert wider <= 0, path
        await page.goto(f"{base}/sessions/1")
        await page.screenshot(path=screens / "phone-sessions-1-en.png", full_page=True)
        await page.close()
    assert len(list(screens.glob("*.png"))) == 2 * len(PAGES) + 1
    docs = os.environ.get("PANEL_SCREENSHOTS_TO")
    if docs:  # `PANEL_SCREENSHOTS_TO=docs pytest ...` refreshes the README's pictures
        shutil.copy(screens / "dashboard-km.png", Path(docs) / "panel-dashboard-km.png")
        shutil.copy(screens / "sessions-1-en.png", Path(docs) / "panel-session-en.png")


async def _language(page: Page, locale: str) -> None:
    await page.locator(f"form[action='/language'] button[value={locale}]").click()
    await expect(page.locator("html")).to_have_attribute("lang", locale)


async def _answer_after_teaching(telegram: FakeTelegram) -> str:
    """The bot's answer to the same question once it has learnt it (within seconds)."""
    for _ in range(20):
        reply = await answer_and_read(telegram, APPLICANT, "user_sends", QUESTION)
        if "Technical Intern Training" in reply.text:
            return reply.text
        await asyncio.sleep(1)
    return reply.text
