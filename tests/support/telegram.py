"""Telegram test helpers: updates as Telegram posts them, and a user's actions read back."""

from tests.support.fake_telegram import ChatMessage, FakeTelegram


def posted_message(update_id: int, user_id: int, text: str, language_code: str = "en") -> dict:
    """An update as Telegram would POST it to the webhook: a user's text message."""
    message = {
        "message_id": update_id,
        "date": 1790000000,
        "chat": {"id": user_id, "type": "private", "first_name": "Dara"},
        "from": {
            "id": user_id, "is_bot": False, "first_name": "Dara", "language_code": language_code,
        },
        "text": text,
    }  # fmt: skip
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


async def answer_and_read(
    telegram: FakeTelegram, user_id: int, send: str, *args: object
) -> ChatMessage:
    """Does one user action and returns the bot's next message in that chat."""
    getattr(telegram, send)(user_id, *args)
    return await telegram.next_message(user_id)


def data_of(message: ChatMessage, label: str) -> str:
    """The callback data of the button whose label contains `label`."""
    for row in message.reply_markup["inline_keyboard"]:
        for button in row:
            if label in button["text"]:
                return button["callback_data"]
    raise AssertionError(f"no button {label!r} in {message.reply_markup}")


async def book_through_telegram(
    telegram: FakeTelegram,
    user_id: int,
    session_data: str,
    phone: str = "097 765 4321",
    id_number: str = "123456789",
) -> ChatMessage:
    """The whole wizard for one more applicant; returns the bot's last answer."""
    exams = await answer_and_read(telegram, user_id, "user_sends", "/book")
    question = await answer_and_read(
        telegram, user_id, "user_presses", exams.message_id, data_of(exams, "JFT-Basic")
    )
    await answer_and_read(  # the list of sessions, edited: the venue in full
        telegram, user_id, "user_presses", question.message_id, session_data
    )
    consent = await telegram.next_message(user_id)
    if "This session is full" in consent.text:
        consent = await answer_and_read(
            telegram, user_id, "user_presses", consent.message_id, data_of(consent, "waitlist")
        )
    await answer_and_read(telegram, user_id, "user_presses", consent.message_id, "reg:consent:yes")
    for typed in ("Chan Sokha", "ចាន់ សុខា"):
        await answer_and_read(telegram, user_id, "user_sends", typed)
    sex = await answer_and_read(telegram, user_id, "user_sends", "2000-01-01")
    await answer_and_read(telegram, user_id, "user_presses", sex.message_id, "reg:sex:male")
    await answer_and_read(telegram, user_id, "user_sends", phone)
    await telegram.next_message(user_id)
    provinces = await answer_and_read(telegram, user_id, "user_sends", id_number)
    summary = await answer_and_read(
        telegram, user_id, "user_presses", provinces.message_id, "reg:prov:takeo"
    )
    return await answer_and_read(
        telegram, user_id, "user_presses", summary.message_id, "reg:confirm"
    )
