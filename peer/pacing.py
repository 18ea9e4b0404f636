"""Source pacing: when each frame is due, and which frames to skip after a stall.

Pure state, no I/O: the source's send loop sleeps until `deadline()`, sends a frame, and
reports the time with `sent(now_s)`. Deadlines are absolute (`start_s + index / fps`,
never a sum of intervals), so the schedule does not drift however long it runs. A frame
sent a little late is followed at once by the next one to catch up; when the loop falls
more than one whole interval behind, the frames whose time has already passed are
skipped, so a viewer sees live video rather than a backlog.
"""

from __future__ import annotations

import math

import attrs


def _positive_finite(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive finite number, not {value!r}")


def _finite(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be a finite number, not {value!r}")


@attrs.define
class PacingSchedule:
    """The absolute send times of a stream at `fps` frames per second from `start_s`."""

    fps: float = attrs.field(validator=_positive_finite)
    start_s: float = attrs.field(validator=_finite)
    index: int = attrs.field(init=False, default=0)  # number of the next frame to send
    skipped: int = attrs.field(init=False, default=0)  # frames skipped since start

    def deadline(self) -> float:
        """Return when the next frame (number `index`) is due."""
        return self._due_s(self.index)

    def sent(self, now_s: float) -> int:
        """Advance past the frame just sent at now_s; return how many frames are skipped."""
        if not math.isfinite(now_s):
            raise ValueError(f"now_s must be a finite time, not {now_s!r}")
        self.index += 1
        # "More than one whole interval late" is tested as next-deadline <= now - interval
        # rather than now >= deadline-after-next: the same in exact arithmetic, and this form
        # keeps `deadline() > now_s - 1 / fps` true in floats too, even at a large start_s.
        if self._due_s(self.index) > now_s - 1 / self.fps:
            return 0  # less than one interval behind: send the next frame at once, no skip
        # Jump to the first frame whose time has not yet passed; the loops correct any
        # rounding in the estimate, so the answer is exact for the deadlines we compute.
        first = max(self.index + 1, math.floor((now_s - self.start_s) * self.fps) + 1)
        while self._due_s(first) <= now_s:
            first += 1
        while first - 1 > self.index and self._due_s(first - 1) > now_s:
            first -= 1
        skipped = first - self.index
        self.index = first
        self.skipped += skipped
        return skipped

    def _due_s(self, index: int) -> float:
        return self.start_s + index / self.fps
