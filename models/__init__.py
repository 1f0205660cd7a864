"""The data and the rules that guard it: tables, the engine, domain operations.

Knows nothing of Telegram or of texts. Nothing here commits: the update runner
owns the transaction.
"""

from models.applicants import Applicant
from models.conversations import ConversationState
from models.questions import FaqFeedback, UnansweredQuestion
from models.updates import ProcessedUpdate

__all__ = [
    "Applicant",
    "ConversationState",
    "FaqFeedback",
    "ProcessedUpdate",
    "UnansweredQuestion",
]
