"""The README's "Webhooks out" receiver, run as written: it accepts Guard's real deliveries and nothing else."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from guard.core.config import DEV_AUDIT_KEY
from guard.outbound.delivery import Policy
from guard.outbound.outbox import enqueue
from guard.outbound.subscriptions import add_subscription
from guard.outbound.worker import Deliverer
from guard.storage.database import Database
from tests.outbound.receiver import Receiver

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_verify() -> Any:
    section = README.read_text().split("## Webhooks out", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["verify"]


def test_the_readme_receiver_verifies_a_real_delivery_and_refuses_forgeries(db: Database, receiver: Receiver):
    verify = _readme_verify()
    secret = add_subscription(db, DEV_AUDIT_KEY, {"url": receiver.url, "events": ["care.requested"]}, "t")["secret"]
    with db.raw_transaction() as sql:
        enqueue(sql, "care.requested", {"customer_id": "c1"})
    Deliverer(db, DEV_AUDIT_KEY, Policy(timeout=2)).round()
    [got] = receiver.wait_for(1)
    assert verify(secret, got.headers, got.body)
    assert not verify(secret, got.headers, got.body.replace(b"c1", b"c2"))
    assert not verify("whsec_" + "A" * 43 + "=", got.headers, got.body)
    stale = {**got.headers, "webhook-timestamp": str(int(time.time()) - 600)}
    assert not verify(secret, stale, got.body)
