"""The relay tree: who feeds whom, and where a newcomer or an orphan goes. Pure, no I/O.

Nodes are keyed by casefolded name. The root is the source; a node is *attached* when
its chain of parents reaches the source, and only attached nodes offer slots, so a
subtree can never be placed under itself: its own nodes are not attached while it
waits. Depths are kept on the nodes and updated when a subtree moves. A node's
capacity is the child slots it offers now: what its upload has shown it serves
(peer/capacity.py reports it in heartbeats), up to its --max-children.

Placement (`choose_parent`): the shallowest attached node with a free slot; ties go to
the most spare capacity, then the lowest measured latency, then the name. With
`Placement.CAPACITY` (the default), capacity also moves up: a newcomer or orphan that
offers more slots than a viewer sitting at or above the depth it would get takes that
viewer's place, adopting its children and the viewer itself (`_weaker_in_the_way`), so
rich uplinks sit close to the source and leaves that joined first never strand relays.
`Placement.SHALLOWEST` is the rule before capacity counted (the simulation's baseline
for comparison). Subtrees that lose their parent move as a whole, unless that would
push them past the depth limit, in which case they are split and their members placed
one by one; this keeps the depth near log_K(N).

Who can feed whom: a node is *dialable* when the tracker dialled it back (or trusts
its word); others (behind a home router) accept no connection from outside. A parent
feeds a child when the child can dial it (the parent is dialable, or both sit in one
*household*: behind the same public address, they meet over their LAN), or when the
parent can dial the child instead (connection reversal: the child is dialable). So a
node nobody can dial still spends its upload on dialable children, but it ranks as
offering no slots (`_rank`): it never displaces anyone, and whoever offers slots every
newcomer can use climbs above it. Backups must be dialled by the child itself
(`dials_directly`): a switch to one is made without asking the tracker.
"""

from __future__ import annotations

import collections
import enum
import math
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping

import attrs

BACKUP_SPREAD = 4  # backups are drawn from this many of the best candidates
# A viewer climbs above its parent when it offers this many slots more. Measured slots
# change at most once in a few seconds (peer/capacity.py), so one does not make viewers
# trade places at every wobble.
PROMOTE_MARGIN = 1


class Placement(enum.Enum):
    """How the tree places viewers (the tracker's --placement)."""

    CAPACITY = "capacity"  # shallowest free slot, and more slots sit higher
    SHALLOWEST = "shallowest"  # shallowest free slot only, as if every peer were equal


@attrs.define
class Node:
    """One peer's place in the tree."""

    key: str
    name: str
    is_source: bool
    capacity: int
    parent: str | None = None
    children: list[str] = attrs.field(factory=list)
    depth: int | None = None  # None while not attached to the source
    latency_ms: float = 0.0
    joined_seq: int = 0
    # Whether the capacity was measured (reported in a heartbeat), not just declared in a
    # Hello: only a measured one takes a place from others while a slot is free.
    measured: bool = False
    dialable: bool = True  # accepts connections from anywhere (the tracker dialled it)
    household: str | None = None  # the public address it connects from
    dark: bool = False  # attached, but it reports no video: it gets no new children

    @property
    def spare(self) -> int:
        """Free child slots."""
        return self.capacity - len(self.children)


def ideal_depth(viewers: int, fanout: int, capacity: float) -> int:
    """Depth of the shallowest tree holding `viewers` under a root of `fanout`."""
    if viewers <= 0 or fanout <= 0:
        return 0
    if capacity <= 1:
        return math.ceil(viewers / fanout) if capacity <= 0 else viewers
    depth, level, held = 1, fanout, fanout
    while held < viewers:
        level = math.ceil(level * capacity)
        held += level
        depth += 1
    return depth


@attrs.define
class Tree:
    """The nodes and their links, with the placement rules."""

    nodes: dict[str, Node] = attrs.field(factory=dict)
    source: str | None = None
    placement: Placement = Placement.CAPACITY
    # Bumped on every change of shape, so callers can skip work when nothing moved.
    version: int = 0
    _seq: int = 0
    _viewers: int = 0
    _viewer_capacity: int = 0
    # How many viewers offer each capacity: a newcomer with no weaker viewer in the room
    # skips the search for one.
    _capacities: collections.Counter[int] = attrs.field(factory=collections.Counter)

    def __contains__(self, key: str) -> bool:
        """Whether `key` has a node."""
        return key in self.nodes

    def __getitem__(self, key: str) -> Node:
        """The node of `key`."""
        return self.nodes[key]

    def add(
        self,
        key: str,
        name: str,
        *,
        is_source: bool,
        capacity: int,
        dialable: bool = True,
        household: str | None = None,
    ) -> Node:
        """Insert a node, unattached (a source becomes the root)."""
        self._seq += 1
        self.version += 1
        node = Node(
            key=key,
            name=name,
            is_source=is_source,
            capacity=capacity,
            dialable=dialable,
            household=household,
        )
        node.joined_seq = self._seq
        self.nodes[key] = node
        if is_source:
            self.source = key
            node.depth = 0
        else:
            self._viewers += 1
            self._count(node, +1)
        return node

    def set_capacity(self, key: str, capacity: int) -> None:
        """Change how many children `key` may have (its current children stay)."""
        node = self.nodes[key]
        self._count(node, -1)
        node.capacity = capacity
        self._count(node, +1)
        self.version += 1

    def set_dialable(self, key: str, dialable: bool) -> None:
        """Whether `key` accepts connections from anywhere (its current children stay)."""
        node = self.nodes[key]
        if node.dialable != dialable:
            self._count(node, -1)
            node.dialable = dialable
            self._count(node, +1)
            self.version += 1

    def set_dark(self, key: str, dark: bool) -> None:
        """Whether `key` shows no video (tracker/room.py decides): no new children then."""
        node = self.nodes[key]
        if node.dark != dark:
            node.dark = dark
            self.version += 1

    def can_feed(self, parent: str, child: str) -> bool:
        """Whether `parent` can send to `child`: one of them can dial the other."""
        up, down = self.nodes[parent], self.nodes[child]
        return up.dialable or down.dialable or _one_household(up, down)

    def dials_directly(self, parent: str, child: str) -> bool:
        """Whether `child` can connect to `parent` itself (no reversal needed)."""
        up = self.nodes[parent]
        return up.dialable or _one_household(up, self.nodes[child])

    def remove(self, key: str) -> list[str]:
        """Delete a node; return its children, now roots of detached subtrees."""
        node = self.nodes.pop(key)
        self.version += 1
        if not node.is_source:
            self._viewers -= 1
            self._count(node, -1)
        if node.parent is not None and node.parent in self.nodes:
            self.nodes[node.parent].children.remove(key)
        orphans = list(node.children)
        for child in orphans:
            self.nodes[child].parent = None
            self._set_depths(child, None)
        if self.source == key:
            self.source = None
        return orphans

    def _count(self, node: Node, sign: int) -> None:
        """Add (+1) or take away (-1) a viewer's rank from the capacity totals."""
        if node.is_source:
            return
        rank = _rank(node)
        self._viewer_capacity += sign * rank
        self._capacities[rank] += sign
        if not self._capacities[rank]:
            del self._capacities[rank]

    def attach(self, child: str, parent: str) -> None:
        """Link `child` (a detached subtree root) under `parent`."""
        node, up = self.nodes[child], self.nodes[parent]
        assert node.parent is None and not node.is_source, "attach a detached viewer"
        assert not self.in_subtree(parent, child), "that would make a loop"
        self.version += 1
        node.parent = parent
        up.children.append(child)
        self._set_depths(child, None if up.depth is None else up.depth + 1)

    def detach(self, child: str) -> None:
        """Unlink `child` from its parent; its own subtree stays with it."""
        node = self.nodes[child]
        self.version += 1
        if node.parent is not None:
            self.nodes[node.parent].children.remove(child)
            node.parent = None
        self._set_depths(child, None)

    def _set_depths(self, key: str, depth: int | None) -> None:
        stack = [(key, depth)]
        while stack:
            current, d = stack.pop()
            node = self.nodes[current]
            node.depth = d
            below = None if d is None else d + 1
            stack.extend((child, below) for child in node.children)

    def in_subtree(self, key: str, root: str) -> bool:
        """Whether `key` is `root` or below it."""
        seen = 0
        current: str | None = key
        while current is not None:
            if current == root:
                return True
            current = self.nodes[current].parent
            seen += 1
            if seen > len(self.nodes):
                raise AssertionError("cycle in the tree")
        return False

    def subtree(self, root: str) -> Iterator[str]:
        """Every key in the subtree of `root`, root first."""
        stack = [root]
        while stack:
            key = stack.pop()
            yield key
            stack.extend(self.nodes[key].children)

    def height(self, root: str) -> int:
        """Levels below `root` (0 for a leaf)."""
        best = 0
        stack = [(root, 0)]
        while stack:
            key, level = stack.pop()
            best = max(best, level)
            stack.extend((child, level + 1) for child in self.nodes[key].children)
        return best

    def open_slots(self) -> list[Node]:
        """Attached nodes with a free slot and video to give, best first."""
        open_nodes = [
            n for n in self.nodes.values() if n.depth is not None and n.spare > 0 and not n.dark
        ]
        open_nodes.sort(key=_placement_key)
        return open_nodes

    def choose_parent(self, child: str, exclude: Iterable[str] = ()) -> str | None:
        """Best parent for the detached subtree rooted at `child`, or None if no slot.

        A dialable child takes a slot nobody can dial before another at the same depth:
        those slots feed only dialable children, the others feed anyone.
        """
        skip = set(exclude)
        best: Node | None = None
        dialable = self.nodes[child].dialable
        for node in self.open_slots():
            if best is not None and node.depth != best.depth:
                break
            if node.key in skip or node.key == child or not self.can_feed(node.key, child):
                continue
            if not dialable or not node.dialable:
                return node.key
            best = best or node
        return best.key if best is not None else None

    def choose_backup(self, child: str, candidates: list[Node] | None = None) -> str | None:
        """A backup parent for attached `child`: outside its parent's whole subtree.

        The backup must also keep the child's subtree within the depth limit, so that a
        switch to it never needs a second move.
        """
        parent = self.nodes[child].parent
        if parent is None:
            return None
        deepest_ok = self.depth_limit() - 1 - self.height(child)
        usable: list[str] = []
        for node in candidates if candidates is not None else self.open_slots():
            assert node.depth is not None
            if node.depth > deepest_ok or len(usable) == BACKUP_SPREAD:
                break  # candidates are sorted shallowest first
            if (
                node.key != parent
                and self.dials_directly(node.key, child)
                and not self.in_subtree(node.key, parent)
            ):
                usable.append(node.key)
        if not usable:
            return None
        # Spread viewers over the best few candidates, so that one crash does not send
        # every orphan to the same spare slot.
        return usable[zlib.crc32(child.encode()) % len(usable)]

    def fits(self, child: str, parent: str) -> bool:
        """Whether the subtree of `child` stays within the depth limit under `parent`."""
        depth = self.nodes[parent].depth
        return depth is not None and depth + 1 + self.height(child) <= self.depth_limit()

    def depth_limit(self) -> int:
        """Deepest level a moved subtree may reach before it is split up."""
        if self.source is None:
            return 0
        if not self._viewers:
            return 1
        mean_capacity = self._viewer_capacity / self._viewers
        fanout = self.nodes[self.source].capacity
        return ideal_depth(self._viewers, fanout, mean_capacity) + 1

    def sorted_depth(self) -> int:
        """Depth of the best tree for the attached viewers' capacities: those offering
        most slots nearest the source, every level full before the next (0 if these
        capacities cannot hold them all)."""
        if self.source is None:
            return 0
        capacities = sorted(
            (_rank(n) for n in self.nodes.values() if not n.is_source and n.depth is not None),
            reverse=True,
        )
        depth, slots, placed = 0, self.nodes[self.source].capacity, 0
        while placed < len(capacities) and slots > 0:
            level = capacities[placed : placed + slots]
            placed += len(level)
            depth += 1
            slots = sum(level)
        return depth if placed == len(capacities) else 0

    def max_depth(self) -> int:
        """Depth of the deepest attached node."""
        return max((n.depth for n in self.nodes.values() if n.depth is not None), default=0)

    def place(
        self,
        roots: Iterable[str],
        exclude: Iterable[str] = (),
        avoid: Mapping[str, Collection[str]] | None = None,
    ) -> list[str]:
        """Attach detached subtrees where they fit best; return every key that moved.

        Bigger subtrees go first, to the shallowest slots, then viewers with more slots.
        A weaker viewer in the way gives up its place (see `_weaker_in_the_way`). A
        subtree that would reach past the depth limit is split: its root is placed alone
        and its children are placed in turn. `avoid` names parents a given root must not
        get (recent trouble).
        """
        skip = set(exclude)
        avoid = avoid or {}
        pending = sorted(
            roots,
            key=lambda k: (
                -sum(1 for _ in self.subtree(k)),
                -_rank(self.nodes[k]),
                self.nodes[k].joined_seq,
            ),
        )
        moved: list[str] = []
        limit = self.depth_limit()
        waiting: list[str] = []
        while pending:
            root = pending.pop(0)
            parent = self.choose_parent(root, skip.union(avoid.get(root, ())))
            weaker = self._weaker_in_the_way(root, parent, skip, avoid)
            if weaker is not None:
                moved += self._swap_in(root, weaker)
                pending.extend(waiting)  # the root's other slots may suit those waiting
                waiting = []
                continue
            if parent is None:
                waiting.append(root)
                continue
            parent_depth = self.nodes[parent].depth
            assert parent_depth is not None
            if parent_depth + 1 + self.height(root) > limit and self.nodes[root].children:
                split = list(self.nodes[root].children)
                for child in split:
                    self.detach(child)
                pending = split + pending
            self.attach(root, parent)
            moved.append(root)
            pending.extend(waiting)  # the new node's slots may suit those that found none
            waiting = []
        return moved

    def _weaker_in_the_way(
        self,
        root: str,
        parent: str | None,
        skip: set[str],
        avoid: Mapping[str, Collection[str]],
    ) -> str | None:
        """A viewer offering fewer slots than waiting `root`, at or above the depth `root`
        would get under `parent` (anywhere, if `parent` is None), whose place `root`
        should take.

        `root` adopts the viewer's children and the viewer itself, so it needs a free
        slot for each; nobody gets deeper but the viewer, by one level, and the tree
        holds `root` besides. While a slot is free, only a `root` whose slots were
        measured displaces anyone (a Hello's number alone could be anything), unless
        that slot is one nobody can dial (it is only ever good for reversal). With
        SHALLOWEST placement, only a childless viewer yields, and only when no slot is
        free (so that leaves that came first strand nobody).
        The shallowest yields first, then the weakest, then the newest.
        """
        node = self.nodes[root]
        rank = _rank(node)
        if node.spare < 1 or not any(c < rank for c in self._capacities):
            return None
        shallowest = self.placement is Placement.SHALLOWEST
        if parent is not None and (
            shallowest or (not node.measured and self.dials_directly(parent, root))
        ):
            return None  # a free slot exists: only a proven uplink displaces anyone
        deepest = self.nodes[parent].depth if parent is not None else None
        limit = self.depth_limit()
        root_height = max(self.height(root), 1)
        best: tuple[int, int, int] | None = None
        chosen: str | None = None
        level = [self.source] if self.source is not None else []
        depth = 0
        while level and (deepest is None or depth <= deepest):
            for key in level:
                other = self.nodes[key]
                if other.is_source or key in skip or _rank(other) >= rank:
                    continue
                assert other.depth is not None and other.parent is not None
                if (
                    len(other.children) + 1 > node.spare
                    or (self.placement is Placement.SHALLOWEST and other.children)
                    or other.parent in avoid.get(root, ())
                    or root in avoid.get(key, ())
                    or any(root in avoid.get(child, ()) for child in other.children)
                    or other.depth + root_height > limit
                    or self.nodes[other.parent].spare < 0  # shedding children: no swaps in
                    or not self._may_take_place(root, other)
                ):
                    continue
                order = (other.depth, _rank(other), -other.joined_seq)
                if best is None or order < best:
                    best, chosen = order, key
            if chosen is not None:
                return chosen  # the shallowest level with one is the best level
            level = [child for key in level for child in self.nodes[key].children]
            depth += 1
        return None

    def _may_take_place(self, root: str, other: Node) -> bool:
        """Whether `root` can take `other`'s place: fed by its parent, feeding it and
        its children."""
        assert other.parent is not None
        return (
            self.can_feed(other.parent, root)
            and self.can_feed(root, other.key)
            and all(self.can_feed(root, child) for child in other.children)
        )

    def _swap_in(self, root: str, weaker: str) -> list[str]:
        """Put detached `root` in `weaker`'s place, with `weaker`'s children and `weaker`
        itself under it; every key that moved."""
        parent = self.nodes[weaker].parent
        assert parent is not None
        children = list(self.nodes[weaker].children)
        self.detach(weaker)
        for child in children:
            self.detach(child)
        self.attach(root, parent)
        for child in children:
            self.attach(child, root)
        self.attach(weaker, root)
        return [root, *children, weaker]

    def promote(self, avoid: Mapping[str, Collection[str]] | None = None) -> list[str]:
        """Lift one viewer above its parent when it offers PROMOTE_MARGIN more slots;
        every key that moved (none: nothing to lift).

        Capacities are measured after peers join, so the tree made at joining forgets
        them; the tracker calls this each tick, so a rich uplink climbs a level a tick
        (like a heap's sift-up) until it sits under a parent at least as rich. The viewer
        takes its parent's place and its parent's other children, the parent goes under
        it and takes the viewer's children (as many as it has slots for; the rest are
        placed anew). Nobody gets deeper but the parent, by one level. The widest gap
        goes first, then the shallowest.
        """
        avoid = avoid or {}
        best: tuple[int, int] | None = None
        chosen: str | None = None
        for node in self.nodes.values():
            if node.is_source or node.depth is None or node.parent is None:
                continue
            up = self.nodes[node.parent]
            if not node.measured or up.is_source or _rank(node) < _rank(up) + PROMOTE_MARGIN:
                continue
            if not self._may_swap(node, up, avoid):
                continue
            order = (_rank(up) - _rank(node), node.depth)
            if best is None or order < best:
                best, chosen = order, node.key
        if chosen is None:
            return []
        return self._lift(chosen)

    def raise_deep(self, avoid: Mapping[str, Collection[str]] | None = None) -> list[str]:
        """Move one deep subtree up into a free slot two or more levels above it, while the
        tree is more than a level deeper than `sorted_depth`; the key moved (none:
        nothing to raise).

        Slots free up high when a peer's measured capacity grows, or a child leaves, while
        others hang below: the subtree on the way to the deepest viewer, rooted as high
        as the free slot allows, moves up a level or more as a whole (only its root
        switches parent). The tracker calls this each tick, after `promote`.
        """
        avoid = avoid or {}
        if self.max_depth() <= self.sorted_depth() + 1:
            return []  # near enough the best tree: moving a viewer would gain little
        open_nodes = self.open_slots()
        if not open_nodes:
            return []
        slot = open_nodes[0]
        assert slot.depth is not None
        deepest = max(
            (n for n in self.nodes.values() if n.depth is not None and not n.is_source),
            key=lambda n: (n.depth or 0, -n.joined_seq),
            default=None,
        )
        if deepest is None or (deepest.depth or 0) < slot.depth + 2:
            return []
        path: list[str] = []  # from the deepest viewer up to just below the free slot's level
        current: str | None = deepest.key
        while current is not None and (self.nodes[current].depth or 0) >= slot.depth + 2:
            path.append(current)
            current = self.nodes[current].parent
        for key in reversed(path):  # the highest root first: it lifts the most viewers
            parents = [
                n
                for n in open_nodes
                if n.depth == slot.depth
                and n.key not in avoid.get(key, ())
                and self.can_feed(n.key, key)
            ]
            if parents:
                self.detach(key)
                self.attach(key, parents[0].key)
                return [key]
        return []

    def _may_swap(self, node: Node, up: Node, avoid: Mapping[str, Collection[str]]) -> bool:
        """Whether `node` may take `up`'s place without breaking an avoidance, and with
        every new link one that can be made."""
        assert up.parent is not None
        if up.parent in avoid.get(node.key, ()) or node.key in avoid.get(up.key, ()):
            return False
        siblings = [c for c in up.children if c != node.key]
        if any(node.key in avoid.get(c, ()) for c in siblings):
            return False
        if any(up.key in avoid.get(c, ()) for c in node.children):
            return False
        return (
            self.can_feed(up.parent, node.key)
            and self.can_feed(node.key, up.key)
            and all(self.can_feed(node.key, c) for c in siblings)
        )

    def _lift(self, key: str) -> list[str]:
        node = self.nodes[key]
        assert node.parent is not None
        up = self.nodes[node.parent]
        grand = up.parent
        assert grand is not None
        siblings = [c for c in up.children if c != key]
        below = list(node.children)
        for other in [key, up.key, *siblings, *below]:
            self.detach(other)
        self.attach(key, grand)
        for sibling in siblings:
            self.attach(sibling, key)
        self.attach(up.key, key)
        fed = [child for child in below if self.can_feed(up.key, child)]
        kept = fed[: up.capacity]
        rest = [child for child in below if child not in kept]
        for child in kept:
            self.attach(child, up.key)
        return [key, *siblings, up.key, *kept, *self.place(rest)]

    def detached_roots(self) -> list[str]:
        """Viewers waiting for a place (roots of detached subtrees), oldest first."""
        roots = [
            n
            for n in self.nodes.values()
            if not n.is_source and n.parent is None and n.depth is None
        ]
        roots.sort(key=lambda n: n.joined_seq)
        return [n.key for n in roots]


def _rank(node: Node) -> int:
    """The slots `node` counts as offering when capacities are compared: what it offers
    if anyone can dial it, else none (only dialable children can use its slots)."""
    return node.capacity if node.dialable else 0


def _one_household(up: Node, down: Node) -> bool:
    return up.household is not None and up.household == down.household


def _placement_key(node: Node) -> tuple[int, int, float, int]:
    assert node.depth is not None
    return (node.depth, -node.spare, node.latency_ms, node.joined_seq)
