"""Live statistics of one peer: the sliding windows behind each number of the stats line.

Pure state, no I/O: the caller passes `now_s` from a monotonic clock (and `wall_s`, Unix
time, only for the sample's timestamp) and feeds events as they happen. Every window
keeps one entry per event inside it and drops older ones as it goes, so memory is
bounded by the event rate times the window length, never by how long the peer runs;
the minimum RTT is the exception, three samples whatever the rate (`WindowedMinimum`).
`PeerCounters.snapshot` returns exactly the keys DESIGN.md lists for `--stats-json`.
"""

from __future__ import annotations

import collections
import math
import time

import attrs

import protocol as p

FPS_WINDOW_S = 0.5
BANDWIDTH_WINDOW_S = 2.0
LOSS_WINDOW_S = 5.0
# A viewer with no frame for this long has no video (stats `video`: "stalled"), whatever
# its loss over the window says: frames that never come have no sequence numbers.
NO_VIDEO_AFTER_S = 1.0
RTT_EWMA_ALPHA = 0.25
# The one-way estimate uses the smallest RTT of this window, as BBR's min_rtt filter does:
# long enough to outlast a burst of queueing (pings go every 2 s while frames flow, so
# it spans five of them), short enough that a genuinely longer route shows within it.
MIN_RTT_WINDOW_S = 10.0
# Expected sequence numbers are kept for this many recent epochs, so a late frame of the
# previous stream is recognised as old instead of starting that stream over.
MAX_TRACKED_EPOCHS = 4

BITS_PER_BYTE = 8
BITS_PER_KILOBIT = 1000
MS_PER_S = 1000.0
US_PER_MS = 1000.0


def _positive_finite(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number, not {value!r}")


@attrs.define(on_setattr=attrs.setters.NO_OP)  # hot counters: validate once, at init
class RateWindow:
    """Amount per second over the last window_s seconds (frames for fps, bytes for bandwidth)."""

    window_s: float = attrs.field(validator=_positive_finite)
    _events: collections.deque[tuple[float, float]] = attrs.field(
        init=False, factory=collections.deque
    )
    _total: float = attrs.field(init=False, default=0.0)

    def add(self, now_s: float, amount: float = 1.0) -> None:
        """Count `amount` (one frame, or a number of bytes) as happening at now_s."""
        self._events.append((now_s, amount))
        self._total += amount
        self._forget(now_s)

    def rate(self, now_s: float) -> float:
        """Return the amount per second over (now_s - window_s, now_s]."""
        self._forget(now_s)
        # Divided by the whole window even just after start, so the first readings are low
        # rather than wildly high.
        return max(self._total, 0.0) / self.window_s

    def _forget(self, now_s: float) -> None:
        horizon_s = now_s - self.window_s
        events = self._events
        while events and events[0][0] <= horizon_s:
            self._total -= events.popleft()[1]
        if not events:
            self._total = 0.0  # no float residue once the window is empty


@attrs.define(on_setattr=attrs.setters.NO_OP)  # hot counters: validate once, at init
class LossWindow:
    """Frames missing by sequence number: a percentage over the last window_s, and totals."""

    window_s: float = attrs.field(default=LOSS_WINDOW_S, validator=_positive_finite)
    frames_received: int = attrs.field(init=False, default=0)
    frames_lost: int = attrs.field(init=False, default=0)
    # Next expected sequence number per epoch, oldest epoch first.
    _expected: dict[int, int] = attrs.field(init=False, factory=dict)
    # (time, frames received, frames found missing) for each accepted frame.
    _events: collections.deque[tuple[float, int, int]] = attrs.field(
        init=False, factory=collections.deque
    )
    _window_received: int = attrs.field(init=False, default=0)
    _window_lost: int = attrs.field(init=False, default=0)

    def record(self, now_s: float, epoch: int, seq: int) -> None:
        """Note a frame that arrived; a jump in seq counts the frames skipped over as lost."""
        expected = self._expected.get(epoch)
        if expected is None:
            lost = 0  # the first frame of an epoch: nothing to compare with
            if len(self._expected) >= MAX_TRACKED_EPOCHS:
                del self._expected[next(iter(self._expected))]
        elif seq < expected:
            return  # a duplicate or an old frame: neither received again nor lost
        else:
            lost = seq - expected
        self._expected[epoch] = seq + 1
        self.frames_received += 1
        self.frames_lost += lost
        self._events.append((now_s, 1, lost))
        self._window_received += 1
        self._window_lost += lost
        self._forget(now_s)

    def loss_pct(self, now_s: float) -> float:
        """Return lost / (received + lost) over the window, in percent (0.0 with no frames)."""
        self._forget(now_s)
        total = self._window_received + self._window_lost
        if total == 0:
            return 0.0
        return self._window_lost / total * 100.0

    def _forget(self, now_s: float) -> None:
        horizon_s = now_s - self.window_s
        events = self._events
        while events and events[0][0] <= horizon_s:
            _, received, lost = events.popleft()
            self._window_received -= received
            self._window_lost -= lost


_NO_SAMPLE = (-math.inf, math.inf)  # (time, value) of an empty WindowedMinimum


@attrs.define(on_setattr=attrs.setters.NO_OP)  # per sample: validate once, at init
class WindowedMinimum:
    """The smallest value of the last window_s seconds, kept in three samples.

    Kathleen Nichols' windowed min filter, as Linux's lib/win_minmax.c keeps BBR's
    min_rtt: the best sample, and as its successors the best since a quarter and since
    half of the window went by without a new best, so an expired best is replaced
    without keeping a history. The minimum is always the smallest value over [t, now]
    for some t at most window_s ago: never below a sample still in the window, never
    an expired one. Times never go backwards (one monotonic clock per filter).
    """

    window_s: float = attrs.field(validator=_positive_finite)
    # (time, value), best first: each later one no older and no smaller.
    _best: tuple[float, float] = attrs.field(init=False, default=_NO_SAMPLE)
    _second: tuple[float, float] = attrs.field(init=False, default=_NO_SAMPLE)
    _third: tuple[float, float] = attrs.field(init=False, default=_NO_SAMPLE)

    @property
    def minimum(self) -> float:
        """The windowed minimum as of the newest sample; math.inf before the first."""
        return self._best[1]

    def reset(self) -> None:
        """Forget every sample (what they measured is gone)."""
        self._best = self._second = self._third = _NO_SAMPLE

    def add(self, now_s: float, value: float) -> float:
        """Take `value`, measured at now_s, and return the minimum."""
        sample = (now_s, value)
        if value <= self._best[1] or now_s - self._third[0] > self.window_s:
            # A new best, or every sample has left the window.
            self._best = self._second = self._third = sample
            return value
        if value <= self._second[1]:
            self._second = self._third = sample
        elif value <= self._third[1]:
            self._third = sample
        best_age_s = now_s - self._best[0]
        if best_age_s > self.window_s:
            # The successors move up; twice if the second has expired too (the third had
            # not: see above).
            self._best, self._second, self._third = self._second, self._third, sample
            if now_s - self._best[0] > self.window_s:
                self._best, self._second = self._second, sample
        elif self._second[0] == self._best[0] and best_age_s > self.window_s / 4:
            self._second = self._third = sample  # a successor from the second quarter
        elif self._third[0] == self._second[0] and best_age_s > self.window_s / 2:
            self._third = sample  # and one from the second half
        return self._best[1]


@attrs.define(on_setattr=attrs.setters.NO_OP)  # hot counters: validate once, at init
class LatencyEstimate:
    """Round-trip time to the parent and the end-to-end latency of the newest frame.

    Two readings of the same pings: rtt_ms smooths every round trip, queueing included
    (how the link to the parent feels now); min_rtt_ms is the smallest of the last
    MIN_RTT_WINDOW_S, the path's own delay. latency_ms adds half of the minimum: a ping
    that waited behind our own video to children on a saturated uplink says nothing
    about when the parent's frames arrive.
    """

    rtt_ms: float = 0.0
    min_rtt_ms: float = 0.0
    latency_ms: float = 0.0
    rtt_samples: int = 0
    _min_rtt: WindowedMinimum = attrs.field(
        init=False, factory=lambda: WindowedMinimum(MIN_RTT_WINDOW_S)
    )

    def observe_rtt(self, rtt_s: float, now_s: float | None = None) -> None:
        """Fold one ping/pong round trip, measured at now_s, into rtt_ms (EWMA; the first
        sample is taken as is) and min_rtt_ms.

        Without now_s (the parent follower's hook passes the round trip alone),
        time.monotonic() is the time: one estimate must be fed from one clock.
        """
        if not (math.isfinite(rtt_s) and rtt_s >= 0):
            return  # not a round trip (e.g. a parent echoing a forged time): ignore it
        sample_ms = rtt_s * MS_PER_S
        if self.rtt_samples == 0:
            self.rtt_ms = sample_ms
        else:
            self.rtt_ms += RTT_EWMA_ALPHA * (sample_ms - self.rtt_ms)
        self.rtt_samples += 1
        self.min_rtt_ms = self._min_rtt.add(time.monotonic() if now_s is None else now_s, sample_ms)

    def new_path(self) -> None:
        """The parent changed: the old path's minimum says nothing about the new one.

        min_rtt_ms keeps its value until the new path's first round trip replaces it.
        """
        self._min_rtt.reset()

    def observe_frame(self, path_latency_us: int) -> None:
        """Set latency_ms from a frame's accumulated path estimate plus this hop's
        one-way time, taken as half the minimum RTT (the path is assumed symmetric)."""
        self.latency_ms = path_latency_us / US_PER_MS + self.min_rtt_ms / 2


def _parent_changed(counters: PeerCounters, _attribute: object, parent: str | None) -> str | None:
    if parent != counters.parent:
        counters.latency.new_path()
    return parent


@attrs.define(on_setattr=attrs.setters.NO_OP)  # hot counters: validate once, at init
class PeerCounters:
    """Everything a peer's statistics line reports, fed by the peer's tasks as events happen."""

    name: str
    role: str = attrs.field(validator=attrs.validators.in_(p.STREAMING_ROLES))
    resolution: str
    depth: int = 0
    # A new parent is a new path: setting it restarts the latency's minimum RTT.
    parent: str | None = attrs.field(default=None, on_setattr=_parent_changed)
    children: int = 0
    reachable: bool | None = None  # the tracker's last check (None: not checked yet)
    # How the link to the parent was made (a p.LinkKind value): "direct" (we dialled
    # it), "mapped" (we dialled the port its router forwards), "reversed" (it dialled
    # us: connection reversal); None without a parent.
    parent_link: str | None = None
    mapped_port: int | None = None  # the port our home router forwards to us (UPnP)
    last_frame_s: float | None = None  # when the newest frame arrived from the parent
    displayed: RateWindow = attrs.field(factory=lambda: RateWindow(FPS_WINDOW_S))
    received: RateWindow = attrs.field(factory=lambda: RateWindow(FPS_WINDOW_S))
    sent: RateWindow = attrs.field(factory=lambda: RateWindow(FPS_WINDOW_S))
    bytes_in: RateWindow = attrs.field(factory=lambda: RateWindow(BANDWIDTH_WINDOW_S))
    bytes_out: RateWindow = attrs.field(factory=lambda: RateWindow(BANDWIDTH_WINDOW_S))
    # source: the stream's own bytes (each frame once, whatever the fanout)
    stream_bytes: RateWindow = attrs.field(factory=lambda: RateWindow(BANDWIDTH_WINDOW_S))
    loss: LossWindow = attrs.field(factory=LossWindow)
    latency: LatencyEstimate = attrs.field(factory=LatencyEstimate)
    frames_sent: int = 0  # source: frames sent into the tree
    frames_skipped: int = 0  # source: frames skipped by pacing
    frames_dropped: int = 0  # frames not sent to a child that was too slow

    def on_frame_received(
        self, now_s: float, epoch: int, seq: int, nbytes: int, path_latency_us: int
    ) -> None:
        """Count a video frame that arrived from the parent."""
        self.received.add(now_s)
        self.last_frame_s = now_s
        self.bytes_in.add(now_s, nbytes)
        self.loss.record(now_s, epoch, seq)
        self.latency.observe_frame(path_latency_us)

    def video(self, now_s: float) -> str:
        """Whether video flows: "sending" (a source), "receiving", "stalled" (frames
        stopped NO_VIDEO_AFTER_S ago) or "none" (not one frame yet)."""
        if self.role == "source":
            return "sending"
        if self.last_frame_s is None:
            return "none"
        return "stalled" if now_s - self.last_frame_s > NO_VIDEO_AFTER_S else "receiving"

    def on_frame_displayed(self, now_s: float) -> None:
        """Count a frame decoded for display."""
        self.displayed.add(now_s)

    def on_frame_sent(self, now_s: float, nbytes: int) -> None:
        """Count a frame the source sent into the tree (once per frame, whatever the fanout)."""
        self.sent.add(now_s)
        self.stream_bytes.add(now_s, nbytes)
        self.frames_sent += 1

    def on_bytes_sent(self, now_s: float, nbytes: int) -> None:
        """Count bytes written to children."""
        self.bytes_out.add(now_s, nbytes)

    def rates(self, now_s: float) -> Rates:
        """The windowed rates now, rounded as they are shown."""
        upload_kbps = kbps(self.bytes_out.rate(now_s))
        if self.role == "source":
            fps = self.sent.rate(now_s)
            bandwidth_kbps = upload_kbps
        else:
            fps = self.displayed.rate(now_s)
            bandwidth_kbps = kbps(self.bytes_in.rate(now_s))
        return Rates(
            fps=round(fps, 1),
            recv_fps=round(self.received.rate(now_s), 1),
            bandwidth_kbps=round(bandwidth_kbps, 1),
            upload_kbps=round(upload_kbps, 1),
            loss_pct=round(self.loss.loss_pct(now_s), 2),
        )

    def peer_stats(self, now_s: float, *, children: int, slots: int | None = None) -> p.PeerStats:
        """What a heartbeat tells the tracker."""
        rates = self.rates(now_s)
        return p.PeerStats(
            fps=rates.fps,
            recv_fps=rates.recv_fps,
            bandwidth_kbps=rates.bandwidth_kbps,
            upload_kbps=rates.upload_kbps,
            latency_ms=round(self.latency.latency_ms, 2),
            rtt_ms=round(self.latency.rtt_ms, 2),
            loss_pct=min(100.0, rates.loss_pct),
            frames_received=self.loss.frames_received,
            frames_lost=self.loss.frames_lost,
            depth=self.depth,
            children=children,
            resolution=self.resolution[:16],
            slots=slots,
        )

    def snapshot(self, now_s: float, wall_s: float) -> dict[str, object]:
        """Return one stats line: the DESIGN.md keys plus frames_skipped, frames_dropped,
        stream_kbps, reachable (the tracker's last check: null until it has dialled us),
        parent_link ("direct", "mapped" or "reversed": how the link to the parent was
        made; null without a parent), mapped_port (the port our router forwards to us;
        null without a mapping)
        and video (see `video`)."""
        rates = self.rates(now_s)
        return {
            "t": round(wall_s, 3),
            "name": self.name,
            "role": self.role,
            "fps": rates.fps,
            "recv_fps": rates.recv_fps,
            "bandwidth_kbps": rates.bandwidth_kbps,
            "upload_kbps": rates.upload_kbps,
            "latency_ms": round(self.latency.latency_ms, 2),
            "rtt_ms": round(self.latency.rtt_ms, 2),
            "loss_pct": rates.loss_pct,
            "frames_received": self.loss.frames_received,
            "frames_lost": self.loss.frames_lost,
            "depth": self.depth,
            "parent": self.parent,
            "children": self.children,
            "reachable": self.reachable,
            "parent_link": self.parent_link,
            "mapped_port": self.mapped_port,
            "video": self.video(now_s),
            "resolution": self.resolution,
            "frames_skipped": self.frames_skipped,
            "frames_dropped": self.frames_dropped,
            "stream_kbps": round(self.stream_kbps(now_s), 1),
        }

    def stream_kbps(self, now_s: float) -> float:
        """The stream's own bitrate: what the source encodes, or what a viewer receives."""
        if self.role == "source":
            return kbps(self.stream_bytes.rate(now_s))
        return kbps(self.bytes_in.rate(now_s))


@attrs.frozen
class Rates:
    """The windowed rates of a statistics sample."""

    fps: float
    recv_fps: float
    bandwidth_kbps: float
    upload_kbps: float
    loss_pct: float


def kbps(bytes_per_s: float) -> float:
    """Kilobits per second from bytes per second."""
    return bytes_per_s * BITS_PER_BYTE / BITS_PER_KILOBIT
