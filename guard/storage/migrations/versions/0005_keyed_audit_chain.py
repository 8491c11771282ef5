"""Keyed audit chain: an epoch record marks where HMAC-keyed records begin on a database with history.

Records chained before this migration keep their plain SHA-256 links and digests ("legacy"): `guard audit
verify` checks them in that form, and only before the epoch record, which is keyed with the audit key of
the process that runs the migration (so set GUARD_AUDIT_KEY or GUARD_AUDIT_KEY_FILE first). Its keyed
link pins every legacy record before it. A database without audit records gets no epoch record: all of
its records are keyed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guard.core.timeutil import utcnow
from guard.ledger.digests import GENESIS, epoch_digest, link_hash
from guard.storage.database import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RECORDS = sa.table("audit_records", sa.column("seq", sa.Integer()), sa.column("kind", sa.String()),
                    sa.column("ref", sa.String()), sa.column("at", UTCDateTime()), sa.column("digest", sa.String()),
                    sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()))


def upgrade() -> None:
    """Chain an epoch record after the newest legacy record, if there is any history."""
    bind = op.get_bind()
    last = bind.execute(sa.text("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")).first()
    if last is None:
        last = bind.execute(sa.text("SELECT upto_seq, upto_hash FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
                            ).first()
    if last is None:
        return
    seq, prev = int(last[0]) + 1, str(last[1]) if last[1] else GENESIS
    at, digest = utcnow(), epoch_digest(seq)
    op.bulk_insert(_RECORDS, [{"seq": seq, "kind": "epoch", "ref": str(seq), "at": at, "digest": digest,
                               "prev_hash": prev, "hash": link_hash(prev, seq, "epoch", str(seq), at, digest)}])


def downgrade() -> None:
    """Remove the epoch record (the keyed records after it stay; the old verifier would reject them)."""
    op.execute("DELETE FROM audit_records WHERE kind = 'epoch'")
