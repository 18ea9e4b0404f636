"""CPU, memory and I/O of a process (psutil), and TCP byte counts (`ss`)."""

from __future__ import annotations

import subprocess

import psutil

BYTES_PER_MIB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far, all threads (0 if it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def rss_mib(pid: int) -> float:
    """Resident memory in MiB (0 if the process is gone)."""
    try:
        return float(psutil.Process(pid).memory_info().rss) / BYTES_PER_MIB
    except psutil.Error:
        return 0.0


def open_fds(pid: int) -> int:
    """Open file descriptors of the process (-1 if it is gone)."""
    try:
        return int(psutil.Process(pid).num_fds())
    except psutil.Error:
        return -1


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
