"""The relay tree: where a newcomer or an orphan goes, and who moves up. Pure, no I/O.

The shape (nodes, links, free slots, who can feed whom) is tracker/tree_shape.py.

Placement (`choose_parent`, in the shape): the shallowest attached node with a free slot; ties go to
the most spare capacity, then the lowest measured latency, then the name. With
`Placement.CAPACITY` (the default), capacity also moves up: a newcomer or orphan that
offers more slots than a viewer sitting at or above the depth it would get takes that
viewer's place, adopting its children and the viewer itself (`_weaker_in_the_way`), so
rich uplinks sit close to the source and leaves that joined first never strand relays.
`Placement.SHALLOWEST` is the rule before capacity counted (the simulation's baseline
for comparison). Subtrees that lose their parent move as a whole, unless that would
push them past the depth limit, in which case they are split and their members placed
one by one; this keeps the depth near log_K(N).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

import attrs

from tracker.tree_node import Node, Placement, ideal_depth, offered_slots
from tracker.tree_shape import BACKUP_SPREAD, TreeShape

__all__ = ["BACKUP_SPREAD", "PROMOTE_MARGIN", "Node", "Placement", "Tree", "ideal_depth"]

# A viewer climbs above its parent when it offers this many slots more. Measured slots
# change at most once in a few seconds (peer/capacity.py), so one does not make viewers
# trade places at every wobble.
PROMOTE_MARGIN = 1


@attrs.define
class Tree(TreeShape):
    """The relay tree with its placement rules."""

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
                -offered_slots(self.nodes[k]),
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
            if weaker is None and parent is None:
                # Waiting is worse than a deep tree, which promote and raise_deep then
                # shorten tick by tick: past the depth limit if that is the only place.
                weaker = self._weaker_in_the_way(root, parent, skip, avoid, limit=math.inf)
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
        limit: float | None = None,
    ) -> str | None:
        """A viewer offering fewer slots than waiting `root`, at or above the depth `root`
        would get under `parent` (anywhere, if `parent` is None), whose place `root`
        should take, within the depth `limit` (the tree's depth limit if None).

        `root` adopts the viewer's children and the viewer itself, so it needs a free
        slot for each; nobody gets deeper but the viewer, and the tree holds `root`
        besides. A childless viewer may instead go to a free slot further down `root`'s
        subtree (a chain of one-slot relays that arrives whole has its only free slot
        at the bottom). While a slot is free, only a `root` whose slots were
        measured displaces anyone (a Hello's number alone could be anything), unless
        that slot is one nobody can dial (it is only ever good for reversal). With
        SHALLOWEST placement, only a childless viewer yields, and only when no slot is
        free (so that leaves that came first strand nobody).
        The shallowest yields first, then the weakest, then the newest.
        """
        node = self.nodes[root]
        rank = offered_slots(node)
        if not any(c < rank for c in self._capacities):
            return None
        if node.spare < 1 and all(self.nodes[k].spare < 1 for k in self.subtree(root)):
            return None
        shallowest = self.placement is Placement.SHALLOWEST
        if parent is not None and (
            shallowest or (not node.measured and self.dials_directly(parent, root))
        ):
            return None  # a free slot exists: only a proven uplink displaces anyone
        deepest = self.nodes[parent].depth if parent is not None else None
        if limit is None:
            limit = self.depth_limit()
        root_height = max(self.height(root), 1)
        best: tuple[int, int, int] | None = None
        chosen: str | None = None
        level = [self.source] if self.source is not None else []
        depth = 0
        while level and (deepest is None or depth <= deepest):
            for key in level:
                other = self.nodes[key]
                if other.is_source or key in skip or offered_slots(other) >= rank:
                    continue
                assert other.depth is not None and other.parent is not None
                host = self._host_for(root, other)
                if (
                    host is None
                    or (self.placement is Placement.SHALLOWEST and other.children)
                    or other.parent in avoid.get(root, ())
                    or root in avoid.get(key, ())
                    or any(root in avoid.get(child, ()) for child in other.children)
                    or other.depth + max(root_height, host[1] + 2) > limit
                    or self.nodes[other.parent].spare < 0  # shedding children: no swaps in
                    or not self._may_take_place(root, other, host[0])
                ):
                    continue
                order = (other.depth, offered_slots(other), -other.joined_seq)
                if best is None or order < best:
                    best, chosen = order, key
            if chosen is not None:
                return chosen  # the shallowest level with one is the best level
            level = [child for key in level for child in self.nodes[key].children]
            depth += 1
        return None

    def _host_for(self, root: str, other: Node) -> tuple[str, int] | None:
        """Where in detached `root`'s subtree `other` would go if `root` took its place,
        with that node's level below `root` (0: `root` itself): under `root` with its
        children, or, childless, in the shallowest free slot that can feed it."""
        if other.children:
            fits = len(other.children) + 1 <= self.nodes[root].spare
            return (root, 0) if fits else None
        level, below = [root], 0
        while level:
            for key in level:
                if self.nodes[key].spare > 0 and self.can_feed(key, other.key):
                    return key, below
            level = [child for key in level for child in self.nodes[key].children]
            below += 1
        return None

    def _may_take_place(self, root: str, other: Node, host: str) -> bool:
        """Whether `root` can take `other`'s place: fed by its parent, feeding `other`'s
        children, and `other` fed by `host`."""
        assert other.parent is not None
        return (
            self.can_feed(other.parent, root)
            and self.can_feed(host, other.key)
            and all(self.can_feed(root, child) for child in other.children)
        )

    def _swap_in(self, root: str, weaker: str) -> list[str]:
        """Put detached `root` in `weaker`'s place, with `weaker`'s children and `weaker`
        itself under it (or `weaker`, childless, lower in its subtree); every key that
        moved."""
        node = self.nodes[weaker]
        parent = node.parent
        assert parent is not None
        host = self._host_for(root, node)
        assert host is not None
        children = list(node.children)
        self.detach(weaker)
        for child in children:
            self.detach(child)
        self.attach(root, parent)
        for child in children:
            self.attach(child, root)
        self.attach(weaker, host[0])
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
            if (
                not node.measured
                or up.is_source
                or offered_slots(node) < offered_slots(up) + PROMOTE_MARGIN
            ):
                continue
            if not self._may_swap(node, up, avoid):
                continue
            order = (offered_slots(up) - offered_slots(node), node.depth)
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
        switches parent). When no slot is free that high, a viewer with no slots
        sitting two or more levels above the deepest one trades places with such a
        subtree (`_sink_leaf`). The tracker calls this each tick, after `promote`.
        """
        avoid = avoid or {}
        if self.max_depth() <= self.sorted_depth() + 1:
            return []  # near enough the best tree: moving a viewer would gain little
        deepest = max(
            (n for n in self.nodes.values() if n.depth is not None and not n.is_source),
            key=lambda n: (n.depth or 0, -n.joined_seq),
            default=None,
        )
        if deepest is None:
            return []
        open_nodes = self.open_slots()
        if not open_nodes or (deepest.depth or 0) < (open_nodes[0].depth or 0) + 2:
            return self._sink_leaf(deepest, avoid)
        slot = open_nodes[0]
        assert slot.depth is not None
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

    def _sink_leaf(self, deepest: Node, avoid: Mapping[str, Collection[str]]) -> list[str]:
        """No slot is free high enough to raise into, but a viewer with no slots may hold
        one: it trades places with the subtree on the way to `deepest`, rooted halfway
        down, so that subtree rises and the leaf sinks to where its root was (no deeper
        than the deepest viewer was, less one). The keys moved (none: no such trade)."""
        bottom = deepest.depth or 0
        leaves = sorted(
            (
                n
                for n in self.nodes.values()
                if not n.is_source
                and n.depth is not None
                and n.depth + 2 <= bottom
                and n.parent is not None
                and not n.children
                and offered_slots(n) == 0
            ),
            key=lambda n: (n.depth, -n.joined_seq),
        )
        path: dict[int, str] = {}  # depth -> the ancestor of the deepest viewer there
        current: str | None = deepest.key
        while current is not None and not self.nodes[current].is_source:
            path[self.nodes[current].depth or 0] = current
            current = self.nodes[current].parent
        for leaf in leaves:
            assert leaf.depth is not None and leaf.parent is not None
            gap = bottom - leaf.depth
            for rise in sorted(range(1, gap), key=lambda k: abs(k - gap // 2)):
                root = self.nodes[path[leaf.depth + rise]]
                assert root.parent is not None
                if (
                    leaf.parent in avoid.get(root.key, ())
                    or root.parent in avoid.get(leaf.key, ())
                    or not self.can_feed(leaf.parent, root.key)
                    or not self.can_feed(root.parent, leaf.key)
                ):
                    continue
                leaf_parent, root_parent = leaf.parent, root.parent
                self.detach(root.key)
                self.detach(leaf.key)
                self.attach(root.key, leaf_parent)
                self.attach(leaf.key, root_parent)
                return [root.key, leaf.key]
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
