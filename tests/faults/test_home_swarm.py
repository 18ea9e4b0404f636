"""The internet as most viewers meet it: seven in ten behind home routers (some with
UPnP, most plain, one that gives every connection a random port), the rest public,
those at home joining first. Every viewer watches, viewers at home carry a share of
the relaying (mapped ones serve anyone, plain ones serve each other by hole punching
and public viewers by connection reversal), and when the busiest relay at home is
killed its children receive again within the usual deadline."""

from __future__ import annotations

import pytest
import trio

from tests.faults.home_swarm import HomeMix, measure, start_home_swarm
from tests.faults.netlab import LabUnavailable, NetLab
from tests.faults.programs import Program, Programs
from tests.faults.test_real_networks import (
    REPLACE_TARGET_S,
    SOURCE_FPS,
    SPEC,
    assert_every_viewer_watches,
)
from tests.polling import eventually

MIX = HomeMix.of(10, 0.7)
WINDOW_S = 5.0


async def test_a_swarm_mostly_behind_home_routers_watches_and_relays_from_home(
    netlab: NetLab, programs: Programs
) -> None:
    try:
        swarm = await start_home_swarm(
            netlab, programs, MIX, spec=SPEC, fanout=2, max_children=3, home_first=True
        )
    except LabUnavailable as exc:
        pytest.skip(f"no UPnP gateway in this lab: {exc}")
    joined: dict[str, tuple[Program, float]] = {
        name: (viewer, swarm.started_at[name]) for name, viewer in swarm.viewers.items()
    }
    await assert_every_viewer_watches(joined, swarm.cam)
    report = await measure(programs, swarm, WINDOW_S)
    print()
    for figure, value in report.rows():
        print(f"{figure:<28} {value}")
    assert report.waiting == 0
    assert report.home_slot_share > 0, "nobody at home relays"
    assert report.reached_by["mapped"] == MIX.upnp, report

    # Kill the relay at home with the most children: they are placed again, each where
    # it can be reached (or reach), and receive within the usual deadline.
    relay = max(swarm.at_home, key=lambda name: swarm.viewers[name].latest()["children"])  # type: ignore[index]
    children = [
        name
        for name, viewer in swarm.viewers.items()
        if (s := viewer.latest()) is not None and s["parent"] == relay
    ]
    assert children, f"{relay} has no children"
    counts = {name: swarm.viewers[name].frames() for name in children}
    killed_at = trio.current_time()
    swarm.viewers[relay].kill()
    await eventually(
        lambda: all(swarm.viewers[n].frames() > counts[n] + SOURCE_FPS for n in children),
        within_s=3 * (REPLACE_TARGET_S + 1),
        what=f"{', '.join(children)} receiving again after {relay} was killed",
    )
    took_s = trio.current_time() - killed_at
    assert took_s < REPLACE_TARGET_S + 1, f"re-placed after {took_s:.1f} s"  # + a second of frames
