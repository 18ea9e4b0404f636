"""The internet as most viewers meet it: seven in ten behind home routers (some with
UPnP, most plain, one that gives every connection a random port), the rest public.
Every viewer watches, and viewers at home carry a share of the relaying: mapped ones
serve anyone, plain ones serve each other by hole punching and public viewers by
connection reversal."""

from __future__ import annotations

import pytest

from tests.faults.home_swarm import HomeMix, measure, start_home_swarm
from tests.faults.netlab import LabUnavailable, NetLab
from tests.faults.programs import Program, Programs
from tests.faults.test_real_networks import SPEC, assert_every_viewer_watches

MIX = HomeMix.of(10, 0.7)
WINDOW_S = 5.0


async def test_a_swarm_mostly_behind_home_routers_watches_and_relays_from_home(
    netlab: NetLab, programs: Programs
) -> None:
    try:
        swarm = await start_home_swarm(netlab, programs, MIX, spec=SPEC, fanout=2, max_children=3)
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
