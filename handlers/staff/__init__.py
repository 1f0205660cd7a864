"""What the test office does in the chat; every route here is for staff only."""
