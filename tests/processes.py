"""Whether processes a test started are still around."""

from __future__ import annotations

import psutil


def alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie awaiting its parent does not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
