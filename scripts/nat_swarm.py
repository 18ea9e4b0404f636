#!/usr/bin/env python3
"""A swarm mostly behind home routers, against an all-public swarm of the same size, and
how often hole punching gets through Linux's NAT.

    sudo python scripts/nat_swarm.py [--viewers 30] [--home-share 0.7] [--window 20]
        [--source testsrc:320x240@15] [--fanout 2] [--max-children 3]
        [--punch-trials 20] [--json FILE]

Runs in the fault tests' network lab (tests/faults/netlab.py: network namespaces, so
root), with real tracker and peer processes (tests/faults/programs.py). Three parts:

1. Punch trials: two hosts behind two routers punch to each other `--punch-trials`
   times (tests/faults/punch_once.py, peer/punching.py), once with plain MASQUERADE on
   both and once with `--random-fully` on one; each trial is a new port pair, and half
   the trials start the two sides 200 ms apart (timing is a help, not a condition).
2. The home swarm: `--viewers` viewers, `--home-share` of them behind routers (two per
   router; one behind a router with random ports, a third of the rest behind UPnP
   routers running miniupnpd, the others behind plain MASQUERADE routers), the rest
   public, joined in a shuffled order (tests/faults/home_swarm.py).
3. The same number of viewers, all public.

For each swarm, over a `--window` seconds window once all have joined and been checked:
how each viewer is reached by a child behind another router (direct, mapped, punched,
reversed: only by children it dials itself, leaf-only), the links in use by kind, the
source's egress in streams, the tree's max depth, continuity p5/p50 (each viewer's
frames over the source's in the window), join to first frame p95 (from launching the
process), and the share of relay slots in use held by viewers at home.

Takes about 5 minutes at the defaults. Exits 0 once it has measured, 1 if the lab
cannot be built here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.home_swarm import (  # noqa: E402
    HomeMix,
    SwarmReport,
    measure,
    start_home_swarm,
)
from tests.faults.netlab import Host, LabUnavailable, NetLab  # noqa: E402
from tests.faults.programs import Programs  # noqa: E402

PUNCH_PORT_BASE = 47000
PUNCH_LEAD_S = 0.5  # both sides are started this long before the moment they punch
PUNCH_SKEW_S = 0.2
PUNCH_RUN_TIMEOUT_S = 15.0


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=30)
    parser.add_argument("--home-share", type=float, default=0.7)
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--source", default="testsrc:320x240@15")
    parser.add_argument("--fanout", type=int, default=2)
    parser.add_argument("--max-children", type=int, default=3)
    parser.add_argument("--punch-trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the report here too")
    return parser.parse_args()


async def punch_trials(trials: int, *, random_ports: bool) -> dict[str, Any]:
    """`trials` punches between hosts behind two routers; how many got through."""
    lab = NetLab.create()
    try:
        near, far = lab.add_router("r1"), lab.add_router("r2", random_ports=random_ports)
        a, b = lab.add_host("a", behind=near), lab.add_host("b", behind=far)
        outcomes: list[dict[str, Any]] = []
        for trial in range(trials):
            port = PUNCH_PORT_BASE + trial
            at = time.time() + PUNCH_LEAD_S
            skew = PUNCH_SKEW_S if trial % 2 else 0.0
            sides = [(a, far.wan.address, at), (b, near.wan.address, at + skew)]
            results: list[dict[str, Any]] = [{}, {}]

            async with trio.open_nursery() as nursery:
                for index, (host, to, when) in enumerate(sides):
                    nursery.start_soon(_punch_side, results, index, host, f"{to}:{port}", when)
            ok = all(r.get("ok") for r in results)
            outcomes.append({"ok": ok, "skew_s": skew, "sides": results})
        succeeded = sum(1 for o in outcomes if o["ok"])
        took = sorted(max(s["took_s"] for s in o["sides"]) for o in outcomes if o["ok"])
        return {
            "random_ports": random_ports,
            "trials": trials,
            "succeeded": succeeded,
            "took_max_s": took[-1] if took else None,
            "outcomes": outcomes,
        }
    finally:
        lab.close()


async def _punch_side(
    results: list[dict[str, Any]], index: int, host: Host, to: str, when: float
) -> None:
    """Run one side of a punch in `host`; its outcome goes to results[index]."""
    port = to.rsplit(":", 1)[1]
    command = [
        "ip", "netns", "exec", host.netns, sys.executable, "-m", "tests.faults.punch_once",
        "--port", port, "--to", to, "--at", repr(when), "--name", host.label,
    ]  # fmt: skip
    with trio.fail_after(PUNCH_RUN_TIMEOUT_S):
        done = await trio.run_process(
            command, cwd=ROOT, capture_stdout=True, stderr=subprocess.DEVNULL
        )
    results[index] = json.loads(done.stdout.decode().strip().splitlines()[-1])


async def run_swarm(args: argparse.Namespace, mix: HomeMix) -> SwarmReport:
    """Build one swarm in a fresh lab and measure it."""
    lab = NetLab.create()
    try:
        async with trio.open_nursery() as nursery:
            programs = Programs(nursery)
            try:
                swarm = await start_home_swarm(
                    lab, programs, mix, spec=args.source, fanout=args.fanout,
                    max_children=args.max_children, seed=args.seed,
                )  # fmt: skip
                await trio.sleep(5.0)  # the last joiner settles before the window opens
                report = await measure(programs, swarm, args.window)
            finally:
                with trio.CancelScope(shield=True):
                    await programs.stop_all()
            nursery.cancel_scope.cancel()
        return report
    finally:
        lab.close()


def print_punches(punches: list[dict[str, Any]]) -> None:
    """One line per NAT kind."""
    print("hole punching through two Linux routers (TCP simultaneous open)")
    for result in punches:
        kind = "one with --random-fully" if result["random_ports"] else "plain MASQUERADE"
        slowest = result["took_max_s"]
        took = f", slowest {slowest * 1000:.0f} ms after its start" if slowest is not None else ""
        print(f"  {kind:<24} {result['succeeded']}/{result['trials']} succeeded{took}")


def print_table(home: SwarmReport, public: SwarmReport) -> None:
    """The two swarms side by side."""
    print(f"\n{'':<28} {'at home':>10} {'all public':>11}")
    for (figure, mine), (_, theirs) in zip(home.rows(), public.rows(), strict=True):
        print(f"{figure:<28} {mine:>10} {theirs:>11}")


async def main() -> int:
    """Run the three parts and print them."""
    args = parse_args()
    mix = HomeMix.of(args.viewers, args.home_share)
    try:
        punches = [
            await punch_trials(args.punch_trials, random_ports=False),
            await punch_trials(args.punch_trials, random_ports=True),
        ]
        print_punches(punches)
        print(
            f"\nswarm: {mix.viewers} viewers, {mix.public} public, {mix.upnp} behind UPnP "
            f"routers, {mix.plain} behind plain ones, {mix.random_ports} behind random ports; "
            f"source {args.source} fanout {args.fanout}, --max-children {args.max_children}",
            flush=True,
        )
        home = await run_swarm(args, mix)
        public = await run_swarm(args, HomeMix(public=mix.viewers, upnp=0, plain=0, random_ports=0))
    except LabUnavailable as exc:
        print(f"cannot build the lab here: {exc}", file=sys.stderr)
        return 1
    print_table(home, public)
    if args.json is not None:
        report = {
            "config": vars(args) | {"json": str(args.json), "mix": attrs.asdict(mix)},
            "punches": punches,
            "home": attrs.asdict(home),
            "public": attrs.asdict(public),
        }
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
