"""A real `guard serve` (gunicorn, 2 workers): clients deciding at once, then every decision's proof verifies
with the client's own check, and `guard audit verify` passes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from guard_client import verify_proof
from sqlalchemy import create_engine, text

from guard.cli import main
from tests.cli.test_serve import _serving
from tests.conftest import RULES_DIR

CLIENTS = 6
EACH = 25


def _key(env: dict[str, str], *scopes: str) -> dict[str, str]:
    created = CliRunner().invoke(main, ["keys", "create", "--name", "proofs",
                                        *(arg for scope in scopes for arg in ("--scope", scope))], env=env)
    assert created.exit_code == 0, created.output
    return {"Authorization": f"Bearer {created.stdout.strip()}"}


@pytest.mark.slow
def test_concurrent_decisions_all_prove_their_inclusion(server_db_url: str, tmp_path: Path):
    env = {**os.environ, "GUARD_DATABASE_URL": server_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}
    decide, read = _key(env, "decide"), _key(env, "read")
    decided: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    with _serving(env, tmp_path) as (base, _proc):
        def client(n: int) -> None:
            with requests.Session() as http:
                for i in range(EACH):
                    answer = http.post(f"{base}/v1/decisions", headers=decide, timeout=30, json={
                        "customer_id": f"proof-{n}-{i % 5}", "channel": "email", "purpose": "marketing"})
                    with lock:
                        (decided.append(answer.json()["decision_id"]) if answer.status_code == 200
                         else failures.append(answer.text))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        batch = requests.post(f"{base}/v1/decisions/batch", headers=decide, timeout=60, json={"requests": [
            {"customer_id": f"batch-{i}", "channel": "sms", "purpose": "service"} for i in range(40)]})
        for thread in threads:
            thread.join(120)
        assert not failures, failures[:3]
        assert batch.status_code == 200, batch.text
        decided.extend(r["decision_id"] for r in batch.json()["results"])
        assert len(decided) == CLIENTS * EACH + 40
        with requests.Session() as http:
            for decision_id in decided:
                proof = http.get(f"{base}/v1/decisions/{decision_id}/proof", headers=read, timeout=10)
                assert proof.status_code == 200, proof.text
                assert proof.json()["decision_id"] == decision_id and verify_proof(proof.json()), proof.json()
            assert http.get(f"{base}/v1/decisions/{decided[0]}/proof", headers=decide, timeout=10).status_code == 403
            assert http.get(f"{base}/v1/decisions/nope/proof", headers=read, timeout=10).status_code == 404
    engine = create_engine(server_db_url)
    with engine.connect() as conn:
        groups = conn.execute(text("SELECT count(*) FROM audit_records WHERE kind = 'decisions'")).scalar_one()
        alone = conn.execute(text("SELECT count(*) FROM audit_records WHERE kind = 'decision'")).scalar_one()
    engine.dispose()
    # One record per committed group: the batch is one; singles share theirs when they queue together.
    assert alone == 0 and 2 <= groups <= CLIENTS * EACH + 1
    verified = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
