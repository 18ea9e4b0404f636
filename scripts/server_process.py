"""The server under load in bench_tracker, as a process: where it listens, its CPU
and memory counters (psutil), and stopping it whatever happened.
"""

from __future__ import annotations

import re
import sys
import time

import attrs
import psutil
import trio
from fake_peers import BenchError

TRACKER_START_TIMEOUT_S = 10.0
# Stopping takes seconds with thousands of peers: each leaving peer costs the tracker work.
TRACKER_STOP_TIMEOUT_S = 15.0
STOP_NOTICE_S = 1.0  # say why we wait once stopping takes longer than this
LISTENING = re.compile(r"tracker listening on (?P<host>.+):(?P<port>\d+)")


@attrs.frozen
class CpuSample:
    """CPU seconds used so far by the tracker, by this process and by the whole machine."""

    wall_s: float
    tracker_user_s: float
    tracker_system_s: float
    own_s: float
    machine_busy_s: float  # all cores together


def sample_cpu(pid: int) -> CpuSample:
    """Read the CPU counters of process `pid`, of this process and of the machine now."""
    try:
        tracker = psutil.Process(pid).cpu_times()
    except psutil.Error as exc:
        raise BenchError(f"cannot read the tracker's CPU times: {exc}") from exc
    machine = psutil.cpu_times()
    # Busy is all but idle and iowait (steal and guest are left out: guest time is
    # already counted in user).
    busy_s = sum(
        getattr(machine, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq")
    )
    return CpuSample(
        wall_s=time.perf_counter(),
        tracker_user_s=tracker.user,
        tracker_system_s=tracker.system,
        own_s=time.process_time(),
        machine_busy_s=busy_s,
    )


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` in MiB."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error as exc:
        raise BenchError(f"cannot read the tracker's memory: {exc}") from exc


async def read_listen_address(stdout: trio.abc.ReceiveStream) -> tuple[str, int]:
    """Wait for the tracker's `tracker listening on HOST:PORT` line."""
    buffer = b""
    try:
        with trio.fail_after(TRACKER_START_TIMEOUT_S):
            while b"\n" not in buffer:
                chunk = await stdout.receive_some(4096)
                if not chunk:
                    raise BenchError("the server exited before listening (see its stderr)")
                buffer += chunk
    except trio.TooSlowError:
        raise BenchError(f"the tracker did not listen within {TRACKER_START_TIMEOUT_S} s") from None
    line = buffer.partition(b"\n")[0].decode(errors="replace").strip()
    match = LISTENING.fullmatch(line)
    if match is None:
        raise BenchError(f"unexpected first line from the tracker: {line!r}")
    return match["host"], int(match["port"])


async def stop_tracker(process: trio.Process) -> float | None:
    """SIGTERM the tracker, SIGKILL it if it is still there after a while.

    Returns the seconds from SIGTERM to exit, or None if it had to be killed.
    """
    stop_s = None
    if process.returncode is None:
        started_s = time.perf_counter()
        process.terminate()
        with trio.move_on_after(STOP_NOTICE_S):
            await process.wait()
        if process.returncode is None:
            print("bench_tracker: waiting for the tracker to exit...", file=sys.stderr)
        with trio.move_on_after(TRACKER_STOP_TIMEOUT_S - STOP_NOTICE_S):
            await process.wait()
        if process.returncode is not None:
            stop_s = time.perf_counter() - started_s
    if process.returncode is None:
        print(
            f"bench_tracker: the tracker was still running {TRACKER_STOP_TIMEOUT_S:g} s "
            "after SIGTERM; killing it",
            file=sys.stderr,
        )
        process.kill()
        await process.wait()
    if process.stdout is not None:
        await process.stdout.aclose()
    return stop_s
