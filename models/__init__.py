"""The data and the rules that guard it: tables, the engine, domain operations.

Knows nothing of Telegram or of texts. Nothing here commits: the update runner
owns the transaction.
"""

from models.applicants import Applicant
from models.conversations import ConversationState
from models.outbox import OutboxMessage
from models.questions import FaqFeedback, UnansweredQuestion
from models.registrations import Registration
from models.sessions import Exam, TestSession
from models.updates import ProcessedUpdate

__all__ = [
    "Applicant",
    "ConversationState",
    "Exam",
    "FaqFeedback",
    "OutboxMessage",
    "ProcessedUpdate",
    "Registration",
    "TestSession",
    "UnansweredQuestion",
]
