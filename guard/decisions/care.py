"""Telling the care team: a recorded decision rerouted by a case that says `notify: care.requested` emits that
event, once per customer, route and open case (ten campaigns rerouted for one open complaint: one message).

"Once" is a row in `care_notifications` under a unique key (customer, route, case key), inserted with
ON CONFLICT DO NOTHING in the decision's own transaction; only the insert that happened enqueues the message.
Decisions of one batch or group commit share the transaction (the first one in batch order claims the key);
concurrent requests, server processes and hosts meet at the key, so exactly one of them commits the row and
its message.

The case key is a matched open case: its kind, id and the start of its open period, so a reopened complaint
(a new open period) tells the care team again. Every open case the rule matched is claimed, each with its own
message naming it: a complaint opened while another is still open is news to the care team (a second
message), the older one is not told twice. When the rule matched no open case, the key is the rule itself:
once per customer, route and rule. The alternative, once "until a decision is no longer rerouted", would cost
a look-up on every decision (the hot path stays free of anything when no notify case wins), and its
"no longer" is ill-defined: a receipt allowed in between says nothing about whether the standing reason for
the reroute has gone. A rule without an open case reroutes for a standing fact about the customer (a tenure,
an attribute, a recent event); the care team acts on it once. Erasing the customer removes their rows (those
keyed under the erased name, and those the name's own decisions claimed under the customer id it was an alias
of), so a customer who comes back can be told about again. A purge keeps them: they are what keeps "once" true for a
case still open, one small row per customer, route and case.

The key's customer is the identity the customer's aliases share, so a decision asked under the shop's name and
one under the helpdesk's tell care once; the message names the customer as the decision was asked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guard.core.message import Message
from guard.core.timeutil import iso
from guard.outbound.outbox import enqueue
from guard.policy.evaluate import MatchedCase, Reason
from guard.storage.sql import Sql

EVENT = "care.requested"
_CLAIM = ("INSERT INTO care_notifications (customer_id, route, case_key, rule_id, decision_id, created_at) "
          "VALUES {rows} ON CONFLICT (customer_id, route, case_key) DO NOTHING RETURNING customer_id, route, case_key")
# Keys claimed per statement: a campaign chunk of customers with new complaints claims them in a few round trips.
CLAIMS_PER_STATEMENT = 100
Key = tuple[str, str, str]


@dataclass(frozen=True)
class CareRequest:
    """One recorded decision that a notifying reroute won: who, which decision, and the winning reason."""

    identity: str  # the customer id the customer's aliases share: the key's customer
    message: Message
    decision_id: str
    reason: Reason

    def claims(self) -> list[tuple[tuple[str, str, str], MatchedCase | None]]:
        """Each once-only key (customer, route, case key) with the open case it names, oldest case first."""
        reason = self.reason
        cases: tuple[MatchedCase | None, ...] = reason.cases or (None,)
        return [((self.identity, reason.route or "", case_key(reason, case)), case) for case in cases]

    def data(self, case: MatchedCase | None) -> dict[str, Any]:
        """The `care.requested` message's data, about one open case (or none)."""
        reason = self.reason
        return {"customer_id": self.message.customer_id, "route": reason.route, "rule_id": reason.rule_id,
                "explanation": reason.explanation, "case": case.to_dict() if case else None,
                "decision_id": self.decision_id, "campaign_id": self.message.campaign_id}


def case_key(reason: Reason, case: MatchedCase | None) -> str:
    """A digest naming the open case (kind, id, start of its open period), or the rule when there is none."""
    parts = ["case", case.kind, case.id, iso(case.opened_at)] if case else ["rule", reason.rule_id]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def tell_care(sql: Sql, requests: list[CareRequest], now: datetime) -> list[str]:
    """Claim the requests' keys and enqueue `care.requested` for each claim that was new, in request order;
    returns the message ids. Runs in the transaction that records the decisions."""
    wanted: dict[Key, tuple[CareRequest, MatchedCase | None]] = {}
    for request in requests:
        for key, case in request.claims():
            wanted.setdefault(key, (request, case))  # the first decision of the transaction claims it
    claimed = _claim(sql, wanted, now)
    return [enqueue(sql, EVENT, request.data(case), now) for key, (request, case) in wanted.items() if key in claimed]


def _claim(sql: Sql, wanted: dict[Key, tuple[CareRequest, MatchedCase | None]], now: datetime) -> set[Key]:
    """The keys this transaction inserted: those no committed (or concurrent, once it commits) row holds."""
    at = sql.time(now)
    keys = sorted(wanted)  # one order for every transaction: concurrent claims never wait on each other in a cycle
    claimed: set[Key] = set()
    for start in range(0, len(keys), CLAIMS_PER_STATEMENT):
        part = keys[start:start + CLAIMS_PER_STATEMENT]
        params = [value for key in part
                  for value in (*key, wanted[key][0].reason.rule_id, wanted[key][0].decision_id, at)]
        rows = sql.rows(_CLAIM.format(rows=", ".join(["(?, ?, ?, ?, ?, ?)"] * len(part))), params)
        claimed.update((str(c), str(r), str(k)) for c, r, k in rows)
    return claimed


def forget(sql: Sql, customer_id: str) -> int:
    """Erasure of a name: remove the rows keyed under it (the name is personal data) and those its decisions
    claimed under the customer id it was an alias of (they tie its decisions to that identity); returns how
    many. Run before its decisions are pseudonymised, which finds them. Erasure is rare and the table one
    row per customer, route and case: the decision ids are matched by a scan rather than an index every claim
    would pay for."""
    return len(sql.rows("DELETE FROM care_notifications WHERE customer_id = ? OR decision_id IN "
                        "(SELECT decision_id FROM decisions WHERE customer_id = ?) RETURNING id",
                        (customer_id, customer_id)))
