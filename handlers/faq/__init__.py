"""Questions and answers: the book of entries, matching typed questions, browsing."""
