"""Where the frames viewers missed were lost: on their last hop, or above it. Pure.

Each viewer's probe records its gaps: (seconds since it started, first missing seq,
frames missing, parent at the next frame). A frame a viewer missed that its parent had
was lost on the last hop (dropped in the parent's queue for it, or in a parent switch);
one the parent missed too was passed down. Counting the last-hop losses by the parent's
uplink and by when they happened says where a swarm's losses start: in thin relays, in
rich ones whose CPU is behind, or while the tree forms.
"""

from __future__ import annotations

from typing import Any

FORMING_S = 10.0  # a loss this soon after the viewer started happened while it was placed
SOURCE_NAME = "source"  # the name the orchestrator gives the source
MAX_GAPS = 5_000  # gaps kept per viewer (a starving one could have a gap every frame)


def where_lost(peers: list[dict[str, Any]]) -> dict[str, Any]:
    """The swarm's missed frames, split by where they were lost (see the module doc)."""
    missing = {peer["name"]: _missing(peer["gaps"]) for peer in peers}
    uplinks = {peer["name"]: peer.get("uplink_kbps") for peer in peers}
    last_hop = passed_down = forming = 0
    by_uplink: dict[str, int] = {}
    for peer in peers:
        for at_s, first, count, parent in peer["gaps"]:
            above = missing.get(parent)
            lost_here = sum(
                1 for seq in range(first, first + count) if above is None or seq not in above
            )
            passed_down += count - lost_here
            last_hop += lost_here
            if at_s < FORMING_S:
                forming += lost_here
            if lost_here:
                key = _parent_class(parent, uplinks)
                by_uplink[key] = by_uplink.get(key, 0) + lost_here
    return {
        "missed": last_hop + passed_down,
        "last_hop": last_hop,
        "passed_down": passed_down,
        "last_hop_while_forming": forming,
        "last_hop_by_parent_uplink_kbps": dict(sorted(by_uplink.items())),
    }


def _parent_class(parent: str | None, uplinks: dict[str, float | None]) -> str:
    """The parent's uplink class in kb/s, or what it was if not a viewer of the run."""
    if parent not in uplinks:
        return "source" if parent == SOURCE_NAME else "unknown"
    kbps = uplinks[parent]
    return "unlimited" if kbps is None else f"{kbps:g}"


def _missing(gaps: list[list[Any]]) -> set[int]:
    return {seq for _, first, count, _ in gaps for seq in range(first, first + count)}


def describe(losses: dict[str, Any]) -> str:
    """One line for the run's summary table."""
    parts = ", ".join(
        f"{key if not key[0].isdigit() else f'{float(key) / 1000:g} Mb/s'} {n}"
        for key, n in losses["last_hop_by_parent_uplink_kbps"].items()
    )
    return (
        f"frames missed: {losses['missed']}, {losses['last_hop']} lost on the last hop "
        f"({losses['last_hop_while_forming']} in a viewer's first {FORMING_S:.0f} s; by the "
        f"parent's uplink: {parts or 'none'}), {losses['passed_down']} passed down"
    )
