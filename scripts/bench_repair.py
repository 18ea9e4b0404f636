#!/usr/bin/env python3
"""Repair benchmark: how soon a frozen or killed relay's children receive again, no backup.

    python scripts/bench_repair.py [--trials 10] [--source testsrc:640x360@30] [--json FILE]

Every trial builds this tree afresh (a new tracker and new peer processes over loopback,
joined in two waves, so the tracker's placement rules make the same tree every time; the
tracker runs `--placement shallowest`, since with capacity placement the spare, which
offers more slots, would take leaf1's place next to the source):

    source (--fanout 2) --+--> relay (--max-children 2) --+--> leaf2 (--max-children 0)
                          +--> leaf1 (--max-children 0)   +--> spare (--max-children 2)

The only free slots are the spare's, inside the relay's own subtree, and a backup must lie
outside its parent's subtree (tracker/tree.py `choose_backup`), so the tracker can name no
backup for the relay's children. Just before the fault the tracker's status is read to
check that no attached peer outside the relay's subtree has a free slot; at the fault each
child says itself whether it held a backup ("switching to backup" or "asking the tracker").
A trial in which a backup was possible or used is reported apart, never in the headline.

Faults, alternating so that a drifting machine weighs on both alike: the relay is frozen
(SIGSTOP: its sockets stay open and silent) or killed (SIGKILL: the kernel closes them).
The figure, for each of its two children: the time from the signal to the first frame the
child receives again, from any parent.

How a frame is seen: the children run with their HTTP tap (`--http`, `--no-decode`), and
this script reads each one's /stream.mjpg?res=source, to which the peer hands every new
frame unchanged as it arrives; each part is stamped here as it completes. Frames still
in flight from the relay at the signal arrive within milliseconds of it, so a part counts
only once the child has said it receives from a new parent ("receiving from X", printed
before it reads that parent's first frame). The notice (on the child's stderr) and the
part (on its tap's connection) may be read here in either order, so a part up to
NOTICE_ORDER_SLACK_S before the notice counts too.

The processes are started and reaped by the fault tests' launcher (tests/faults/programs.py:
each in its own process group, its output lines stamped on arrival, every one killed and
reaped at the end of each trial, also on Ctrl-C, SIGTERM or an error).

Output: a table and, with --json, the report: per fault the gap's p50/p95/max (and min,
count, unrepaired) over the children of the trials without a backup, per child and per
phase; every trial with each child's times and every process's notices from the fault
on (for reading the timeline). Targets (scripts/bench_screen.py, the capacity-aware tree
issue): p95 at most 2 s for a frozen relay, 0.5 s for a killed one. A trial takes about
7 s, most of it starting six processes: 10 per fault, about 2.5 minutes. Exits 0 once it
has measured, whatever the figures; 1 if a trial could not be set up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio
from bench_screen import FROZEN_REPAIR_P95_MAX_S, KILLED_REPAIR_P95_MAX_S
from mjpeg_parts import watch_frames
from repair_report import shown, summarize, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import protocol as p  # noqa: E402
from peer.one_shot import one_shot  # noqa: E402
from peer.simulation.stoppable import run_stoppable  # noqa: E402
from tests.faults.programs import Program, Programs  # noqa: E402
from tests.polling import eventually  # noqa: E402

# -- the tree -------------------------------------------------------------------------
FANOUT = 2  # the source's slots: the relay and leaf1
SLOTS = {"relay": 2, "leaf1": 0, "leaf2": 0, "spare": 2}  # --max-children of each viewer
PARENTS = {"relay": "source", "leaf1": "source", "leaf2": "relay", "spare": "relay"}
# Joined wave after wave; within a wave either order makes the same tree.
WAVES = (("relay", "leaf1"), ("leaf2", "spare"))
RELAY = "relay"
ORPHANS = ("leaf2", "spare")  # the relay's children: the ones measured

# -- the faults and their targets -----------------------------------------------------
FAULTS = {"frozen": signal.SIGSTOP, "killed": signal.SIGKILL}
TARGETS_P95_S = {"frozen": FROZEN_REPAIR_P95_MAX_S, "killed": KILLED_REPAIR_P95_MAX_S}

# -- timing ---------------------------------------------------------------------------
STARTUP_TIMEOUT_S = 20.0  # one process, from its start to its place in the tree
STREAMING_S = 2.0  # the whole tree streams this long before the fault (two heartbeats)
FLOWING_WITHIN_S = 0.25  # at the fault, each child had a frame at most this long ago
REPAIR_TIMEOUT_S = 15.0  # a child that has not received again by then is unrepaired
NOTICE_ORDER_SLACK_S = 0.005  # see the module's docstring
TAIL_S = 0.3  # notices kept after the last child is repaired
POLL_S = 0.01  # how often the observer looks (the times come from the stamps, not this)


# -- what the peers said (pure) -------------------------------------------------------


def notices(
    program: Program, pattern: str, since_s: float
) -> Iterator[tuple[float, re.Match[str]]]:
    """The notices of `program` from `since_s` on that match `pattern` (after its name)."""
    compiled = re.compile(rf"{re.escape(program.name)}: {pattern}$")
    for at, line in program.notices:
        if at >= since_s and (match := compiled.match(line)):
            yield at, match


RECEIVING = r"receiving from (?P<parent>\S+) at depth \d+"
LOST = (
    rf"parent {RELAY} lost \((?P<why>.*)\); "
    r"(?:switching to backup (?P<backup>\S+)|asking the tracker for another)"
)


@attrs.frozen
class ChildRepair:
    """One child's repair, in seconds after the signal (None: it did not happen)."""

    lost_s: float | None  # its notice that the relay is lost (None: moved before it noticed)
    why: str | None  # the reason it gave
    backup: str | None  # the backup it switched to (None: it asked the tracker)
    new_parent_s: float | None  # its notice that a new parent accepted it
    new_parent: str | None
    first_frame_s: float | None  # the first frame from a new parent: the figure


def repair_of(program: Program, arrivals: Sequence[float], fault_s: float) -> ChildRepair:
    """What one child of the relay said and received since the fault at `fault_s`."""
    lost = next(notices(program, LOST, fault_s), None)
    received = notices(program, RECEIVING, fault_s)
    attached = next(((at, said) for at, said in received if said["parent"] != RELAY), None)
    first_frame = None
    if attached is not None:
        earliest = max(fault_s, attached[0] - NOTICE_ORDER_SLACK_S)
        first_frame = next((at for at in arrivals if at >= earliest), None)

    def since(at: float | None) -> float | None:
        return None if at is None else round(at - fault_s, 4)

    return ChildRepair(
        lost_s=since(lost[0]) if lost else None,
        why=lost[1]["why"] if lost else None,
        backup=lost[1]["backup"] if lost else None,
        new_parent_s=since(attached[0]) if attached else None,
        new_parent=attached[1]["parent"] if attached else None,
        first_frame_s=since(first_frame),
    )


def free_slots_outside(reply: p.StatusReply, root: str) -> list[str]:
    """Attached peers outside `root`'s subtree with a free child slot: the only places a
    backup for `root`'s children could be (tracker/tree.py `choose_backup`)."""
    parents = {peer.name: peer.parent for peer in reply.peers}

    def attached_outside(name: str | None) -> bool:
        seen: set[str] = set()
        while name is not None and name not in seen:
            if name == root:
                return False
            if name == reply.source:
                return True
            seen.add(name)
            name = parents.get(name)
        return False

    return [
        peer.name
        for peer in reply.peers
        if peer.role != "observer"
        and len(peer.children) < peer.max_children
        and attached_outside(peer.name)
    ]


# -- one trial ------------------------------------------------------------------------


@attrs.define
class Trial:
    """One trial's processes and what their taps delivered."""

    programs: Programs
    spec: str
    address: tuple[str, int] = ("", 0)
    peers: dict[str, Program] = attrs.field(factory=dict)
    arrivals: dict[str, list[float]] = attrs.field(factory=dict)

    async def build(self, nursery: trio.Nursery) -> None:
        """Start the tracker, the source and the viewers, each in its planned place."""
        # Capacity placement would move the spare into leaf1's shallow slot (it offers
        # more): the tree of the report is the shallowest-slot baseline's.
        _, self.address = await self.programs.tracker(options=("--placement", "shallowest"))
        tracker = f"{self.address[0]}:{self.address[1]}"
        source = await self.programs.start(
            "source", "-m", "peer", "source", "--no-port-mapping",
            self.spec, "--tracker", tracker, "--name",
            "source", "--fanout", str(FANOUT), "--stats-json",
        )  # fmt: skip
        self.peers["source"] = source
        await self._said(source, r"source registered; children connect to \S+")
        for wave in WAVES:
            for name in wave:
                # The orphans-to-be serve their tap: how their frames are seen here.
                tap = ["--http", "127.0.0.1:0"] if name in ORPHANS else []
                self.peers[name] = await self.programs.start(
                    name, "-m", "peer", "view", "--no-port-mapping",
                    "--tracker", tracker, "--name", name,
                    "--max-children", str(SLOTS[name]), "--no-decode", "--stats-json", *tap,
                )  # fmt: skip
            for name in wave:
                match = await self._said(self.peers[name], RECEIVING)
                if match["parent"] != PARENTS[name]:
                    raise RuntimeError(
                        f"{name} was placed under {match['parent']}, not {PARENTS[name]}"
                    )
        for name in ORPHANS:
            url = await self._said(self.peers[name], r"watch in a browser at http://(\S+)/")
            host, _, port = url[1].rpartition(":")
            self.arrivals[name] = []
            nursery.start_soon(watch_frames, (host, int(port)), self.arrivals[name])

    async def _said(self, program: Program, pattern: str) -> re.Match[str]:
        """Wait for `program`'s first notice matching `pattern`."""
        await eventually(
            lambda: any(notices(program, pattern, -math.inf)) or not program.running(),
            within_s=STARTUP_TIMEOUT_S,
            what=f"{program.name} saying {pattern!r}",
        )
        found = next(notices(program, pattern, -math.inf), None)
        if found is None:
            raise RuntimeError(f"{program.name} exited early: {program.tail(5)}")
        return found[1]

    async def check_no_backup(self) -> list[str]:
        """The tree as planned, and where a backup for the relay's children could be."""
        [reply] = [
            answer
            for answer in await one_shot(self.address, "bench-status", p.StatusRequest())
            if isinstance(answer, p.StatusReply)
        ]
        parents = {peer.name: peer.parent for peer in reply.peers if peer.role == "viewer"}
        if parents != PARENTS:
            raise RuntimeError(f"the tracker's tree is {parents}, not {PARENTS}")
        return free_slots_outside(reply, RELAY)

    def flowing(self, now_s: float) -> bool:
        """Whether every child of the relay had a frame within FLOWING_WITHIN_S."""
        return all(
            stamps and stamps[-1] > now_s - FLOWING_WITHIN_S for stamps in self.arrivals.values()
        )

    async def fault(self, fault: str) -> dict[str, Any]:
        """Freeze or kill the relay; wait for its children to receive again; what happened."""
        await trio.sleep(STREAMING_S)
        free = await self.check_no_backup()
        if not self.flowing(trio.current_time()):
            raise RuntimeError("the relay's children were not receiving before the fault")
        fault_s = trio.current_time()
        self.peers[RELAY].kill(FAULTS[fault])
        with trio.move_on_after(REPAIR_TIMEOUT_S):
            while not self.repaired(fault_s):  # noqa: ASYNC110 (the stamps so far, no event)
                await trio.sleep(POLL_S)
            await trio.sleep(TAIL_S)
        repairs = self.repairs(fault_s)
        timeline = sorted(
            (round(at - fault_s, 4), line)
            for program in self.peers.values()
            for at, line in program.notices
            if at >= fault_s
        )
        return {
            "fault": fault,
            "signal": FAULTS[fault].name,
            "free_slots_outside_relay": free,
            "backup": bool(free) or any(r.backup is not None for r in repairs.values()),
            "children": {name: attrs.asdict(repair) for name, repair in repairs.items()},
            "notices": [list(entry) for entry in timeline],
        }

    def repaired(self, fault_s: float) -> bool:
        """Whether every child of the relay has received again since the fault."""
        return all(repair.first_frame_s is not None for repair in self.repairs(fault_s).values())

    def repairs(self, fault_s: float) -> dict[str, ChildRepair]:
        """Each child's repair so far."""
        return {name: repair_of(self.peers[name], self.arrivals[name], fault_s) for name in ORPHANS}


async def run_trial(fault: str, spec: str, pids: list[int]) -> dict[str, Any]:
    """One trial on fresh processes, every one of them reaped before it returns."""
    async with trio.open_nursery() as nursery:
        trial = Trial(Programs(nursery), spec)
        started_s = trio.current_time()
        try:
            await trial.build(nursery)
            setup_s = trio.current_time() - started_s
            result = await trial.fault(fault)
        finally:
            with trio.CancelScope(shield=True):
                await trial.programs.stop_all()
                pids += [program.pid for program in trial.programs.started]
            nursery.cancel_scope.cancel()
    return {"setup_s": round(setup_s, 2), **result}


# -- running --------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> dict[str, Any] | None:
    """Every trial, faults alternating; the report (None if Ctrl-C or SIGTERM stopped it)."""
    pids: list[int] = []
    trials: list[dict[str, Any]] = []
    load = [round(value, 2) for value in os.getloadavg()]  # before the first trial

    async def body(nursery: trio.Nursery) -> dict[str, Any]:
        for number in range(1, args.trials + 1):
            for fault in FAULTS:
                trial = await run_trial(fault, args.source, pids)
                trial["trial"] = number
                trials.append(trial)
                gaps = ", ".join(
                    f"{name} {shown(child['first_frame_s'])} s"
                    for name, child in trial["children"].items()
                )
                print(f"bench_repair: {fault} {number}/{args.trials}: {gaps}", file=sys.stderr)
        return {
            "config": {
                "trials": args.trials,
                "source": args.source,
                "fanout": FANOUT,
                "max_children": SLOTS,
                "parents": PARENTS,
                "streaming_s": STREAMING_S,
                "repair_timeout_s": REPAIR_TIMEOUT_S,
                "notice_order_slack_s": NOTICE_ORDER_SLACK_S,
                "load_average": load,
            },
            "faults": summarize(trials, TARGETS_P95_S, FAULTS, ORPHANS),
            "trials": trials,
            "pids": pids,
        }

    async def nothing_left() -> None:
        pass  # each trial reaps its own processes, on every way out

    return await run_stoppable(body, nothing_left)


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside a (nested) exception group."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def main() -> int:
    """Parse the arguments, run the trials, print the table (and write the JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per fault (10)")
    parser.add_argument("--source", default="testsrc:640x360@30", help="what the source streams")
    parser.add_argument("--json", metavar="FILE", help="also write the report here")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    failures: list[BaseException] = []
    try:
        report = trio.run(bench, args)
    except* (RuntimeError, AssertionError, OSError, ValueError) as group:
        failures = leaves(group)
    if failures:
        for failure in failures:
            print(f"bench_repair: {failure}", file=sys.stderr)
        return 1
    if report is None:
        print("bench_repair: interrupted; every process was stopped", file=sys.stderr)
        return 130
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
