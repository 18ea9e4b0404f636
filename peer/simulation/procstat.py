"""CPU, memory and I/O of a process, read from /proc (Linux)."""

from __future__ import annotations

import os
import subprocess

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def rss_mib(pid: int) -> float:
    """Resident memory in MiB (0 if the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tcp_bytes(port: int) -> int | None:
    """Bytes received + sent so far on established TCP sockets bound to `port`.

    Read with `ss` (iproute2), which sees socket traffic that /proc/PID/io does not.
    None where `ss` is missing. Connections closed meanwhile take their counts along.
    """
    try:
        result = subprocess.run(
            ["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    total = 0
    for field in result.stdout.split():
        name, _, value = field.partition(":")
        if name in ("bytes_received", "bytes_acked") and value.isdigit():
            total += int(value)
    return total
