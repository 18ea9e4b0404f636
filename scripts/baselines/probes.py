"""What the kernel says about the benchmark's processes: TCP bytes sent.

Read from outside, so every system is measured the same way whatever it is written in
(zmq sends from its own C threads, which no Python counter sees); CPU time comes from
psutil the same way (peer/simulation/procstat.py, all threads). TCP bytes are the
`bytes_acked` counter of every established socket the process owns, as `ss -tinp`
reports it (tcp_info; loopback acknowledges everything at once), so the difference of
two samples is what the process sent in between. A socket opened in between counts
from zero; one closed in between is lost, which a steady stream never does.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable

SS_TIMEOUT_S = 10.0
_PID = re.compile(r"pid=(\d+),")
_BYTES_ACKED = re.compile(r"\bbytes_acked:(\d+)")

SocketKey = tuple[str, str]  # (local address, peer address)


def tcp_bytes_acked(pids: Iterable[int]) -> dict[SocketKey, int]:
    """Bytes acknowledged so far on every established TCP socket owned by one of `pids`."""
    wanted = set(pids)
    try:
        result = subprocess.run(
            ["ss", "-tinpH", "state", "established"],
            capture_output=True,
            text=True,
            timeout=SS_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"cannot read TCP counters with `ss` (iproute2): {exc}") from None
    counters: dict[SocketKey, int] = {}
    key: SocketKey | None = None
    for line in result.stdout.splitlines():
        if not line[:1].isspace():  # a socket line: Recv-Q Send-Q local peer users:(...)
            columns = line.split()
            owners = {int(pid) for pid in _PID.findall(line)}
            key = (columns[2], columns[3]) if len(columns) >= 4 and owners & wanted else None
            if key is not None:
                counters[key] = 0
        elif key is not None:  # its tcp_info line
            match = _BYTES_ACKED.search(line)
            if match:
                counters[key] = int(match.group(1))
    return counters


def bytes_sent_between(before: dict[SocketKey, int], after: dict[SocketKey, int]) -> int:
    """Bytes sent between two `tcp_bytes_acked` samples."""
    return sum(max(0, acked - before.get(key, 0)) for key, acked in after.items())
