"""One peer's place in the relay tree, and the rules that rank peers (pure, no I/O):
what a node offers, and the depth capacity-sorted placement reaches."""

from __future__ import annotations

import enum
import math

import attrs


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
    # Behind a router whose mapping of its listen port the tracker saw (hole punching).
    punchable: bool = False
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


def offered_slots(node: Node) -> int:
    """The slots `node` counts as offering when capacities are compared: what it offers
    if anyone can dial it, else none (only dialable children can use its slots)."""
    return node.capacity if node.dialable else 0


def one_household(up: Node, down: Node) -> bool:
    """Whether both sit behind one public address (they meet over their LAN)."""
    return up.household is not None and up.household == down.household
