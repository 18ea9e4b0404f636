"""A relay's network link is cut silently: its children notice the silence and move on.

Every peer runs on its own host (a network namespace with its own address). The link
of the relay with the most children is set down at the switch: no FIN, no RST, its
packets just stop. Its children detect it by the frame/pong timeout, switch to their
backup parents, and the tracker's tree shows them re-placed, well within 3 s.
"""

from __future__ import annotations

import itertools
from typing import Any

import trio

from tests.faults.netlab import NetLab
from tests.faults.programs import Program, Programs
from tests.polling import eventually

SOURCE_FPS = 30
VIEWERS = 5
REPLACE_TARGET_S = 3.0


async def test_children_of_a_relay_whose_link_is_cut_are_re_placed(
    netlab: NetLab, programs: Programs
) -> None:
    home = netlab.add_host("home")
    tracker, address = await programs.tracker(host=home.address, netns=home.netns)
    spec = f"testsrc:320x240@{SOURCE_FPS}"
    await programs.source(
        address, "cam", spec=spec, fanout=2, listen=home.address, netns=home.netns
    )
    viewers: dict[str, Program] = {}
    for index in range(VIEWERS):
        host = netlab.add_host(f"h{index}")
        name = f"v{index}"
        viewers[name] = await programs.viewer(
            address, name, max_children=2, listen=host.address, netns=host.netns
        )
    await eventually(
        lambda: all(v.frames() > SOURCE_FPS for v in viewers.values()),
        within_s=20,
        what="every viewer receiving over the lab network",
    )
    watcher = await programs.tree_watcher(address, netns=home.netns)
    await eventually(
        lambda: (
            watcher.stats[-1]["_at"] > trio.current_time() - 0.5
            and all(up is not None for up in watcher.stats[-1]["parents"].values())
        ),
        within_s=5,
        what="the tracker's tree with everyone attached",
    )
    tree = watcher.stats[-1]["parents"]
    below = {name: [c for c, up in tree.items() if up == name] for name in viewers}
    victim = max(below, key=lambda name: len(below[name]))
    children = [viewers[name] for name in below[victim]]
    assert children, tree

    cut_at = trio.current_time()
    await netlab.cut(netlab.hosts[f"h{victim[1:]}"])

    in_tree = await tracker_replaced(watcher, victim, [c.name for c in children], cut_at)
    # Frames counted after the cut may still be the old parent's (they were on their way):
    # a child has moved once a line under its new parent counts more than the line before.
    await eventually(
        lambda: all(resumed_after(c, victim, cut_at) is not None for c in children),
        within_s=3 * REPLACE_TARGET_S,
        what="the children receiving from new parents",
    )
    report = {c.name: resumption(c, victim, cut_at) for c in children}
    print(
        f"\nlink of {victim} cut; its children "
        + "; ".join(
            f"{name}: noticed {noticed:.2f} s, receiving from {parent} after "
            f"~{estimate:.2f} s (stats line at {bound:.2f} s)"
            for name, (noticed, parent, estimate, bound) in report.items()
        )
        + f"; the tracker's tree showed them re-placed after {in_tree:.2f} s"
    )
    for noticed, _, estimate, _ in report.values():
        assert noticed < REPLACE_TARGET_S
        assert estimate < REPLACE_TARGET_S
    assert in_tree < 2 * REPLACE_TARGET_S
    assert tracker.running()


def resumed_after(
    child: Program, victim: str, cut_at: float
) -> tuple[float, str, float, float] | None:
    """(when it noticed, new parent, estimated resumption, first stats line showing it),
    or None while no statistics line shows frames from a new parent yet.

    Times are seconds after the cut. The statistics come once a second; the frames a
    line counts beyond the previous one all came from the new parent (the old one was
    silent), so the resumption is that line's time minus those frames' duration.
    """
    noticed = child.said(f"parent {victim} lost", since_s=cut_at)
    if noticed is None:
        return None
    first = sum(1 for s in child.stats if s["_at"] <= cut_at)
    stats = child.stats[max(0, first - 1) :]
    for previous, line in itertools.pairwise(stats):
        if (
            line["parent"] not in (None, victim)
            and line["frames_received"] > previous["frames_received"]
        ):
            gained = line["frames_received"] - previous["frames_received"]
            bound = line["_at"] - cut_at
            return noticed - cut_at, line["parent"], bound - gained / SOURCE_FPS, bound
    return None


def resumption(child: Program, victim: str, cut_at: float) -> tuple[float, str, float, float]:
    """What resumed_after says, which must be known by now."""
    resumed = resumed_after(child, victim, cut_at)
    assert resumed is not None, f"{child.name} shows no frames from a new parent\n{child.tail()}"
    return resumed


async def tracker_replaced(
    watcher: Program, victim: str, children: list[str], cut_at: float
) -> float:
    """Seconds after the cut when the tracker's tree had every child under a new parent."""

    def replaced(line: dict[str, Any]) -> bool:
        return line["_at"] > cut_at and all(
            line["parents"].get(c) not in (None, victim) for c in children
        )

    await eventually(
        lambda: replaced(watcher.stats[-1]),
        within_s=3 * REPLACE_TARGET_S,
        what="the tracker re-placing the children",
    )
    return float(next(line["_at"] for line in watcher.stats if replaced(line))) - cut_at
