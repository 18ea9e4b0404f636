"""When each side of a hole punch connects. Pure: the caller passes the RTTs.

The tracker sends the parent its `PunchChild` and the child its Assign at the same
moment; each arrives about half that peer's RTT to the tracker later. For the two
connects to leave together, DCUtR-style, the nearer peer waits for the farther one
to hear. Timing is a help, not a condition: a router drops a SYN that arrives before
its own peer's SYN left, and TCP sends it again a second later, by which time the
way is open (tests/faults/test_hole_punching.py measures both).
"""

from __future__ import annotations

import attrs

from protocol.limits import MAX_PUNCH_DELAY_MS

# The RTT assumed for a peer the tracker has no figure for (a stream that is not a
# socket): it only shifts when that side connects.
UNKNOWN_RTT_S = 0.0


@attrs.frozen
class PunchTiming:
    """How long each side waits, from the moment its message arrives, before connecting."""

    parent_delay_ms: int
    child_delay_ms: int


def punch_timing(parent_rtt_s: float | None, child_rtt_s: float | None) -> PunchTiming:
    """The waits that make both connects leave when the farther peer hears its message."""
    parent = UNKNOWN_RTT_S if parent_rtt_s is None else max(0.0, parent_rtt_s)
    child = UNKNOWN_RTT_S if child_rtt_s is None else max(0.0, child_rtt_s)
    heard_s = max(parent, child) / 2
    return PunchTiming(
        parent_delay_ms=_ms(heard_s - parent / 2), child_delay_ms=_ms(heard_s - child / 2)
    )


def _ms(seconds: float) -> int:
    return min(MAX_PUNCH_DELAY_MS, max(0, round(seconds * 1000)))
