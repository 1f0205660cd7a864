"""Finding the FAQ entry a free-text question is about.

Khmer is written without spaces between words, people type romanised Khmer with
no fixed spelling, and the same Khmer word has several encodings; so questions
and phrasings are first normalised, then compared as character n-grams, which
need no word segmentation and forgive typos.
"""

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

# Invisible characters: zero-width spaces and joiners, BOM, and bidi controls.
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u17b4\u17b5]")
KHMER_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")
# A dependent vowel typed before a subscript consonant (សិទិ្ធ for សិទ្ធិ): put it after.
VOWEL_BEFORE_SUBSCRIPT = re.compile("([\u17b6-\u17c5])(\u17d2[\u1780-\u17a2])")
KHMER_VARIANTS = str.maketrans({"ឲ": "ឱ"})
# Everything that is not a letter, mark or digit separates words.
SEPARATORS = re.compile(r"[^\w\u1780-\u17dd]+")

# Romanised Khmer has no fixed spelling: fold the common alternatives together.
ROMAN_FOLDS = (
    (re.compile(r"([bcdgjklmnprstvwy])h"), r"\1"),  # chh/ch, kh/k, ph/p, th/t
    (re.compile(r"(.)\1+"), r"\1"),  # doubled letters: "ee", "oo", "tt"
    (re.compile(r"j"), "ch"),
    (re.compile(r"[aeiouy]+"), "a"),  # vowels are spelled every which way
)


def normalize(text: str) -> str:
    """Lower-cased text with one spelling per word and single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = INVISIBLE.sub("", text)
    text = text.translate(KHMER_DIGITS).translate(KHMER_VARIANTS)
    text = VOWEL_BEFORE_SUBSCRIPT.sub(r"\2\1", text)
    text = SEPARATORS.sub(" ", text.casefold())
    return " ".join(text.split())


def fold_roman(text: str) -> str:
    """A rough sound-alike key for Latin words, so "chhreun" meets "chrern"."""
    words = []
    for word in text.split():
        if word.isascii() and word.isalpha():
            for pattern, replacement in ROMAN_FOLDS:
                word = pattern.sub(replacement, word)
        words.append(word)
    return " ".join(words)


# Cosine scores (0..100) an answer needs, tuned on tests/faq_eval.toml (bench/faq_eval.py).
# Any two Latin-script sentences share many n-grams ("how", "the", "can i"), so a
# question typed in Latin letters needs a closer match than one in Khmer or Japanese.
ANSWER_SCORE = 30.0
LATIN_ANSWER_SCORE = 52.0
RELATED_MARGIN = 10.0  # a related question is offered when it scores this much above the bar


def mostly_latin(text: str) -> bool:
    """True when most letters are Latin (English, romanised Khmer)."""
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and sum(char.isascii() for char in letters) * 2 > len(letters)


@dataclass(frozen=True, slots=True)
class Answer:
    """What to show for a typed question: the entry that answers it (or none) and related ones."""

    entry_id: str | None
    related: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """An FAQ entry and how well it matched, 0..100."""

    entry_id: str
    score: float


class FaqMatcher:
    """Scores a question against every phrasing of every entry, in every locale.

    Each phrasing is a bag of character n-grams weighted by TF-IDF (scikit-learn), so
    the rare, telling fragments of a word ("deposit", "ប៉ាស្ព័រ") count for more than
    the ones every question shares ("how", "យ៉ាងម៉េច"); no word segmentation needed.
    An entry scores its best phrasing's cosine similarity, 0..100.
    """

    def __init__(self, phrasings: Iterable[tuple[str, str]]) -> None:
        """Takes (entry id, phrasing) pairs."""
        self._entry_ids: list[str] = []
        documents: list[str] = []
        for entry_id, phrasing in phrasings:
            plain = normalize(phrasing)
            for document in {plain, fold_roman(plain)}:
                if document:
                    self._entry_ids.append(entry_id)
                    documents.append(document)
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=False
        )
        matrix = vectorizer.fit_transform(documents).tocsc()
        # The query side of TF-IDF, done by hand: scikit-learn's transform() costs a
        # millisecond or more per question in checks and conversions, and a question is
        # matched inside its update's transaction. Each n-gram keeps its idf and the
        # phrasings that contain it (an inverted index); the maths is the vectorizer's.
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = vectorizer.idf_
        self._postings = [
            (matrix.indices[start:end], matrix.data[start:end])
            for start, end in zip(matrix.indptr[:-1], matrix.indptr[1:], strict=True)
        ]

    def search(self, question: str, limit: int = 3) -> list[Match]:
        """The best-matching entries, best first."""
        plain = normalize(question)[:300]
        if not plain:
            return []
        similarity = np.maximum(self._similarity(plain), self._similarity(fold_roman(plain)))
        best: dict[str, float] = {}
        for index in similarity.argsort()[::-1]:
            entry_id = self._entry_ids[index]
            if entry_id not in best:
                best[entry_id] = round(float(similarity[index]) * 100, 1)
                if len(best) == limit:
                    break
        return [Match(entry_id, score) for entry_id, score in best.items()]

    def _similarity(self, document: str) -> np.ndarray:
        """Cosine similarity of `document` to every phrasing (sublinear tf, idf, l2 norm)."""
        counts = Counter(
            column
            for ngram in self._analyze(document)
            if (column := self._vocabulary.get(ngram)) is not None
        )
        weights = {
            column: (1.0 + math.log(count)) * self._idf[column] for column, count in counts.items()
        }
        similarity = np.zeros(len(self._entry_ids))
        norm = math.sqrt(sum(weight * weight for weight in weights.values()))
        for column, weight in weights.items():
            rows, values = self._postings[column]
            similarity[rows] += values * (weight / norm)
        return similarity

    def answer(self, question: str) -> Answer:
        """The entry to answer with, if one is close enough, and up to two related entries."""
        matches = self.search(question, limit=3)
        bar = LATIN_ANSWER_SCORE if mostly_latin(normalize(question)) else ANSWER_SCORE
        if not matches or matches[0].score < bar:
            return Answer(None)
        related = [m.entry_id for m in matches[1:] if m.score >= bar + RELATED_MARGIN]
        return Answer(matches[0].entry_id, tuple(related))
