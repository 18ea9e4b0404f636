"""Hole punching in the pure Room: a viewer nobody can dial feeds another nobody can
dial, behind another router, when both reach the tracker from their listen ports; the
tracker times both connects from the RTTs it measures, and a pair whose punch failed
is never tried again."""

from __future__ import annotations

import protocol as p
from tests.tracker.test_room_reversal import (
    HOME,
    OTHER_HOME,
    PUBLIC,
    Swarm,
    assigns,
    dials,
    sent_to,
    swarm_with_source,
)
from tracker.actions import Action, Send
from tracker.punching import punch_timing

HOME_LAN = "192.168.1.2"
OTHER_LAN = "192.168.2.2"
# The listen ports, which the routers keep for connections that leave from them.
RELAY_PORT = 41000
CHILD_PORT = 42000


def punches(actions: list[Action]) -> list[tuple[str, p.PunchChild]]:
    return [
        (a.to, a.message)
        for a in actions
        if isinstance(a, Send) and isinstance(a.message, p.PunchChild)
    ]


def natted_relay(swarm: Swarm, *, punch_port: int | None = RELAY_PORT) -> None:
    """A relay behind HOME under the source, its probe failed."""
    swarm.join(
        "relay", HOME, 2, addresses=(HOME_LAN,), listen_port=RELAY_PORT, punch_port=punch_port
    )
    assert swarm.parent("relay") == "cam"
    swarm.probe("relay", reachable=False)


def child_at_home(
    swarm: Swarm, *, listen_port: int = CHILD_PORT, punch_port: int | None = CHILD_PORT
) -> list[Action]:
    """A leaf behind another router than the relay's, seen at `punch_port`."""
    return swarm.join(
        "child",
        OTHER_HOME,
        0,
        addresses=(OTHER_LAN,),
        listen_port=listen_port,
        punch_port=punch_port,
    )


def punch_fails(swarm: Swarm) -> list[Action]:
    """The child reports that its punch to the relay timed out."""
    failed = p.ParentLost(parent="relay", reason=p.LossReason.UNREACHABLE, detail="timed out")
    return swarm.record(swarm.room.parent_lost("child", failed, swarm.step()))


def test_two_viewers_behind_different_routers_are_told_to_punch_to_each_other() -> None:
    rtts = {"relay": 0.080, "child": 0.020}
    swarm = swarm_with_source(1)
    swarm.room.rtt_s = rtts.get
    natted_relay(swarm)
    # Placed at once, before its own probe ends: whatever it shows, the punch works.
    actions = child_at_home(swarm)

    assert swarm.parent("child") == "relay"
    (assign,) = assigns(actions, "child")
    offer = assign.parent
    assert offer.link is p.LinkKind.PUNCHED
    assert (offer.name, offer.host, offer.port) == ("relay", HOME, RELAY_PORT)
    ((to, punch),) = punches(actions)
    assert to == "relay"
    assert (punch.child, punch.host, punch.port) == ("child", OTHER_HOME, CHILD_PORT)
    # The child hears 30 ms before the relay does: it waits that long.
    assert (punch.delay_ms, offer.punch_delay_ms) == (0, 30)
    assert not dials(actions), "no reversal: the child cannot be dialled either"
    status = {peer.name: peer for peer in swarm.room.status().peers}
    assert status["child"].link is p.LinkKind.PUNCHED


def test_a_viewer_that_does_not_reach_the_tracker_from_its_listen_port_waits() -> None:
    swarm = swarm_with_source(1)
    natted_relay(swarm)
    actions = child_at_home(swarm, punch_port=None)
    actions += swarm.probe("child", reachable=False)
    assert swarm.room.tree["child"].depth is None
    assert not punches(actions)
    assert sent_to(actions, "child", p.Waiting), "it is told it waits"
    assert not assigns(actions, "child")


def test_a_failed_punch_is_remembered_and_the_child_goes_to_a_public_parent() -> None:
    swarm = swarm_with_source(1)
    natted_relay(swarm)
    child_at_home(swarm)
    swarm.probe("child", reachable=False)
    assert swarm.parent("child") == "relay"

    actions = punch_fails(swarm)
    assert swarm.room.tree["child"].depth is None, "no other parent yet: it waits"
    assert not punches(actions), "the same pair is not tried again"
    # No re-check of the relay: its routers, not it, stopped the punch.
    assert not [a for a in actions if type(a).__name__ == "Probe"]
    for _ in range(200):  # 20 s: longer than any avoidance lasts
        assert not punches(swarm.tick())
    assert swarm.room.tree["child"].depth is None

    # A public relay turns up under the relay: the child dials it (reversal not needed).
    swarm.join("pub", PUBLIC, 2)
    actions = swarm.probe("pub", reachable=True)
    assert swarm.parent("child") == "pub"
    (assign,) = assigns(actions, "child")
    assert assign.parent.link is p.LinkKind.DIRECT


def test_a_viewer_whose_router_changed_its_port_is_not_punched_to() -> None:
    swarm = swarm_with_source(1)
    natted_relay(swarm)
    # The router gave the connection another port: it may give every destination one.
    actions = child_at_home(swarm, punch_port=CHILD_PORT + 7)
    actions += swarm.probe("child", reachable=False)
    assert not punches(actions)
    assert swarm.room.tree["child"].depth is None


def test_a_failed_pair_is_forgotten_when_the_child_registers_again() -> None:
    swarm = swarm_with_source(1)
    natted_relay(swarm)
    child_at_home(swarm)
    swarm.probe("child", reachable=False)
    punch_fails(swarm)
    swarm.record(swarm.room.leave("child", swarm.step()))
    # Back with a new mapping (another network, or a router restarted).
    actions = child_at_home(swarm, listen_port=CHILD_PORT + 1, punch_port=CHILD_PORT + 1)
    ((to, punch),) = punches(actions)
    assert to == "relay" and punch.port == CHILD_PORT + 1


def test_a_natted_child_of_a_public_parent_dials_it_and_is_never_a_punch() -> None:
    swarm = swarm_with_source(2)
    child_at_home(swarm)
    actions = swarm.probe("child", reachable=False)
    assert swarm.parent("child") == "cam"
    assert not punches(actions)
    assert [a.parent.link for a in assigns(swarm.sent, "child")] == [p.LinkKind.DIRECT]


def test_punch_timing_lets_the_nearer_peer_wait_for_the_farther_one() -> None:
    timing = punch_timing(0.100, 0.300)
    assert (timing.parent_delay_ms, timing.child_delay_ms) == (100, 0)
    unknown = punch_timing(None, 0.040)
    assert (unknown.parent_delay_ms, unknown.child_delay_ms) == (20, 0)
    assert punch_timing(None, None) == punch_timing(0.0, 0.0)
    far = punch_timing(0.0, 60.0)
    assert far.parent_delay_ms == p.limits.MAX_PUNCH_DELAY_MS
