"""A revoked key on a real `guard serve` with two workers that both remembered it: refused everywhere 1 s on."""

from __future__ import annotations

import http.client
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from guard.auth.keys import hash_key
from guard.auth.known import FRESH_FOR
from guard.storage.database import Database
from tests.faults.real import GuardServer, guard_command, make_key, worker_of_connections

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")]

CONNECTIONS = 8
HAMMER = 300  # requests with the revoked key after the second has passed


def _status(conn: http.client.HTTPConnection, token: str) -> int:
    # A read of an unknown decision: 404 once the key passed, 401 when it did not; nothing else is done.
    conn.request("GET", "/v1/decisions/no-such-decision", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    response.read()
    return response.status


def _key_id(url: str, token: str) -> int:
    db = Database(url)
    try:
        with db.raw_reads() as sql:
            row = sql.first("SELECT id FROM api_keys WHERE key_hash = ?", (hash_key(token),))
    finally:
        db.dispose()
    assert row is not None
    return int(row[0])


def test_a_revoked_key_is_refused_by_every_worker_a_second_after_the_revocation(
        server_env: dict[str, str], served_db_url: str, servers: Callable[..., GuardServer]):
    token = make_key(served_db_url, "read")
    other = make_key(served_db_url, "read", name="still-good")
    server = servers(server_env)
    time.sleep(2)  # both workers have loaded the app, so connections opened together spread over them
    connections = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(CONNECTIONS)]
    try:
        for conn in connections:
            conn.connect()
        assert [_status(conn, token) for conn in connections] == [404] * CONNECTIONS
        assert [_status(conn, other) for conn in connections] == [404] * CONNECTIONS
        assert server.proc is not None
        owners = worker_of_connections(server.proc.pid, server.port,
                                       [conn.sock.getsockname()[1] for conn in connections])
        assert len(Counter(owners)) == 2, f"the key was used on one worker only: {Counter(owners)}"
        # Every worker remembers the key now; revoke it from another process, as an operator does.
        revoked = subprocess.run([*guard_command(), "keys", "revoke", str(_key_id(served_db_url, token))],
                                 env=server.env, capture_output=True, text=True, timeout=60)
        committed = time.monotonic()  # the CLI returns after its transaction committed
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(max(0.0, committed + FRESH_FOR - time.monotonic()))
        after = [_status(conn, token) for conn in connections]
        assert after == [401] * CONNECTIONS, f"served after revocation + {FRESH_FOR} s: {after}"
        hammered = Counter(_status(connections[n % CONNECTIONS], token) for n in range(HAMMER))
        assert hammered == Counter({401: HAMMER})
        # Another key of the same callers is untouched.
        assert [_status(conn, other) for conn in connections] == [404] * CONNECTIONS
    finally:
        for conn in connections:
            conn.close()
