"""The projector's lag is visible: /readyz details, a /metrics gauge, and "as of" in the console."""

from __future__ import annotations

import re

from guard.app import Guard
from guard.auth.keys import create_key
from guard.decisions.projector import catch_up
from guard.web.factory import create_app
from tests.web.api.conftest import decision_body


def _gauge(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, text
    return float(found.group(1))


def test_lag_shows_in_readyz_metrics_and_the_console(guard: Guard):
    with guard.db.transaction() as session:
        _, token = create_key(session, "lag", ["admin"])
    app = create_app(guard)  # no catch-up before reads: the projector has not run at all
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for i in range(3):
        assert client.post("/v1/decisions", json=decision_body(f"lag-{i}"), headers=auth).status_code == 200

    ready = client.get("/readyz")
    assert ready.status_code == 200  # a lagging index never makes Guard unready: decisions do not wait for it
    projection = ready.get_json()["details"]["projection"]
    assert projection["behind"] == 3 and projection["lag_seconds"] >= 0 and projection["as_of"].endswith("Z")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert _gauge(metrics, "guard_projection_behind_decisions") == 3
    assert _gauge(metrics, "guard_projection_lag_seconds") >= 0
    assert "# TYPE guard_projection_lag_seconds gauge" in metrics
    catch_up(guard.db)

    projection = client.get("/readyz").get_json()["details"]["projection"]
    assert (projection["behind"], projection["lag_seconds"]) == (0, 0) and projection["as_of"].endswith("Z")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert _gauge(metrics, "guard_projection_behind_decisions") == 0
    assert _gauge(metrics, "guard_projection_lag_seconds") == 0
