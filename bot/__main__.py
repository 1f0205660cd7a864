"""`python -m bot` is the same as `applicant-bot`."""

from bot.cli import main

main()
