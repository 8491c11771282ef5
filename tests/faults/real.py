"""Real `guard serve` processes for fault tests: started, probed, killed and restarted like in production."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from guard.auth.keys import create_key
from guard.storage.database import Database
from guard.storage.migrations import upgrade


def guard_command() -> list[str]:
    """The installed `guard` script next to this Python, else the module."""
    script = Path(sys.executable).parent / "guard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "guard.cli"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(url: str, *scopes: str, name: str = "faults") -> str:
    """A key with `scopes` in the database at `url` (migrated first)."""
    upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as session:
            _, token = create_key(session, name, scopes)
        return token
    finally:
        db.dispose()


class GuardServer:
    """One `guard serve` master with its workers, on a fixed port so it can be restarted in place."""

    def __init__(self, env: dict[str, str], directory: Path, workers: int = 2, port: int | None = None,
                 name: str = "serve") -> None:
        self.env = {**os.environ, **env}
        self.directory = directory
        self.workers = workers
        self.port = port or free_port()
        self.log = directory / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> GuardServer:
        """Start and wait until /healthz answers."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*guard_command(), "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env, cwd=self.directory, stdout=log, stderr=log, start_new_session=True)
        self.wait_up(timeout)
        return self

    def wait_up(self, timeout: float = 60) -> None:
        """Until /healthz answers 200 and every worker has booted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"guard serve exited with {self.proc.returncode}:\n{self.log_text()[-5000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200 and \
                        len(self.worker_pids()) >= self.workers:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"guard serve did not answer within {timeout} s:\n{self.log_text()[-5000:]}")

    def worker_pids(self) -> list[int]:
        """The master's children (its workers)."""
        if self.proc is None:
            return []
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def kill_worker(self) -> int:
        """SIGKILL one worker; the master replaces it."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self, timeout: float = 30) -> None:
        """SIGKILL the master; its orphaned workers notice and leave, freeing the port."""
        assert self.proc is not None
        orphans = self.worker_pids()
        self.proc.kill()
        self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in orphans):
            if time.monotonic() > deadline:
                for pid in orphans:  # a worker that did not notice is killed, as a supervisor would
                    _kill(pid)
                break
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout`); the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def log_text(self) -> str:
        """Everything the server wrote to stdout and stderr."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> GuardServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def worker_of_connections(master: int, server_port: int, client_ports: list[int]) -> list[int]:
    """For each client port, the pid of the worker holding the server side of that connection (Linux /proc)."""
    inodes: dict[int, str] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if local_port == server_port and remote_port in client_ports:
            inodes[remote_port] = fields[9]
    owners: dict[str, int] = {}
    for worker in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                owners[target[8:-1]] = int(worker)
    return [owners[inodes[port]] for port in client_ports]


def wait_projected(base: str, seconds: float = 30) -> None:
    """Wait until the server's projector has indexed every committed decision: reviewers' lists are built behind
    the writer (guard.decisions.projector), so a test that reads them right after deciding waits for it first."""
    deadline = time.monotonic() + seconds
    while True:
        projection = requests.get(f"{base}/readyz", timeout=10).json()["details"]["projection"]
        if projection["behind"] == 0:
            return
        assert time.monotonic() < deadline, projection
        time.sleep(0.05)
