"""Care notifications sent: one row per customer, route and open case, so the care team is told once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class CareNotification(Base):
    """A `care.requested` message written to the outbox; its key makes a second one for the same case a no-op."""

    __tablename__ = "care_notifications"
    __table_args__ = (
        # Inserted with ON CONFLICT DO NOTHING in the decision's transaction: concurrent decisions, batches and
        # server processes all meet here, and only the insert that happened enqueues a message.
        UniqueConstraint("customer_id", "route", "case_key", name="uq_care_notifications_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), index=True)  # the identity (an alias's customer id)
    route: Mapped[str] = mapped_column(String(200))
    # A digest of the open case (kind, id, opened_at), or of the rule when no open case was matched
    # (guard.decisions.care explains why).
    case_key: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    decision_id: Mapped[str] = mapped_column(String(36))  # the decision whose message told care (in its data)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
