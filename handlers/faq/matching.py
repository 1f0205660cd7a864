"""Finding the FAQ entry a free-text question is about, and how sure to be of it.

Khmer is written without spaces between words, people type romanised Khmer with
no fixed spelling, and the same Khmer word has several encodings; so questions
and phrasings are first normalised, then compared as character n-grams, which
need no word segmentation and forgive typos. A multilingual sentence embedding
adds what wording misses: other words for the same thing, in any language.
"""

import dataclasses
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from handlers.faq.entry_classifier import EntryClassifier

# Invisible characters: zero-width spaces and joiners, BOM, and bidi controls.
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u17b4\u17b5]")
KHMER_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")
# A dependent vowel typed before a subscript consonant (សិទិ្ធ for សិទ្ធិ): put it after.
VOWEL_BEFORE_SUBSCRIPT = re.compile("([\u17b6-\u17c5])(\u17d2[\u1780-\u17a2])")
# One letter, two spellings: ឲ/ឱ, and the subscript da/ta (្ដ/្ត) that writers mix up.
KHMER_VARIANTS = str.maketrans({"ឲ": "ឱ"})
SUBSCRIPT_DA, SUBSCRIPT_TA = "\u17d2\u178a", "\u17d2\u178f"
# Questions whose wording scores are kept for a moment (each is 50 KB).
RECENT_QUESTIONS = 32
SHORT_KHMER_WORD = 8  # characters (with its marks): ប្រឡង is 5, ភ្នាក់ងារ 9
# Kana and kanji: a question in Japanese (Khmer script has neither).
JAPANESE = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")
# Everything that is not a letter, mark or digit separates words.
SEPARATORS = re.compile(r"[^\w\u1780-\u17dd]+")

# Romanised Khmer has no fixed spelling. Whole words first: SMS shortcuts, split words.
ROMAN_WORDS = {
    "jp": "japan",
    "jpn": "japan",
    "jpan": "japan",
    "japn": "japan",
    "dg": "deng",
    "ymch": "yang mech",
    "ym": "yang mech",
    "pm": "ponman",
}
ROMAN_JOINS = re.compile(r"\b(pon|bon|bun|pun) (man|mann)\b|\b(kam|kom) (rit|reth|rith)\b")
# Then the letters, in this order: one letter for the sounds that are spelled several ways.
ROMAN_FOLDS = (
    (re.compile(r"j|chh?"), "c"),  # ជ/ឈ/ច: "jea", "chea"; "chhnam", "chnam"
    (re.compile(r"([bcdgkmnprstvwy])h"), r"\1"),  # kh/k, ph/p, th/t, nh/n
    (re.compile(r"b"), "p"),  # ប/ព: "bonman", "ponman"
    (re.compile(r"d"), "t"),  # ដ/ត: "dov", "tov"
    (re.compile(r"w"), "v"),  # វ: "tow", "tov"
    (re.compile(r"h$"), "s"),  # a final ះ/ស: "chmoh", "chmos"
    (re.compile(r"(?<=[aeiouy])r(?=[^aeiouy]|$)"), ""),  # silent r: "kar"/"ka", "lerng"
    (re.compile(r"(.)\1+"), r"\1"),  # doubled letters: "ee", "oo", "nn"
    (re.compile(r"[aeiouy]+"), "a"),  # vowels are spelled every which way
)


def normalize(text: str) -> str:
    """Lower-cased text with one spelling per word and single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = INVISIBLE.sub("", text)
    text = text.translate(KHMER_DIGITS).translate(KHMER_VARIANTS)
    text = VOWEL_BEFORE_SUBSCRIPT.sub(r"\2\1", text)
    text = text.replace(SUBSCRIPT_DA, SUBSCRIPT_TA)
    text = SEPARATORS.sub(" ", text.casefold())
    return " ".join(text.split())


def fold_roman(text: str) -> str:
    """A rough sound-alike key for Latin words, so "chhreun" meets "chrern"."""
    text = " ".join(ROMAN_WORDS.get(word, word) for word in text.split())
    text = ROMAN_JOINS.sub(lambda found: "".join(filter(None, found.groups())), text)
    words = []
    for word in text.split():
        if word.isascii() and word.isalpha():
            for pattern, replacement in ROMAN_FOLDS:
                word = pattern.sub(replacement, word)
        words.append(word)
    return " ".join(words)


# The programmes go by several names in every language; their phrasings mostly use the
# short one ("SSWមានវិស័យអ្វីខ្លះ"), applicants often the full one ("ពលករជំនាញពិសេស មាន
# ការងារផ្នែកអីខ្លះ"). The wording also compares each text with the names made one word
# (written apart from the Khmer or kana around them), so the rest of the question decides.
PROGRAMME_NAMES = (
    (
        re.compile(
            r"specified skill(?:ed)? workers?|tokutei(?: gino?u?)?|ពលករជំនាញពិសេស|ជំនាញពិសេស"
            r"|តូគូតេ(?:គីណូ)?|特定技能|とくていぎのう"
        ),
        " ssw ",
    ),
    (
        re.compile(
            r"technical intern(?:ship)?(?: training)?(?: program(?:me)?)?|gino?u? jisshu"
            r"|កម្មសិក្សាការី|កម្មសិក្សាបច្ចេកទេស|技能実習(?:制度)?|ぎのうじっしゅう"
        ),
        " titp ",
    ),
)
# A Latin word glued to Khmer ("sswមាន"): two words. (Not to Japanese: splitting
# "jftの" there lost a development question.)
LATIN_BESIDE_KHMER = re.compile(
    r"(?<=[a-z0-9])(?=[\u1780-\u17ff])|(?<=[\u1780-\u17ff])(?=[a-z0-9])"
)


def one_name_per_programme(plain: str) -> str:
    """A normalised text with each programme called by one name, as a word of its own."""
    for name, canonical in PROGRAMME_NAMES:
        plain = name.sub(canonical, plain)
    return " ".join(LATIN_BESIDE_KHMER.sub(" ", plain).split())


def mostly_latin(text: str) -> bool:
    """True when most letters are Latin (English, romanised Khmer)."""
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and sum(char.isascii() for char in letters) * 2 > len(letters)


# Everyday romanised Khmer words that English questions do not use, in common spellings.
ROMAN_KHMER = """
bong ban ot ort ey ei avey klas klah khlas khlah yang yg mech mdech mdach na pek mong maong
ponman ponmann bonman tov dov trov chong jong knhom khnhom knyom hz hery haey rouch jea chea
ches jes ke pel thngai tngai chnam chhnam brolong prolong pralong luy tlai thlai tver thver
kar ngea dak peak pak chos chmous chhmous chhmos nis nih del ach sour som oy nung nig ning pi
dol mun kroy krouy tiet pheasa krom hun kat moy mouy muoy dg deng yu kert krousa noam rean
rien polakor chomnanh kamasiksa pintu rom lerk rong cham neati yeut mok lek pdo dor lub kok
merl meul nak neak ru rok chbab sonya ksuong krasuong ekasa lekhet kech sanya thanea prak
khos knea bok klach chraen chraern tae ku laor
"""
ROMAN_KHMER_WORDS = frozenset(ROMAN_KHMER.split())


def romanised_khmer(text: str) -> bool:
    """True when a normalised text in Latin letters has a word only romanised Khmer uses."""
    return any(word in ROMAN_KHMER_WORDS for word in text.split())


def one_word(plain: str) -> bool:
    """True for a normalised text of one word: in Khmer script, which has no spaces
    between words, a short one."""
    return " " not in plain and (mostly_latin(plain) or len(plain) <= SHORT_KHMER_WORD)


@dataclasses.dataclass(frozen=True, slots=True)
class Bars:
    """How one kind of question is scored and where its confidence bands begin (0..1)."""

    lexical_weight: float  # the wording's share of the blend
    classifier_weight: float  # the entry classifier's; the nearest phrasing's meaning has the rest
    answer: float  # the best entry is answered from here
    margin: float  # ... if it leads the runner-up by this much
    sure: float  # ... or whatever the runner-up, from here
    suggest: float  # below the answer bar, entries from here are offered as "did you mean"
    suggest_gap: float  # ... when they score within this of the best one
    related: float  # beside an answer, other entries this far above the bar are offered


@dataclasses.dataclass(frozen=True, slots=True)
class BarsByScript:
    """Khmer script, Japanese, English, and romanised Khmer.

    Any two Latin-script sentences share many n-grams ("how", "the", "can i"), so a
    question in Latin letters needs a closer match; romanised Khmer, with no fixed
    spelling and few words the meaning model knows, rarely gets one.
    """

    script: Bars
    japanese: Bars
    latin: Bars
    roman: Bars


# Tuned with bench/faq_eval.py, on its development sets only.
LEXICAL_BARS = BarsByScript(
    script=Bars(
        1.0, 0, answer=0.30, margin=0.0, sure=0.0, suggest=0.2, suggest_gap=0.15, related=0.1
    ),
    japanese=Bars(
        1.0, 0, answer=0.30, margin=0.0, sure=0.0, suggest=0.2, suggest_gap=0.15, related=0.1
    ),
    latin=Bars(
        1.0, 0, answer=0.52, margin=0.0, sure=0.0, suggest=0.42, suggest_gap=0.15, related=0.1
    ),
    roman=Bars(
        1.0, 0, answer=0.52, margin=0.0, sure=0.0, suggest=0.42, suggest_gap=0.15, related=0.1
    ),
)
# Khmer script leans on the wording (the model knows Khmer least well), Japanese and
# English on the meaning, romanised Khmer on the wording and the classifier: the nearest
# phrasing's meaning is mostly noise there (no two people spell it alike).
# The classifier's probabilities are lower than the nearest phrasing's standing, so the
# answer bars sit lower than before it; a near tie below "sure" is asked about.
BLENDED_BARS = BarsByScript(
    script=Bars(
        0.5, 0.1, answer=0.18, margin=0.02, sure=0.28, suggest=0.1, suggest_gap=0.15, related=0.1
    ),
    japanese=Bars(
        0.2, 0.4, answer=0.34, margin=0.0, sure=0.34, suggest=0.26, suggest_gap=0.15, related=0.1
    ),
    latin=Bars(
        0.2, 0.4, answer=0.26, margin=0.1, sure=0.36, suggest=0.18, suggest_gap=0.15, related=0.1
    ),
    roman=Bars(
        0.7, 0.3, answer=0.22, margin=0.1, sure=0.42, suggest=0.14, suggest_gap=0.15, related=0.1
    ),
)
# The meaning score is how far (in standard deviations) a phrasing stands out from all
# phrasings for this question, mapped from MEANING_Z to 0..1: raw e5 cosines sit in a
# narrow band whose height depends on the script, so only their standing is comparable
# across questions.
MEANING_Z = (2.0, 6.0)
# The wording alone decides when the best entry scores this much and leads by this much:
# 19-28% of the development sets' questions, no on-topic answer changed by it.
WORDING_DECIDES = (0.7, 0.2)
NOT_IN_FAQ = "(not in the FAQ)"  # what questions that no entry answers are filed under
# How much each off-topic phrasing counts in the classifier's training. They outnumber any
# entry's phrasings several times over, and at full weight drew on-topic questions away
# from their entries (development sets: 0.8 answered three more right, off-topic alike).
NOT_IN_FAQ_WEIGHT = 0.8
# The FAQ is about Japan: a question naming another destination is not for it, however
# much it sounds like one ("how do I get a visa for Korea").
ANOTHER_DESTINATION = re.compile(
    r"\b(?:korea|kore|taiwan|thailand|thai|malaysia|singapore|australia|canada|america|usa"
    r"|europe|kuwait|saudi|dubai|qatar|china)\b"
    r"|កូរ៉េ|ថៃ|ម៉ាឡេស៊ី|តៃវ៉ាន់|សិង្ហបុរី|អូស្ត្រាលី|កាណាដា|អាមេរិក|គុយវ៉ែត|អារ៉ាប៊ី"
    r"|韓国|台湾|(?<![ァ-ヺー])タイ(?![ァ-ヺー])|マレーシア|シンガポール|オーストラリア|カナダ"
    r"|アメリカ|中国|クウェート|サウジ",
    re.IGNORECASE,
)


# ... unless it names Japan, its tests or Cambodia too: "can I take JFT in Cambodia or
# must I go to Thailand" is about the FAQ's world.
JAPAN_OR_HOME = re.compile(
    r"\b(?:japan|jp|jpn|jft|jlpt|ssw|titp|tokutei|cambodia|srok khmer)\b"
    r"|ជប៉ុន|កម្ពុជា|ស្រុកខ្មែរ|日本|カンボジア"
)
# Nor is a question naming another exam, English or driving ("toeic exam fee in cambodia"
# is not the JFT's fee), unless it names Japan or its tests as well. (Not the school-
# leaving exam: "no bac ii, can I apply" is the FAQ's.) Latin names are matched between
# non-letters: Japanese has no spaces before "は".
ANOTHER_EXAM = re.compile(
    r"(?<![a-z])(?:ielts|toeic|toefl|topik|eju|driving licen[cs]e"
    r"|driver'?s? licen[cs]e|motorbike licen[cs]e|car licen[cs]e)(?![a-z])"
    r"|ប័ណ្ណបើកបរ|បណ្ណបើកបរ|ប្រឡងបើកបរ|運転免許|英検|留学試験",
    re.IGNORECASE,
)
JAPAN = re.compile(r"\b(?:japan|jp|jpn|jft|jlpt|nat|ssw|titp|tokutei)\b|ជប៉ុន|日本")


class MeaningModel(Protocol):
    """Sentence vectors: phrasings' kept (`embed`), questions' not (`embed_question`)."""

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def embed_question(self, text: str) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    """An FAQ entry and how well it matched, 0..100."""

    entry_id: str
    score: float


@dataclasses.dataclass(frozen=True, slots=True)
class Signals:
    """One question's score for every entry on each signal, 0..1."""

    wording: np.ndarray  # the best phrasing's character n-grams
    meaning: np.ndarray  # the nearest phrasing's meaning vector, by its standing
    classified: np.ndarray  # the entry classifier's probability


@dataclasses.dataclass(frozen=True, slots=True)
class Understanding:
    """What a typed question is about, as sure as the scores allow.

    An answer (`entry_id`, with perhaps related entries in `suggestions`); or no answer
    but "did you mean" `suggestions`; or neither: the bot does not know.
    """

    entry_id: str | None
    suggestions: tuple[str, ...] = ()


class LexicalIndex:
    """Phrasings as bags of character n-grams weighted by TF-IDF, as an inverted index.

    The rare, telling fragments of a word ("deposit", "ប៉ាស្ព័រ") count for more than the
    ones every question shares ("how", "យ៉ាងម៉េច"); no word segmentation needed. The maths
    is scikit-learn's `TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4),
    sublinear_tf=True)`, done by hand: importing scikit-learn alone takes over a second
    of the bot's start-up, and its transform() a millisecond per question (a test holds
    the two to the same scores).
    """

    def __init__(self, phrasings: list[str]) -> None:
        self.rows: list[int] = []  # the phrasing of each document
        self._vocabulary: dict[str, int] = {}
        columns: list[int] = []  # every n-gram of every document, as its column ...
        documents: list[int] = []  # ... and its document
        for row, phrasing in enumerate(phrasings):
            plain = normalize(phrasing)
            for document in {plain, fold_roman(plain), one_name_per_programme(plain)}:
                if document:
                    ngrams = word_ngrams(document)
                    columns += [
                        self._vocabulary.setdefault(g, len(self._vocabulary)) for g in ngrams
                    ]
                    documents += [len(self.rows)] * len(ngrams)
                    self.rows.append(row)
        # Counted with numpy, not per document in Python: start-up waits for this.
        width = len(self._vocabulary)
        cells, counts = np.unique(
            np.array(documents, dtype=np.int64) * width + np.array(columns), return_counts=True
        )
        of_document, of_ngram = np.divmod(cells, width)
        # Smoothed idf: as if one more document held every n-gram once.
        frequency = np.bincount(of_ngram, minlength=width)
        self._idf = np.log((1 + len(self.rows)) / (1 + frequency)) + 1
        weight = (1 + np.log(counts)) * self._idf[of_ngram]
        weight /= np.sqrt(np.bincount(of_document, weight * weight))[of_document]
        # Each n-gram's documents and weights, side by side (an inverted index).
        by_column = np.argsort(of_ngram, kind="stable")
        self._documents = of_document[by_column].astype(np.int32)
        self._weights_by_column = weight[by_column]
        self._starts = np.concatenate(([0], np.cumsum(frequency)))
        # The latest questions' scores: the read-ahead scores a question's wording (to
        # know whether the model is needed) just before its transaction does again.
        self._recent: dict[str, np.ndarray] = {}

    def similarity(self, plain: str) -> np.ndarray:
        """Cosine similarity (0..1) of a normalised question to every document (read-only).

        Spellings are folded only in romanised Khmer: folded English words meet
        strangers ("building" and "booking").
        """
        found = self._recent.get(plain)
        if found is not None:
            return found
        found = self._cosine(plain)
        named = one_name_per_programme(plain)
        if named != plain:
            found = np.maximum(found, self._cosine(named))
        if romanised_khmer(plain):
            found = np.maximum(found, self._cosine(fold_roman(plain)))
        found.flags.writeable = False
        if len(self._recent) >= RECENT_QUESTIONS:
            self._recent.clear()  # only a shortcut: forgetting costs a millisecond
        self._recent[plain] = found
        return found

    def _cosine(self, document: str) -> np.ndarray:
        """Cosine similarity of `document` to every document."""
        weights = self._weights(Counter(word_ngrams(document)))
        if not weights:
            return np.zeros(len(self.rows))
        columns = np.fromiter(weights, dtype=np.int64, count=len(weights))
        starts, ends = self._starts[columns], self._starts[columns + 1]
        lengths = ends - starts
        # Every posting of the question's n-grams at once: each column's run of positions.
        positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        positions += np.arange(len(positions))
        products = self._weights_by_column[positions] * np.repeat(
            np.fromiter(weights.values(), dtype=float, count=len(weights)), lengths
        )
        return np.bincount(self._documents[positions], products, minlength=len(self.rows))

    def _weights(self, counts: Counter[str]) -> dict[int, float]:
        """Known n-grams' weights (sublinear tf times idf), scaled to unit length."""
        weights = {
            column: (1.0 + math.log(count)) * self._idf[column]
            for ngram, count in counts.items()
            if (column := self._vocabulary.get(ngram)) is not None
        }
        norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
        return {column: weight / norm for column, weight in weights.items()}


def word_ngrams(text: str, shortest: int = 2, longest: int = 4) -> list[str]:
    """The character n-grams of each word, padded with a space either side (a word
    shorter than n gives itself, padded, once)."""
    ngrams: list[str] = []
    for word in text.split():
        padded = f" {word} "
        for n in range(shortest, longest + 1):
            ngrams.extend(
                padded[start : start + n] for start in range(max(len(padded) - n, 0) + 1)
            )
            if len(padded) <= n:
                break
    return ngrams


# The phrasings (entry index, text) and each one's entry, as filed together at one moment.
Filed = tuple[tuple[tuple[int, str], ...], np.ndarray]


class BestPerEntry:
    """Each entry's best score, from scores given in a fixed order of phrasings (a sorted
    `reduceat`: `np.maximum.at` took 0.3 ms a question on 4,000 phrasings, this 0.01)."""

    def __init__(self, entry_of_score: np.ndarray, entries: int) -> None:
        self._order = np.argsort(entry_of_score, kind="stable")
        ordered = entry_of_score[self._order]
        self._starts = np.flatnonzero(np.diff(ordered, prepend=-1))
        self._entries = ordered[self._starts]
        self._count = entries

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        best = np.zeros(self._count)
        if len(self._starts):
            grouped = np.maximum.reduceat(scores[self._order], self._starts)
            best[self._entries] = np.maximum(grouped, 0)
        return best


class FaqMatcher:
    """Scores a question against every phrasing of every entry, in every locale.

    The wording (character n-grams: typos, romanised Khmer, no segmentation) and, once
    `use_meaning` gave it a model, the meaning (a multilingual sentence embedding: other
    words, other languages and scripts), read two ways: the entry's nearest phrasing,
    and a classifier trained on all phrasings. A blend of the three decides.
    """

    def __init__(
        self, phrasings: Iterable[tuple[str, str]], not_in_faq: Iterable[str] = ()
    ) -> None:
        """Takes (entry id, phrasing) pairs, and questions that no entry answers."""
        self._entry_ids: list[str] = []
        self._phrasings: list[tuple[int, str]] = []  # (entry index, text)
        for entry_id, text in phrasings:
            self._add(entry_id, text)
        # Questions near the domain but not in it ("grade 12 exam results") compete like
        # an entry: when one of them wins, the honest answer is "I don't know".
        for text in not_in_faq:
            self._add(NOT_IN_FAQ, text)
        # The classifier learns from the content's phrasings (the first ones), not those
        # staff teach at run time, so that its training is kept once per content version.
        self._content_count = len(self._phrasings)
        # Built at first use (`_wording_index`), with the way to each entry's best score.
        # Each built from one filing of the phrasings, and kept with it: a build that
        # raced a teach (worker thread vs event loop) is seen to be stale and built again.
        self._lexical_index: tuple[Filed, LexicalIndex, BestPerEntry] | None = None
        self._word_for_word_index: tuple[Filed, dict[str, int]] | None = None
        self._building = threading.Lock()
        self._embedder: MeaningModel | None = None
        self._classifier: EntryClassifier | None = None
        # The phrasings' meaning vectors and the way to each entry's best, as one pair:
        # questions are matched in worker threads while staff teach on the event loop.
        self._meaning_index: tuple[np.ndarray, BestPerEntry]
        self._file_phrasings(np.zeros((0, 0), dtype=np.float32))

    def _file_phrasings(self, vectors: np.ndarray) -> None:
        """Files the phrasings, and their meaning `vectors`, under their entries again."""
        phrasings = tuple(self._phrasings)
        phrasing_entry = np.array([entry for entry, _ in phrasings])
        self._meaning_index = (vectors, BestPerEntry(phrasing_entry, len(self._entry_ids)))
        self._filed = (phrasings, phrasing_entry)  # what the indexes are built from

    @property
    def _wording_index(self) -> tuple[LexicalIndex, BestPerEntry]:
        """The wording index of today's phrasings, built once they are asked about (a
        staff command that loads the FAQ and never matches skips the work)."""
        filed = self._filed
        built = self._lexical_index
        if built is None or built[0] is not filed:
            with self._building:  # questions may be matched in worker threads
                built = self._lexical_index
                if built is None or built[0] is not filed:
                    phrasings, phrasing_entry = filed
                    index = LexicalIndex([text for _, text in phrasings])
                    entries = BestPerEntry(phrasing_entry[index.rows], len(self._entry_ids))
                    built = self._lexical_index = (filed, index, entries)
        return built[1], built[2]

    @property
    def _lexical(self) -> LexicalIndex:
        return self._wording_index[0]

    @property
    def _word_for_word(self) -> dict[str, int]:
        """Each phrasing's normalised text and its entry (the latest taught wins)."""
        filed = self._filed
        built = self._word_for_word_index
        if built is None or built[0] is not filed:
            built = (filed, {normalize(text): entry for entry, text in filed[0]})
            self._word_for_word_index = built
        return built[1]

    def warm_up(self) -> None:
        """Builds the wording index now, not at the first question (slow: call it off the
        event loop)."""
        _ = self._lexical, self._word_for_word

    @property
    def understands_meaning(self) -> bool:
        return self._embedder is not None

    def use_meaning(self, embedder: MeaningModel, classifier_cache: Path | None = None) -> None:
        """Adds the meaning signals: embeds the phrasings not in the embedder's cache, and
        trains the entry classifier unless `classifier_cache` holds it (slow)."""
        vectors = embedder.embed([text for _, text in self._phrasings])
        content = slice(0, self._content_count)  # taught phrasings are only ever appended
        entries = self._filed[1][content]
        off_topic = self._entry_ids.index(NOT_IN_FAQ) if NOT_IN_FAQ in self._entry_ids else -1
        weights = np.where(entries == off_topic, NOT_IN_FAQ_WEIGHT, 1.0)
        classifier = EntryClassifier.trained(vectors[content], entries, classifier_cache, weights)
        self._classifier = classifier
        self._meaning_index = (vectors, self._meaning_index[1])  # the same phrasings
        self._embedder = embedder

    def add_phrasing(self, entry_id: str, text: str) -> None:
        """Teaches one more way of asking for an entry, to the wording and the nearest
        phrasing (the classifier knows the content's phrasings only)."""
        vectors = self._meaning_index[0]
        if self._embedder is not None:
            vectors = np.vstack([vectors, self._embedder.embed([text])])
        self._add(entry_id, text)
        self._file_phrasings(vectors)

    def remove_phrasing(self, entry_id: str, text: str) -> bool:
        """Forgets the latest added way of asking `text` for an entry; False if unknown."""
        if entry_id not in self._entry_ids:
            return False
        wanted = (self._entry_ids.index(entry_id), text)
        for index in range(len(self._phrasings) - 1, -1, -1):
            if self._phrasings[index] == wanted:
                del self._phrasings[index]
                self._content_count -= index < self._content_count
                vectors = self._meaning_index[0]
                if self._embedder is not None:
                    vectors = np.delete(vectors, index, axis=0)
                self._file_phrasings(vectors)
                return True
        return False

    def _add(self, entry_id: str, text: str) -> None:
        if entry_id not in self._entry_ids:
            self._entry_ids.append(entry_id)
        self._phrasings.append((self._entry_ids.index(entry_id), text))

    def sense(self, question: str) -> np.ndarray | None:
        """The question's meaning vector (the slow part: milliseconds of CPU, no GIL held),
        or None without the model or when the wording alone decides."""
        plain = normalize(question)[:300]
        if self._embedder is None or wording_decides(plain, self._wording(plain)):
            return None
        return self._embedder.embed_question(question)

    def signals(self, question: str, sense: np.ndarray | None = None) -> Signals:
        """Each entry's score on each signal, 0..1, in the order entries were first seen.

        `sense` is the question's vector when `sense` gave it already. When the wording
        alone decides, it stands for all three and the model is not asked."""
        plain = normalize(question)[:300]
        wording = self._wording(plain)
        count = len(self._entry_ids)
        meaning, classified = np.zeros(count), np.zeros(count)
        vectors, best_meaning = self._meaning_index
        if not plain or self._embedder is None or len(vectors) < 2:
            return Signals(wording, meaning, classified)
        if sense is None:
            if wording_decides(plain, wording):
                return Signals(wording, wording, wording)
            sense = self._embedder.embed_question(question)
        # einsum, not the BLAS matmul: BLAS threads spin and stall when the cores are busy,
        # and one vector against a few thousand needs no threads.
        cosines = np.einsum("ij,j->i", vectors, sense)
        standing = (cosines - cosines.mean()) / max(float(cosines.std()), 1e-6)
        low, high = MEANING_Z
        meaning = best_meaning(np.clip((standing - low) / (high - low), 0, 1))
        if self._classifier is not None:
            classified = self._classifier.probabilities(sense, count)
        return Signals(wording, meaning, classified)

    def _wording(self, plain: str) -> np.ndarray:
        """Each entry's best wording score (n-gram cosine of its nearest phrasing)."""
        if not plain:
            return np.zeros(len(self._entry_ids))
        index, best_per_entry = self._wording_index
        return best_per_entry(index.similarity(plain))

    def search(self, question: str, limit: int = 3) -> list[Match]:
        """The best-matching entries, best first, scored 0..100."""
        found = self.ranked(self.signals(question), self.bars(question), limit + 1)
        return [match for match in found if match.entry_id != NOT_IN_FAQ][:limit]

    def ranked(self, signals: Signals, bars: Bars, limit: int) -> list[Match]:
        """The best-matching entries and NOT_IN_FAQ by the blend of `bars`, best first."""
        meaning_weight = 1 - bars.lexical_weight - bars.classifier_weight
        scores = (
            bars.lexical_weight * signals.wording
            + meaning_weight * signals.meaning
            + bars.classifier_weight * signals.classified
        )
        best = scores.argsort()[::-1][:limit]
        return [
            Match(self._entry_ids[i], round(float(scores[i]) * 100, 1)) for i in best if scores[i]
        ]

    def bars(self, question: str) -> Bars:
        """How a question in this script is scored and judged."""
        by_script = BLENDED_BARS if self._embedder is not None else LEXICAL_BARS
        plain = normalize(question)
        if not mostly_latin(plain):
            return by_script.japanese if JAPANESE.search(plain) else by_script.script
        return by_script.roman if romanised_khmer(plain) else by_script.latin

    def understand(self, question: str, sense: np.ndarray | None = None) -> Understanding:
        """The entry to answer with, or the ones to offer, by how sure the match is."""
        plain = normalize(question)
        exact = self._word_for_word.get(plain)
        if exact is not None:
            # Asked word for word as a phrasing (one staff just taught, say): that entry,
            # whatever the signals, which a single phrasing may not sway.
            entry_id = self._entry_ids[exact]
            return Understanding(None if entry_id == NOT_IN_FAQ else entry_id)
        if ANOTHER_DESTINATION.search(plain) and not JAPAN_OR_HOME.search(plain):
            return Understanding(None)
        if ANOTHER_EXAM.search(plain) and not JAPAN.search(plain):
            return Understanding(None)
        bars = self.bars(question)
        if one_word(plain):
            # One word ("test", "ប្រឡង") names a topic, not a question: answer it only
            # when one entry clearly leads, else offer the few it may be about.
            bars = dataclasses.replace(bars, margin=max(bars.margin, 0.1), sure=1.0)
        return judge(self.ranked(self.signals(question, sense), bars, 4), bars)


def wording_decides(plain: str, wording: np.ndarray) -> bool:
    """Whether one entry's wording is so close, and so far ahead, that the meaning model
    would not change the answer (it costs 10-25 ms a question; this, under one).

    Never in Japanese: written without spaces, a question is one long word whose n-grams
    share whole phrases (試験の日に) with phrasings of other entries. Nor for one word:
    "test" is close to the phrasing "jft test" but names no entry of its own."""
    if len(wording) < 2 or JAPANESE.search(plain) or one_word(plain):
        return False
    second, best = np.partition(wording, -2)[-2:]
    return bool(best >= WORDING_DECIDES[0] and best - second >= WORDING_DECIDES[1])


def judge(ranked: list[Match], bars: Bars) -> Understanding:
    """An answer, "did you mean" offers, or neither, from the best four matches."""
    matches = [(m.entry_id, m.score / 100) for m in ranked]
    if not matches or matches[0][0] == NOT_IN_FAQ:
        return Understanding(None)
    matches = [(entry_id, score) for entry_id, score in matches if entry_id != NOT_IN_FAQ]
    best_id, best = matches[0]
    runner_up = matches[1][1] if len(matches) > 1 else 0.0
    if best >= bars.answer and (best - runner_up >= bars.margin or best >= bars.sure):
        related = [e for e, score in matches[1:3] if score >= bars.answer + bars.related]
        return Understanding(best_id, tuple(related))
    if best < bars.suggest:
        return Understanding(None)
    offered = [e for e, score in matches[:3] if score >= best - bars.suggest_gap]
    return Understanding(None, tuple(offered))
