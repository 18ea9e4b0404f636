"""Join and repair when the tracker and the peers are 40-80 ms apart, as across a country.

Each host's own packets wait before they leave (tests/faults/netlab.py `delay`, an
NFQUEUE program: this kernel has no netem), so the RTT between two hosts is the sum of
their delays: 80-160 ms here. The same swarm runs with no delay and with it; each run
prints what a viewer notices, for the comparison:

    pytest -s tests/faults/test_wide_area.py
"""

from __future__ import annotations

import math
import re
import signal
import statistics

import pytest
import trio

from tests.faults.netlab import Host, LabUnavailable, NetLab
from tests.faults.programs import Program, Programs
from tests.polling import eventually

SPEC = "testsrc:320x240@30"
# One-way delays, ms: the tracker's host, the source's, then each viewer's.
WIDE_AREA = {"trk": 40, "cam": 40, "v0": 40, "v1": 60, "v2": 80, "v3": 60, "v4": 80, "v5": 40}
# From "registered" to "receiving from": the Assign, a connect and a join, a handful of
# RTTs (at most 160 ms each here) on top of what it takes on one LAN.
JOIN_TARGET_S = 2.0
# A frozen relay's children receive again: 1.5 s of silence, then the backup (or the
# tracker's new place) and a join, a few RTTs more.
REPAIR_TARGET_S = 4.0
SLACK_S = 1.0  # notices carry the time they were read, on a loaded machine
STEADY_S = 1.5  # nobody has changed parent for this long: the tree is settled
RECEIVING = re.compile(r"receiving from (\S+) at depth")
LOOKING = "no parent; looking for one"


@pytest.mark.parametrize("delays", [None, WIDE_AREA], ids=["one-lan", "40-80ms-apart"])
async def test_viewers_join_and_recover_about_as_fast_40_to_80_ms_apart(
    netlab: NetLab, programs: Programs, delays: dict[str, int] | None
) -> None:
    hosts: dict[str, Host] = {label: netlab.add_host(label) for label in WIDE_AREA}
    for label, delay_ms in (delays or {}).items():
        try:
            await netlab.delay(hosts[label], delay_ms)
        except LabUnavailable as exc:
            pytest.skip(f"no delay in this lab: {exc}")
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=hosts["trk"].netns)
    tracker = (hosts["trk"].address, port)
    cam = await programs.source(
        tracker, "cam", spec=SPEC, fanout=2, listen=None, netns=hosts["cam"].netns
    )
    viewers: dict[str, Program] = {}
    joins: dict[str, float] = {}
    for name in [label for label in WIDE_AREA if label.startswith("v")]:
        viewer = await programs.viewer(tracker, name, listen=None, netns=hosts[name].netns)
        viewers[name] = viewer
        await eventually(
            lambda viewer=viewer: viewer.said("receiving from") is not None,  # type: ignore[misc]
            within_s=5 * (JOIN_TARGET_S + SLACK_S),
            what=f"{name} receiving",
        )
        registered, receiving = viewer.said("registered;"), viewer.said("receiving from")
        assert registered is not None and receiving is not None
        joins[name] = receiving - registered

    # Freeze a relay that has children (SIGSTOP: no FIN, no RST, just silence). The
    # tree may still be settling (measured capacities lift viewers), so relay and
    # children come from what each viewer last said, once nobody has moved for a while.
    await eventually(
        lambda: steady_relay(viewers, STEADY_S) is not None,
        within_s=30,
        what=f"a relay with children, and nobody moving for {STEADY_S:g} s",
    )
    found = steady_relay(viewers, STEADY_S)
    assert found is not None
    relay, children = found
    killed_at = trio.current_time()
    viewers[relay].kill(signal.SIGSTOP)
    try:
        await eventually(
            lambda: all(viewers[n].said("receiving from", killed_at) for n in children),
            within_s=5 * (REPAIR_TARGET_S + SLACK_S),
            what=f"{', '.join(children)} receiving again after {relay} froze",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {what_they_said(cam, viewers, killed_at)}") from None
    repairs = {n: viewers[n].said("receiving from", killed_at) - killed_at for n in children}  # type: ignore[operator]
    label = "one LAN" if delays is None else "40-80 ms apart"
    print(
        f"\n{label}: join p50 {statistics.median(joins.values()):.2f} s, "
        f"max {max(joins.values()):.2f} s; repair after {relay} froze: "
        + ", ".join(f"{n} {s:.2f} s" for n, s in repairs.items())
    )
    for name, took_s in joins.items():
        assert took_s < JOIN_TARGET_S + SLACK_S, f"{name} joined in {took_s:.2f} s"
    for name, took_s in repairs.items():
        assert took_s < REPAIR_TARGET_S + SLACK_S, (
            f"{name} repaired in {took_s:.2f} s; {what_they_said(cam, viewers, killed_at)}"
        )
    assert cam.running()


def what_they_said(cam: Program, viewers: dict[str, Program], fault_s: float) -> str:
    """Every peer's notices from 6 s before the fault on, timed from it: why a repair was late."""
    told = {n: v.notices for n, v in [("cam", cam), *viewers.items()]}
    lines = [f"{n} {at - fault_s:+.2f} s: {line}" for n, said in told.items()
             for at, line in said if at > fault_s - 6]  # fmt: skip
    return "what the peers said:\n" + "\n".join(lines)


def parent_of(viewer: Program) -> tuple[float, str | None]:
    """When `viewer` last said whom it receives from, and whom (None: nobody, or unsaid)."""
    for at, line in reversed(viewer.notices):
        if LOOKING in line:
            return at, None
        if said := RECEIVING.search(line):
            return at, said.group(1)
    return -math.inf, None


def steady_relay(viewers: dict[str, Program], quiet_s: float) -> tuple[str, list[str]] | None:
    """A viewer with children, and those children, once every viewer has said its parent
    and none has changed it for `quiet_s` (a stats line can be a second old)."""
    said = {name: parent_of(viewer) for name, viewer in viewers.items()}
    now = trio.current_time()
    if any(parent is None or now - at < quiet_s for at, parent in said.values()):
        return None
    for relay in viewers:
        children = [name for name, (_, parent) in said.items() if parent == relay]
        if children:
            return relay, children
    return None
