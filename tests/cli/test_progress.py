"""Long CLI work shows a progress bar with rate and ETA when a person watches (stderr is a terminal), and
nothing when its output goes to a pipe or a file. The real `guard` program runs under a pseudo-terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

from tests.cli.test_serve import _guard_command

# tqdm's closing line: `... 100%|####| 3000/3000 [00:01<00:00, 2100.00decisions/s]` (elapsed<ETA, rate).
ETA_AND_RATE = r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+ ?[kM]?{unit}/s\]"


def _on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `guard ARGS` with stderr on a pseudo-terminal, stdout to a file."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal 120 columns wide
    with (cwd / "stdout.txt").open("w+") as out:
        proc = subprocess.Popen([*_guard_command(), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=slave)
        os.close(slave)
        seen = bytearray()
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the program ended
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        status = proc.wait(timeout=120)
        out.seek(0)
        return status, out.read(), seen.decode("utf-8", "replace")


def _piped(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_guard_command(), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def test_long_work_shows_rate_and_eta_on_a_terminal_and_nothing_when_piped(cli_env: dict[str, str],
                                                                            tmp_path: Path):
    env = {**os.environ, **cli_env, "GUARD_LOG_LEVEL": "WARNING"}
    events = tmp_path / "events.ndjson"
    events.write_text("\n".join(json.dumps({
        "event_id": f"e{i}", "customer_id": f"c{i % 50}", "type": "newsletter.opened",
        "occurred_at": "2026-03-01T00:00:00Z", "data": {}}) for i in range(3000)) + "\n")
    recipients = tmp_path / "spring.csv"
    recipients.write_text("customer_id\n" + "\n".join(f"c{i}" for i in range(300)) + "\n")
    screen = ["campaign", "screen", str(recipients), "-o", str(tmp_path / "out.ndjson"), "--channel", "email",
              "--purpose", "marketing", "--campaign-id", "spring", "--send-at", "2026-03-10T12:00:00Z"]

    steps = [(["events", "import", str(events)], "Importing events", "B"),
             (screen, "Screening", "B"),
             (["rules", "backtest", "--version", "1"], "Replaying decisions", "decisions"),
             (["audit", "verify"], "Verifying the audit chain", "records")]
    for args, label, unit in steps:
        status, out, err = _on_terminal(args, env, tmp_path)
        assert status == 0, (args, out, err)
        assert label in err and "100%" in err, (args, err)
        assert re.search(ETA_AND_RATE.format(unit=unit), err), (args, err)

    for args, label, _ in steps:
        piped = _piped(args, env, tmp_path)
        assert piped.returncode == 0, (args, piped.stderr)
        assert label not in piped.stderr and "%|" not in piped.stderr, (args, piped.stderr)
    assert _piped(["events", "import", str(events)], env, tmp_path).stdout.strip() == \
        "0 created, 3000 duplicates, 0 errors"
