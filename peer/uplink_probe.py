"""What our uplink carries, measured once before anyone depends on it.

A viewer's slots otherwise grow only with demand (peer/capacity.py): a rich uplink that
sits as a leaf never shows what it could carry, so the tracker cannot place it high, and
a thin one is handed two children before it has shown it can carry one. So once per
run, PROBE_AFTER_S after frames start coming from its first parent (the stream's rate is
known by then) and while it has no children, a viewer that may relay sends that parent
`UplinkProbe` padding as fast as its uplink takes it: for PROBE_S at most, and no more
than `ceiling` streams would need over PROBE_S with MAX_UTILISATION's room to spare. The
kernel's count of the bytes the parent acknowledged (TCP_INFO `tcpi_bytes_acked`) from
PROBE_WARMUP_S on gives the rate the uplink delivers; what a send buffer, a router's
queue or TCP's slow start did in the first part is left out. Under --upload-limit the
padding passes the cap like any other upload, so the probe measures the cap when it is
the narrower of the two. Where the kernel does not say (not Linux, not a plain TCP
socket), there is no probe and the slots grow with demand as before.

`ProbeMeter` is the measurement, pure: fed (time, acknowledged bytes) samples, it says
when the probe is over and what rate it showed. `UplinkProber` decides when a probe is
due, runs it on the link to the parent (the link's writer calls it, so nothing else is
written meanwhile), and hands the result to `on_result`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import trio

import protocol as p
from peer.capacity import MAX_UTILISATION
from peer.tcp_info import bytes_acked
from peer.upload_limit import UploadLimit
from protocol.limits import MAX_UPLINK_PROBE_BYTES

PROBE_AFTER_S = 1.0  # frames have come this long: the stream's rate is known
PROBE_S = 1.0  # a probe sends for this long at most
PROBE_WARMUP_S = 0.3  # bytes acknowledged before this are not timed
PROBE_SAMPLE_S = 0.02  # how often the acknowledged count is read once all is sent
PROBE_CHUNK_BYTES = 32 * 1024
PROBE_MIN_FRAMES = 10  # frames seen before the stream's rate counts as known


def probe_budget_bytes(stream_bytes_per_s: float, ceiling: int) -> int:
    """The most a probe sends: what `ceiling` streams need over PROBE_S, with room."""
    wanted = ceiling * stream_bytes_per_s / MAX_UTILISATION * PROBE_S
    return max(PROBE_CHUNK_BYTES, min(MAX_UPLINK_PROBE_BYTES, math.ceil(wanted)))


@attrs.define
class StreamRate:
    """The stream's rate in bytes a second, from the frames on one link. Pure.

    Bytes over wall time reads low when frames stall on the way in (a busy parent, a
    move), and a low rate would make a small probe look like a big uplink. So the rate
    is also taken from the frames' own numbers and capture times (the source's clock):
    the mean frame's size times the frames the source made a second. The larger of the
    two counts: a rate read too high only costs us slots."""

    frames: int = 0
    total_bytes: int = 0
    _first: tuple[int, int, int, float] | None = None  # epoch, seq, capture_ns, arrival_s
    _last: tuple[int, int, int, float] | None = None

    def add(self, header: p.FrameHeader, nbytes: int, arrival_s: float) -> None:
        """One more frame of `nbytes` on the wire, arrived at `arrival_s`."""
        if self._first is not None and header.epoch != self._first[0]:
            self.frames, self.total_bytes, self._first = 0, 0, None  # a new stream
        mark = (header.epoch, header.seq, header.capture_ns, arrival_s)
        if self._first is None:
            self._first = mark
        self._last = mark
        self.frames += 1
        self.total_bytes += nbytes

    def bytes_per_s(self) -> float:
        """The rate, or 0 while fewer than PROBE_MIN_FRAMES frames say what it is."""
        if self.frames < PROBE_MIN_FRAMES or self._first is None or self._last is None:
            return 0.0
        _, first_seq, first_ns, first_s = self._first
        _, last_seq, last_ns, last_s = self._last
        mean_bytes = self.total_bytes / self.frames
        by_wall = mean_bytes * (self.frames - 1) / (last_s - first_s) if last_s > first_s else 0.0
        made_s = (last_ns - first_ns) / 1e9
        by_source = mean_bytes * (last_seq - first_seq) / made_s if made_s > 0 else 0.0
        return max(by_wall, by_source)


@attrs.frozen
class ProbeResult:
    """What a probe showed: the rate the uplink delivered, and whether that rate carries
    the whole budget in PROBE_S (then it carries at least what the budget stood for)."""

    bytes_per_s: float
    complete: bool

    def slots(self, stream_bytes_per_s: float, ceiling: int) -> int:
        """The children this uplink carries at MAX_UTILISATION, up to `ceiling`."""
        if self.complete:
            return ceiling
        fits = math.floor(self.bytes_per_s * MAX_UTILISATION / stream_bytes_per_s)
        return max(0, min(ceiling, fits))


@attrs.define
class ProbeMeter:
    """Times one probe from the kernel's count of acknowledged bytes. Pure.

    Under --upload-limit the cap stands for the uplink, but it sits before our socket,
    not after it as a real uplink would: what it let through while the far end was slow
    to read waits in the socket and is then acknowledged at once, faster than the
    uplink could carry it. So with a cap the rate is never more than the cap's
    (`limit_bytes_per_s`); a real uplink holds a backlog back itself."""

    budget_bytes: int
    started_s: float
    acked_at_start: int
    limit_bytes_per_s: float | None = None
    _timed_from: tuple[float, int] | None = None  # (time, acked) once warmed up
    _last: tuple[float, int] | None = None

    def observe(self, now_s: float, acked: int) -> None:
        """The connection's acknowledged bytes at `now_s`."""
        sent = acked - self.acked_at_start
        if self._timed_from is None and now_s - self.started_s >= PROBE_WARMUP_S:
            self._timed_from = (now_s, sent)
        self._last = (now_s, sent)

    def over(self, now_s: float) -> bool:
        """Whether the probe is done: all of it acknowledged, or its time is up."""
        acked = self._last[1] if self._last is not None else 0
        return acked >= self.budget_bytes or now_s - self.started_s >= PROBE_S

    def result(self) -> ProbeResult | None:
        """What the probe showed; None if it showed nothing (nothing was acknowledged)."""
        if self._last is None or self._last[1] <= 0:
            return None
        last_s, acked = self._last
        if self._timed_from is None or last_s <= self._timed_from[0]:
            # All within the warm-up: an uplink that fast carries whatever it was asked.
            elapsed_s = max(last_s - self.started_s, 1e-6)
            return ProbeResult(acked / elapsed_s, complete=acked >= self.budget_bytes)
        from_s, from_acked = self._timed_from
        rate = (acked - from_acked) / (last_s - from_s)
        if self.limit_bytes_per_s is not None:
            rate = min(rate, self.limit_bytes_per_s)
        # A buffer that took the first part at once does not make the budget's rate.
        return ProbeResult(rate, complete=rate * PROBE_S >= self.budget_bytes)


@attrs.define(eq=False)
class UplinkProber:
    """Probes our uplink once, on the link to our first parent (see the module doc)."""

    ceiling: int  # --max-children: the most slots a probe can show
    has_children: Callable[[], bool]
    on_result: Callable[[ProbeResult, float], None]  # result, stream bytes a second
    upload_limit: UploadLimit | None = None
    done: bool = False

    def due(self, now_s: float, frames_since_s: float | None, rate: StreamRate) -> bool:
        """Whether to probe now, frames having come on this link since `frames_since_s`
        at `rate`."""
        return (
            not self.done
            and self.ceiling > 0
            and frames_since_s is not None
            and now_s - frames_since_s >= PROBE_AFTER_S
            and rate.bytes_per_s() > 0
            and not self.has_children()
        )

    async def run(
        self, stream: trio.abc.Stream, stream_bytes_per_s: float, write_timeout_s: float
    ) -> None:
        """Send the probe on `stream` (the caller is its only writer) and report it.

        A send is never cancelled halfway (that would cut a message in two on the link):
        the probe stops between chunks when its time is up. TooSlowError if a chunk
        waits `write_timeout_s` for the socket, as any write on the link would."""
        self.done = True
        start_acked = bytes_acked(stream)
        if start_acked is None or stream_bytes_per_s <= 0:
            return
        meter = ProbeMeter(
            budget_bytes=probe_budget_bytes(stream_bytes_per_s, self.ceiling),
            started_s=trio.current_time(),
            acked_at_start=start_acked,
            limit_bytes_per_s=self.upload_limit.bytes_per_s if self.upload_limit else None,
        )
        deadline_s = meter.started_s + PROBE_S
        chunk = p.encode(p.UplinkProbe(padding_bytes=PROBE_CHUNK_BYTES - p.ENVELOPE_BYTES))
        written = 0
        while not meter.over(now := trio.current_time()):
            if written < meter.budget_bytes:
                if self.upload_limit is not None:  # the padding is upload like any other
                    wait_s = self.upload_limit.delay_s(now, len(chunk))
                    if now + wait_s >= deadline_s:
                        break
                    await trio.sleep(wait_s)
                with trio.fail_after(write_timeout_s):
                    await stream.send_all(chunk)
                written += len(chunk)
            else:
                await trio.sleep(min(PROBE_SAMPLE_S, max(0.0, deadline_s - now)))
            acked = bytes_acked(stream)
            if acked is None:
                return
            meter.observe(trio.current_time(), acked)
        result = meter.result()
        if result is not None:
            self.on_result(result, stream_bytes_per_s)
