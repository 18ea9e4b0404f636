"""Is our upload enough for our children? The decision, pure (peer/children.py acts on it).

`UploadMonitor` reads cumulative counters of the sending side every so often and judges
whether the upload carries all the children, and if not, how many it does. Starved
children look the same whether the uplink is slow or our own CPU is behind (frames wait
in our queues either way), so the sample also says how late our event loop ran: a
loop that is behind is a busy CPU, not a slow uplink, and sheds nobody for it. Nor
does a child that does not read (its own CPU or downlink is slow: the kernel saw its
receive window full, peer/tcp_info.py) count as a sign that our uplink is too slow.
A loop can be late and the uplink full at once (a busy machine relaying through a thin
uplink): when the uplink was saturated over the window, it is the bottleneck whatever
the loop did, and the children are shed as usual.
"""

from __future__ import annotations

import collections
import math

import attrs

from peer.stats import kbps

OVERLOAD_WINDOW_S = 2.0
# Overloaded: over the window, the children lost more than this share of the frames
# offered to them all, and at least two of them each lost more than half that share
# (one slow child alone is its own problem, left to the stall rule).
OVERLOAD_DROP_SHARE = 0.10
OVERLOAD_COOLDOWN_S = 5.0  # after letting children go, measure afresh before deciding again
# The CPU is behind when the loop woke this share of the window late, or more (a loop
# that keeps up is late by well under 1%).
CPU_BEHIND_LATE_SHARE = 0.05
# A child whose receive window held our sending back for this share of the window is
# slow to read: its loss is its own, not our uplink's.
RECEIVER_LIMITED_SHARE = 0.25
# The uplink was saturated over the window: a cap busy this share of it, or (no cap)
# each child's writer blocked in a send on a full socket this share of it.
CAP_SATURATED_SHARE = 0.9
SENDS_BLOCKED_SHARE = 0.5


@attrs.frozen
class UploadSample:
    """Cumulative counters of a peer's sending side, read at `at_s`."""

    at_s: float
    frames_offered: int  # frames handed to the children hub (each is offered to every child)
    bytes_offered: int  # their bytes on the wire: what one child's stream costs
    bytes_sent: int  # bytes written to all children together
    dropped: dict[str, int]  # frames dropped for each child so far, children in join order
    loop_late_s: float = 0.0  # how late our event loop woke a timer, summed so far
    # Per child, seconds its full receive window held our sending back, so far (where
    # the kernel says; see peer/tcp_info.py).
    receiver_limited_s: dict[str, float] = attrs.field(factory=dict)
    send_blocked_s: float = 0.0  # seconds the writers spent blocked in sends, summed, so far
    upload_busy_s: float | None = None  # seconds a --upload-limit cap was busy so far (None: none)


@attrs.frozen
class Shed:
    """The upload carries `keep` children: let the others go (the newest joined first)."""

    keep: int
    children: tuple[str, ...]
    upload_kbps: float
    stream_kbps: float


@attrs.frozen
class CpuBehind:
    """The children starve because our CPU is behind, not our upload: keep them."""

    late_ms_per_s: float  # how late our event loop ran, per second of the window
    children: int


@attrs.define
class UploadMonitor:
    """Decides whether the upload can carry all the children, and how many it can.

    Pure: fed a sample of cumulative counters every so often (`observe`), it compares the
    newest with the one OVERLOAD_WINDOW_S older, looking at the children there all
    along. When they lost over OVERLOAD_DROP_SHARE of the frames offered to them, and
    the losses are shared (two or more children each lost a real part), the bottleneck
    is our upload: a link too slow for everyone starves them in turn, while one slow
    child starves alone. Then what the upload actually sent over the window, divided by
    the stream's rate, is the number of children it carries: keep that many (at least
    one, at most all but one), let the newest others go, and wait OVERLOAD_COOLDOWN_S
    plus a new window before judging again. Unless our own event loop woke late by
    CPU_BEHIND_LATE_SHARE of the window or more while the uplink was not saturated
    (a cap busy under CAP_SATURATED_SHARE of the window; with no cap, writers blocked in
    sends under SENDS_BLOCKED_SHARE of it each): then our CPU is the bottleneck, and the
    decision is CpuBehind (nobody shed), with the same wait before judging again.
    Children that held our sending back with a full receive window for
    RECEIVER_LIMITED_SHARE of the window are left out of the judgement: they starve
    because they do not read.
    """

    window_s: float = OVERLOAD_WINDOW_S
    drop_share: float = OVERLOAD_DROP_SHARE
    cooldown_s: float = OVERLOAD_COOLDOWN_S
    cpu_late_share: float = CPU_BEHIND_LATE_SHARE
    receiver_limited_share: float = RECEIVER_LIMITED_SHARE
    _samples: collections.deque[UploadSample] = attrs.field(factory=collections.deque)
    _quiet_until_s: float = -math.inf

    def observe(self, sample: UploadSample) -> Shed | CpuBehind | None:
        """Take a new sample; a decision when the children starve, else None."""
        samples = self._samples
        samples.append(sample)
        while len(samples) > 2 and samples[1].at_s <= sample.at_s - self.window_s:
            samples.popleft()
        oldest = samples[0]
        span_s = sample.at_s - oldest.at_s
        offered = sample.frames_offered - oldest.frames_offered
        if span_s < self.window_s or sample.at_s < self._quiet_until_s or offered <= 0:
            return None
        lost = {
            name: count - oldest.dropped[name]
            for name, count in sample.dropped.items()
            if name in oldest.dropped
        }
        slow_readers = {
            name
            for name, held_s in sample.receiver_limited_s.items()
            if held_s - oldest.receiver_limited_s.get(name, held_s)
            >= self.receiver_limited_share * span_s
        }
        lost = {name: count for name, count in lost.items() if name not in slow_readers}
        losing = [name for name, count in lost.items() if count > self.drop_share / 2 * offered]
        share = sum(lost.values()) / (offered * len(lost)) if lost else 0.0
        if len(losing) < 2 or share <= self.drop_share:
            return None
        self._quiet_until_s = sample.at_s + self.cooldown_s
        late_share = (sample.loop_late_s - oldest.loop_late_s) / span_s
        if late_share >= self.cpu_late_share and not _uplink_saturated(oldest, sample, span_s):
            samples.clear()
            return CpuBehind(late_ms_per_s=round(late_share * 1000, 1), children=len(lost))
        stream_rate = (sample.bytes_offered - oldest.bytes_offered) / span_s
        sent_rate = (sample.bytes_sent - oldest.bytes_sent) / span_s
        children = list(sample.dropped)
        keep = max(1, min(len(children) - 1, int(sent_rate // stream_rate)))
        samples.clear()
        return Shed(
            keep=keep,
            children=tuple(children[keep:]),
            upload_kbps=round(kbps(sent_rate), 1),
            stream_kbps=round(kbps(stream_rate), 1),
        )


def _uplink_saturated(oldest: UploadSample, newest: UploadSample, span_s: float) -> bool:
    """Whether the uplink itself was full between the two samples."""
    if newest.upload_busy_s is not None and oldest.upload_busy_s is not None:
        return newest.upload_busy_s - oldest.upload_busy_s >= CAP_SATURATED_SHARE * span_s
    blocked_s = newest.send_blocked_s - oldest.send_blocked_s
    return blocked_s >= SENDS_BLOCKED_SHARE * span_s * max(1, len(newest.dropped))
