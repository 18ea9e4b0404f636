"""`scripts/simulate.py` / `streamnest-peer simulate`: a whole swarm on one machine.

    python scripts/simulate.py --viewers 200 --fanout 3 --max-children 3 --duration 60 \\
        --churn 0.05 --source testsrc:640x360@30 --processes 2 --json report.json --plot report.png
    python scripts/simulate.py --viewers 100 --codec h264 --decode 0.2 --duration 20

The source streams `--codec` (jpeg, or h264 with `--bitrate/--crf/--keyint` passed on as
they are); the `--decode` share of the viewers, spread evenly over the workers
(peer/simulation/placement.py), decode and show pictures, and the report says how long
each waited from its start to its first picture.

Starts a real tracker process, a real source process, and `--processes` worker processes
running the viewers (peer/simulation/worker.py). Viewers join over a short ramp, churn
happens as planned (peer/simulation/churn.py), a one-line status shows progress, and
at the end every worker reports what its viewers saw; the report (peer/simulation/
report.py documents its fields) is printed as a table and written as JSON. Every
process is reaped at the end, on errors and on Ctrl-C alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import trio

import protocol as p
from peer.errors import PeerError
from peer.media import parse_source
from peer.one_shot import one_shot
from peer.simulation import report as rep
from peer.simulation.churn import ChurnEvent, plan_churn
from peer.simulation.losses import SOURCE_NAME
from peer.simulation.placement import place_viewer
from peer.simulation.processes import Child, command, spawn
from peer.simulation.procstat import cpu_seconds, rss_mib, tcp_bytes
from peer.simulation.stoppable import run_stoppable, stop_processes
from peer.simulation.uplinks import by_uplink, deal, parse_mix, uplink_for
from peer.simulation.waiting import WATCH_INTERVAL_S, WaitWatch

STARTUP_TIMEOUT_S = 30.0
JOINS_PER_S = 40.0
SETTLE_S = 2.0
REPORT_TIMEOUT_S = 60.0
H264_OPTIONS = ("bitrate", "crf", "keyint")  # passed on to the source as they are


class Simulation:
    """One simulation run and everything it measures."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.children: list[Child] = []
        self.workers: list[Child] = []
        self.home: dict[str, Child] = {}  # viewer name -> its worker
        self.ticks: dict[int, dict[str, Any]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.source_stats: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.killed: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.tracker_address = ""
        self.fps = parse_source(args.source).fps or 30.0
        self.started_s = 0.0
        self.worst_delivery = 1.0
        self.reports_done = trio.Event()
        mix = parse_mix(args.upload_mix) if args.upload_mix else None
        self.uplinks = deal(mix, args.seed) if mix else None
        self.waits = WaitWatch()

    async def run(self) -> dict[str, Any] | None:
        """Run the whole simulation; the report, or None if Ctrl-C or SIGTERM stopped it."""
        return await run_stoppable(self._run, self._stop_all)

    async def _run(self, nursery: trio.Nursery) -> dict[str, Any]:
        args = self.args
        tracker = await spawn(
            nursery,
            "tracker",
            ["-m", "tracker", "--port", "0", "--max-peers", "100000",
             "--placement", args.placement],
        )  # fmt: skip
        self.children.append(tracker)
        with trio.fail_after(STARTUP_TIMEOUT_S):
            line = await tracker.lines.receive()
        self.tracker_address = line.rsplit(" ", 1)[-1]
        source = await spawn(
            nursery,
            "source",
            ["-m", "peer", "source", args.source, "--tracker", self.tracker_address,
             "--name", SOURCE_NAME, "--fanout", str(args.fanout), "--stats-json",
             *codec_options(args)],
        )  # fmt: skip
        self.children.append(source)
        with trio.fail_after(STARTUP_TIMEOUT_S):
            await source.lines.receive()  # its first statistics line: it is streaming
        nursery.start_soon(self._collect_source, source)
        for index in range(args.processes):
            worker = await spawn(
                nursery,
                f"worker{index}",
                ["-m", "peer.simulation.worker", "--tracker", self.tracker_address],
            )
            self.children.append(worker)
            self.workers.append(worker)
        with trio.fail_after(STARTUP_TIMEOUT_S):
            for worker in self.workers:
                await worker.lines.receive()  # "ready": joins from now on start as sent
        for worker in self.workers:
            nursery.start_soon(self._collect_worker, worker)

        names = [f"v{i:04d}" for i in range(args.viewers)]
        start = trio.current_time()
        for index, name in enumerate(names):
            await trio.sleep_until(start + index / JOINS_PER_S)
            await self._join(name, index)
        await trio.sleep(SETTLE_S)

        plan = plan_churn(
            viewers=names,
            duration_s=args.duration,
            churn_per_min=args.churn,
            kill_relays=args.kill_relays,
            seed=args.seed,
        )
        tracker_cpu_before = cpu_seconds(tracker.process.pid)
        tracker_port = _address(self.tracker_address)[1]
        tracker_io_before = await trio.to_thread.run_sync(tcp_bytes, tracker_port)
        worker_cpu_before = {w.process.pid: cpu_seconds(w.process.pid) for w in self.workers}
        self.started_s = trio.current_time()
        nursery.start_soon(self._progress)
        nursery.start_soon(self._watch_waiting)
        await self._play(plan, len(names))
        await trio.sleep_until(self.started_s + args.duration)
        elapsed = trio.current_time() - self.started_s

        peers = await self._collect_reports()
        tracker_cpu = (cpu_seconds(tracker.process.pid) - tracker_cpu_before) / elapsed * 100
        tracker_io_after = await trio.to_thread.run_sync(tcp_bytes, tracker_port)
        tracker_io = (
            (tracker_io_after - tracker_io_before) / elapsed
            if tracker_io_after is not None and tracker_io_before is not None
            else None
        )
        workers = [
            {
                "pid": w.process.pid,
                "cpu_pct": round(
                    (cpu_seconds(w.process.pid) - worker_cpu_before[w.process.pid]) / elapsed * 100,
                    1,
                ),
                "rss_mib": round(rss_mib(w.process.pid), 1),
            }
            for w in self.workers
        ]
        return self._report(peers, tracker, tracker_cpu, tracker_io, workers)

    async def _join(self, name: str, index: int) -> None:
        args = self.args
        placement = place_viewer(index, len(self.workers), args.decode, args.resolution_mix)
        worker = self.workers[placement.worker]
        self.home[name] = worker
        await command(
            worker,
            {
                "op": "join",
                "name": name,
                "max_children": args.max_children,
                "resolution": placement.resolution,
                "decode": placement.decode,
                "upload_kbps": uplink_for(index, self.uplinks).kbps if self.uplinks else None,
                # The baseline offers --max-children as declared, as before slots were measured.
                "measure_slots": args.placement == "capacity",
            },
        )

    async def _play(self, plan: list[ChurnEvent], joined: int) -> None:
        for event in plan:
            await trio.sleep_until(self.started_s + event.at_s)
            if event.kind == "join":
                await self._join(event.name, joined)
                joined += 1
            elif event.kind in ("leave", "kill"):
                await command(self.home[event.name], {"op": event.kind, "name": event.name})
            else:
                await self._kill_relay(event.at_s)
                continue
            self.events.append(
                {"at_s": round(event.at_s, 2), "kind": event.kind, "name": event.name}
            )

    async def _kill_relay(self, at_s: float) -> None:
        """Kill a viewer that relays to others (the deepest-rooted subtree first)."""
        try:
            answers = await one_shot(
                _address(self.tracker_address), f"sim-{int(at_s * 1000)}", p.StatusRequest()
            )
        except PeerError:
            return
        status = next((a for a in answers if isinstance(a, p.StatusReply)), None)
        if status is None:
            return
        relays = [
            peer
            for peer in status.peers
            if peer.role == "viewer" and peer.children and peer.name in self.home
            and not any(k["name"] == peer.name for k in self.killed)
        ]  # fmt: skip
        if not relays:
            return
        victim = min(relays, key=lambda peer: (peer.depth, -len(peer.children), peer.name))
        await command(self.home[victim.name], {"op": "kill", "name": victim.name})
        self.killed.append(
            {"name": victim.name, "at_s": round(at_s, 2), "children": list(victim.children),
             "killed_wall_s": time.time()}
        )  # fmt: skip
        self.events.append({"at_s": round(at_s, 2), "kind": "kill-relay", "name": victim.name})

    async def _collect_source(self, source: Child) -> None:
        async for line in source.lines:
            try:
                self.source_stats.append(json.loads(line))
            except json.JSONDecodeError:
                continue

    async def _collect_worker(self, worker: Child) -> None:
        async for line in worker.lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("ev") == "tick":
                self.ticks[worker.process.pid] = event
            elif event.get("ev") == "report":
                self.reports.append(event)
                if len(self.reports) == len(self.workers):
                    self.reports_done.set()

    async def _progress(self) -> None:
        while True:
            await trio.sleep(1.0)
            up = sum(t["up"] for t in self.ticks.values())
            frames = sum(t["frames"] for t in self.ticks.values())
            delivery = frames / (up * self.fps) if up else 1.0
            second = round(trio.current_time() - self.started_s)
            if second > 2:
                self.worst_delivery = min(self.worst_delivery, delivery)
            self.timeline.append(
                {"t": second, "viewers_up": up, "frames": frames, "continuity": round(delivery, 4)}
            )
            print(
                f"\r{second:>4}/{self.args.duration:.0f} s  {up:>4} viewers up  "
                f"{frames:>6} frames/s  delivery {delivery:6.1%}  worst {self.worst_delivery:6.1%}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    async def _watch_waiting(self) -> None:
        """Feed the tracker's status to the wait watch (peer/simulation/waiting.py)."""
        address = _address(self.tracker_address)
        while True:
            await trio.sleep(WATCH_INTERVAL_S)
            try:
                answers = await one_shot(address, "sim-watch", p.StatusRequest())
            except PeerError:
                continue
            for answer in answers:
                if isinstance(answer, p.StatusReply):
                    self.waits.observe(trio.current_time(), answer.peers)

    async def _collect_reports(self) -> list[dict[str, Any]]:
        self.reports.clear()
        self.reports_done = trio.Event()
        for worker in self.workers:
            await command(worker, {"op": "report"})
        with trio.fail_after(REPORT_TIMEOUT_S):
            await self.reports_done.wait()
        print(file=sys.stderr)
        return [peer for report in self.reports for peer in report["peers"]]

    def _report(
        self,
        peers: list[dict[str, Any]],
        tracker: Child,
        tracker_cpu: float,
        tracker_io: float | None,
        workers: list[dict[str, Any]],
    ) -> dict[str, Any]:
        rows, aggregate = rep.summarize_viewers(peers)
        stream_kbps = rep.quantile(
            [p["bandwidth_kbps"] for p in peers if p["left_s"] is None and p["bandwidth_kbps"]],
            0.5,
        )
        uploads = [
            float(s["upload_kbps"]) for s in self.source_stats[len(self.source_stats) // 3 :]
        ]
        source_kbps = rep.quantile(uploads, 0.5)
        by_name = {peer["name"]: peer for peer in peers}
        for killed in self.killed:
            killed["recovered"] = [
                child
                for child in killed["children"]
                if child in by_name
                and (by_name[child]["last_frame_s"] or 0) > killed["killed_wall_s"] + 0.1
            ]
        return {
            "settings": vars(self.args),
            "viewers": rows,
            **aggregate,
            "source": {
                "egress_mbps": round(source_kbps / 8000, 3),
                "stream_kbps": round(stream_kbps, 1),
                "egress_streams": round(source_kbps / stream_kbps, 2) if stream_kbps else 0.0,
            },
            "tracker": {
                "cpu_pct": round(tracker_cpu, 1),
                "bytes_per_s": round(tracker_io, 1) if tracker_io is not None else None,
                "rss_mib": round(rss_mib(tracker.process.pid), 1),
            },
            "relay_traffic_mbps": round(
                sum(float(p["upload_kbps"] or 0.0) for p in peers) / 8000, 3
            ),
            "tree": rep.tree_shape(peers),
            "uplinks": by_uplink(rows),
            "waiting_with_free_slot": self.waits.summary(),
            "workers": workers,
            "killed_relays": self.killed,
            "timeline": self.timeline,
            "events": self.events,
            "pids": [child.process.pid for child in self.children],
        }

    async def _stop_all(self) -> None:
        """Close workers' stdin, SIGTERM the rest, kill whatever lingers; reap all."""
        await stop_processes(child.process for child in self.children)


def codec_options(args: argparse.Namespace) -> list[str]:
    """The source's codec options, as the simulation was given them."""
    options = ["--codec", args.codec]
    for name in H264_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            options += [f"--{name}", str(value)]
    return options


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)
