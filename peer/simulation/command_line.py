"""The simulator's command line: `scripts/simulate.py` / `streamnest-peer simulate`.

The options, their checks (each wrong one named in one line, exit status 2), and the
run: peer/simulation/orchestrator.py does the work.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import trio

import protocol as p
from peer.arguments import bitrate, codec_settings, crf, keyint
from peer.errors import UsageError
from peer.h264 import check_encoder
from peer.resolution import RESOLUTIONS
from peer.simulation import report as rep
from peer.simulation.orchestrator import Simulation
from peer.simulation.uplinks import MixError, parse_mix


def build_parser() -> argparse.ArgumentParser:
    """The simulator's command line."""
    parser = argparse.ArgumentParser(
        prog="simulate", description="Run a whole StreamNest swarm on this machine."
    )
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--fanout", type=int, default=3, help="the source's direct children")
    parser.add_argument("--max-children", type=int, default=3, help="each viewer's relay slots")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--churn", type=float, default=0.0, help="fraction of viewers per minute")
    parser.add_argument("--kill-relays", type=int, default=0, help="interior relays to kill")
    parser.add_argument("--source", default="testsrc:640x360@30")
    parser.add_argument(
        "--codec", choices=list(p.CODECS_BY_LABEL), default="jpeg", help="the source's codec"
    )
    parser.add_argument("--bitrate", type=bitrate, metavar="KBPS", help="h264: the rate cap")
    parser.add_argument("--crf", type=crf, metavar="N", help="h264: quality, lower is better")
    parser.add_argument("--keyint", type=keyint, metavar="SECONDS", help="h264: keyframe every")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--decode", type=float, default=0.05, help="fraction of viewers decoding")
    parser.add_argument("--resolution-mix", default="360p,480p,720p,1080p")
    parser.add_argument(
        "--upload-mix",
        metavar="MBPS:SHARE,...",
        help="each viewer's uplink, e.g. 5:0.3,20:0.4,100:0.3 (default: unlimited)",
    )
    parser.add_argument(
        "--placement",
        choices=("capacity", "shallowest"),
        default="capacity",
        help="capacity: measured slots, more slots nearer the source (default); shallowest: "
        "declared --max-children and the shallowest free slot (the baseline)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--plot", help="write PNG figures here (needs the 'sim' extra)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of scripts/simulate.py and `streamnest-peer simulate`."""
    args = build_parser().parse_args(argv)
    problems = [
        f"{name} must be at least {low}"
        for name, value, low in [
            ("--viewers", args.viewers, 1), ("--processes", args.processes, 1),
            ("--duration", args.duration, 1), ("--fanout", args.fanout, 1),
        ]
        if value < low
    ]  # fmt: skip
    mix = args.resolution_mix.split(",")
    if any(r not in RESOLUTIONS for r in mix):
        problems.append(f"--resolution-mix takes {', '.join(RESOLUTIONS)}")
    if not 0 <= args.decode <= 1 or not 0 <= args.churn <= 60 or math.isnan(args.churn):
        problems.append("--decode is a fraction from 0 to 1; --churn a fraction per minute")
    try:
        if args.upload_mix:
            parse_mix(args.upload_mix)
    except MixError as exc:
        problems.append(f"--upload-mix: {exc}")
    try:
        codec, _ = codec_settings(args)  # the source would refuse what it refuses
        if codec is p.Codec.H264:
            check_encoder()
    except UsageError as exc:
        problems.append(str(exc))
    if problems:
        print(f"simulate: {'; '.join(problems)}", file=sys.stderr)
        return 2
    report = trio.run(Simulation(args).run)
    if report is None:
        print("\nsimulate: interrupted; every process was stopped", file=sys.stderr)
        return 130
    print(rep.table(report))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)
        print(f"report: {args.json}")
    if args.plot:
        from peer.simulation.plot import plot_report

        plot_report(report, args.plot)
        print(f"figures: {args.plot}")
    return 0
