"""Which entry a question's meaning vector belongs to, learned from every phrasing at once.

The nearest phrasing knows only the one phrasing most alike; a linear classifier trained
on all of them learns which directions of the vector space tell entries apart, and so
generalises to wordings no phrasing has. Training takes seconds, so the weights are kept
in a file keyed by what they were trained on.
"""

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# Inverse regularisation of the logistic regression: chosen on the development sets
# (10 generalised worse in English and Japanese, 100 and more in Khmer).
STRENGTH = 30.0
FORMAT = "entry-classifier-1"


class EntryClassifier:
    """A softmax over entries: `probabilities(vector)` sums to 1 across them."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray) -> None:
        self._weights = weights.astype(np.float32)  # (entries, dimensions)
        self._bias = bias.astype(np.float32)

    @classmethod
    def trained(
        cls,
        vectors: np.ndarray,
        entries: np.ndarray,
        cache: Path | None = None,
        weights: np.ndarray | None = None,
    ) -> "EntryClassifier":
        """Trained on phrasing `vectors` labelled with their entry index (each row counting
        its `weights`, else 1); read from `cache` when it holds this very training, else
        trained (seconds) and written there."""
        weights = np.ones(len(entries)) if weights is None else weights
        key = _training_key(vectors, entries, weights)
        if cache is not None and (kept := _read(cache, key)) is not None:
            return kept
        classifier = cls._train(vectors, entries, weights)
        if cache is not None:
            classifier._write(cache, key)
        return classifier

    @classmethod
    def _train(
        cls, vectors: np.ndarray, entries: np.ndarray, weights: np.ndarray
    ) -> "EntryClassifier":
        # Imported here: only processes that answer questions pay for scikit-learn.
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=STRENGTH, max_iter=3000, tol=1e-3)
        model.fit(vectors, entries, sample_weight=weights)
        count = int(entries.max()) + 1
        weights = np.zeros((count, vectors.shape[1]), dtype=np.float32)
        # A floor well below any real score, for an entry without phrasings.
        bias = np.full(count, -1e4, dtype=np.float32)
        weights[model.classes_] = model.coef_
        bias[model.classes_] = model.intercept_
        return cls(weights, bias)

    def probabilities(self, vector: np.ndarray, entries: int) -> np.ndarray:
        """Each of the first `entries` entries' probability for a question's vector (an
        entry taught after training gets 0: it counts through the other signals)."""
        logits = np.einsum("ij,j->i", self._weights, vector) + self._bias
        exp = np.exp(logits - logits.max())
        probabilities = exp / exp.sum()
        found = np.zeros(entries)
        shared = min(entries, len(probabilities))
        found[:shared] = probabilities[:shared]
        return found

    def _write(self, path: Path, key: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with partial.open("wb") as file:
                np.savez(file, key=np.array(key), weights=self._weights, bias=self._bias)
            partial.replace(path)  # other instances read a whole file or the old one
        except OSError as error:
            logger.warning("FAQ classifier cache %s not written: %s", path, error)


def _training_key(vectors: np.ndarray, entries: np.ndarray, weights: np.ndarray) -> str:
    digest = hashlib.sha256(f"{FORMAT}:{STRENGTH}:{vectors.shape}".encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(entries, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(weights, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _read(path: Path, key: str) -> EntryClassifier | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) != key:
                return None
            return EntryClassifier(stored["weights"], stored["bias"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as error:
        logger.warning("FAQ classifier cache %s unreadable, training again: %s", path, error)
        return None
