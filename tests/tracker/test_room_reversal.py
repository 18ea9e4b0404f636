"""Connection reversal in the pure Room: a viewer nobody can dial (its probe failed)
still feeds children that can be dialled, by dialling them itself (`DialChild`), and
meets viewers behind its own public address over their LAN (tracker/tree.py)."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol as p
from protocol.admission import check_reverse_token, check_token, probe_proof
from tracker.actions import Action, Send
from tracker.reachability import Probe, ProbeAnswer, Reachability
from tracker.room import Room

CAM_HOST = "203.0.113.1"  # the source's public address
HOME = "198.51.100.7"  # a household behind a home router
OTHER_HOME = "198.51.100.99"  # another one
PUBLIC = "192.0.2.5"  # a viewer anyone can dial


@attrs.define
class Swarm:
    """A Room that checks who can be dialled, with peers that register from real-looking
    addresses, and everything it sent."""

    room: Room = attrs.field(
        factory=lambda: Room(recovery_window_s=0, reachability=Reachability(enabled=True))
    )
    now: float = 0.0
    sent: list[Action] = attrs.field(factory=list)
    _ports: int = 9100

    def step(self) -> float:
        self.now += 0.1
        return self.now

    def join(
        self,
        name: str,
        host: str,
        capacity: int = 0,
        *,
        role: str = "viewer",
        addresses: tuple[str, ...] = (),
        mapped_port: int | None = None,
        punch_port: int | None = None,
        listen_port: int | None = None,
    ) -> list[Action]:
        self._ports += 1
        hello = p.Hello(
            protocol_version=p.PROTOCOL_VERSION,
            name=name,
            role=role,
            listen_host="::",
            listen_port=listen_port or self._ports,
            max_children=capacity,
            addresses=list(addresses),
            mapped_port=mapped_port,
            from_listen_port=punch_port is not None,
        )
        reject, actions = self.room.hello(hello, self.step(), seen_host=host, seen_port=punch_port)
        assert reject is None, reject
        return self.record(actions)

    def probe(self, name: str, *, reachable: bool) -> list[Action]:
        """The first heartbeat starts the probe; it comes back answered, or not."""
        now = self.step()
        actions = self.room.heartbeat(name, p.Heartbeat(seq=1), now)
        (probe,) = [a for a in actions if isinstance(a, Probe)]
        return self.finish(probe, reachable=reachable)

    def recheck(self, name: str, *, reachable: bool) -> list[Action]:
        """The peer asks to be dialled again, and the new probe comes back."""
        self.now += 10.0
        (probe,) = [a for a in self.room.check_requested(name, self.now) if isinstance(a, Probe)]
        return self.finish(probe, reachable=reachable)

    def finish(self, probe: Probe, *, reachable: bool) -> list[Action]:
        member = self.room.members[probe.to]
        if reachable:
            proof = probe_proof(member.admission_key, name=member.name, nonce=probe.nonce)
            answer = ProbeAnswer(proofs=[proof])
        else:
            answer = ProbeAnswer(failure="timed out")
        return self.record(self.room.probed(probe.to, probe.nonce, answer, self.now))

    def tick(self) -> list[Action]:
        now = self.step()
        for key in self.room.members:
            self.room.seen(key, now)
        return self.record(self.room.tick(now))

    def record(self, actions: list[Action]) -> list[Action]:
        self.sent += actions
        return actions

    def parent(self, name: str) -> str | None:
        return self.room.tree[name].parent


def sent_to(actions: list[Action], to: str, kind: type[object]) -> list[tuple[int, object]]:
    return [
        (i, a.message)
        for i, a in enumerate(actions)
        if isinstance(a, Send) and a.to == to and isinstance(a.message, kind)
    ]


def assigns(actions: list[Action], to: str) -> list[p.Assign]:
    return [m for _, m in sent_to(actions, to, p.Assign) if isinstance(m, p.Assign)]


def dials(actions: list[Action]) -> list[tuple[str, p.DialChild]]:
    return [
        (a.to, a.message)
        for a in actions
        if isinstance(a, Send) and isinstance(a.message, p.DialChild)
    ]


def backups_named(actions: list[Action], to: str) -> list[str | None]:
    """Every backup `to` was told about (None: told it has none)."""
    named: list[str | None] = []
    for a in actions:
        if not isinstance(a, Send) or a.to != to:
            continue
        if isinstance(a.message, p.Assign | p.BackupUpdate):
            offer = a.message.backup
            named.append(offer.name if offer is not None else None)
    return named


def swarm_with_source(capacity: int) -> Swarm:
    swarm = Swarm()
    swarm.join("cam", CAM_HOST, capacity, role="source")
    swarm.probe("cam", reachable=True)
    return swarm


# -- reversal ---------------------------------------------------------------------------


def test_a_natted_viewer_with_slots_feeds_a_public_viewer_by_dialling_it() -> None:
    swarm = swarm_with_source(1)
    swarm.join("nat", HOME, 2)
    assert swarm.parent("nat") == "cam"
    swarm.probe("nat", reachable=False)
    assert not swarm.room.tree["nat"].dialable
    # The public viewer waits for its own probe: until then nobody knows it can be
    # dialled, and nat's slots are of no use to it.
    joined = swarm.join("pub", PUBLIC, 0)
    assert swarm.room.tree["pub"].depth is None and not dials(joined)
    actions = swarm.probe("pub", reachable=True)

    assert swarm.parent("pub") == "nat"
    ((assign_at, assign),) = sent_to(actions, "pub", p.Assign)
    assert isinstance(assign, p.Assign)
    assert assign.parent.name == "nat" and assign.parent.reverse
    ((dial_at, dial),) = sent_to(actions, "nat", p.DialChild)
    assert isinstance(dial, p.DialChild)
    assert assign_at < dial_at, "the child hears it should wait before the parent dials"
    child = swarm.room.members["pub"]
    assert (dial.child, dial.host, dial.port) == ("pub", PUBLIC, child.port)
    ok, _ = check_reverse_token(
        child.admission_key, dial.token, parent="nat", child="pub", now_s=swarm.now
    )
    assert ok, "pub would refuse the parent the tracker sent it"
    # The token is for this parent and this child only, and is no Join token.
    assert not check_reverse_token(
        child.admission_key, dial.token, parent="cam", child="pub", now_s=swarm.now
    )[0]
    assert not check_token(
        child.admission_key, dial.token, parent="nat", child="pub", now_s=swarm.now
    )[0]
    assert len(dials(actions)) == 1
    # nat itself dials the source as usual.
    assert [a.parent.reverse for a in assigns(swarm.sent, "nat")] == [False]


def test_a_natted_parent_is_told_to_dial_again_when_the_child_hears_where_it_is_again() -> None:
    swarm = swarm_with_source(1)
    swarm.join("nat", HOME, 2)
    swarm.probe("nat", reachable=False)
    swarm.join("pub", PUBLIC, 0)
    swarm.probe("pub", reachable=True)
    assert swarm.parent("pub") == "nat"
    # pub reports a parent it no longer has (a stale report): the tracker repeats
    # where it hangs, and the parent must dial it again.
    lost = p.ParentLost(parent="cam", switched_to=None, reason=p.LossReason.CLOSED)
    actions = swarm.record(swarm.room.parent_lost("pub", lost, swarm.step()))
    (again,) = assigns(actions, "pub")
    assert again.parent.name == "nat" and again.parent.reverse
    ((to, dial),) = dials(actions)
    assert to == "nat" and dial.child == "pub"


def test_a_public_viewer_takes_the_natted_slot_and_leaves_the_open_one_to_a_natted_viewer() -> None:
    swarm = swarm_with_source(1)
    swarm.join("hub", "192.0.2.10", 2)
    swarm.probe("hub", reachable=True)
    swarm.join("open", "192.0.2.20", 0)
    swarm.probe("open", reachable=True)
    swarm.join("nat", HOME, 0)
    swarm.probe("nat", reachable=False)
    assert swarm.parent("open") == swarm.parent("nat") == "hub"
    # The tree is full: a public viewer and a NATed one wait.
    swarm.join("pub", PUBLIC, 0)
    swarm.probe("pub", reachable=True)
    swarm.join("stranger", OTHER_HOME, 0)
    swarm.probe("stranger", reachable=False)
    assert swarm.room.tree.detached_roots() == ["pub", "stranger"]
    # open and nat measure an uplink for one child each: a slot apiece, at one depth.
    for name in ("open", "nat"):
        beat = p.Heartbeat(seq=2, stats=p.PeerStats(slots=1))
        swarm.record(swarm.room.heartbeat(name, beat, swarm.step()))
    actions = swarm.tick()
    # Only pub can use nat's slot; stranger can use only open's.
    assert swarm.parent("pub") == "nat" and swarm.parent("stranger") == "open"
    (assign,) = assigns(actions, "pub")
    assert assign.parent.reverse
    assert [(to, d.child) for to, d in dials(actions)] == [("nat", "pub")]


def test_two_natted_viewers_behind_one_public_address_meet_over_their_lan() -> None:
    swarm = swarm_with_source(1)
    swarm.join("nat", HOME, 2, addresses=("192.168.1.10",))
    swarm.probe("nat", reachable=False)
    swarm.join("flatmate", HOME, 0, addresses=("192.168.1.11",))
    swarm.probe("flatmate", reachable=False)
    for _ in range(3):
        swarm.tick()
    assert swarm.parent("flatmate") == "nat"
    (assign,) = assigns(swarm.sent, "flatmate")
    assert assign.parent.name == "nat" and not assign.parent.reverse
    assert assign.parent.host == "192.168.1.10"  # nat's LAN address, not the router's
    assert dials(swarm.sent) == []


def test_a_natted_viewer_is_never_a_backup_for_a_public_viewer() -> None:
    swarm = swarm_with_source(2)
    swarm.join("open", "192.0.2.20", 1)
    swarm.probe("open", reachable=True)
    swarm.join("nat", HOME, 3)
    swarm.probe("nat", reachable=False)
    swarm.join("pub", PUBLIC, 0)
    swarm.probe("pub", reachable=True)
    for _ in range(3):
        swarm.tick()
    assert swarm.parent("pub") == "open"
    # nat holds the only free slots outside open's subtree, but pub would have to dial
    # it to switch there without the tracker.
    assert [n.key for n in swarm.room.tree.open_slots()] == ["nat"]
    assert swarm.room.members["pub"].backup is None
    assert "nat" not in backups_named(swarm.sent, "pub")


def test_a_backup_that_can_no_longer_be_dialled_is_withdrawn() -> None:
    swarm = swarm_with_source(2)
    swarm.join("open", "192.0.2.20", 1)
    swarm.probe("open", reachable=True)
    swarm.join("spare", "192.0.2.21", 1)
    swarm.probe("spare", reachable=True)
    swarm.join("pub", PUBLIC, 0)
    swarm.probe("pub", reachable=True)
    swarm.tick()
    assert swarm.parent("pub") == "open"
    assert swarm.room.members["pub"].backup == "spare"
    swarm.recheck("spare", reachable=False)  # its port forward is gone
    swarm.tick()
    assert swarm.room.members["pub"].backup is None
    assert backups_named(swarm.sent, "pub")[-1] is None


def test_two_natted_viewers_of_different_households_never_hang_one_under_the_other() -> None:
    swarm = swarm_with_source(1)
    swarm.join("nat", HOME, 3)
    swarm.probe("nat", reachable=False)
    waiting = swarm.join("stranger", OTHER_HOME, 3)
    assert sent_to(waiting, "stranger", p.Waiting)
    swarm.probe("stranger", reachable=False)
    for _ in range(5):
        swarm.tick()
    assert swarm.parent("stranger") is None and swarm.parent("nat") == "cam"
    assert assigns(swarm.sent, "stranger") == []
    assert dials(swarm.sent) == []
    # It waits for a slot it can use, and takes the first one that frees up.
    swarm.record(swarm.room.leave("nat", swarm.step()))
    swarm.tick()
    assert swarm.parent("stranger") == "cam"


def test_a_natted_viewer_with_more_slots_never_displaces_a_public_relay() -> None:
    swarm = swarm_with_source(1)
    swarm.join("open", "192.0.2.20", 1)
    swarm.probe("open", reachable=True)
    swarm.join("nat", HOME, 1)
    swarm.probe("nat", reachable=False)
    assert swarm.parent("nat") == "open"
    # nat measures a big uplink; open a small one.
    for name, slots in (("nat", 8), ("open", 1)):
        beat = p.Heartbeat(seq=2, stats=p.PeerStats(slots=slots))
        swarm.record(swarm.room.heartbeat(name, beat, swarm.step()))
    for _ in range(5):
        swarm.tick()
    assert swarm.parent("open") == "cam" and swarm.parent("nat") == "open"


# -- every decision, in random swarms ---------------------------------------------------

HOSTS = [HOME, OTHER_HOME, PUBLIC, "192.0.2.6"]
# One viewer: where it connects from, the slots it offers, whether its probe gets
# through, how many joins later the probe ends, and the slots it measures (if any).
VIEWER = st.tuples(
    st.sampled_from(HOSTS),
    st.integers(0, 3),
    st.booleans(),
    st.integers(0, 3),
    st.none() | st.integers(0, 4),
)


@settings(derandomize=True, max_examples=150, deadline=None, database=None)
@given(
    source_capacity=st.integers(1, 2),
    viewers=st.lists(VIEWER, min_size=2, max_size=12),
    leaving=st.lists(st.integers(0, 11), max_size=3),
)
def test_every_link_can_be_made_and_every_reversal_is_announced_to_both_ends(
    source_capacity: int,
    viewers: list[tuple[str, int, bool, int, int | None]],
    leaving: list[int],
) -> None:
    swarm = swarm_with_source(source_capacity)

    def after(actions: list[Action]) -> None:
        check_batch(swarm, actions)
        # The tracker renews backups a few times a second; here, after every event.
        swarm.record(swarm.room.refresh_backups(swarm.now))
        check_tree(swarm)

    for turn in range(len(viewers) + 4):
        if turn < len(viewers):
            host, capacity, *_ = viewers[turn]
            after(swarm.join(f"v{turn}", host, capacity))
        for i, (_, _, reachable, delay, slots) in enumerate(viewers):
            if i + delay != turn:
                continue
            after(swarm.probe(f"v{i}", reachable=reachable))
            if slots is not None:
                beat = p.Heartbeat(seq=2, stats=p.PeerStats(slots=slots))
                after(swarm.record(swarm.room.heartbeat(f"v{i}", beat, swarm.step())))
        after(swarm.tick())
    for index in leaving:
        if f"v{index}" in swarm.room.members:
            after(swarm.record(swarm.room.leave(f"v{index}", swarm.step())))
            after(swarm.tick())


def check_tree(swarm: Swarm) -> None:
    """Every link can be made, and every backup can be dialled by its child."""
    tree = swarm.room.tree
    for node in tree.nodes.values():
        if node.parent is not None:
            assert tree.can_feed(node.parent, node.key), (node.parent, node.key)
        backup = swarm.room.members[node.key].backup
        if backup is not None and node.depth is not None:
            assert tree.dials_directly(backup, node.key), (backup, node.key)


def check_batch(swarm: Swarm, actions: list[Action]) -> None:
    """Each reversed Assign comes with a DialChild to that parent, later in the same
    batch, with a token the child accepts; each direct one needs none."""
    room, tree = swarm.room, swarm.room.tree
    for i, action in enumerate(actions):
        if not isinstance(action, Send):
            continue
        message = action.message
        if isinstance(message, p.Assign):
            parent, child = message.parent.name, action.to
            if parent not in tree or child not in tree:
                continue
            assert message.parent.reverse is not tree.dials_directly(parent, child)
            later = [d for to, d in dials(actions[i + 1 :]) if to == parent and d.child == child]
            assert bool(later) is message.parent.reverse, (parent, child, message)
            for dial in later:
                member = room.members[child]
                assert dial.port == member.port
                assert check_reverse_token(
                    member.admission_key, dial.token, parent=parent, child=child, now_s=swarm.now
                )[0]
        elif isinstance(message, p.DialChild):
            earlier = [
                a.message
                for a in actions[:i]
                if isinstance(a, Send)
                and a.to == message.child
                and isinstance(a.message, p.Assign)
                and a.message.parent.name == action.to
                and a.message.parent.reverse
            ]
            assert earlier, f"{action.to} dials {message.child}, who was not told to wait"


def test_a_viewer_waiting_only_for_its_check_is_told_so_not_that_no_slot_is_free() -> None:
    swarm = Swarm()
    swarm.join("cam", CAM_HOST, 1, role="source")
    swarm.probe("cam", reachable=True)
    swarm.join("nat", HOME, 2)
    swarm.probe("nat", reachable=False)
    assert swarm.parent("nat") == "cam"
    # nat's slots feed only viewers it can dial: pub's check has not answered yet.
    waiting = [m for _, m in sent_to(swarm.join("pub", PUBLIC), "pub", p.Waiting)]
    assert waiting == [p.Waiting(reason=p.WaitReason.CHECKING)]
    swarm.probe("pub", reachable=True)
    assert swarm.parent("pub") == "nat"
