"""How many children our upload carries: the slots a peer offers the tracker. Pure.

`--max-children` is a ceiling, not a promise: what a home uplink carries is learnt by
carrying it. `SlotEstimate` grows the slots like TCP grows its window, on evidence
that the ones granted are served:
- A viewer starts with FIRST_VIEWER_SLOTS (a source with its whole fanout: its operator
  chose it). Slots grow only while every one is in use and nothing was lost for PROVE_S
  (no demand, no growth: an idle slot proves nothing), and never while our CPU is
  behind.
- Until the first shed, each proof doubles the slots (slow start: a rich uplink reaches
  its ceiling in a few seconds); after one, each proof adds one, and the first comes
  only QUIET_AFTER_SHED_S after the shed (additive increase).
- When the upload monitor (peer/upload_monitor.py) sees the children starve together,
  the slots fall at once to what the upload actually carried (its `keep`).
The hub reports the number in every heartbeat; the tracker places children by it.
"""

from __future__ import annotations

import math

import attrs

FIRST_VIEWER_SLOTS = 2  # two streams: what nearly every home uplink carries at 640x360
PROVE_S = 1.0  # every slot in use and nothing lost this long: grow
QUIET_AFTER_SHED_S = 10.0  # after a shed, carry what is left this long before probing again
ADDITIVE_PROVE_S = 3.0  # after a shed, each further slot needs this long of clean service


@attrs.define
class SlotEstimate:
    """The child slots our upload has shown it can serve, up to `ceiling`."""

    ceiling: int = attrs.field(validator=attrs.validators.ge(0))
    slots: int = attrs.field(validator=attrs.validators.ge(0))
    slow_start: bool = True
    _clean_since_s: float | None = None  # all slots in use and nothing lost since then
    _dropped: int = -1  # the children's drop counter at the last look
    _quiet_until_s: float = -math.inf

    @classmethod
    def for_viewer(cls, ceiling: int) -> SlotEstimate:
        """A viewer's estimate: conservative until its uplink has shown what it carries."""
        return cls(ceiling=ceiling, slots=min(ceiling, FIRST_VIEWER_SLOTS))

    @classmethod
    def fixed(cls, slots: int) -> SlotEstimate:
        """An estimate that starts at `slots` (a source's fanout) and only sheds and regrows."""
        return cls(ceiling=slots, slots=slots)

    def observe(
        self, now_s: float, *, children: int, frames_dropped: int, cpu_behind: bool = False
    ) -> int:
        """A look at the children (count, total frames dropped for them so far); the slots."""
        lost = self._dropped >= 0 and frames_dropped != self._dropped
        self._dropped = frames_dropped
        if lost or cpu_behind or children < self.slots or self.slots >= self.ceiling:
            self._clean_since_s = None
            return self.slots
        if self._clean_since_s is None:
            self._clean_since_s = now_s
        prove_s = PROVE_S if self.slow_start else ADDITIVE_PROVE_S
        if now_s < self._quiet_until_s or now_s - self._clean_since_s < prove_s:
            return self.slots
        grown = max(1, self.slots * 2) if self.slow_start else self.slots + 1
        self.slots = min(self.ceiling, grown)
        self._clean_since_s = None
        return self.slots

    def shed(self, now_s: float, keep: int) -> int:
        """The upload carried only `keep` children: that many slots, and probe slowly."""
        self.slots = max(0, min(self.slots, keep))
        self.slow_start = False
        self._clean_since_s = None
        self._quiet_until_s = now_s + QUIET_AFTER_SHED_S
        return self.slots
