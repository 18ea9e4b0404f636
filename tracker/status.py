"""The swarm as `streamnest-peer status` shows it: one StatusReply built from the Room.

Pure and read-only: it walks the members and the tree once, O(members + links).
"""

from __future__ import annotations

from collections.abc import Mapping

import protocol as p
from protocol.addresses import format_address
from tracker.members import Member
from tracker.reachability import Reachability
from tracker.tree import Tree


def status_reply(
    members: Mapping[str, Member], tree: Tree, epoch: int, reachability: Reachability
) -> p.StatusReply:
    """A snapshot of every member, its place in the tree, its address as the tracker saw
    it, whether it is reachable there, and its last statistics."""
    peers = []
    for member in members.values():
        node = tree.nodes.get(member.key)
        parent = node.parent if node is not None else None
        peers.append(
            p.PeerInfo(
                name=member.name,
                role=member.role,
                parent=members[parent].name if parent is not None and parent in members else None,
                depth=(node.depth or 0) if node is not None else 0,
                children=[tree[c].name for c in node.children] if node else [],
                max_children=member.max_children,
                resolution=member.resolution,
                stats=member.stats,
                address=format_address(member.host, member.checked_port),
                reachable=reachability.reachable(member.key),
                link=_link(members, tree, member.key, parent),
                reached_by=_reached_by(member, tree, reachability),
            )
        )
    source = tree.source
    return p.StatusReply(
        source=members[source].name if source is not None else None,
        epoch=epoch,
        peers=peers,
        max_depth=tree.max_depth(),
        source_fanout=tree[source].capacity if source is not None else 0,
    )


def _link(
    members: Mapping[str, Member], tree: Tree, key: str, parent: str | None
) -> p.LinkKind | None:
    """How `key` reaches its parent now (None: it has none)."""
    if parent is None or parent not in members:
        return None
    indirect = tree.indirect_link(parent, key)
    if indirect is not None:
        return indirect
    return members[parent].route_for(members[key])[2]


def _reached_by(member: Member, tree: Tree, reachability: Reachability) -> p.LinkKind | None:
    """How a child behind another router reaches `member` (None: not known yet)."""
    node = tree.nodes.get(member.key)
    if node is None or (reachability.enabled and reachability.reachable(member.key) is None):
        return None
    if node.dialable:
        mapped = member.mapped_port is not None and member.advertised is None
        return p.LinkKind.MAPPED if mapped else p.LinkKind.DIRECT
    return p.LinkKind.PUNCHED if node.punchable else p.LinkKind.REVERSED
