#!/usr/bin/env python3
"""Viewers on home uplinks drawn from a mix, capped for real with tbf, in the network lab.

    sudo python scripts/uplink_lab.py [--viewers 16] [--upload-mix 5:0.3,20:0.4,100:0.3]
        [--source testsrc:640x360@30] [--fanout 3] [--max-children 8] [--window 20]
        [--placement capacity] [--seed 1] [--json FILE]

The simulation's `--upload-mix` (peer/simulation/uplinks.py) enforces each viewer's
uplink in its own send path; here the kernel does: every viewer runs on a host of its
own in the fault tests' network lab (tests/faults/netlab.py: network namespaces, so
root), and its host's upload is a tbf of the rate the same mix and seed deal it, with a
200 ms queue. The tracker, source and viewers are the real programs; the viewers learn
their uplinks only by probing and by serving (peer/uplink_probe.py, peer/capacity.py).
Over a `--window` seconds window once all have joined, it reports continuity p5/p50
(each viewer's frames over the source's), join to first frame p95 (from launching the
process), max depth, and per uplink class the viewers, their mean depth, and the slots
they offer and fill, as the tracker sees them.

Takes about a minute and a half at the defaults. Exits 0 once it has measured, 1 if the
lab cannot be built here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from peer.simulation.uplinks import MixError, deal, parse_mix, uplink_for  # noqa: E402
from tests.faults.home_swarm import percentile, window_continuity  # noqa: E402
from tests.faults.netlab import LabUnavailable, NetLab  # noqa: E402
from tests.faults.programs import Program, Programs  # noqa: E402
from tests.faults.rates import source_rate  # noqa: E402
from tests.polling import eventually  # noqa: E402

TBF_MIN_BURST_BYTES = 16_000
TBF_TICKS_PER_S = 250  # tbf's burst must hold a timer tick of the rate
SETTLE_S = 5.0  # after the last viewer joins, before the window opens


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=16)
    parser.add_argument("--upload-mix", default="5:0.3,20:0.4,100:0.3")
    parser.add_argument("--source", default="testsrc:640x360@30")
    parser.add_argument("--fanout", type=int, default=3)
    parser.add_argument("--max-children", type=int, default=8)
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--placement", choices=("capacity", "shallowest"), default="capacity")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the report here too")
    return parser.parse_args()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the lab, run the swarm, measure it, tear it all down."""
    block = deal(parse_mix(args.upload_mix), args.seed)
    lab = NetLab.create()
    try:
        async with trio.open_nursery() as nursery:
            programs = Programs(nursery)
            try:
                report = await _swarm(lab, programs, args, block)
            finally:
                with trio.CancelScope(shield=True):
                    await programs.stop_all()
            nursery.cancel_scope.cancel()
        return report
    finally:
        lab.close()


async def _swarm(
    lab: NetLab, programs: Programs, args: argparse.Namespace, block: list[Any]
) -> dict[str, Any]:
    trk, cam_host = lab.add_host("trk"), lab.add_host("cam")
    options = ("--placement", args.placement)
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=trk.netns, options=options)
    tracker = (trk.address, port)
    cam = await programs.source(
        tracker, "cam", spec=args.source, fanout=args.fanout, listen=None, netns=cam_host.netns
    )
    viewers: dict[str, Program] = {}
    uplink_mbps: dict[str, float] = {}
    started: dict[str, float] = {}
    for index in range(args.viewers):
        name = f"v{index}"
        host = lab.add_host(name)
        uplink = uplink_for(index, block)
        rate_kbit = int(uplink.kbps)
        burst = max(TBF_MIN_BURST_BYTES, rate_kbit * 1000 // 8 // TBF_TICKS_PER_S)
        await lab.cap_upload(host, rate_kbit, burst_bytes=burst)
        uplink_mbps[name] = uplink.mbps
        started[name] = trio.current_time()
        viewers[name] = await programs.viewer(
            tracker, name, max_children=args.max_children, listen=None, netns=host.netns
        )
    await trio.sleep(SETTLE_S)
    start = trio.current_time()
    end = start + args.window
    await eventually(
        lambda: all(
            (s := v.latest()) is not None and s["_at"] > end for v in [cam, *viewers.values()]
        ),
        within_s=3 * args.window + 10,
        what="statistics covering the window",
    )
    status = await programs.status(tracker, netns=trk.netns)
    sent_fps = source_rate(cam, start, end)
    continuity = [window_continuity(v, sent_fps, start, end) for v in viewers.values()]
    joins = [_join_s(viewers[name], started[name]) for name in viewers]
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "continuity_p5": percentile(continuity, 5),
        "continuity_p50": percentile(continuity, 50),
        "join_p95_s": percentile(joins, 95),
        "max_depth": status["max_depth"],
        "source_egress": len(next(p for p in status["peers"] if p["name"] == "cam")["children"]),
        "classes": _classes(status, uplink_mbps),
        "waiting": sum(1 for p in status["peers"] if p["name"] in viewers and not p["parent"]),
    }


def _join_s(viewer: Program, started_s: float) -> float:
    """From launching the viewer to its first statistics line counting a frame."""
    first = next((s["_at"] for s in viewer.stats if s["frames_received"] > 0), None)
    return float("inf") if first is None else first - started_s


def _classes(status: dict[str, Any], uplink_mbps: dict[str, float]) -> list[dict[str, Any]]:
    """Per uplink class: viewers, mean depth, and slots offered and in use."""
    classes: dict[float, list[dict[str, Any]]] = {}
    for peer in status["peers"]:
        if peer["name"] in uplink_mbps:
            classes.setdefault(uplink_mbps[peer["name"]], []).append(peer)
    return [
        {
            "uplink_mbps": mbps,
            "viewers": len(peers),
            "mean_depth": round(statistics.mean(p["depth"] for p in peers if p["depth"]), 2)
            if any(p["depth"] for p in peers)
            else None,
            "slots": sum(int(p["max_children"]) for p in peers),
            "children": sum(len(p["children"]) for p in peers),
        }
        for mbps, peers in sorted(classes.items())
    ]


def print_report(report: dict[str, Any]) -> None:
    """The report as a short table."""
    config = report["config"]
    print(
        f"{config['viewers']} viewers on uplinks {config['upload_mix']} (tbf), source "
        f"{config['source']} fanout {config['fanout']}, --max-children "
        f"{config['max_children']}, --placement {config['placement']}, "
        f"{config['window']:g} s window"
    )
    print(f"continuity p5 / p50            {report['continuity_p5']:.3f} / "
          f"{report['continuity_p50']:.3f}")  # fmt: skip
    print(f"join to first frame p95 s      {report['join_p95_s']:.2f}")
    print(f"max depth                      {report['max_depth']}")
    print(f"source egress (streams)        {report['source_egress']}")
    print(f"waiting at the end             {report['waiting']}")
    for row in report["classes"]:
        print(
            f"uplink {row['uplink_mbps']:g} Mb/s: {row['viewers']} viewers, mean depth "
            f"{row['mean_depth']}, {row['children']}/{row['slots']} slots in use"
        )


async def main() -> int:
    """Run the swarm and print what it did."""
    args = parse_args()
    try:
        parse_mix(args.upload_mix)
    except MixError as exc:
        print(f"--upload-mix: {exc}", file=sys.stderr)
        return 2
    try:
        report = await run(args)
    except LabUnavailable as exc:
        print(f"cannot build the lab here: {exc}", file=sys.stderr)
        return 1
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
