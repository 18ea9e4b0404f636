"""Did any viewer wait for a place while a slot was free? Pure, fed the tracker's status.

The simulation asks the tracker for its status every WATCH_INTERVAL_S and hands each
reply to `WaitWatch.observe`. A viewer *waits* while it is not attached (no chain of
parents up to the source); a slot is *free* while an attached peer has fewer children
than the slots it offers now. A wait counts from the first reply that shows it with a
slot free to the last one that does, so the figures are good to one interval.
(The tracker may have a reason to keep a viewer from a free slot, such as a parent
that just dropped it: this is an upper bound on needless waiting.)
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

import protocol as p

WATCH_INTERVAL_S = 0.5
LONG_WAIT_S = 1.0  # the capacity-aware tree issue: nobody waits longer with a slot free


def attached(peer: p.PeerInfo) -> bool:
    """Whether the tracker has `peer` on a chain of parents up to the source."""
    return peer.role == "source" or (peer.parent is not None and peer.depth > 0)


@attrs.define
class WaitWatch:
    """The longest wait with a slot free, per viewer, from successive status replies."""

    _since: dict[str, float] = attrs.field(factory=dict)
    longest_s: dict[str, float] = attrs.field(factory=dict)

    def observe(self, now_s: float, peers: Iterable[p.PeerInfo]) -> None:
        """One status reply, received at `now_s`."""
        peers = list(peers)
        free = [x.name for x in peers if attached(x) and len(x.children) < x.max_children]
        waiting = {x.name for x in peers if x.role == "viewer" and not attached(x)}
        for name in list(self._since):
            if name not in waiting or not any(slot != name for slot in free):
                del self._since[name]
        for name in waiting:
            if any(slot != name for slot in free):
                since = self._since.setdefault(name, now_s)
                self.longest_s[name] = max(self.longest_s.get(name, 0.0), now_s - since)

    def summary(self) -> dict[str, float | int]:
        """Viewers that waited over LONG_WAIT_S with a slot free, and the longest such wait."""
        return {
            "viewers_waited_over_1s": sum(1 for s in self.longest_s.values() if s > LONG_WAIT_S),
            "longest_s": round(max(self.longest_s.values(), default=0.0), 2),
        }
