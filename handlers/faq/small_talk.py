"""Greetings, thanks, "ok", farewells and emoji: messages that are not questions.

A message is small talk when it is made only of such words (and polite fillers such as
"bong", "បាទ", "です"), in Khmer, romanised Khmer, English or Japanese; "hello, how much
is the test?" is a question. Romanised words are compared by their sound-alike key, so
"arkun", "orkun" and "aw kun" are one word.
"""

import re
from functools import cache
from typing import Literal

from handlers.faq.matching import fold_roman, normalize

SmallTalk = Literal["hello", "thanks", "ok", "bye", "emoji"]

PHRASES: dict[SmallTalk, tuple[str, ...]] = {
    "hello": (
        "hello",
        "hi",
        "hey",
        "helo",
        "hallo",
        "good morning",
        "good afternoon",
        "good evening",
        "morning",
        "yo",
        "chum reap suor",
        "chumreap suor",
        "chum reap sour",
        "chom reap sour",
        "reap suor",
        "suo sdey",
        "sousdey",
        "sur sdey",
        "suosdey",
        "sua sdei",
        "សួស្តី",
        "សួស្ដី",
        "ជំរាបសួរ",
        "ជម្រាបសួរ",
        "អរុណសួស្តី",
        "សាយណ្ហសួស្តី",
        "ហាយ",
        "こんにちは",
        "こんばんは",
        "おはよう",
        "おはようございます",
        "はじめまして",
        "お疲れ様です",
        "お疲れさまです",
        "おつかれさまです",
        "お疲れ様",
        "やあ",
    ),
    "thanks": (
        "thanks",
        "thank",
        "thank you",
        "thank u",
        "thx",
        "tq",
        "ty",
        "thanks a lot",
        "thank you very much",
        "many thanks",
        "arkun",
        "orkun",
        "akun",
        "or kun",
        "aw kun",
        "arkun chran",
        "orkun chraen",
        "arkun chreun",
        "arkun chraen",
        "អរគុណ",
        "អរគុណច្រើន",
        "អរគុណណាស់",
        "សូមអរគុណ",
        "ありがとう",
        "ありがとうございます",
        "ありがとうございました",
        "どうも",
        "感謝します",
    ),
    "ok": (
        "ok",
        "okay",
        "oke",
        "okey",
        "k",
        "kk",
        "yes",
        "no",
        "sure",
        "fine",
        "good",
        "great",
        "nice",
        "cool",
        "i see",
        "got it",
        "understood",
        "noted",
        "well noted",
        "haha",
        "hehe",
        "lol",
        "bat",
        "baat",
        "cha",
        "chas",
        "jas",
        "ban",
        "yol",
        "yol hz",
        "yl",
        "l'or",
        "lor",
        "អូខេ",
        "បាទ",
        "ចាស",
        "ចា៎ស",
        "បាន",
        "យល់ហើយ",
        "យល់",
        "ល្អ",
        "ល្អណាស់",
        "ហាហា",
        "はい",
        "了解",
        "わかりました",
        "分かりました",
        "オッケー",
        "いいね",
        "なるほど",
        "sorry",
        "som tos",
        "somtos",
        "sum tus",
        "សុំទោស",
        "すみません",
        "ごめんなさい",
    ),
    "bye": (
        "bye",
        "bye bye",
        "goodbye",
        "good bye",
        "see you",
        "see ya",
        "good night",
        "lea sen hoy",
        "lea hoy",
        "lea sen",
        "leahaey",
        "លាហើយ",
        "លាសិនហើយ",
        "ជួបគ្នាពេលក្រោយ",
        "រាត្រីសួស្តី",
        "さようなら",
        "じゃあね",
        "またね",
        "おやすみ",
        "おやすみなさい",
        "失礼します",
    ),
}
# Words that only add politeness or address someone: they never make a message a question.
FILLERS = (
    "bong",
    "bang",
    "sir",
    "madam",
    "admin",
    "teacher",
    "bro",
    "brother",
    "sis",
    "please",
    "pls",
    "so much",
    "very much",
    "som",
    "na",
    "nas",
    "oun",
    "p'oun",
    "kru",
    "បង",
    "អ្នក",
    "ណា",
    "ណាស់",
    "ច្រើន",
    "លោក",
    "គ្រូ",
    "អ៊ុំ",
    "សូម",
    "ប្អូន",
    "さん",
    "です",
    "ね",
    "よ",
    "先生",
    "本当に",
    "どうも",
    "ございます",
)
# Emoji and pictographs, with their joiners and variation selectors.
EMOJI = re.compile(
    "[\u2190-\u21ff\u2300-\u27bf\u2b00-\u2bff\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
    "\u200d\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]"
)


def small_talk(text: str) -> SmallTalk | None:
    """What kind of small talk the message is, or None for anything else."""
    plain = normalize(text)
    if LAUGHTER_IN_THAI.fullmatch(plain):
        return "ok"
    units = _units(plain)
    if not units:
        bare = "".join(text.split())
        if bare and EMOJI.sub("", bare) != bare and not normalize(EMOJI.sub("", bare)):
            return "emoji"  # emoji and punctuation only: "👍", "🙏🙏", "😊!"
        return None
    kinds = _cover(tuple(units))
    if kinds is None:
        return None
    for kind in ("thanks", "bye", "hello", "ok"):  # "ok thanks" is thanks
        if kind in kinds:
            return kind
    return "hello"  # only a way of addressing someone: "bong?", "admin"


# Laughter of any length, as a single unit: "hahaha", "hehe", "ហាហាហា", "ហាៗ", "www" and
# "笑" (Japanese).
LAUGHTER = re.compile(
    r"a?(?:ha){2,}h?|(?:he){2,}h?|(?:hi){2,}|lo+l|w{3,}|(?:ហា){2,}|(?:ហិ){2,}|(?:ហា|ហិ)ៗ+|笑"
)
# "555" is laughter in Thai chat, which some Cambodians follow; as part of a message it
# is more likely a number (a price, a score), so only a message of nothing else counts.
LAUGHTER_IN_THAI = re.compile(r"5{3,}")


def _units(plain: str) -> list[str]:
    """A normalised text as units to match: a romanised word each, or a Khmer/kana letter."""
    units: list[str] = []
    for word in plain.split():
        if LAUGHTER.fullmatch(word):
            units.append("haha")
        elif word.isascii():
            units.append(fold_roman(word))
        else:
            units += list(word)
    return units


@cache
def _phrases_by_first_unit() -> dict[str, list[tuple[tuple[str, ...], SmallTalk | None]]]:
    """The phrases and fillers as units, filed by their first unit (every text is checked)."""
    phrases: list[tuple[tuple[str, ...], SmallTalk | None]] = [
        (tuple(_units(normalize(phrase))), kind)
        for kind, texts in PHRASES.items()
        for phrase in texts
    ]
    phrases += [(tuple(_units(normalize(phrase))), None) for phrase in FILLERS]
    by_first_unit: dict[str, list[tuple[tuple[str, ...], SmallTalk | None]]] = {}
    for units, kind in phrases:
        if units:
            by_first_unit.setdefault(units[0], []).append((units, kind))
    return by_first_unit


def _cover(units: tuple[str, ...]) -> set[SmallTalk] | None:
    """The kinds of the phrases that make up `units` exactly, or None if none do."""
    # reach[i]: the kinds seen on some way of covering units[:i] with phrases.
    reach: list[set[SmallTalk] | None] = [set()] + [None] * len(units)
    for start in range(len(units)):
        seen = reach[start]
        if seen is None:
            continue
        for phrase, kind in _phrases_by_first_unit().get(units[start], ()):
            end = start + len(phrase)
            if units[start:end] == phrase:
                kinds = seen | ({kind} if kind else set())
                reach[end] = kinds if reach[end] is None else (reach[end] or set()) | kinds
    return reach[-1]


URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|org|net|kh|jp|io|me|ly)(?:/\S*)?", re.IGNORECASE
)
PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def words_left(text: str) -> str:
    """The normalised text without links and phone numbers: "" when nothing can be asked."""
    return normalize(PHONE.sub(" ", URL.sub(" ", text)))
