"""Viewers behind a home router with UPnP relay to the public: a real miniupnpd in the
router's namespace maps each viewer's port, the tracker dials it there before it
counts on it, public viewers dial the mapping, and every mapping is gone once its
viewer has left, by Ctrl-C or SIGTERM alike (peer/port_mapping.py)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
import trio

from tests.faults.netlab import LabUnavailable, NetLab, Router
from tests.faults.programs import Program, Programs, listen_address
from tests.faults.test_real_networks import SPEC, assert_every_viewer_watches
from tests.polling import eventually

# Searching for the gateway takes 1 s, mapping and the tracker's probe well under one;
# a loaded machine may take several times that.
MAPPED_WITHIN_S = 20.0
EXIT_WITHIN_S = 15.0


async def upnp_router(netlab: NetLab, label: str) -> Router:
    try:
        return await netlab.add_upnp_router(label)
    except LabUnavailable as exc:
        pytest.skip(f"no UPnP gateway in this lab: {exc}")


def mapped_ports(router: Router) -> dict[int, int]:
    """Internal port -> external port of each TCP mapping the router holds."""
    return {m.internal_port: m.external_port for m in router.port_mappings() if m.protocol == "tcp"}


def exited(program: Program) -> Callable[[], bool]:
    return lambda: not program.running()


async def test_viewers_behind_a_upnp_router_are_mapped_checked_and_relay_to_public_viewers(
    netlab: NetLab, programs: Programs
) -> None:
    router = await upnp_router(netlab, "gw")
    trk, cam_host = netlab.add_host("trk"), netlab.add_host("cam")
    homes = [netlab.add_host(f"h{i}", behind=router) for i in (1, 2)]
    publics = [netlab.add_host(f"p{i}") for i in (1, 2, 3)]
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=trk.netns)
    tracker = (trk.address, port)
    cam = await programs.source(
        tracker, "cam", spec=SPEC, fanout=1, listen=None, netns=cam_host.netns
    )
    joined: dict[str, tuple[Program, float]] = {}
    natted: dict[str, Program] = {}
    for host in homes:
        natted[host.label] = await programs.viewer(
            tracker, host.label, listen=None, netns=host.netns, port_mapping=True
        )
        joined[host.label] = (natted[host.label], trio.current_time())

    def mapped_and_checked() -> bool:
        ports = mapped_ports(router)
        return all(
            listen_address(v)[1] in ports
            and (s := v.latest()) is not None
            and s["reachable"] is True
            and s["mapped_port"] == ports[listen_address(v)[1]]
            for v in natted.values()
        )

    await eventually(mapped_and_checked, within_s=MAPPED_WITHIN_S, what="both viewers mapped")
    for viewer in natted.values():
        assert viewer.said("our router forwards") is not None, viewer.tail()

    # Public viewers with no slots of their own: the source's one slot is taken, so
    # they hang under the viewers at home, which they can only reach by the mappings.
    for host in publics:
        viewer = await programs.viewer(
            tracker, host.label, max_children=0, listen=None, netns=host.netns
        )
        joined[host.label] = (viewer, trio.current_time())
    await assert_every_viewer_watches(joined, cam)
    status = await programs.status(tracker, netns=trk.netns)
    peers = {peer["name"]: peer for peer in status["peers"]}
    for host in publics:
        parent = peers[host.label]["parent"]
        assert parent in natted, f"{host.label} under {parent}"
        assert peers[host.label]["link"] == "mapped", peers[host.label]
        latest = joined[host.label][0].latest()
        assert latest is not None and latest["parent_link"] == "mapped", latest
    for name in natted:
        external = mapped_ports(router)[listen_address(natted[name])[1]]
        assert peers[name]["address"] == f"{router.wan.address}:{external}", peers[name]
        assert peers[name]["reachable"] is True

    # Leaving by Ctrl-C and by SIGTERM: each mapping goes with its viewer.
    for viewer, sig in zip(natted.values(), (signal.SIGINT, signal.SIGTERM), strict=True):
        inside = listen_address(viewer)[1]
        viewer.kill(sig)
        await eventually(exited(viewer), within_s=EXIT_WITHIN_S, what=f"{viewer.name} exits")
        assert inside not in mapped_ports(router), f"{viewer.name}'s mapping outlived it"
    assert mapped_ports(router) == {}
