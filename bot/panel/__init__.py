"""The web panel: a second face for the test office's staff, over the same domain operations
as the chat and the command line. `build_panel` wires it; `applicant-bot panel` serves it."""
