"""Demo data for the console: exams and October/November sessions to book, clearly marked."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import utcnow
from models.sessions import Exam, SessionDraft, add_session

DEMO_EXAMS = [
    Exam(
        id="jft-basic",
        name_km="តេស្តភាសាជប៉ុនមូលដ្ឋាន JFT-Basic",
        name_en="Japanese language test (JFT-Basic)",
        name_ja="国際交流基金日本語基礎テスト（JFT-Basic）",
    ),
    Exam(
        id="nursing-care",
        name_km="ការប្រឡងជំនាញថែទាំ",
        name_en="Nursing care skills test",
        name_ja="介護技能評価試験",
    ),
    Exam(
        id="nursing-care-japanese",
        name_km="ការប្រឡងភាសាជប៉ុនសម្រាប់ការថែទាំ",
        name_en="Nursing care Japanese language test",
        name_ja="介護日本語評価試験",
    ),
]
# Demo venues: the real centres and addresses come from the test office.
VENUES: list[dict[str, str | float]] = [
    {
        "venue_name_km": "មណ្ឌលប្រឡងភ្នំពេញ (សាកល្បង)",
        "venue_name_en": "Phnom Penh test centre (demo)",
        "venue_name_ja": "プノンペン試験会場（デモ）",
        "venue_address_km": "ភ្នំពេញ (អាសយដ្ឋានសាកល្បង)",
        "venue_address_en": "Phnom Penh (demo address)",
        "venue_address_ja": "プノンペン（デモ住所）",
        "latitude": 11.5564,
        "longitude": 104.9282,
    },
    {
        "venue_name_km": "មណ្ឌលប្រឡងសៀមរាប (សាកល្បង)",
        "venue_name_en": "Siem Reap test centre (demo)",
        "venue_name_ja": "シェムリアップ試験会場（デモ）",
        "venue_address_km": "សៀមរាប (អាសយដ្ឋានសាកល្បង)",
        "venue_address_en": "Siem Reap (demo address)",
        "venue_address_ja": "シェムリアップ（デモ住所）",
        "latitude": 13.3633,
        "longitude": 103.8564,
    },
]
# (exam, venue, month, day, hour, seats)
SESSIONS = [
    ("jft-basic", 0, 10, 17, 8, 40),
    ("jft-basic", 1, 10, 24, 8, 30),
    ("jft-basic", 0, 11, 14, 13, 40),
    ("nursing-care", 0, 10, 18, 8, 25),
    ("nursing-care", 1, 11, 21, 8, 20),
    ("nursing-care-japanese", 0, 11, 7, 10, 25),
]


async def seed_demo(db: AsyncSession, zone: ZoneInfo, now: datetime | None = None) -> bool:
    """Adds the demo exams and sessions to an empty database; False if it has exams already."""
    if (await db.exec(select(func.count()).select_from(Exam))).one():
        return False
    now = now or utcnow()
    year = now.year + 1 if now.month >= 10 else now.year  # the coming October and November
    db.add_all([Exam.model_validate(exam.model_dump()) for exam in DEMO_EXAMS])
    await db.flush()
    for exam_id, venue, month, day, hour, seats in SESSIONS:
        starts = datetime(year, month, day, hour, tzinfo=zone)
        draft = SessionDraft.model_validate(
            {
                "exam_id": exam_id,
                "starts_at": starts,
                "capacity": seats,
                "registration_opens_at": now - timedelta(days=1),
                "registration_closes_at": starts - timedelta(days=3),
                **VENUES[venue],
            }
        )
        await add_session(db, draft)
    return True
