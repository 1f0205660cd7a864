"""Test sessions made straight in the database, for tests that do not go through staff."""

from datetime import UTC, datetime, timedelta

from bot.app import App
from models import Exam, TestSession
from models.columns import utcnow

NOW = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
# A session file as staff import it (`sessions import`, the panel): the header and one row.
CSV_HEADER = (
    "exam,starts_at,venue_name_km,venue_name_en,venue_name_ja,venue_address_km,"
    "venue_address_en,venue_address_ja,latitude,longitude,capacity,"
    "registration_opens_at,registration_closes_at"
)
CSV_ROW = (
    "jft-basic,2027-10-17 08:00,មណ្ឌល,Centre,会場,ភ្នំពេញ,Phnom Penh,プノンペン,"
    "11.55,104.92,40,2027-08-01 08:00,2027-10-12 17:00"
)


async def make_session(app: App, capacity: int, **changes: object) -> int:
    """A JFT-Basic session with `capacity` seats, open now (at NOW); `changes` set its fields."""
    async with app.conversation.sessions() as db, db.begin():
        if await db.get(Exam, "jft-basic") is None:
            db.add(
                Exam(id="jft-basic", name_km="JFT-Basic", name_en="JFT-Basic", name_ja="JFT-Basic")
            )
        values: dict = {
            "exam_id": "jft-basic",
            "starts_at": NOW + timedelta(days=30),
            "venue_name_km": "v", "venue_name_en": "v", "venue_name_ja": "v",
            "venue_address_km": "a", "venue_address_en": "a", "venue_address_ja": "a",
            "latitude": 11.56, "longitude": 104.92,
            "capacity": capacity,
            "registration_opens_at": NOW - timedelta(days=1),
            "registration_closes_at": NOW + timedelta(days=20),
        }  # fmt: skip
        values.update(changes)
        session = TestSession(**values)
        db.add(session)
        await db.flush()
        assert session.id is not None
        return session.id


async def open_session(app: App, venue: str, starts_in: timedelta = timedelta(days=30)) -> int:
    """A JFT-Basic session at `venue`, open for booking now (by the real clock)."""
    now = utcnow()
    return await make_session(
        app,
        10,
        starts_at=now + starts_in,
        venue_name_km=venue, venue_name_en=venue, venue_name_ja=venue,
        registration_opens_at=now - timedelta(days=1),
        registration_closes_at=now + starts_in - timedelta(days=3),
    )  # fmt: skip
