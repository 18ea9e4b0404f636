"""The relay tree's shape: who feeds whom, who could, and the free slots. Pure, no I/O.

Nodes are keyed by casefolded name. The root is the source; a node is *attached* when
its chain of parents reaches the source, and only attached nodes offer slots, so a
subtree can never be placed under itself: its own nodes are not attached while it
waits. Depths are kept on the nodes and updated when a subtree moves. A node's
capacity is the child slots it offers now: what its upload has shown it serves
(peer/capacity.py reports it in heartbeats), up to its --max-children.

Who can feed whom: a node is *dialable* when the tracker dialled it back (or trusts
its word); others (behind a home router) accept no connection from outside. A parent
feeds a child when the child can dial it (the parent is dialable, or both sit in one
*household*: behind the same public address, they meet over their LAN), or when the
parent can dial the child instead (connection reversal: the child is dialable), or,
when neither can be dialled, both are *punchable*: behind routers that showed the
tracker the mapping of their listen ports, they meet by hole punching, unless that
pair failed before (`punch_failed`). So a node nobody can dial still spends its upload
on dialable and punchable children, but it ranks as
offering no slots (`offered_slots`): it never displaces anyone, and whoever offers
slots every newcomer can use climbs above it. Backups must be dialled by the child itself
(`dials_directly`): a switch to one is made without asking the tracker.

Where a newcomer or an orphan goes, and who moves up, is tracker/tree.py.
"""

from __future__ import annotations

import collections
import zlib
from collections.abc import Iterable, Iterator

import attrs

import protocol as p
from tracker.tree_node import Node, Placement, ideal_depth, offered_slots, one_household

BACKUP_SPREAD = 4  # backups are drawn from this many of the best candidates


@attrs.define
class TreeShape:
    """The nodes and their links, the free slots, and the single-slot choices (a parent
    for one subtree, a backup); tracker/tree.py `Tree` adds the moves."""

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
    _failed_punches: set[tuple[str, str]] = attrs.field(factory=set)  # (parent, child)

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
        punchable: bool = False,
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
            punchable=punchable,
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

    def set_measured(self, key: str) -> None:
        """`key`'s slots were measured (a heartbeat said them): from now on they may
        displace others and lift it (tracker/tree.py), so the tree counts as changed."""
        node = self.nodes[key]
        if not node.measured:
            node.measured = True
            self.version += 1

    def set_dark(self, key: str, dark: bool) -> None:
        """Whether `key` shows no video (tracker/room.py decides): no new children then."""
        node = self.nodes[key]
        if node.dark != dark:
            node.dark = dark
            self.version += 1

    def can_feed(self, parent: str, child: str) -> bool:
        """Whether `parent` can send to `child`: one of them can dial the other, or the
        two can punch through their routers (and have not failed to before)."""
        up, down = self.nodes[parent], self.nodes[child]
        if up.dialable or down.dialable or one_household(up, down):
            return True
        return up.punchable and down.punchable and (parent, child) not in self._failed_punches

    def punch_failed(self, parent: str, child: str) -> None:
        """A hole punch from `child` to `parent` failed: never place it there again
        (forgotten when either leaves)."""
        if parent in self.nodes and child in self.nodes:
            self._failed_punches.add((parent, child))
            self.version += 1

    def dials_directly(self, parent: str, child: str) -> bool:
        """Whether `child` can connect to `parent` itself (no reversal needed)."""
        up = self.nodes[parent]
        return up.dialable or one_household(up, self.nodes[child])

    def indirect_link(self, parent: str, child: str) -> p.LinkKind | None:
        """How the two meet when `child` cannot dial `parent` itself: the parent dials
        it (REVERSED) or both dial each other (PUNCHED). None when the child dials, and
        for a link the tracker did not make (one a child still had when the tracker
        restarted, before either side's check): it works as it is."""
        if self.dials_directly(parent, child):
            return None
        up, down = self.nodes[parent], self.nodes[child]
        if down.dialable:
            return p.LinkKind.REVERSED
        return p.LinkKind.PUNCHED if up.punchable and down.punchable else None

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
        if self._failed_punches:
            self._failed_punches = {pair for pair in self._failed_punches if key not in pair}
        return orphans

    def _count(self, node: Node, sign: int) -> None:
        """Add (+1) or take away (-1) a viewer's rank from the capacity totals."""
        if node.is_source:
            return
        rank = offered_slots(node)
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
            (
                offered_slots(n)
                for n in self.nodes.values()
                if not n.is_source and n.depth is not None
            ),
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

    def detached_roots(self) -> list[str]:
        """Viewers waiting for a place (roots of detached subtrees), oldest first."""
        roots = [
            n
            for n in self.nodes.values()
            if not n.is_source and n.parent is None and n.depth is None
        ]
        roots.sort(key=lambda n: n.joined_seq)
        return [n.key for n in roots]


def _placement_key(node: Node) -> tuple[int, int, float, int]:
    assert node.depth is not None
    return (node.depth, -node.spare, node.latency_ms, node.joined_seq)
