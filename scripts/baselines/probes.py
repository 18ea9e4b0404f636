"""What the kernel says about the benchmark's processes: CPU time and TCP bytes sent.

Read from outside, so every system is measured the same way whatever it is written in
(zmq sends from its own C threads, which no Python counter sees). CPU is utime + stime
of /proc/PID/stat (all threads of the process, in clock ticks). TCP bytes are the
`bytes_acked` counter of every established socket the process owns, as `ss -tinp`
reports it (tcp_info; loopback acknowledges everything at once), so the difference of
two samples is what the process sent in between. A socket opened in between counts
from zero; one closed in between is lost, which a steady stream never does.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
SS_TIMEOUT_S = 10.0
_PID = re.compile(r"pid=(\d+),")
_BYTES_ACKED = re.compile(r"\bbytes_acked:(\d+)")

SocketKey = tuple[str, str]  # (local address, peer address)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, s) process `pid` has used so far; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS_PER_S


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
