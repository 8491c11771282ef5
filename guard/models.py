"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from guard.audit.models import AuditCheckpoint, AuditErasure, AuditRecord
from guard.auth.models import ApiKey
from guard.db import Base
from guard.decisions.models import Decision, DecisionReason
from guard.lifecycle.models import BacktestJob, RuleActivation, RuleVersion
from guard.situation.models import CustomerAlias, Event, Suppression
from guard.sources.models import Source

__all__ = [
    "ApiKey", "AuditCheckpoint", "AuditErasure", "AuditRecord", "BacktestJob", "Base", "CustomerAlias", "Decision",
    "DecisionReason", "Event", "RuleActivation", "RuleVersion", "Source", "Suppression",
]
