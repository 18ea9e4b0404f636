"""How many children our upload carries: the slots a peer offers the tracker. Pure.

`--max-children` is a ceiling, not a promise: what a home uplink carries is learnt by
carrying it. `SlotEstimate` grows the slots on evidence that the ones granted are
served, and cuts them at once when they are not:
- A viewer starts with FIRST_VIEWER_SLOTS (a source with its whole fanout: its operator
  chose it). A slot is added only after every one was in use, nothing was lost and our
  CPU kept up for PROVE_S (no demand, no growth: an idle slot proves nothing), and only
  if the uplink has room for one more: one more child must keep the upload's
  utilisation under MAX_UTILISATION. Under --upload-limit the cap knows its utilisation
  exactly (its busy time, peer/upload_limit.py); with no cap, the share of time our
  writers spent blocked in a send on a full socket stands for it. On a real socket the
  writers block only near saturation, so this mostly holds growth back on thin uplinks
  before any child starves.
- When the upload monitor (peer/upload_monitor.py) sees the children starve together,
  the slots fall at once to what the upload actually carried (its `keep`), and that
  number stands for REPROBE_AFTER_SHED_S: then one more is tried, each after
  ADDITIVE_PROVE_S of clean service (additive increase, quick decrease).
- Before anyone depends on it, a viewer probes its uplink once (peer/uplink_probe.py)
  and starts from what that showed (`probed`): rich uplinks need not wait for demand
  to be ranked high, and thin ones are not handed two children they cannot carry
  (one at least: a probe may read low, so it never makes a viewer a leaf alone).
The hub reports the number in every heartbeat; the tracker places children by it.
"""

from __future__ import annotations

import math

import attrs

FIRST_VIEWER_SLOTS = 2  # two streams: what nearly every home uplink carries at 640x360
PROVE_S = 1.0  # every slot in use, nothing lost, this long: one more
MAX_UTILISATION = 0.8  # one more child must leave the upload this much busy at most
REPROBE_AFTER_SHED_S = 30.0  # after a shed, carry what the upload carried this long
ADDITIVE_PROVE_S = 3.0  # after a shed, each further slot needs this long of clean service


@attrs.define
class SlotEstimate:
    """The child slots our upload has shown it can serve, up to `ceiling`."""

    ceiling: int = attrs.field(validator=attrs.validators.ge(0))
    slots: int = attrs.field(validator=attrs.validators.ge(0))
    slow_start: bool = True
    _clean_since_s: float | None = None  # all slots in use and nothing lost since then
    _busy_since_s: float = 0.0  # the upload's busy time when the clean run began
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
        self,
        now_s: float,
        *,
        children: int,
        frames_dropped: int,
        send_blocked_s: float = 0.0,
        upload_busy_s: float | None = None,
        cpu_behind: bool = False,
    ) -> int:
        """A look at the children: how many, the frames dropped for them so far, the
        seconds their writers spent blocked in sends so far (summed over children), and
        under a cap the seconds it has been busy so far (None: no cap)."""
        lost = self._dropped >= 0 and frames_dropped != self._dropped
        self._dropped = frames_dropped
        if lost or cpu_behind or children < self.slots or self.slots >= self.ceiling:
            self._clean_since_s = None
            return self.slots
        # The upload's busy seconds so far: the cap's own, or one writer's blocked time.
        busy_s = send_blocked_s / max(1, children) if upload_busy_s is None else upload_busy_s
        if self._clean_since_s is None:
            self._clean_since_s, self._busy_since_s = now_s, busy_s
        clean_s = now_s - self._clean_since_s
        prove_s = PROVE_S if self.slow_start else ADDITIVE_PROVE_S
        if now_s < self._quiet_until_s or clean_s < prove_s:
            return self.slots
        utilisation = (busy_s - self._busy_since_s) / clean_s
        self._clean_since_s = None
        if self.slots and utilisation * (self.slots + 1) / self.slots > MAX_UTILISATION:
            return self.slots  # no room for one more
        self.slots = min(self.ceiling, self.slots + 1)
        return self.slots

    def probed(self, slots: int) -> int:
        """An uplink probe (peer/uplink_probe.py) showed our upload carries `slots`
        children: offer that many (within the ceiling), and grow from there on proof.

        A probe is a lower bound: on a long path TCP's window, a loss or a busy parent
        can each hold one second's sending below what the uplink carries. So it can show
        that an uplink is rich, but not that it carries nothing: below one stream it
        leaves one slot (if the ceiling allows one), and a child that then starves is
        shed by the upload monitor as before."""
        self.slots = max(min(1, self.ceiling), min(self.ceiling, slots))
        self._clean_since_s = None
        return self.slots

    def shed(self, now_s: float, keep: int) -> int:
        """The upload carried only `keep` children: that many slots, for a good while."""
        self.slots = max(0, min(self.slots, keep))
        self.slow_start = False
        self._clean_since_s = None
        self._quiet_until_s = now_s + REPROBE_AFTER_SHED_S
        return self.slots
