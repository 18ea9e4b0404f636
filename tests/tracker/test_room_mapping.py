"""Port mappings in the pure Room: a viewer whose home router forwards a port to it
(UPnP) is probed there, at the address its connection came from, and children from
outside its LAN dial that port (`mapped`), while its LAN neighbours dial it directly."""

from __future__ import annotations

import protocol as p
from tests.tracker.test_room_reversal import (
    HOME,
    PUBLIC,
    Swarm,
    assigns,
    dials,
    swarm_with_source,
)
from tracker.actions import Action
from tracker.reachability import Probe

MAPPED = 51000
HOME_LAN = "192.168.1.2"
NEIGHBOUR_LAN = "192.168.1.3"


def probes(actions: list[Action]) -> list[Probe]:
    return [a for a in actions if isinstance(a, Probe)]


def mapped_relay(swarm: Swarm) -> None:
    """A viewer behind HOME whose router maps MAPPED to it, its probe answered."""
    swarm.join("home", HOME, 2, addresses=(HOME_LAN,), mapped_port=MAPPED)
    assert swarm.parent("home") == "cam"
    swarm.probe("home", reachable=True)
    assert swarm.room.tree["home"].dialable


def test_a_mapped_viewer_is_probed_on_its_mapped_port_where_its_connection_came_from() -> None:
    swarm = swarm_with_source(1)
    swarm.join("home", HOME, 2, addresses=(HOME_LAN,), mapped_port=MAPPED)
    (probe,) = probes(swarm.room.heartbeat("home", p.Heartbeat(seq=1), swarm.step()))
    assert (probe.host, probe.port) == (HOME, MAPPED)


def test_children_outside_its_lan_dial_the_mapping_and_its_lan_neighbours_dial_it() -> None:
    swarm = swarm_with_source(1)
    mapped_relay(swarm)
    listen_port = swarm.room.members["home"].port

    swarm.join("far", PUBLIC, 0)
    swarm.probe("far", reachable=True)
    swarm.join("near", HOME, 0, addresses=(NEIGHBOUR_LAN,))
    swarm.probe("near", reachable=False)

    assert swarm.parent("far") == swarm.parent("near") == "home"
    (far,) = assigns(swarm.sent, "far")
    assert (far.parent.host, far.parent.port, far.parent.link) == (
        HOME,
        MAPPED,
        p.LinkKind.MAPPED,
    )
    (near,) = assigns(swarm.sent, "near")
    assert (near.parent.host, near.parent.port, near.parent.link) == (
        HOME_LAN,
        listen_port,
        p.LinkKind.DIRECT,
    )
    links = {peer.name: peer.link for peer in swarm.room.status().peers}
    assert links == {
        "cam": None,
        "home": p.LinkKind.DIRECT,
        "far": p.LinkKind.MAPPED,
        "near": p.LinkKind.DIRECT,
    }
    addresses = {peer.name: peer.address for peer in swarm.room.status().peers}
    assert addresses["home"] == f"{HOME}:{MAPPED}", "status shows where the tracker dials"


def test_a_mapping_made_after_registering_is_checked_at_once_and_its_slots_count() -> None:
    swarm = swarm_with_source(1)
    swarm.join("home", HOME, 2, addresses=(HOME_LAN,))
    swarm.probe("home", reachable=False)
    assert not swarm.room.tree["home"].dialable

    # Half a second later, well inside the 5 s between asks, the router maps a port.
    (probe,) = probes(swarm.room.check_requested("home", swarm.now + 0.5, mapped_port=MAPPED))
    assert (probe.host, probe.port) == (HOME, MAPPED)
    swarm.finish(probe, reachable=True)
    assert swarm.room.tree["home"].dialable

    swarm.join("far", PUBLIC, 0)
    swarm.probe("far", reachable=True)
    assert swarm.parent("far") == "home"
    (far,) = assigns(swarm.sent, "far")
    assert far.parent.link is p.LinkKind.MAPPED and not far.parent.reverse


def test_an_answer_from_the_old_port_is_ignored_once_a_mapping_is_announced() -> None:
    swarm = swarm_with_source(1)
    swarm.join("home", HOME, 2, addresses=(HOME_LAN,))
    (old,) = probes(swarm.room.heartbeat("home", p.Heartbeat(seq=1), swarm.step()))
    (new,) = probes(swarm.room.check_requested("home", swarm.step(), mapped_port=MAPPED))
    assert new.port == MAPPED != old.port

    assert swarm.finish(old, reachable=False) == [], "the old port's answer is stale"
    assert swarm.room.reachability.reachable("home") is None
    swarm.finish(new, reachable=True)
    assert swarm.room.reachability.reachable("home") is True


def test_a_mapping_that_is_gone_sends_the_probe_back_to_the_listening_port() -> None:
    swarm = swarm_with_source(1)
    mapped_relay(swarm)
    listen_port = swarm.room.members["home"].port
    (probe,) = probes(swarm.room.check_requested("home", swarm.step(), mapped_port=0))
    assert (probe.host, probe.port) == (HOME, listen_port)
    swarm.finish(probe, reachable=False)
    assert not swarm.room.tree["home"].dialable


def test_repeating_the_same_mapping_is_an_ordinary_ask() -> None:
    swarm = swarm_with_source(1)
    mapped_relay(swarm)
    assert probes(swarm.room.check_requested("home", swarm.step(), mapped_port=MAPPED)) == []
    assert swarm.room.reachability.reachable("home") is True


def test_a_parent_nobody_can_dial_dials_a_mapped_child_on_its_mapping() -> None:
    swarm = swarm_with_source(1)
    swarm.join("nat", "198.51.100.99", 2, addresses=("192.168.7.2",))
    swarm.probe("nat", reachable=False)
    swarm.join("home", HOME, 0, addresses=(HOME_LAN,), mapped_port=MAPPED)
    swarm.probe("home", reachable=True)

    assert swarm.parent("home") == "nat"
    (home,) = assigns(swarm.sent, "home")
    assert home.parent.link is p.LinkKind.REVERSED
    ((to, dial),) = dials(swarm.sent)
    assert (to, dial.host, dial.port) == ("nat", HOME, MAPPED)
    links = {peer.name: peer.link for peer in swarm.room.status().peers}
    assert links["home"] is p.LinkKind.REVERSED
