"""Progress bars for long CLI work: rate and ETA on a terminal (stderr), nothing at all when piped."""

from __future__ import annotations

import os
import stat
import sys
from typing import IO

from tqdm import tqdm


def on_terminal(stream: IO[str]) -> bool:
    """Whether a person watches `stream` (a bar in a log file or a pipe is noise)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(label: str, total: int | None = None, unit: str = "it", in_bytes: bool = False) -> tqdm:
    """A bar on stderr, shown only when stderr is a terminal; `in_bytes` counts in kB/MB."""
    stream = sys.stderr  # looked up now: click's test runner swaps it
    return tqdm(total=total, desc=label, unit="B" if in_bytes else unit, unit_scale=in_bytes,
                unit_divisor=1024 if in_bytes else 1000, file=stream, disable=not on_terminal(stream),
                dynamic_ncols=True, mininterval=0.2, leave=True)


def file_size(stream: IO[bytes]) -> int | None:
    """The byte size of a regular file, for a bar with an ETA; None for a pipe or stdin (the bar then counts)."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
