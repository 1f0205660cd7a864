"""Finding the FAQ entry a free-text question is about, and how sure to be of it.

Khmer is written without spaces between words, people type romanised Khmer with
no fixed spelling, and the same Khmer word has several encodings; so questions
and phrasings are first normalised, then compared as character n-grams, which
need no word segmentation and forgive typos. A multilingual sentence embedding
adds what wording misses: other words for the same thing, in any language.
"""

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

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


def mostly_latin(text: str) -> bool:
    """True when most letters are Latin (English, romanised Khmer)."""
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and sum(char.isascii() for char in letters) * 2 > len(letters)


@dataclass(frozen=True, slots=True)
class Bars:
    """Where the confidence bands of a score (0..1) begin, tuned on tests/faq_eval.toml."""

    answer: float  # a question in Khmer or Japanese script is answered from here
    latin_answer: float  # ... and one in Latin letters (English, romanised Khmer) from here
    margin: float  # the winner must lead the runner-up by this much to be answered
    sure: float  # ... unless it scores this much: then it is answered whatever the runner-up
    suggest: float  # below the answer bar, entries from here are offered as "did you mean"
    latin_suggest: float  # ... and for a question in Latin letters from here
    suggest_gap: float  # ... when they score within this of the best one
    related: float  # beside an answer, other entries this far above the bar are offered


# Any two Latin-script sentences share many n-grams ("how", "the", "can i"), so a question
# in Latin letters needs a closer match. Tuned with bench/faq_eval.py on the development set.
LEXICAL_BARS = Bars(
    answer=0.30,
    latin_answer=0.52,
    margin=0.0,
    sure=0.0,
    suggest=0.2,
    latin_suggest=0.42,
    suggest_gap=0.15,
    related=0.10,
)
BLENDED_BARS = Bars(
    answer=0.30,
    latin_answer=0.55,
    margin=0.06,
    sure=0.65,
    suggest=0.30,
    latin_suggest=0.42,  # below it, most Latin "did you mean" offers were wrong (dev set)
    suggest_gap=0.15,
    related=0.10,
)
# The blend: the wording's cosine and the meaning's score count half each. The meaning
# score is how far (in standard deviations) a phrasing stands out from all phrasings for
# this question, mapped from MEANING_Z to 0..1: raw e5 cosines sit in a narrow band whose
# height depends on the script, so only their standing is comparable across questions.
LEXICAL_WEIGHT = 0.5
MEANING_Z = (2.0, 6.0)


class MeaningModel(Protocol):
    """Sentence vectors: phrasings' kept (`embed`), questions' not (`embed_question`)."""

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def embed_question(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Match:
    """An FAQ entry and how well it matched, 0..100."""

    entry_id: str
    score: float


@dataclass(frozen=True, slots=True)
class Understanding:
    """What a typed question is about, as sure as the scores allow.

    An answer (`entry_id`, with perhaps related entries in `suggestions`); or no answer
    but "did you mean" `suggestions`; or neither: the bot does not know.
    """

    entry_id: str | None
    suggestions: tuple[str, ...] = ()


class LexicalIndex:
    """Phrasings as bags of character n-grams weighted by TF-IDF (scikit-learn).

    The rare, telling fragments of a word ("deposit", "ប៉ាស្ព័រ") count for more than the
    ones every question shares ("how", "យ៉ាងម៉េច"); no word segmentation needed.
    """

    def __init__(self, phrasings: list[str]) -> None:
        self.rows: list[int] = []  # the phrasing of each document
        documents: list[str] = []
        for row, phrasing in enumerate(phrasings):
            plain = normalize(phrasing)
            for document in {plain, fold_roman(plain)}:
                if document:
                    self.rows.append(row)
                    documents.append(document)
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=False
        )
        matrix = vectorizer.fit_transform(documents).tocsc()
        # The query side of TF-IDF, done by hand: scikit-learn's transform() costs a
        # millisecond or more per question in checks and conversions. Each n-gram keeps
        # its idf and the documents that contain it (an inverted index); the maths is the
        # vectorizer's.
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = vectorizer.idf_
        self._postings = [
            (matrix.indices[start:end], matrix.data[start:end])
            for start, end in zip(matrix.indptr[:-1], matrix.indptr[1:], strict=True)
        ]

    def similarity(self, plain: str) -> np.ndarray:
        """Cosine similarity (0..1) of a normalised question to every document."""
        return np.maximum(self._cosine(plain), self._cosine(fold_roman(plain)))

    def _cosine(self, document: str) -> np.ndarray:
        """Cosine similarity of `document` to every document (sublinear tf, idf, l2 norm)."""
        counts = Counter(
            column
            for ngram in self._analyze(document)
            if (column := self._vocabulary.get(ngram)) is not None
        )
        weights = {
            column: (1.0 + math.log(count)) * self._idf[column] for column, count in counts.items()
        }
        similarity = np.zeros(len(self.rows))
        norm = math.sqrt(sum(weight * weight for weight in weights.values()))
        for column, weight in weights.items():
            rows, values = self._postings[column]
            similarity[rows] += values * (weight / norm)
        return similarity


class FaqMatcher:
    """Scores a question against every phrasing of every entry, in every locale.

    Two signals: the wording (character n-grams: typos, romanised Khmer, no segmentation)
    and, once `use_meaning` gave it a model, the meaning (a multilingual sentence
    embedding: other words, other languages and scripts). An entry scores its best
    phrasing on each signal, and the blend of both decides.
    """

    def __init__(self, phrasings: Iterable[tuple[str, str]]) -> None:
        """Takes (entry id, phrasing) pairs."""
        self._entry_ids: list[str] = []
        self._phrasings: list[tuple[int, str]] = []  # (entry index, text)
        for entry_id, text in phrasings:
            self._add(entry_id, text)
        self._lexical = LexicalIndex([text for _, text in self._phrasings])
        self._phrasing_entry = np.array([entry for entry, _ in self._phrasings])
        self._embedder: MeaningModel | None = None
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    @property
    def understands_meaning(self) -> bool:
        return self._embedder is not None

    def use_meaning(self, embedder: MeaningModel) -> None:
        """Adds the meaning signal; embeds the phrasings not in the embedder's cache (slow)."""
        self._vectors = embedder.embed([text for _, text in self._phrasings])
        self._embedder = embedder

    def add_phrasing(self, entry_id: str, text: str) -> None:
        """Teaches one more way of asking for an entry, to both signals."""
        self._add(entry_id, text)
        lexical = LexicalIndex([text for _, text in self._phrasings])
        if self._embedder is not None:
            self._vectors = np.vstack([self._vectors, self._embedder.embed([text])])
        self._lexical = lexical
        self._phrasing_entry = np.array([entry for entry, _ in self._phrasings])

    def _add(self, entry_id: str, text: str) -> None:
        if entry_id not in self._entry_ids:
            self._entry_ids.append(entry_id)
        self._phrasings.append((self._entry_ids.index(entry_id), text))

    def scores(self, question: str) -> np.ndarray:
        """Each entry's score for the question, 0..1, in the order entries were first seen."""
        plain = normalize(question)[:300]
        entries = np.zeros(len(self._entry_ids))
        if not plain:
            return entries
        lexical = self._lexical.similarity(plain)
        phrasing_entry = self._phrasing_entry
        np.maximum.at(entries, phrasing_entry[self._lexical.rows], lexical)
        if self._embedder is None or len(self._vectors) < 2:
            return entries
        # einsum, not the BLAS matmul: BLAS threads spin and stall when the cores are busy,
        # and one vector against a few thousand needs no threads.
        cosines = np.einsum("ij,j->i", self._vectors, self._embedder.embed_question(question))
        standing = (cosines - cosines.mean()) / max(float(cosines.std()), 1e-6)
        low, high = MEANING_Z
        meaning = np.zeros(len(self._entry_ids))
        np.maximum.at(meaning, phrasing_entry, np.clip((standing - low) / (high - low), 0, 1))
        return LEXICAL_WEIGHT * entries + (1 - LEXICAL_WEIGHT) * meaning

    def search(self, question: str, limit: int = 3) -> list[Match]:
        """The best-matching entries, best first, scored 0..100."""
        scores = self.scores(question)
        best = scores.argsort()[::-1][:limit]
        return [
            Match(self._entry_ids[i], round(float(scores[i]) * 100, 1)) for i in best if scores[i]
        ]

    def understand(self, question: str) -> Understanding:
        """The entry to answer with, or the ones to offer, by how sure the match is."""
        matches = [(m.entry_id, m.score / 100) for m in self.search(question, limit=4)]
        if not matches:
            return Understanding(None)
        bars = BLENDED_BARS if self._embedder is not None else LEXICAL_BARS
        latin = mostly_latin(normalize(question))
        bar = bars.latin_answer if latin else bars.answer
        best_id, best = matches[0]
        runner_up = matches[1][1] if len(matches) > 1 else 0.0
        if best >= bar and (best - runner_up >= bars.margin or best >= bars.sure):
            related = [e for e, score in matches[1:3] if score >= bar + bars.related]
            return Understanding(best_id, tuple(related))
        if best < (bars.latin_suggest if latin else bars.suggest):
            return Understanding(None)
        offered = [e for e, score in matches[:3] if score >= best - bars.suggest_gap]
        return Understanding(None, tuple(offered))
