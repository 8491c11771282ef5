"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from guard.storage.database import Base
from guard.storage.tables.audit import AuditCheckpoint, AuditErasure, AuditRecord
from guard.storage.tables.auth import ApiKey
from guard.storage.tables.care import CareNotification
from guard.storage.tables.decisions import Decision, DecisionCampaign, DecisionMinute, DecisionRule, Projection
from guard.storage.tables.holds import Hold
from guard.storage.tables.lifecycle import BacktestJob, RuleActivation, RuleVersion
from guard.storage.tables.outbound import OutboxMessage, WebhookDelivery, WebhookSubscription
from guard.storage.tables.situation import CustomerAlias, CustomerLockBucket, Event, Suppression
from guard.storage.tables.sources import Source

__all__ = [
    "ApiKey", "AuditCheckpoint", "AuditErasure", "AuditRecord", "BacktestJob", "Base", "CareNotification",
    "CustomerAlias", "CustomerLockBucket", "Decision", "DecisionCampaign", "DecisionMinute", "DecisionRule",
    "Event", "Hold", "OutboxMessage", "Projection", "RuleActivation", "RuleVersion", "Source", "Suppression",
    "WebhookDelivery", "WebhookSubscription",
]
