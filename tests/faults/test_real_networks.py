"""Across hosts and home routers, with nothing but `--tracker` on the command line.

Every peer runs on its own host (a network namespace). Peers listen on every interface
by default, the tracker hands each child the address it saw its parent connect from,
and it dials every peer back before trusting it to be dialled: a viewer behind a home
router (MASQUERADE, inbound connections dropped) cannot be, so it feeds only viewers it
connects to itself (connection reversal), that sit behind the same router, or that
punch through their own router to meet it (tests/faults/test_hole_punching.py).
"""

from __future__ import annotations

import pytest
import trio

from tests.faults.netlab import NetLab
from tests.faults.programs import Program, Programs, listen_address
from tests.faults.rates import frame_rate_floor
from tests.polling import eventually

SOURCE_FPS = 30
SPEC = f"testsrc:320x240@{SOURCE_FPS}"
SETTLE_S = 5.0  # a viewer's frames count from this long after it joined
WINDOW_S = 8.0
FRAME_FLOOR = 0.95  # of the source's rate, in every second of the window
PROBE_DEADLINE_S = 15.0  # a router drops the probe: the tracker gives up after 3 s
CONNECT_FAILURE_TARGET_S = 2.0  # the 1 s connect timeout, then a new parent at once
REPLACE_SLACK_S = 1.0  # statistics lines come once a second
REPLACE_TARGET_S = 3.0  # a killed relay's children receive again (as tests/faults/test_link_cut.py)


async def assert_every_viewer_watches(
    joined: dict[str, tuple[Program, float]], cam: Program
) -> None:
    """Every viewer (joined at its time) gets FRAME_FLOOR of the source's frames in every
    second of a WINDOW_S window starting SETTLE_S after the last join."""
    last_join = max(at for _, at in joined.values())
    window_end = last_join + SETTLE_S + WINDOW_S
    await eventually(
        lambda: all(
            (s := v.latest()) is not None and s["_at"] > window_end for v, _ in joined.values()
        ),
        within_s=3 * (SETTLE_S + WINDOW_S),
        what="statistics covering the whole window",
    )
    for name, (viewer, at) in joined.items():
        start = max(at, last_join) + SETTLE_S
        floor = frame_rate_floor(viewer, cam, start, start + WINDOW_S)
        assert floor >= FRAME_FLOOR, f"{name}: lowest second {floor:.2f} of the source's rate"


async def test_defaults_work_across_hosts(netlab: NetLab, programs: Programs) -> None:
    home, cam_host, viewer_host = (netlab.add_host(label) for label in ("trk", "cam", "v"))
    _, (_, port) = await programs.tracker(host="::", netns=home.netns)
    tracker = (home.address, port)
    cam = await programs.source(tracker, "cam", spec=SPEC, listen=None, netns=cam_host.netns)
    assert listen_address(cam) == (cam_host.address, listen_address(cam)[1])
    viewer = await programs.viewer(tracker, "v", listen=None, netns=viewer_host.netns)
    await eventually(lambda: viewer.frames() > SOURCE_FPS, within_s=20, what="v's video")
    await eventually(
        lambda: cam.latest() is not None and cam.latest()["reachable"] is True,  # type: ignore[index]
        within_s=PROBE_DEADLINE_S,
        what="the tracker dialling cam back",
    )


async def test_a_dual_stack_tracker_serves_an_ipv4_and_an_ipv6_peer_at_once(
    netlab: NetLab, programs: Programs
) -> None:
    home, cam_host, viewer_host = (netlab.add_host(label) for label in ("trk", "cam", "v6"))
    if home.address6 is None:
        pytest.skip("this kernel has no IPv6")
    _, (_, port) = await programs.tracker(host="::", netns=home.netns)
    await programs.source((home.address, port), "cam", spec=SPEC, listen=None, netns=cam_host.netns)
    viewer = await programs.viewer(
        (home.address6, port), "v6", listen=None, netns=viewer_host.netns
    )
    await eventually(lambda: viewer.frames() > SOURCE_FPS, within_s=20, what="v6's video")
    # The tracker saw each peer in its own family, and the viewer, which came over
    # IPv6, was handed the source's IPv6 address: its video arrives over IPv6.
    status = await programs.status((home.address, port), netns=home.netns)
    where = {peer["name"]: peer["address"] for peer in status["peers"]}
    assert where["cam"].startswith(f"{cam_host.address}:"), where
    assert where["v6"].startswith(f"[{viewer_host.address6}]:"), where
    links = await trio.run_process(
        ["ip", "netns", "exec", cam_host.netns, "ss", "-tnH", "state", "established"],
        capture_stdout=True,
    )
    assert f"[{viewer_host.address6}]:" in links.stdout.decode(), links.stdout.decode()


async def test_a_child_that_cannot_connect_to_its_parent_is_re_placed_within_a_second_or_so(
    netlab: NetLab, programs: Programs
) -> None:
    home, cam_host, relay_host, spare_host, child_host = (
        netlab.add_host(label) for label in ("trk", "cam", "r", "s", "c")
    )
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=home.netns)
    tracker = (home.address, port)
    cam = await programs.source(
        tracker, "cam", spec=SPEC, fanout=1, listen=None, netns=cam_host.netns
    )
    relay = await programs.viewer(tracker, "r", listen=None, netns=relay_host.netns)
    spare = await programs.viewer(tracker, "s", listen=None, netns=spare_host.netns)
    await eventually(
        lambda: all((s := v.latest()) is not None and s["reachable"] for v in (relay, spare)),
        within_s=PROBE_DEADLINE_S,
        what="both relays checked",
    )
    # The relay answers the tracker, but a firewall drops what the child sends it: the
    # child is placed there (the shallowest free slot), cannot connect, and must move.
    netlab.refuse_connections(relay_host, child_host)
    child = await programs.viewer(tracker, "c", listen=None, netns=child_host.netns)
    await eventually(
        lambda: child.frames() > 0,
        within_s=3 * (CONNECT_FAILURE_TARGET_S + REPLACE_SLACK_S),
        what="the child's first frame from another parent",
    )
    lost_at = child.said("parent r lost")
    assert lost_at is not None, child.tail()
    registered_at = child.stats[0]["_at"]  # its first line: registered, placed under r
    first_frame_at = next(s["_at"] for s in child.stats if s["frames_received"] > 0)
    assert child.latest()["parent"] == "s"  # type: ignore[index]
    took_s = first_frame_at - registered_at
    assert took_s < CONNECT_FAILURE_TARGET_S + REPLACE_SLACK_S, (
        f"video {took_s:.1f} s after joining"
    )
    assert cam.latest() is not None


async def test_viewers_behind_home_routers_watch_and_feed_only_viewers_they_can_reach(
    netlab: NetLab, programs: Programs
) -> None:
    home, cam_host = netlab.add_host("trk"), netlab.add_host("cam")
    routers = [netlab.add_router(f"r{index}") for index in range(2)]
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=home.netns)
    tracker = (home.address, port)
    cam = await programs.source(
        tracker, "cam", spec=SPEC, fanout=2, listen=None, netns=cam_host.netns
    )
    joined: dict[str, tuple[Program, float]] = {}

    async def join(name: str, netns: str) -> None:
        viewer = await programs.viewer(tracker, name, max_children=2, listen=None, netns=netns)
        joined[name] = (viewer, trio.current_time())

    # Viewers behind the routers join first: without the dial-back they took the
    # source's two slots and every later viewer was sent to a parent nobody can reach.
    natted = [f"n{r}{i}" for r in range(2) for i in range(2)]
    for name in natted:
        await join(name, netlab.add_host(name, behind=routers[int(name[1])]).netns)
    public = [f"p{index}" for index in range(4)]
    for name in public:
        await join(name, netlab.add_host(name).netns)

    viewers = {name: program for name, (program, _) in joined.items()}
    await eventually(
        lambda: all(
            (s := viewers[n].latest()) is not None and s["reachable"] is False for n in natted
        ),
        within_s=PROBE_DEADLINE_S,
        what="the tracker finding the viewers behind routers unreachable",
    )
    await assert_every_viewer_watches(joined, cam)
    for name in public:
        # Under a viewer behind a router only by connection reversal.
        dialled = {s["parent"] for s in viewers[name].stats if s["parent_link"] == "direct"}
        assert not dialled & set(natted), f"{name} dialled {dialled & set(natted)}"
        assert viewers[name].latest()["reachable"] is True  # type: ignore[index]
    for name in natted:
        # Behind another router only by hole punching.
        parents = {
            (s["parent"], s["parent_link"]) for s in viewers[name].stats if s["parent"] in natted
        }
        assert all(parent[1] == name[1] or link == "punched" for parent, link in parents), (
            f"{name} under {parents}"
        )

    # Kill a public relay: its children are receiving again within the usual deadline,
    # and still from a parent they can reach (or that reaches them).
    relay = next(n for n in public if viewers[n].latest()["children"] > 0)  # type: ignore[index]
    children = [n for n in joined if n != relay and viewers[n].latest()["parent"] == relay]  # type: ignore[index]
    assert children, f"{relay} reported children but none names it"
    counts = {n: viewers[n].frames() for n in children}
    killed_at = trio.current_time()
    viewers[relay].kill()
    await eventually(
        lambda: all(viewers[n].frames() > counts[n] + SOURCE_FPS for n in children),
        within_s=3 * (REPLACE_TARGET_S + 1),
        what=f"{', '.join(children)} receiving again after {relay} was killed",
    )
    took_s = trio.current_time() - killed_at
    assert took_s < REPLACE_TARGET_S + 1, f"re-placed after {took_s:.1f} s"  # + a second of frames
    for name in children:
        stats = viewers[name].latest()
        assert stats is not None
        parent = stats["parent"]
        reachable = (
            parent not in natted
            or parent[1] == name[1]
            or stats["parent_link"] in ("reversed", "punched")
        )
        assert reachable, f"{name} under {parent} ({stats['parent_link']})"


async def test_viewers_behind_one_router_relay_to_each_other_and_to_public_viewers(
    netlab: NetLab, programs: Programs
) -> None:
    home, cam_host = netlab.add_host("trk"), netlab.add_host("cam")
    router = netlab.add_router("r0")
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=home.netns)
    tracker = (home.address, port)
    cam = await programs.source(
        tracker, "cam", spec=SPEC, fanout=1, listen=None, netns=cam_host.netns
    )
    joined: dict[str, tuple[Program, float]] = {}

    async def join(name: str, netns: str, max_children: int) -> None:
        viewer = await programs.viewer(
            tracker, name, max_children=max_children, listen=None, netns=netns
        )
        joined[name] = (viewer, trio.current_time())

    # The source feeds one viewer, and every other slot is behind the router: the
    # second viewer there is fed over the LAN, the public leaves by reversal.
    natted, public = ["n0", "n1"], ["p0", "p1", "p2"]
    for name in natted:
        await join(name, netlab.add_host(name, behind=router).netns, 2)
        viewer = joined[name][0]
        await eventually(
            lambda viewer=viewer: (s := viewer.latest()) is not None and s["reachable"] is False,  # type: ignore[misc]
            within_s=PROBE_DEADLINE_S,
            what=f"the tracker finding {name} unreachable",
        )
    for name in public:
        await join(name, netlab.add_host(name).netns, 0)
    viewers = {name: program for name, (program, _) in joined.items()}
    await assert_every_viewer_watches(joined, cam)
    latest = {name: viewer.latest() for name, viewer in viewers.items()}
    links = {name: (s["parent"], s["parent_link"]) for name, s in latest.items() if s}
    fed_by_nat = [name for name in public if links[name][0] in natted]
    assert fed_by_nat, f"no public viewer is fed from behind the router: {links}"
    assert all(links[name][1] == "reversed" for name in fed_by_nat), links
    inside = [name for name in natted if links[name][0] in natted]
    assert inside and all(links[name][1] == "direct" for name in inside), links
