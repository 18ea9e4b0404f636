"""A cap on what a peer uploads to its children (`--upload-limit`), shared by all of them.

`UploadLimit` is the decision, pure: a generic cell rate algorithm (the virtual-
scheduling form of a token bucket) that says whether a write of n bytes may go out now
(`take_now`), or how long it must wait (`delay_s`), so that the bytes of all writes
together never exceed the rate, with an allowance of BURST_S at that rate: the send
buffer a real uplink fills at once and drains at its own pace. Writes are served in the
order they ask, so children share the cap the way they share a real uplink.

The children hub (peer/children.py) applies it to every frame: one the cap allows goes
straight out as usual, one it does not waits in the child's queue for the writer, which
sleeps until the cap allows it. Nothing else knows about it: queues fill, frames are
dropped and the upload monitor sheds children exactly as with a slow uplink. Pongs pass
outside the cap (a few dozen bytes a second). It is what the simulation gives each
viewer for its home uplink (`streamnest-peer simulate --upload-mix`), and what a user
on a metered connection sets to keep relaying within a budget. Because the allowance
lets a burst leave at once where a real uplink would queue it, a capped peer's children
see its frames up to BURST_S sooner than a real link of that rate would deliver them.
The cap also knows exactly how busy it has been (`busy_s`): the utilisation of the
uplink it stands for, which a peer with a cap uses to judge whether one more child fits.
"""

from __future__ import annotations

import attrs

# The cap allows this many seconds of its rate at once: the buffer of a home uplink
# (socket, router and modem queues together), which absorbs a burst of frames that
# our event loop let pile up instead of dropping them.
BURST_S = 0.25
MIN_LIMIT_KBPS = 64.0  # below this not even one child's control messages flow well


@attrs.define
class UploadLimit:
    """At most `kbps` kilobits a second, over every write that asks (GCRA)."""

    kbps: float = attrs.field(validator=attrs.validators.ge(MIN_LIMIT_KBPS))
    burst_s: float = BURST_S
    _next_free_s: float = -1e18  # when the bytes reserved so far have all gone out
    _reserved_bytes: int = 0

    @property
    def busy_s(self) -> float:
        """Seconds the capped uplink has been (or is booked to be) busy, so far."""
        return self._reserved_bytes / self.bytes_per_s

    @property
    def bytes_per_s(self) -> float:
        """The cap in bytes a second."""
        return self.kbps * 1000 / 8

    def delay_s(self, now_s: float, nbytes: int) -> float:
        """Reserve `nbytes`; how many seconds from `now_s` their write must wait."""
        start = max(now_s, self._next_free_s)
        self._next_free_s = start + nbytes / self.bytes_per_s
        self._reserved_bytes += nbytes
        return max(0.0, self._next_free_s - self.burst_s - now_s)

    def take_now(self, now_s: float, nbytes: int) -> bool:
        """Reserve `nbytes` if they may go out at once; False (nothing reserved) if not."""
        finish = max(now_s, self._next_free_s) + nbytes / self.bytes_per_s
        if finish - self.burst_s > now_s:
            return False
        self._next_free_s = finish
        self._reserved_bytes += nbytes
        return True
