"""Checking the decisions of committed groups against their one chained record, decision by decision.

A group's record (kind "decisions", ref = the group) holds the Merkle root of its leaves; each decision row
holds its leaf (its digest bound under the audit key to group and index), so the first decision altered,
moved, swapped or removed is named, not just the group. A decision scrubbed by a vouched erasure no longer
reads as it was digested: its stored leaf is taken as is, checked by the root alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.ledger import merkle
from guard.ledger.digests import decision_digest, facts_digest, leaf_digest, request_digest
from guard.storage.tables.decisions import Decision

# Groups read per query: a stream chunk's group holds thousands of decisions, streamed in slices.
_GROUPS_PER_QUERY = 64
_SLICE = 1000


@dataclass
class Group:
    """A group's decisions as they are now: ids and stored leaves in leaf order, and the first problem."""

    ref: str
    ids: list[str] = field(default_factory=list)
    leaves: list[str] = field(default_factory=list)
    scrubbed: list[str] = field(default_factory=list)  # ids whose leaves only the root checks
    problem: tuple[str, str, str] | None = None  # kind, record, message

    def add(self, decision: Decision, scrubbed: dict[str, str]) -> None:
        """Check the next decision in leaf order; the first problem is kept."""
        index = len(self.ids)
        if self.problem is None:
            self.problem = self._problem(decision, index, scrubbed)
        self.ids.append(decision.decision_id)
        self.leaves.append(decision.audit_digest or "")

    def _problem(self, decision: Decision, index: int, scrubbed: dict[str, str]) -> tuple[str, str, str] | None:
        name = f"decision {decision.decision_id}"
        leaf = decision.audit_leaf if decision.audit_leaf is not None else -1
        if leaf > index:
            where = f"after decision {self.ids[-1]}" if self.ids else f"before decision {decision.decision_id}"
            return ("removed", f"decision #{index} of group {self.ref}",
                    f"the decision at leaf {index} of group {self.ref} ({where}) is gone")
        if leaf < index:
            return ("inserted", name, f"{name} claims leaf {leaf} of group {self.ref}, which another holds: "
                    "it was inserted or moved there")
        current = digest_of(decision)
        if scrubbed.get(decision.decision_id) == current:
            self.scrubbed.append(decision.decision_id)
            return None
        if leaf_digest(int(self.ref), index, current) != decision.audit_digest:
            return ("altered", name, f"{name} (leaf {index} of group {self.ref}) was altered, moved or swapped")
        return None

    def root_problem(self, root: str) -> tuple[str, str, str] | None:
        """The first problem, or what a root that does not match its leaves means."""
        if self.problem is not None:
            return self.problem
        if not self.ids:
            return ("removed", f"decisions {self.ref}", f"every decision of group {self.ref} is gone")
        if merkle.root(self.leaves) == root:
            return None
        if self.scrubbed:
            first = self.scrubbed[0]
            return ("altered", f"decision {first}", f"group {self.ref} no longer hashes to its record; its only "
                    f"leaves not checked one by one are those of scrubbed decisions, the first decision {first}")
        last = len(self.ids)
        return ("removed", f"decision #{last} of group {self.ref}",
                f"group {self.ref} no longer hashes to its record: decisions after leaf {last - 1} "
                f"(decision {self.ids[-1]}) are gone")


def load_groups(session: Session, refs: list[str], scrubbed: dict[str, str]) -> dict[str, Group]:
    """The named groups, each decision checked (`scrubbed`: the current digests vouched erasures left)."""
    groups = {ref: Group(ref) for ref in refs}
    numbers = sorted(int(ref) for ref in refs if ref.isdigit())
    for start in range(0, len(numbers), _GROUPS_PER_QUERY):
        for decision in _members(session, numbers[start:start + _GROUPS_PER_QUERY]):
            groups[str(decision.audit_group)].add(decision, scrubbed)
    return groups


def _members(session: Session, numbers: list[int]) -> Iterator[Decision]:
    """The groups' decisions in leaf order, loaded a slice at a time and let go once checked."""
    query = (select(Decision).where(Decision.audit_group.in_(numbers))
             .order_by(Decision.audit_group, Decision.audit_leaf, Decision.id).execution_options(yield_per=_SLICE))
    for decision in session.scalars(query):
        yield decision
        session.expunge(decision)


def digest_of(d: Decision, legacy: bool = False) -> str:
    """A decision's digest recomputed from its stored columns and reasons."""
    row = {"decision_id": d.decision_id, "customer_id": d.customer_id, "campaign_id": d.campaign_id,
           "channel": d.channel, "purpose": d.purpose, "send_at": d.send_at, "outcome": d.outcome,
           "route": d.route, "defer_until": d.defer_until, "rules_version": d.rules_version,
           "evaluated_at": d.evaluated_at, "idempotency_key": d.idempotency_key,
           "api_key_name": d.api_key_name, "request_hash": d.request_hash}
    reasons = [(r.rule_id, r.outcome, r.explanation) for r in d.reasons]
    facts = json.dumps(d.facts, separators=(",", ":"))
    return decision_digest(row, reasons, request_digest(d.request), facts_digest(facts), legacy)
