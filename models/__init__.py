"""The data and the rules that guard it: tables, the engine, domain operations.

Knows nothing of Telegram or of texts. Nothing here commits: the update runner
owns the transaction.
"""

from models.applicants import Applicant
from models.broadcasts import Broadcast
from models.conversations import ConversationState
from models.outbox import OutboxMessage
from models.panel import PanelLoginLink, PanelSession
from models.questions import FaqFeedback, TaughtPhrasing, UnansweredQuestion
from models.registrations import Registration
from models.send_budget import ChatPace, SendSlot
from models.sessions import Exam, TestSession
from models.staff import AuditEntry, StaffMember
from models.updates import ProcessedUpdate

__all__ = [
    "Applicant",
    "AuditEntry",
    "Broadcast",
    "ChatPace",
    "ConversationState",
    "Exam",
    "FaqFeedback",
    "OutboxMessage",
    "PanelLoginLink",
    "PanelSession",
    "ProcessedUpdate",
    "Registration",
    "SendSlot",
    "StaffMember",
    "TaughtPhrasing",
    "TestSession",
    "UnansweredQuestion",
]
