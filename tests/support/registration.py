"""The registration wizard as a user goes through it, on any chat driver."""

from tests.support.chat import Chat


async def give_details(person: Chat) -> None:
    """Valid answers to every step of the wizard, from the Latin name to the province."""
    await person.send("Sok Dara")
    await person.send("សុខ ដារា")
    await person.send("15/03/2001")
    await person.press("Female")
    await person.share_contact("+85512345678")
    await person.send("N01234567")
    await person.press("Kampot")


# (answers before the bad one, the bad answer, words of the explanation); "-" taps Skip.
BAD_ANSWERS = [
        ([], "Сок Дара", "Latin letters"),
        ([], "what is the fee?", "looks like a question"),
        ([], "D", "too short"),
        ([], "SOK " * 30, "more words than a name"),
        ([], "D" * 81, "too long"),
        (["Sok Dara"], "Sok Dara", "Khmer script"),
        (["Sok Dara", "-"], "31/02/2001", "does not exist"),
        (["Sok Dara", "-"], "yesterday", "could not read a date"),
        (["Sok Dara", "-"], "15/3/01", "four digits"),
        (["Sok Dara", "-"], "15/03/2099", "in the future"),
        (["Sok Dara", "-"], "15/03/1900", "check the year"),
        (["Sok Dara", "-"], "15/03/2015", "at least 18 years old"),
        (["Sok Dara", "-", "15/03/2001"], "female please", "choose one of the buttons"),
        (["Sok Dara", "-", "15/03/2001", "Female"], "12345", "does not look like a phone"),
        (["Sok Dara", "-", "15/03/2001", "Female", "012345678"], "ABC", "national ID"),
        (["Sok Dara", "-", "15/03/2001", "Female", "012345678", "123456789"], "Kampot!",
         "choose one of the buttons"),
    ]  # fmt: skip
