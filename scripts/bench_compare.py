#!/usr/bin/env python3
"""StreamNest against the star-shaped designs it replaces: same frames, same audience.

    python scripts/bench_compare.py [--viewers 10,50,100] [--seconds 10] [--warmup 2]
                                    [--systems streamnest,imagezmq,seed] [--workers 2]
                                    [--codec jpeg|h264] [--json FILE]

For each N in --viewers, each system runs in turn on loopback with N viewers spread over
--workers processes (many viewers per process, none decoding the frames):

- streamnest: a tracker, a source with fanout 3 and viewers with 3 child slots each,
  the real relay path (the source is a `peer.node.Peer` whose camera is the frame file);
- imagezmq: the registry package in PUB/SUB mode, one publisher and N subscribers
  (scripts/baselines/imagezmq_star.py);
- seed: the original project's central TCP server relaying base64-in-JSON frames to
  every viewer (scripts/baselines/seed_server.py, a benchmark baseline only).

Every source sends the same 60 pre-encoded frames of StreamNest's 1280x720 test pattern
round-robin at 30 fps, stamping capture time and a sequence number in its own framing
(scripts/baselines/workload.py): JPEG at quality 80, or with --codec h264 one GOP of
H.264 from StreamNest's encoder (its defaults: CRF 23 under a 2,500 kb/s cap, a keyframe
every 2 s), which the StreamNest source streams as H.264, keyframe flags and GOP caches
included. The stars carry the same H.264 units as they carry JPEG: as opaque bytes
(imagezmq's send_jpg and the seed's base64 JSON never look inside, and no viewer of any
system decodes), so every system moves the same bytes and the comparison stays one of
topologies, not of codecs; a real H.264 star would also need a keyframe for each late
joiner, which this steady-state window does not measure. Over one measured window,
after a warm-up, the script reports for each system:

- source CPU %: the source side's CPU time over the window (100 = one core). The source
  side is the source process, and for the seed also its central server: a star's egress
  lands there;
- source egress: bytes per second the source side sent (TCP counters, scripts/baselines/
  probes.py), also in streams (one stream = mean frame size x fps);
- delivered frames: frames received by viewers / (frames sent x N), counting frames
  captured in the window that arrive at most 1 s after it;
- true end-to-end latency p50 / p99 (arrival minus capture, one clock) over those frames;
- total CPU %: every process of the system (tracker, server, viewers included);
- CPU per delivered frame: the CPU seconds of all those processes over the window
  divided by the frames delivered to all viewers in it, in ms,

then StreamNest/other for each. Targets, checked at N = 100: source egress about 3/100 of
each star's (at most 1.5x that), delivered frames at least theirs, p99 latency within 2x
imagezmq's. Every process started is reaped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
from baselines import probes
from baselines.report import check_targets, print_cpu_per_frame, print_table
from baselines.streamnest_peers import FANOUT, JOIN_TIMEOUT_S, MAX_CHILDREN
from baselines.workload import (
    CODECS,
    FPS,
    HEIGHT,
    WIDTH,
    Window,
    codec_config,
    codec_label,
    encode_frames,
)
from bench_relay import read_line, start_tracker
from process_group import processes

from peer.simulation.procstat import cpu_seconds
from peer.simulation.report import quantile

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
SYSTEMS = ("streamnest", "imagezmq", "seed")
START_TIMEOUT_S = 60.0  # for a process to say it is ready
REPORT_TIMEOUT_S = 60.0  # for a report, after the window's grace period
TARGET_VIEWERS = 100
LOG_TAIL_LINES = 5


# -- starting each system ----------------------------------------------------------------


@attrs.frozen
class Setting:
    """What every run of one invocation shares."""

    args: argparse.Namespace
    frames_path: Path
    log_dir: Path
    stream_bytes_per_s: float  # mean frame size x fps


@attrs.define
class Run:
    """One system with one audience size: the processes started, their roles and logs."""

    system: str
    viewers: int
    setting: Setting
    started: list[subprocess.Popen[str]]
    roles: dict[int, str] = attrs.field(factory=dict)  # pid -> role
    logs: list[Path] = attrs.field(factory=list)

    def spawn(self, role: str, module: str, *argv: str) -> subprocess.Popen[str]:
        """Start `python -m MODULE ARGV...` with scripts/ importable and stderr to a log."""
        log = self.setting.log_dir / f"{self.system}-{self.viewers}-{role}.log"
        self.logs.append(log)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SCRIPTS), str(ROOT)])}
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", module, *argv],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.started.append(process)
        self.roles[process.pid] = role
        return process

    def spawn_audience(self, module: str, command: str, *argv: str) -> list[subprocess.Popen[str]]:
        """Start the viewers, spread over --workers processes: `MODULE COMMAND ARGV --names`."""
        names = [f"v{i:03d}" for i in range(self.viewers)]
        per_worker = -(-len(names) // max(1, min(self.setting.args.workers, len(names))))
        return [
            self.spawn(
                f"viewers-{i // per_worker + 1}",
                module,
                command,
                *argv,
                "--names",
                ",".join(names[i : i + per_worker]),
            )
            for i in range(0, len(names), per_worker)
        ]

    def log_tails(self) -> str:
        """The last lines each process wrote to stderr (for a failure message)."""
        tails = []
        for log in self.logs:
            lines = log.read_text(errors="replace").strip().splitlines()[-LOG_TAIL_LINES:]
            if lines:
                tails.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(tails)


@attrs.frozen
class Deployment:
    """A running system: who reports what was sent, who reports what was received."""

    source: subprocess.Popen[str]
    source_pids: list[int]  # the source side: what its CPU % and egress cover
    audience: list[subprocess.Popen[str]]


def port_of(ready_line: str) -> str:
    """The port in a `ready PORT` line."""
    return ready_line.split()[1]


def launch_streamnest(run: Run) -> Deployment:
    """Tracker, source, then viewer workers."""
    tracker = start_tracker(run.started)
    run.roles[run.started[-1].pid] = "tracker"
    module = "baselines.streamnest_peers"
    frames = str(run.setting.frames_path)
    codec = run.setting.args.codec
    source = run.spawn(
        "source", module, "source", "--tracker", tracker, "--frames", frames, "--codec", codec
    )
    read_line(source, START_TIMEOUT_S)
    audience = run.spawn_audience(module, "viewers", "--tracker", tracker)
    return Deployment(source, [source.pid], audience)


def launch_imagezmq(run: Run) -> Deployment:
    """Publisher, then subscriber processes."""
    module = "baselines.imagezmq_star"
    frames = str(run.setting.frames_path)
    source = run.spawn("source", module, "publisher", "--frames", frames)
    port = port_of(read_line(source, START_TIMEOUT_S))
    audience = run.spawn_audience(module, "subscribers", "--port", port)
    return Deployment(source, [source.pid], audience)


def launch_seed(run: Run) -> Deployment:
    """Central server, streamer, then viewer processes."""
    module = "baselines.seed_server"
    frames = str(run.setting.frames_path)
    server = run.spawn("server", module, "server")
    port = port_of(read_line(server, START_TIMEOUT_S))
    source = run.spawn("source", module, "streamer", "--port", port, "--frames", frames)
    read_line(source, START_TIMEOUT_S)
    audience = run.spawn_audience(module, "viewers", "--port", port)
    return Deployment(source, [source.pid, server.pid], audience)


LAUNCHERS = {"streamnest": launch_streamnest, "imagezmq": launch_imagezmq, "seed": launch_seed}


# -- measuring -------------------------------------------------------------------------


@attrs.frozen
class Sample:
    """The kernel's counters at one instant: CPU s per pid, bytes acked per source socket."""

    at_s: float  # monotonic
    cpu_s: dict[int, float]
    acked: dict[probes.SocketKey, int]

    @classmethod
    def take(cls, pids: list[int], source_pids: list[int]) -> Sample:
        """Read the counters now."""
        cpu = {pid: cpu_seconds(pid) for pid in pids}
        return cls(time.monotonic(), cpu, probes.tcp_bytes_acked(source_pids))


def sleep_until_ns(unix_ns: int) -> None:
    """Sleep until the given Unix time."""
    time.sleep(max(0.0, (unix_ns - time.time_ns()) / 1e9))


def measure(run: Run, deployment: Deployment) -> dict[str, Any]:
    """Wait until every viewer receives, measure one window, and compute the metrics."""
    args = run.setting.args
    per_worker = -(-run.viewers // len(deployment.audience))
    for worker in deployment.audience:
        read_line(worker, START_TIMEOUT_S + JOIN_TIMEOUT_S * per_worker)
    start_ns = time.time_ns() + int(args.warmup * 1e9)
    window = Window(start_ns, start_ns + int(args.seconds * 1e9))
    for process in [deployment.source, *deployment.audience]:
        assert process.stdin is not None
        process.stdin.write(f"window {window.start_ns} {window.end_ns}\n")
        process.stdin.flush()
    pids = [process.pid for process in run.started]
    sleep_until_ns(window.start_ns)
    before = Sample.take(pids, deployment.source_pids)
    sleep_until_ns(window.end_ns)
    after = Sample.take(pids, deployment.source_pids)
    timeout_s = window.report_at_s() - time.time() + REPORT_TIMEOUT_S
    sent = json.loads(read_line(deployment.source, timeout_s))["frames_sent"]
    received: dict[str, Any] = {}
    for worker in deployment.audience:
        received.update(json.loads(read_line(worker, timeout_s))["viewers"])
    return metrics(run, deployment, before, after, sent, received)


def metrics(
    run: Run,
    deployment: Deployment,
    before: Sample,
    after: Sample,
    sent: int,
    received: dict[str, Any],
) -> dict[str, Any]:
    """The documented metrics of one run, from the samples and the processes' reports."""
    elapsed_s = after.at_s - before.at_s
    cpu_pct = {pid: 100 * (after.cpu_s[pid] - before.cpu_s[pid]) / elapsed_s for pid in after.cpu_s}
    egress = probes.bytes_sent_between(before.acked, after.acked) / elapsed_s
    delivered = sum(viewer["frames"] for viewer in received.values())
    latencies = [ms for viewer in received.values() for ms in viewer["latency_ms"]]
    cpu_s = sum(after.cpu_s[pid] - before.cpu_s[pid] for pid in after.cpu_s)
    by_depth: dict[int, list[float]] = {}
    depths = [viewer["depth"] for viewer in received.values() if "depth" in viewer]
    for viewer in received.values():
        if "depth" in viewer:  # StreamNest viewers say where they sit in the tree
            by_depth.setdefault(viewer["depth"], []).extend(viewer["latency_ms"])
    return {
        "viewers": run.viewers,
        "frames_sent": sent,
        "frames_delivered": delivered,
        "source_cpu_pct": sum(cpu_pct[pid] for pid in deployment.source_pids),
        "source_egress_bytes_per_s": egress,
        "source_egress_mb_per_s": egress / 1e6,
        "source_egress_streams": egress / run.setting.stream_bytes_per_s,
        "delivered_ratio": delivered / (sent * run.viewers) if sent else 0.0,
        "latency_p50_ms": quantile(latencies, 0.5) if latencies else None,
        "latency_p99_ms": quantile(latencies, 0.99) if latencies else None,
        "total_cpu_pct": sum(cpu_pct.values()),
        # Every process of the system, over the window, per frame any viewer received.
        "cpu_ms_per_delivered_frame": 1000 * cpu_s / delivered if delivered else None,
        "cpu_pct_by_role": {run.roles.get(pid, str(pid)): pct for pid, pct in cpu_pct.items()},
        "latency_p50_ms_by_depth": {d: quantile(v, 0.5) for d, v in sorted(by_depth.items())},
        "viewers_by_depth": dict(sorted(Counter(depths).items())),
        # StreamNest viewers say what they received (the stars' viewers see only bytes).
        "codecs_received": sorted({v["codec"] for v in received.values() if "codec" in v}),
        "measured_s": elapsed_s,
        "source_pids": deployment.source_pids,
        "pids": [process.pid for process in run.started],
    }


def run_system(system: str, viewers: int, setting: Setting, all_pids: list[int]) -> dict[str, Any]:
    """Start one system with `viewers` viewers, measure it, and reap every process."""
    with processes() as started:
        run = Run(system, viewers, setting, started)
        try:
            return measure(run, LAUNCHERS[system](run))
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            print(f"{system} with {viewers} viewers failed: {exc}", file=sys.stderr)
            print(run.log_tails(), file=sys.stderr)
            return {"error": str(exc), "pids": [process.pid for process in started]}
        finally:
            all_pids.extend(process.pid for process in started)


def compare(args: argparse.Namespace) -> int:
    """Run every system for every audience size; print tables, targets; 1 if a run failed."""
    systems = args.systems.split(",")
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))} (know {SYSTEMS})")
    if "imagezmq" in systems and importlib.util.find_spec("imagezmq") is None:
        raise SystemExit("imagezmq is not installed: pip install -e '.[bench]'")
    audiences = [int(n) for n in args.viewers.split(",")]
    output: dict[str, Any] = {"runs": [], "targets": [], "pids": []}
    with tempfile.TemporaryDirectory(prefix="bench_compare-") as tmp:
        frames_path = Path(tmp) / "frames.bin"
        frames = encode_frames(frames_path, args.codec)
        mean_bytes = statistics.mean(len(frame.data) for frame in frames)
        setting = Setting(args, frames_path, Path(tmp), mean_bytes * FPS)
        output["config"] = {
            "width": WIDTH,
            "height": HEIGHT,
            "fps": FPS,
            "codec": args.codec,
            **codec_config(args.codec, frames),
            "frames": len(frames),
            "mean_frame_bytes": mean_bytes,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "workers": args.workers,
            "fanout": FANOUT,
            "max_children": MAX_CHILDREN,
            "systems": systems,
        }
        for viewers in audiences:
            print(
                f"\n== {viewers} viewers: {WIDTH}x{HEIGHT} {codec_label(args.codec)}, "
                f"{len(frames)} frames of {mean_bytes / 1024:.1f} KiB mean at {FPS:g} fps "
                f"({setting.stream_bytes_per_s / 1e6:.2f} MB/s a stream), "
                f"{args.seconds:g} s measured, {args.workers} viewer processes",
                flush=True,
            )
            results = {s: run_system(s, viewers, setting, output["pids"]) for s in systems}
            ratios = print_table(results)
            print_cpu_per_frame(results)
            output["runs"].append({"viewers": viewers, "systems": results, "ratios": ratios})
            if viewers == TARGET_VIEWERS:
                output["targets"] += check_targets(viewers, results)
    if args.json:
        Path(args.json).write_text(json.dumps(output, indent=2))
    failed = any("error" in r for run in output["runs"] for r in run["systems"].values())
    return 1 if failed else 0


def main() -> None:
    """Parse arguments, compare, exit non-zero if a system failed to run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", default="10,50,100", help="audience sizes, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="which to run, in order")
    parser.add_argument("--workers", type=int, default=2, help="viewer processes per system")
    parser.add_argument("--codec", choices=CODECS, default="jpeg", help="the frames' codec")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    try:
        with contextlib.suppress(BrokenPipeError):
            sys.exit(compare(args))
    except KeyboardInterrupt:
        print("interrupted: every process stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
