"""What the tests share: the fake Bot API server, the chat drivers, apps on fresh databases."""
