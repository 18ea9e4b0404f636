"""Random joins, leaves, deaths and source restarts never break the tree's promises.

A hypothesis state machine drives the pure Room and, after every step, checks what
viewers rely on: it is one tree rooted at the source, nobody carries more children
than it offered, there are no loops, nobody waits while a slot is free, the depth
stays near log_K(N), every backup is usable, and what each viewer was told about its
parent matches the tracker's tree.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import protocol as p
from protocol.admission import check_token
from protocol.names import name_key
from tests.tracker.client import hello_message
from tracker.actions import Action, Broadcast, Close, Send
from tracker.members import Member
from tracker.room import Room

NAMES = [f"peer{i}" for i in range(40)]
SETTLING_TICKS = 40  # at most 8 s of the tracker's ticks
VIDEO = p.PeerStats(recv_fps=30.0)  # every viewer in this model receives what it is sent
# Names compare case-insensitively: "PEER3" is taken while "peer3" is in the room.
SPELLINGS: list[Callable[[str], str]] = [str, str.upper, str.capitalize]


class SwarmMachine(RuleBasedStateMachine):
    """The tracker's Room under random events, with a model of what each viewer knows."""

    def __init__(self) -> None:
        super().__init__()
        self.room = Room(recovery_window_s=0.0)
        self.now = 0.0
        self.capacity = 3
        self.believed_parent: dict[str, str | None] = {}
        self.believed_backup: dict[str, p.ParentOffer | None] = {}
        self.source_count = 0
        # A dropped child or a broken link makes the tracker avoid that parent for a
        # while, which may place the child deeper than the log bound; joins, leaves,
        # deaths and source restarts alone must keep the bound.
        self.avoidance_used = False
        self.mixed_capacities = False  # the log_K(N) depth bound assumes equal ones
        self.decided_s = 0.0  # when the Room last decided something (sent any action)
        # The tree's version right after every peer reported measured slots and the
        # tracker's ticks settled it (None: not since the last change).
        self.settled_version: int | None = None

    @initialize(capacity=st.integers(1, 4))
    def choose_capacity(self, capacity: int) -> None:
        self.capacity = capacity

    def apply(self, actions: list[Action]) -> None:
        if actions:
            self.decided_s = self.now
        # The tracker refreshes backups a few times a second; here, after every event.
        actions = actions + self.room.refresh_backups(self.now)
        for action in actions:
            if isinstance(action, Send):
                message = action.message
                if isinstance(message, p.Assign):
                    self.check_token(message.parent, action.to)
                    self.believed_parent[action.to] = message.parent.name.casefold()
                    self.believed_backup[action.to] = message.backup
                elif isinstance(message, p.BackupUpdate):
                    self.believed_backup[action.to] = message.backup
            elif isinstance(action, Broadcast):
                if isinstance(action.message, p.StreamEnded):
                    # The source's own children lost their parent; relay links below stay.
                    source = action.message.source.casefold()
                    for key, parent in self.believed_parent.items():
                        if parent == source:
                            self.believed_parent[key] = None
            elif isinstance(action, Close):
                self.believed_parent.pop(action.to, None)

    def check_token(self, offer: p.ParentOffer, child: str) -> None:
        parent = self.room.members[offer.name.casefold()]
        ok, _ = check_token(
            parent.admission_key,
            offer.token,
            parent=offer.name,
            child=self.room.members[child].name,
            now_s=self.now,
        )
        assert ok, "the tracker handed out a token the parent would refuse"

    def step(self) -> None:
        self.now += 0.1

    # -- rules -------------------------------------------------------------------------

    def check_name_taken(self, name: str, reject: p.Reject | None, holder: Member) -> None:
        """A name already in the room (in any case) is refused, and its holder keeps it."""
        assert reject is not None, f"a second peer was let in as {name!r}"
        assert reject.code is p.RejectCode.NAME_TAKEN, reject
        assert self.room.members[name_key(name)] is holder, "the first holder lost its name"

    @rule(name=st.sampled_from(NAMES), spelling=st.sampled_from(SPELLINGS))
    def viewer_joins(self, name: str, spelling: Callable[[str], str] = str) -> None:
        self.step()
        spelled = spelling(name)
        holder = self.room.members.get(name_key(spelled))
        reject, actions = self.room.hello(hello_message(spelled, capacity=self.capacity), self.now)
        if holder is not None:
            self.check_name_taken(spelled, reject, holder)
            assert actions == []
            return
        assert reject is None, f"a viewer with a free name was refused: {reject}"
        self.believed_parent[name] = None
        self.believed_backup[name] = None
        self.apply(actions)

    @rule(name=st.sampled_from(NAMES), capacity=st.integers(0, 2))
    def a_weaker_viewer_joins(self, name: str, capacity: int) -> None:
        """Viewers differ: some take fewer children than the rest, or none (leaves)."""
        self.step()
        if name_key(name) in self.room.members:
            return
        reject, actions = self.room.hello(hello_message(name, capacity=capacity), self.now)
        assert reject is None
        self.mixed_capacities = True
        self.believed_parent[name] = None
        self.believed_backup[name] = None
        self.apply(actions)

    @rule(names=st.lists(st.sampled_from(NAMES), min_size=2, max_size=10, unique=True))
    def a_crowd_joins(self, names: list[str]) -> None:
        for name in names:
            self.viewer_joins(name)

    @rule(name=st.sampled_from(NAMES), spelling=st.sampled_from(SPELLINGS))
    def source_starts(self, name: str, spelling: Callable[[str], str]) -> None:
        self.step()
        spelled = spelling(name)
        holder = self.room.members.get(name_key(spelled))
        had_source = self.room.tree.source is not None
        reject, actions = self.room.hello(
            hello_message(spelled, "source", capacity=self.capacity), self.now
        )
        if holder is not None:
            self.check_name_taken(spelled, reject, holder)
        elif had_source:
            assert reject is not None and reject.code is p.RejectCode.STREAM_LIVE, reject
        else:
            assert reject is None, f"a source with a free name and no rival was refused: {reject}"
        if reject is None:
            self.source_count += 1
        self.apply(actions)

    @precondition(lambda self: self.room.members)
    @rule(data=st.data(), dies=st.booleans())
    def someone_leaves(self, data: st.DataObject, dies: bool) -> None:
        self.step()
        key = data.draw(st.sampled_from(sorted(self.room.members)))
        self.believed_parent.pop(key, None)
        reason = "missed heartbeats" if dies else "left"
        self.apply(self.room.leave(key, self.now, reason))

    @precondition(lambda self: self.attached_viewers())
    @rule(data=st.data(), use_backup=st.booleans())
    def a_viewer_loses_its_link(self, data: st.DataObject, use_backup: bool) -> None:
        """The link to the parent broke though the parent lives (switch to the backup)."""
        self.step()
        key = data.draw(st.sampled_from(self.attached_viewers()))
        parent = self.room.tree[key].parent
        assert parent is not None
        self.avoidance_used = True
        backup = self.believed_backup.get(key)
        switched = backup.name if use_backup and backup is not None else None
        if switched is not None:
            self.believed_parent[key] = switched.casefold()
        lost = p.ParentLost(
            parent=self.room.members[parent].name, reason=p.LossReason.RESET, switched_to=switched
        )
        self.apply(self.room.parent_lost(key, lost, self.now))

    @precondition(lambda self: self.attached_viewers())
    @rule(data=st.data())
    def a_parent_drops_a_child(self, data: st.DataObject) -> None:
        self.step()
        key = data.draw(st.sampled_from(self.attached_viewers()))
        parent = self.room.tree[key].parent
        assert parent is not None
        self.avoidance_used = True
        dropped = p.ChildDropped(child=self.room.members[key].name, reason=p.DropReason.STALLED)
        self.apply(self.room.child_dropped(parent, dropped, self.now))

    @precondition(lambda self: self.room.members)
    @rule(data=st.data(), slots=st.integers(0, 6))
    def a_peer_measures_its_slots(self, data: st.DataObject, slots: int) -> None:
        """Uplinks differ and change: a peer reports the slots it serves now. One that
        carries fewer children than it has lets the newest go, as a real one does."""
        self.step()
        key = data.draw(st.sampled_from(sorted(self.room.members)))
        if key not in self.room.tree:
            return
        self.mixed_capacities = True
        beat = p.Heartbeat(seq=1, stats=p.PeerStats(recv_fps=30.0, slots=slots))
        self.apply(self.room.heartbeat(key, beat, self.now))
        for child in self.room.tree[key].children[slots:]:
            self.avoidance_used = True  # a shed child avoids its parent for a while
            name = self.room.members[child].name
            dropped = p.ChildDropped(child=name, reason=p.DropReason.OVERLOADED)
            self.apply(self.room.child_dropped(key, dropped, self.now))
        for other in list(self.room.members):  # everyone alive, so the ticks only place
            self.apply(self.room.heartbeat(other, p.Heartbeat(seq=1, stats=VIDEO), self.now))
        # The tracker ticks five times a second, and each tick lifts one richer viewer a
        # level or raises one deep subtree into a free slot: a few ticks later, the tree
        # has settled into its new capacities.
        for _ in range(SETTLING_TICKS):
            actions = self.room.tick(self.now)
            self.apply(actions)
            if not actions:
                break

    @precondition(lambda self: self.room.members)
    @rule()
    def heartbeats_settle_the_tree(self) -> None:
        """A second passes: every peer reports the slots it offers, now measured rather
        than declared, and the tracker ticks until the tree has settled."""
        self.step()
        for key in list(self.room.members):
            node = self.room.tree.nodes.get(key)
            stats = p.PeerStats(recv_fps=30.0, slots=node.capacity if node else None)
            self.apply(self.room.heartbeat(key, p.Heartbeat(seq=1, stats=stats), self.now))
        for _ in range(SETTLING_TICKS):
            actions = self.room.tick(self.now)
            self.apply(actions)
            if not actions:
                break
        self.settled_version = self.room.tree.version

    @precondition(lambda self: self.room.members)
    @rule(data=st.data())
    def one_peer_goes_silent(self, data: st.DataObject) -> None:
        """Everyone heartbeats except one, for long enough that it is declared dead."""
        silent = data.draw(st.sampled_from(sorted(self.room.members)))
        for _ in range(4):
            self.now += 1.0
            for key in list(self.room.members):
                if key != silent:
                    beat = p.Heartbeat(seq=1, stats=VIDEO)
                    self.apply(self.room.heartbeat(key, beat, self.now))
            self.apply(self.room.tick(self.now))
        assert silent not in self.room.members
        self.believed_parent.pop(silent, None)

    # -- invariants --------------------------------------------------------------------

    def attached_viewers(self) -> list[str]:
        return sorted(
            k for k, n in self.room.tree.nodes.items() if not n.is_source and n.depth is not None
        )

    @invariant()
    def it_is_a_tree_rooted_at_the_source(self) -> None:
        tree = self.room.tree
        for key, node in tree.nodes.items():
            assert len(node.children) <= node.capacity, "over capacity"
            for child in node.children:
                assert tree[child].parent == key
            if node.parent is not None:
                assert key in tree[node.parent].children
                assert not tree.in_subtree(node.parent, key), "loop"
            if node.is_source:
                assert node.depth == 0 and node.parent is None and tree.source == key
            elif node.depth is not None:
                assert node.parent is not None
                assert tree[node.parent].depth == node.depth - 1

    @invariant()
    def nobody_waits_while_a_slot_is_free(self) -> None:
        tree = self.room.tree
        if tree.source is None:
            return
        # As of the Room's last decision: a rule may move the clock past the end of an
        # avoidance without the Room deciding anything (a refused hello); the tracker's
        # tick, every 0.2 s, places such a viewer.
        avoided = self.room.avoided(self.decided_s)
        for root in tree.detached_roots():
            usable = [n.key for n in tree.open_slots() if n.key not in avoided.get(root, ())]
            assert not usable, f"{root} waits while {usable} have room"

    @invariant()
    def nobody_waits_while_a_tree_could_hold_everyone(self) -> None:
        # Enough slots in all (the source's and every viewer's) for every viewer means a
        # tree exists that attaches them all: then nobody waits, even when the first to
        # come were leaves holding the only slots. (Avoidance may forbid that tree, and
        # a source with no slot of its own feeds nobody.)
        tree = self.room.tree
        if tree.source is None or self.avoidance_used:
            return
        viewers = [n for n in tree.nodes.values() if not n.is_source]
        slots = tree[tree.source].capacity + sum(n.capacity for n in viewers)
        if slots >= len(viewers) and tree[tree.source].capacity > 0:
            assert not tree.detached_roots(), f"{tree.detached_roots()} wait with {slots} slots"

    @invariant()
    def depth_stays_near_log_k_of_n(self) -> None:
        tree = self.room.tree
        viewers = len(self.attached_viewers())
        event(f"viewers attached: {viewers // 10 * 10}+")
        if viewers and self.capacity >= 2 and not (self.avoidance_used or self.mixed_capacities):
            bound = math.ceil(math.log(viewers, self.capacity)) + 2
            assert tree.max_depth() <= max(bound, 1), (tree.max_depth(), viewers)

    @invariant()
    def depth_against_capacity_sorted_placement(self) -> None:
        # The best tree for these capacities: the viewers offering most slots nearest
        # the source, every level filled before the next. Once every peer's slots are
        # measured and the tracker's ticks have settled the tree, its depth is within 1
        # of it. (Joins place by a Hello's number, which displaces nobody while a slot
        # is free, so in between the tree may be deeper; how far goes to the statistics,
        # pytest --hypothesis-show-statistics.)
        tree = self.room.tree
        best = tree.sorted_depth()
        if tree.source is None or self.avoidance_used or not best:
            return
        event(f"levels deeper than capacity-sorted: {max(0, tree.max_depth() - best)}")
        if tree.version == self.settled_version:
            assert tree.max_depth() <= best + 1, f"depth {tree.max_depth()}, best {best}"

    @invariant()
    def every_backup_is_usable(self) -> None:
        tree = self.room.tree
        for key in self.attached_viewers():
            backup = self.room.members[key].backup
            parent = tree[key].parent
            assert parent is not None
            if backup is None:
                outside = [
                    n
                    for n in tree.open_slots()
                    if not tree.in_subtree(n.key, parent) and tree.fits(key, n.key)
                ]
                assert not outside, "a backup was available but none was named"
                continue
            assert backup != parent
            assert tree[backup].depth is not None and tree[backup].spare > 0
            assert not tree.in_subtree(backup, parent)
            offer = self.believed_backup.get(key)
            assert offer is not None and offer.name.casefold() == backup

    @invariant()
    def viewers_know_their_parent(self) -> None:
        for key in self.attached_viewers():
            assert self.believed_parent.get(key) == self.room.tree[key].parent


SwarmMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SWARM_EXAMPLES", "200")), stateful_step_count=80, deadline=None
)
test_swarm_invariants = pytest.mark.filterwarnings("ignore")(SwarmMachine.TestCase)
