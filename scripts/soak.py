#!/usr/bin/env python3
"""Soak: a swarm with steady churn for a long time; does the tracker or a relay leak?

    python scripts/soak.py --minutes 30        (scripts/soak.sh runs this; SOAK_MINUTES=2)

Starts a real tracker (with a chat database), a source (fanout 1), one long-lived relay
process directly under it (so every frame and every churning child passes through it)
and a simulation worker process with `--viewers` viewers below. Every `--churn-every`
seconds one viewer leaves (politely or killed, in turn) and a new one joins, and every
few seconds a chat line is posted through a fresh observer session. The resident memory
(RSS) and open file descriptors of the tracker and the relay are sampled once a minute
and compared between the start (after a warm-up) and the end: the targets are growth
under 10% and no descriptor leak. Exit status 0 when both hold, 1 when not. Every
process is reaped at the end, on errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import protocol as p
from peer.errors import PeerError
from peer.one_shot import one_shot
from peer.simulation.processes import Child, command, spawn
from peer.simulation.procstat import open_fds, rss_mib
from peer.simulation.stoppable import run_stoppable, stop_processes

STARTUP_TIMEOUT_S = 30.0
WARMUP_S = 30.0  # the "start" sample is taken after this (or a tenth of the run if shorter)
SAMPLE_INTERVAL_S = 60.0
CHAT_INTERVAL_S = 5.0
JOIN_SPACING_S = 0.1
RSS_GROWTH_TARGET = 0.10
FD_SLACK = 2  # a descriptor or two in flight (a connection being accepted) is not a leak


@attrs.frozen
class Sample:
    """One measurement of a process."""

    at_s: float
    rss_mib: float
    fds: int


def sample(pid: int, at_s: float) -> Sample:
    """RSS and open descriptors of `pid` now."""
    return Sample(at_s=at_s, rss_mib=rss_mib(pid), fds=open_fds(pid))


@attrs.define
class Soak:
    """One soak run: the processes, the churn, and the samples."""

    args: argparse.Namespace
    db: Path
    children: list[Child] = attrs.field(factory=list)
    samples: dict[str, list[Sample]] = attrs.field(factory=lambda: {"tracker": [], "relay": []})
    relay_stats: dict[str, Any] = attrs.field(factory=dict)
    ticks: list[dict[str, Any]] = attrs.field(factory=list)
    departures: int = 0
    joins: int = 0
    chats: int = 0

    async def run(self) -> dict[str, Any] | None:
        """Run the soak; the report, or None if Ctrl-C or SIGTERM stopped it."""
        return await run_stoppable(self._run, self._stop_all)

    async def _run(self, nursery: trio.Nursery) -> dict[str, Any]:
        args = self.args
        tracker = await self._start(
            nursery, "tracker", "-m", "tracker", "--port", "0", "--db", str(self.db)
        )
        with trio.fail_after(STARTUP_TIMEOUT_S):
            line = await tracker.lines.receive()
        address = line.rsplit(" ", 1)[-1]
        host, _, port = address.rpartition(":")
        source = await self._start(
            nursery, "source", "-m", "peer", "source", "--no-port-mapping",
            args.source, "--tracker", address,
            "--name", "cam", "--fanout", "1", "--stats-json",
        )  # fmt: skip
        with trio.fail_after(STARTUP_TIMEOUT_S):
            await source.lines.receive()
        nursery.start_soon(self._drain, source)
        relay = await self._start(
            nursery, "relay", "-m", "peer", "view", "--no-port-mapping",
            "--tracker", address, "--name", "relay",
            "--max-children", str(args.relay_children), "--no-decode", "--stats-json",
        )  # fmt: skip
        with trio.fail_after(STARTUP_TIMEOUT_S):
            await relay.lines.receive()
        nursery.start_soon(self._follow_relay, relay)
        worker = await self._start(
            nursery, "worker", "-m", "peer.simulation.worker", "--tracker", address
        )
        nursery.start_soon(self._follow_worker, worker)

        rng = random.Random(args.seed)
        alive = [f"v{i:03d}" for i in range(args.viewers)]
        for name in alive:
            await command(worker, {"op": "join", "name": name, "max_children": 2})
            self.joins += 1
            await trio.sleep(JOIN_SPACING_S)

        duration_s = args.minutes * 60
        started = trio.current_time()
        warmup_s = min(WARMUP_S, duration_s / 10)
        pids = {"tracker": tracker.process.pid, "relay": relay.process.pid}
        next_sample = started + warmup_s
        async with trio.open_nursery() as activity:
            activity.start_soon(self._chat, (host, int(port)))
            activity.start_soon(self._churn, worker, alive, rng)
            while True:
                await trio.sleep_until(min(next_sample, started + duration_s))
                now = trio.current_time()
                for name, pid in pids.items():
                    self.samples[name].append(sample(pid, now - started))
                self._progress(now - started)
                if now >= started + duration_s:
                    break
                next_sample += SAMPLE_INTERVAL_S
            activity.cancel_scope.cancel()
        return self._report(duration_s)

    async def _start(self, nursery: trio.Nursery, name: str, *argv: str) -> Child:
        child = await spawn(nursery, name, argv)
        self.children.append(child)
        return child

    async def _churn(self, worker: Child, alive: list[str], rng: random.Random) -> None:
        """One departure (leave and kill in turn) and one join every --churn-every seconds."""
        while True:
            await trio.sleep(self.args.churn_every)
            victim = alive.pop(rng.randrange(len(alive)))
            kind = "leave" if self.departures % 2 == 0 else "kill"
            await command(worker, {"op": kind, "name": victim})
            self.departures += 1
            newcomer = f"n{self.joins:05d}"
            await command(worker, {"op": "join", "name": newcomer, "max_children": 2})
            self.joins += 1
            alive.append(newcomer)

    async def _chat(self, tracker: tuple[str, int]) -> None:
        while True:
            await trio.sleep(CHAT_INTERVAL_S)
            text = f"soak line {self.chats + 1}"
            try:
                await one_shot(tracker, f"chat{self.chats % 1000}", p.ChatSend(text=text))
                self.chats += 1
            except PeerError:
                pass

    async def _drain(self, child: Child) -> None:
        async for _ in child.lines:
            pass

    async def _follow_relay(self, relay: Child) -> None:
        async for line in relay.lines:
            try:
                self.relay_stats = json.loads(line)
            except json.JSONDecodeError:
                continue

    async def _follow_worker(self, worker: Child) -> None:
        async for line in worker.lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("ev") == "tick":
                self.ticks.append(event)
                del self.ticks[:-120]

    def _progress(self, elapsed_s: float) -> None:
        parts = []
        for name, samples in self.samples.items():
            last = samples[-1]
            parts.append(f"{name} {last.rss_mib:.1f} MiB {last.fds} fds")
        print(
            f"{elapsed_s / 60:5.1f} min  {'  '.join(parts)}  "
            f"departures {self.departures}  chat lines {self.chats}",
            file=sys.stderr,
            flush=True,
        )

    def _report(self, duration_s: float) -> dict[str, Any]:
        processes: dict[str, dict[str, Any]] = {}
        for name, samples in self.samples.items():
            first, last = samples[0], samples[-1]
            growth = (last.rss_mib - first.rss_mib) / first.rss_mib if first.rss_mib else 0.0
            processes[name] = {
                "rss_start_mib": round(first.rss_mib, 1),
                "rss_end_mib": round(last.rss_mib, 1),
                "rss_growth_pct": round(growth * 100, 1),
                "fds_start": first.fds,
                "fds_end": last.fds,
                "samples": [attrs.asdict(s) for s in samples],
            }
        recent = self.ticks[-30:]
        frames = sum(t["frames"] for t in recent)
        up = sum(t["up"] for t in recent)
        relay = self.relay_stats
        return {
            "minutes": round(duration_s / 60, 2),
            "viewers": self.args.viewers,
            "source": self.args.source,
            "departures": self.departures,
            "joins": self.joins,
            "chat_lines": self.chats,
            "processes": processes,
            "relay": {
                key: relay.get(key)
                for key in ("frames_received", "frames_lost", "loss_pct", "children", "parent")
            },
            "viewer_fps_last_30s": round(frames / up, 1) if up else 0.0,
            "rss_ok": all(
                proc["rss_growth_pct"] < RSS_GROWTH_TARGET * 100 for proc in processes.values()
            ),
            "fds_ok": all(
                proc["fds_end"] <= proc["fds_start"] + FD_SLACK for proc in processes.values()
            ),
        }

    async def _stop_all(self) -> None:
        """Close stdin, SIGTERM, then kill whatever lingers; reap every process."""
        await stop_processes(child.process for child in self.children)


def table(report: dict[str, Any]) -> str:
    """The report as a few lines of text."""
    lines = [
        f"soak: {report['minutes']} min, {report['viewers']} viewers under one relay, "
        f"{report['departures']} departures and {report['joins']} joins, "
        f"{report['chat_lines']} chat lines, source {report['source']}",
        f"{'':10}{'RSS start':>11}{'RSS end':>11}{'growth':>9}{'fds start':>11}{'fds end':>9}",
    ]
    for name, proc in report["processes"].items():
        lines.append(
            f"{name:10}{proc['rss_start_mib']:>7.1f} MiB{proc['rss_end_mib']:>7.1f} MiB"
            f"{proc['rss_growth_pct']:>+8.1f}%{proc['fds_start']:>11}{proc['fds_end']:>9}"
        )
    relay = report["relay"]
    lines.append(
        f"relay at the end: {relay['frames_received']} frames received, "
        f"{relay['frames_lost']} lost, {relay['children']} children; viewers' mean "
        f"{report['viewer_fps_last_30s']} fps over the last 30 s"
    )
    rss_ok = "yes" if report["rss_ok"] else "NO"
    fds_ok = "yes" if report["fds_ok"] else "NO"
    lines.append(
        f"targets: RSS growth under {RSS_GROWTH_TARGET:.0%}: {rss_ok}; no descriptor leak: {fds_ok}"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The soak's command line."""
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run (30)")
    parser.add_argument("--viewers", type=int, default=12, help="viewers below the relay (12)")
    parser.add_argument("--relay-children", type=int, default=4, help="the relay's slots (4)")
    parser.add_argument("--churn-every", type=float, default=3.0, metavar="SECONDS")
    parser.add_argument("--source", default="testsrc:320x240@30")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the report here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of scripts/soak.py and scripts/soak.sh."""
    args = build_parser().parse_args(argv)
    if not (args.minutes > 0 and args.viewers >= 2 and args.churn_every > 0):
        print(
            "soak: --minutes and --churn-every must be above 0, --viewers at least 2",
            file=sys.stderr,
        )
        return 2
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        report = trio.run(Soak(args, Path(scratch) / "chat.db").run)
    if report is None:
        print("\nsoak: interrupted; every process was stopped", file=sys.stderr)
        return 130
    report["wall_s"] = round(time.time() - started, 1)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"report: {args.json}")
    return 0 if report["rss_ok"] and report["fds_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
