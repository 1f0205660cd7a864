"""Loading the gettext catalogs in locales/ with Babel, compiled in memory at start."""

from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from handlers.core.texts import LOCALES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def catalog_path(locale: str, locales_dir: Path = LOCALES_DIR) -> Path:
    return locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(locales_dir: Path = LOCALES_DIR) -> dict[str, Translations]:
    """Every locale's catalog, compiled from its .po file (no .mo files in git)."""
    translations = {}
    for locale in LOCALES:
        with catalog_path(locale, locales_dir).open("rb") as po:
            catalog = read_po(po, locale=locale, domain=DOMAIN)
        compiled = BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)
        compiled.seek(0)
        translations[locale] = Translations(compiled, domain=DOMAIN)
    return translations
