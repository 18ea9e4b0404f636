#!/usr/bin/env python3
"""The standing benchmarks on one screen: every figure beside its target, PASS or FAIL.

    scripts/bench [--only NAME[,NAME]] [--quick] [--json FILE]

Plan: run each benchmark of BENCHMARKS in turn, never two at once (they would measure
each other), as a subprocess writing its own `--json FILE` into a temporary directory;
read every figure from that JSON by its key path, never from the human text; judge each
against its target; print one screen headed by the commit, the machine and the date.
The exit status is 1 if any figure FAILs (a benchmark that broke FAILs too), else 0.

Limits: a benchmark whose script does not exist (yet) prints nothing; a figure that
needs a module which is not installed says SKIP and why; each benchmark has a time
limit, after which it is interrupted like Ctrl-C and then its whole process group is
killed. --quick runs smaller versions (for the test suite): the figures are still
judged against the full targets, but they do not measure what the targets are about.
Adding a benchmark (bench_codec, say) is one more Benchmark entry in BENCHMARKS.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
import psutil
from bench_screen import BENCHMARKS, Benchmark, Header, IfInstalled, Outcome, build_screen, render

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 20.0  # after the interrupt, before the process group is killed
KILL_WAIT_S = 5.0  # for SIGKILLed leftovers to be gone
KILL_POLL_S = 0.05
LOG_LINES = 20  # of a failed benchmark's stderr, kept in --json

# -- running them ---------------------------------------------------------------------


def command_line(
    benchmark: Benchmark, quick: bool, installed: Callable[[str], bool]
) -> tuple[str, ...]:
    """The benchmark's arguments (without --json), with --quick's values if asked."""
    argv = [
        (arg.present if installed(arg.requirement.module) else arg.absent)
        if isinstance(arg, IfInstalled)
        else arg
        for arg in benchmark.argv
    ]
    if quick:
        for option, value in benchmark.quick.items():
            argv[argv.index(option) + 1] = value
    return tuple(argv)


def requirements(benchmark: Benchmark) -> set[str]:
    """The modules a benchmark's figures or arguments depend on."""
    modules = {f.needs.module for f in benchmark.figures if f.needs is not None}
    return modules | {a.requirement.module for a in benchmark.argv if isinstance(a, IfInstalled)}


def installed(module: str) -> bool:
    """Whether `module` can be imported by the benchmarks (the same interpreter)."""
    return importlib.util.find_spec(module) is not None


def hear_interrupts() -> None:
    """In a benchmark about to start: SIGINT raises KeyboardInterrupt again, even when
    this script was started with it ignored (a background job of a shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Interrupt a benchmark as Ctrl-C would (each cleans up on it), then kill its group."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def kill_leftovers(group: int) -> int:
    """Kill whatever still runs in a finished benchmark's process group; return how many."""
    left = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(pid) == group and running(psutil.Process(pid)):
                left.append(psutil.Process(pid))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    while any(running(process) for process in left) and time.monotonic() < deadline:
        time.sleep(KILL_POLL_S)
    return len(left)


def running(process: psutil.Process) -> bool:
    """Whether a process still runs (a zombie does not: it only awaits its reaping)."""
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def run_benchmark(benchmark: Benchmark, quick: bool, tmp: Path) -> Outcome:
    """Run one benchmark in its own process group, with its time limit; read its JSON."""
    argv = command_line(benchmark, quick, installed)
    report = tmp / f"{benchmark.name}.json"
    errors = tmp / f"{benchmark.name}.stderr"
    command = [sys.executable, benchmark.script, *argv, "--json", str(report)]
    started_s = time.monotonic()
    load = os.getloadavg()[0]
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own group: stop_group and kill_leftovers reach all
            preexec_fn=hear_interrupts,
        )
        returncode: int | None
        try:
            returncode = process.wait(timeout=benchmark.timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(process)
            returncode = None
        except BaseException:
            stop_group(process)
            raise
        finally:
            leftovers = kill_leftovers(process.pid)
    seconds = time.monotonic() - started_s
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        data = None
    said = errors.read_bytes().decode(errors="replace").strip().splitlines()
    log = tuple(said[-LOG_LINES:]) if returncode != 0 else ()
    missing = frozenset(m for m in requirements(benchmark) if not installed(m))
    return Outcome(benchmark.name, argv, seconds, returncode, data, log, missing, leftovers,
                   round(load, 2))  # fmt: skip


def read_header(quick: bool) -> Header:
    """The commit, the machine and the date, now."""

    def git(*argv: str) -> str:
        try:
            result = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        except OSError:
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    load = os.getloadavg()
    return Header(
        commit=git("rev-parse", "--short", "HEAD") or "unknown commit",
        uncommitted=bool(git("status", "--porcelain")),
        cores=os.cpu_count() or 1,
        load_average=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        quick=quick,
    )


def chosen(only: str | None) -> list[Benchmark]:
    """The benchmarks --only names (all by default), in table order."""
    if only is None:
        return list(BENCHMARKS)
    names = {name.strip() for name in only.split(",") if name.strip()}
    unknown = names - {b.name for b in BENCHMARKS}
    if unknown:
        known = ", ".join(b.name for b in BENCHMARKS)
        raise SystemExit(f"bench: no benchmark named {', '.join(sorted(unknown))} (know {known})")
    return [b for b in BENCHMARKS if b.name in names]


def runnable(benchmarks: Iterable[Benchmark], root: Path) -> list[Benchmark]:
    """The benchmarks whose script exists under `root` (the others print nothing)."""
    return [benchmark for benchmark in benchmarks if (root / benchmark.script).is_file()]


def main() -> int:
    """Run the chosen benchmarks, print the screen; 1 if any figure failed its target."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", metavar="NAME[,NAME]", help="run only these benchmarks")
    parser.add_argument("--quick", action="store_true", help="short smoke runs")
    parser.add_argument("--json", metavar="FILE", help="also write the screen's data here")
    args = parser.parse_args()
    benchmarks = runnable(chosen(args.only), ROOT)
    header = read_header(args.quick)
    outcomes: dict[str, Outcome] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            for benchmark in benchmarks:
                print(f"bench: running {benchmark.name}...", file=sys.stderr, flush=True)
                outcomes[benchmark.name] = run_benchmark(benchmark, args.quick, Path(tmp))
    except KeyboardInterrupt:
        print("bench: interrupted; every benchmark was stopped", file=sys.stderr)
        return 130
    screen = build_screen(header, benchmarks, outcomes)
    print(render(screen))
    if args.json:
        Path(args.json).write_text(json.dumps(attrs.asdict(screen), indent=2) + "\n")
    return 1 if screen.failed else 0


if __name__ == "__main__":
    sys.exit(main())
