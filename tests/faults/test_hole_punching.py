"""Viewers behind two different home routers feed each other by hole punching: the
tracker tells both to connect to the other's router at once, from their listen ports,
and Linux's MASQUERADE lets each SYN in as the answer to the other's
(peer/punching.py). A punch that cannot pass (firewalls dropping every SYN from
outside) fails, the tracker remembers the pair, and the child is fed by the next
parent it can reach; a viewer whose router gave its connection another port (as
--random-fully does for every one) is not punched to at all."""

from __future__ import annotations

import signal

import trio

from tests.faults.netlab import Host, NetLab, Router
from tests.faults.programs import Program, Programs
from tests.faults.rates import frame_rate_floor
from tests.faults.test_real_networks import SOURCE_FPS, SPEC
from tests.polling import eventually

ATTEMPTS = 3  # the child joins this many times; every punch must succeed
# A punch takes one RTT here; the child's video follows within a second or so. A
# loaded machine may take several times that.
VIDEO_WITHIN_S = 20.0
SETTLE_S = 5.0  # frames count from this long after the join
WINDOW_S = 5.0
FRAME_FLOOR = 0.95
PUNCH_TIMEOUT_S = 3.0  # peer/punching.py
EXIT_WITHIN_S = 15.0


async def watched_from(viewer: Program, cam: Program, joined_at: float) -> float:
    """The lowest second's share of the source's frames from SETTLE_S after joining."""
    start = joined_at + SETTLE_S
    await eventually(
        lambda: (s := viewer.latest()) is not None and s["_at"] > start + WINDOW_S,
        within_s=3 * (SETTLE_S + WINDOW_S),
        what=f"{viewer.name}'s statistics for the window",
    )
    return frame_rate_floor(viewer, cam, start, start + WINDOW_S)


async def start_relay_at_home(
    netlab: NetLab, programs: Programs, trk: Host, cam_host: Host, near: Router
) -> tuple[tuple[str, int], Program]:
    """A tracker, a source with one slot, and a relay behind `near` in that slot, found
    unreachable by the tracker: any other viewer at home can only punch to it."""
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=trk.netns)
    tracker = (trk.address, port)
    cam = await programs.source(
        tracker, "cam", spec=SPEC, fanout=1, listen=None, netns=cam_host.netns
    )
    relay = await programs.viewer(
        tracker, "relay", max_children=2, listen=None,
        netns=netlab.add_host("relay", behind=near).netns,
    )  # fmt: skip
    await eventually(
        lambda: (s := relay.latest()) is not None and s["reachable"] is False,
        within_s=15,
        what="the tracker finding the relay unreachable",
    )
    return tracker, cam


async def test_viewers_behind_two_routers_meet_by_hole_punching_every_time(
    netlab: NetLab, programs: Programs
) -> None:
    trk, cam_host = netlab.add_host("trk"), netlab.add_host("cam")
    near, far = netlab.add_router("r1"), netlab.add_router("r2")
    tracker, cam = await start_relay_at_home(netlab, programs, trk, cam_host, near)
    child_host = netlab.add_host("child", behind=far)
    punched = 0
    for attempt in range(ATTEMPTS):
        child = await programs.viewer(
            tracker, "child", max_children=0, listen=None, netns=child_host.netns
        )
        joined_at = trio.current_time()
        await eventually(
            lambda child=child: child.frames() > SOURCE_FPS,  # type: ignore[misc]
            within_s=VIDEO_WITHIN_S,
            what=f"the child's video (attempt {attempt + 1})",
        )
        latest = child.latest()
        assert latest is not None
        assert (latest["parent"], latest["parent_link"]) == ("relay", "punched"), child.tail()
        status = await programs.status(tracker, netns=trk.netns)
        peers = {peer["name"]: peer for peer in status["peers"]}
        assert peers["child"]["link"] == "punched", peers["child"]
        assert child.said("connected to each other through our routers") is not None
        if attempt == 0:  # the frame rate once: the later joins are the same link again
            floor = await watched_from(child, cam, joined_at)
            assert floor >= FRAME_FLOOR, f"lowest second {floor:.2f} of the source's rate"
        punched += 1
        child.kill(signal.SIGINT)
        await eventually(
            lambda child=child: not child.running(),  # type: ignore[misc]
            within_s=EXIT_WITHIN_S,
            what="the child exits",
        )
    assert punched == ATTEMPTS


async def test_a_punch_that_fails_is_not_tried_again_and_a_random_port_router_is_not_punched(
    netlab: NetLab, programs: Programs
) -> None:
    trk, cam_host = netlab.add_host("trk"), netlab.add_host("cam")
    # Firewalls that drop every SYN from outside, on both sides: the punch cannot pass.
    near = netlab.add_router("r1", drop_inbound_syn=True)
    strict = netlab.add_router("r2", drop_inbound_syn=True)
    hard = netlab.add_router("r3", random_ports=True)
    tracker, _ = await start_relay_at_home(netlab, programs, trk, cam_host, near)
    blocked = await programs.viewer(
        tracker, "blocked", max_children=0, listen=None,
        netns=netlab.add_host("blocked", behind=strict).netns,
    )  # fmt: skip
    random_port = await programs.viewer(
        tracker, "random", max_children=0, listen=None,
        netns=netlab.add_host("random", behind=hard).netns,
    )  # fmt: skip
    await eventually(
        lambda: blocked.said("parent relay lost") is not None,
        within_s=3 * PUNCH_TIMEOUT_S,
        what="the punch failing",
    )
    assert blocked.said("hole punch timed out") is not None, blocked.tail()
    # Neither is tried (again): both wait, with no parent, for one they can reach.
    waited_from = trio.current_time()
    while trio.current_time() - waited_from < 2 * PUNCH_TIMEOUT_S:
        await trio.sleep(0.25)
        status = await programs.status(tracker, netns=trk.netns)
        peers = {peer["name"]: peer for peer in status["peers"]}
        assert peers["blocked"]["parent"] is None, peers["blocked"]
        assert peers["random"]["parent"] is None, peers["random"]
    assert blocked.frames() == 0 and random_port.frames() == 0
    assert random_port.said("hole punch") is None, random_port.tail()

    # A public viewer with slots for all three turns up (it takes the source's slot,
    # the relay hangs under it): both dial it.
    await programs.viewer(
        tracker, "pub", max_children=3, listen=None, netns=netlab.add_host("pub").netns
    )
    for viewer in (blocked, random_port):
        await eventually(
            lambda viewer=viewer: viewer.frames() > SOURCE_FPS,  # type: ignore[misc]
            within_s=VIDEO_WITHIN_S,
            what=f"{viewer.name}'s video from the public viewer",
        )
        latest = viewer.latest()
        assert latest is not None and latest["parent"] == "pub", viewer.tail()
