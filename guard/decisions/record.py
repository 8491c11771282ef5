"""Turning verdicts into decision rows (matched rules inline), audit entries and answers, in bulk.

The decisions of a campaign mostly share everything but the customer: the stored request, the facts, the
digested text of the audit record and the answer. That shared part is serialised and digested once per
(request shape, verdict); each decision then costs an id, two short hashes and a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from guard.core.ids import decision_ids
from guard.core.lru import Lru
from guard.core.message import Message
from guard.core.timeutil import iso
from guard.decisions import store
from guard.decisions.answer import verdict_body
from guard.ledger import merkle
from guard.ledger.chain import DECISION_GROUP, Entry, extend
from guard.ledger.digests import (
    decision_digest_with,
    decision_tail,
    facts_digest,
    facts_text,
    leaf_digest,
    request_digest,
)
from guard.policy.evaluate import Verdict
from guard.storage.bulk import DECISION_COLUMNS
from guard.storage.sql import Sql

_CUSTOMER = "\x00customer\x00"  # stands for the customer in a request template
_CUSTOMER_JSON = json.dumps(_CUSTOMER)
_TEMPLATES: Lru[tuple[Any, ...], tuple[str, str, str]] = Lru(
    4096, weigh=lambda key, value: len(key[0]) + len(value[0]) + len(value[1]) + 200)
_FACTS: Lru[int, tuple[Verdict, str, str]] = Lru(4096, weigh=lambda _key, value: 2 * len(value[1]) + 200)
_GROUP_AT = DECISION_COLUMNS.index("audit_group")  # then audit_leaf, audit_digest
# For the benchmark's A/B only (bench/audit_groups.py): True chains one record per decision, the form
# before issue 16 (verify and the proof endpoint accept both).
PER_DECISION_RECORDS = False


@dataclass(frozen=True)
class _Shared:
    """What every decision of one request shape and one verdict has in common."""

    request_prefix: str
    request_suffix: str
    request_digest: str
    facts_text: str
    facts_digest: str
    fields: dict[str, Any]  # the digested fields after the customer, idempotency key unset
    row_middle: tuple[Any, ...]  # campaign_id .. evaluated_at, in the driver's terms
    tail: str
    answer: dict[str, Any]
    reasons_text: str  # the matched rules as the decision row holds them
    verdict: Verdict  # held, so that its id() names it for as long as this entry lives


class Recorder:
    """Collects the decisions of one call: rows, audit entries; hands back each answer."""

    def __init__(self, sql: Sql, version: int | str, now: datetime, count: int) -> None:
        self._sql = sql
        self._version = version
        self._now = now
        self._stamp = iso(now) or ""
        self._ids = iter(decision_ids(count))
        self._shared: dict[tuple[Any, ...], _Shared] = {}
        self.rows: list[list[Any]] = []
        self.digests: list[str] = []

    def write(self) -> None:
        """Insert the decisions, their reasons inline (ids allocated now), then chain their group's audit record.

        What reviewers filter by is indexed behind the writer (guard.decisions.projector)."""
        pks = store.allocate_ids(self._sql, len(self.rows))
        for pk, row in zip(pks, self.rows, strict=True):
            row[0] = pk
        records = self._audit_records(pks)
        store.insert_decisions(self._sql, [tuple(row) for row in self.rows])
        extend(self._sql, records)

    def _audit_records(self, pks: list[int]) -> list[Entry]:
        """One record for the group, holding the Merkle root of its decisions' leaves; each row gets its
        place (the group is named by its first decision's id, unique as that id is)."""
        if not pks:
            return []
        if PER_DECISION_RECORDS:
            return [Entry("decision", row[1], self._now, digest)
                    for row, digest in zip(self.rows, self.digests, strict=True)]
        group = pks[0]
        leaves = [leaf_digest(group, i, digest) for i, digest in enumerate(self.digests)]
        for i, (row, leaf) in enumerate(zip(self.rows, leaves, strict=True)):
            row[_GROUP_AT:_GROUP_AT + 3] = (group, i, leaf)
        return [Entry(DECISION_GROUP, str(group), self._now, merkle.root(leaves))]

    def add(self, raw: dict[str, Any], shape: str | None, message: Message, verdict: Verdict,
            idempotency_key: str | None, request_hash: str, key_name: str | None, scope: int = 0
            ) -> dict[str, Any]:
        """Record one decision; returns its answer."""
        shared = self._shared_for(raw, shape, message, verdict)
        decision_id = next(self._ids)
        customer = message.customer_id
        request = f"{shared.request_prefix}{encode_basestring_ascii(customer)}{shared.request_suffix}"
        tail = shared.tail
        if idempotency_key is not None:
            tail = decision_tail({**shared.fields, "idempotency_key": idempotency_key},
                                 _matched(verdict), shared.request_digest, shared.facts_digest)
        stored_hash = request_hash or shared.request_digest
        self.rows.append([None, decision_id, customer, *shared.row_middle, idempotency_key,
                          stored_hash, request, shared.facts_text, key_name, scope, None, None, None,
                          shared.reasons_text])
        self.digests.append(decision_digest_with(decision_id, customer, tail, key_name, stored_hash))
        return {"decision_id": decision_id, **shared.answer}

    def built(self, position: int) -> tuple[tuple[Any, ...], str, str]:
        """The row (without its id and audit place), inline reasons and digest of the decision added at
        `position`: what another process's Recorder takes with `add_ready`."""
        row = self.rows[position]
        return tuple(row[1:_GROUP_AT]), row[-1], self.digests[position]

    def add_ready(self, row: tuple[Any, ...], reasons: str, digest: str) -> None:
        """Record one decision built ahead by `add` in a helper process (see `built`)."""
        self.rows.append([None, *row, None, None, None, reasons])
        self.digests.append(digest)

    def _shared_for(self, raw: dict[str, Any], shape: str | None, message: Message, verdict: Verdict) -> _Shared:
        if shape is None or raw.get("idempotency_key") is not None:
            return self._build(raw, shape, message, verdict)  # a keyed request's stored text is its own
        key = (shape, tuple(raw), id(verdict))
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = self._build(raw, shape, message, verdict)
        return shared

    def _build(self, raw: dict[str, Any], shape: str | None, message: Message, verdict: Verdict) -> _Shared:
        prefix, suffix, request_dig = _request_template(raw, shape, message)
        facts, facts_dig = _facts(verdict)
        fields = {"campaign_id": message.campaign_id, "channel": message.channel, "purpose": message.purpose,
                  "send_at": message.send_at, "outcome": verdict.outcome, "route": verdict.route,
                  "defer_until": verdict.defer_until, "rules_version": str(self._version),
                  "evaluated_at": self._now, "idempotency_key": None}
        time = self._sql.time
        middle = (message.campaign_id, message.channel, message.purpose, time(message.send_at), verdict.outcome,
                  verdict.route, time(verdict.defer_until), str(self._version), time(self._now))
        answer = verdict_body(verdict, self._version, self._stamp)
        return _Shared(prefix, suffix, request_dig, facts, facts_dig, fields, middle,
                       decision_tail(fields, _matched(verdict), request_dig, facts_dig), answer,
                       json.dumps(answer["reasons"], separators=(",", ":")) if answer["reasons"] else "[]", verdict)


def _request_template(raw: dict[str, Any], shape: str | None, message: Message) -> tuple[str, str, str]:
    """The stored request's text before and after the customer, and its digest; remembered across calls
    for requests that name their send time (the others default it to now) and carry no idempotency key
    (the shape leaves the key out, the stored text keeps it)."""
    shareable = shape is not None and "send_at" in raw and raw.get("idempotency_key") is None
    key = (shape, tuple(raw)) if shareable else None
    known = _TEMPLATES.get(key) if key is not None else None
    if known is not None:
        return known
    request = {k: (_CUSTOMER if k == "customer_id" else v) for k, v in raw.items() if k != "dry_run"}
    if "send_at" not in request:
        request["send_at"] = iso(message.send_at)
    prefix, suffix = json.dumps(request, separators=(",", ":")).split(_CUSTOMER_JSON)
    template = (prefix, suffix, request_digest(request))
    if key is not None:
        _TEMPLATES.put(key, template)
    return template


def _facts(verdict: Verdict) -> tuple[str, str]:
    """The stored facts text of a verdict and its digest; remembered for the shared verdicts of customers
    without a situation (the entry holds the verdict, so a reused id() is never mistaken for it)."""
    known = _FACTS.get(id(verdict))
    if known is not None and known[0] is verdict:
        return known[1], known[2]
    text = facts_text(verdict.facts)
    digest = facts_digest(text)
    _FACTS.put(id(verdict), (verdict, text, digest))
    return text, digest


def _matched(verdict: Verdict) -> list[tuple[str, str, str]]:
    return [(r.rule_id, r.outcome, r.explanation) for r in verdict.reasons]
