"""Which address of its parent the tracker hands a child, from what it saw and was told."""

from __future__ import annotations

import protocol as p
from tests.tracker.test_room import sent
from tracker.actions import Action
from tracker.room import Room


def register(
    room: Room,
    name: str,
    seen: str,
    addresses: list[str],
    role: str = "viewer",
    advertise: str | None = None,
) -> list[Action]:
    hello = p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        name=name,
        role=role,
        listen_host="::",
        listen_port=7000,
        max_children=3,
        addresses=addresses,
        advertise=advertise,
    )
    reject, actions = room.hello(hello, 0.0, seen)
    assert reject is None, reject
    return actions


def assigned_host(actions: list[Action], name: str) -> str:
    (assign,) = sent(actions, name, p.Assign)
    return assign.parent.host


def test_a_viewer_behind_the_same_router_dials_the_lan_address() -> None:
    room = Room(recovery_window_s=0)
    actions = register(room, "cam", "203.0.113.5", ["192.168.1.10"], "source")
    welcome = sent(actions, "cam", p.Welcome)
    assert welcome[0].observed_host == "203.0.113.5"
    actions = register(room, "bob", "203.0.113.5", ["192.168.1.11", "fd00::11"])
    assert assigned_host(actions, "bob") == "192.168.1.10"


def test_a_viewer_elsewhere_dials_the_address_the_tracker_saw() -> None:
    room = Room(recovery_window_s=0)
    register(room, "cam", "::ffff:203.0.113.5", ["192.168.1.10"], "source")
    actions = register(room, "bob", "198.51.100.7", ["10.0.0.2"])
    assert assigned_host(actions, "bob") == "203.0.113.5"


def test_loopback_is_never_handed_to_a_peer_on_another_host() -> None:
    room = Room(recovery_window_s=0)
    register(room, "cam", "127.0.0.1", ["127.0.0.1", "::1", "10.77.0.1"], "source")
    actions = register(room, "bob", "10.77.0.2", ["10.77.0.2"])
    assert assigned_host(actions, "bob") == "10.77.0.1"
    actions = register(room, "carol", "127.0.0.1", [])  # on the tracker's host too
    assert assigned_host(actions, "carol") == "127.0.0.1"


def test_an_advertised_host_is_handed_out_only_where_the_tracker_sees_the_peer() -> None:
    room = Room(recovery_window_s=0)
    register(room, "cam", "127.0.0.1", [], "source", advertise="stream.example.org")
    actions = register(room, "bob", "198.51.100.7", [])
    assert assigned_host(actions, "bob") == "stream.example.org"  # on the tracker's host
    room = Room(recovery_window_s=0)
    register(room, "cam", "203.0.113.5", [], "source", advertise="192.0.2.99")  # a third host
    actions = register(room, "bob", "198.51.100.7", [])
    assert assigned_host(actions, "bob") == "203.0.113.5"
