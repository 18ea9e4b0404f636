"""Whether processes a test started are still around."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie awaiting its parent does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
