"""A cap on what a peer uploads to its children (`--upload-limit`), shared by all of them.

`UploadLimit` is the decision, pure: a generic cell rate algorithm (the virtual-
scheduling form of a token bucket) that says how long a write of n bytes must wait so
that the bytes of all writes together never exceed the rate, with a burst allowance of
BURST_S at that rate. Writes are served in the order they ask, so children share the
cap the way they share a real uplink: whoever has bytes waiting gets the next turn.

`LimitedStream` applies it to one child's `trio.abc.Stream`, in chunks of at most
CHUNK_BYTES, so a large frame for one child does not hold every other child's turn for
its whole length. It is what the simulation gives each viewer to stand for its home
uplink (`streamnest-peer simulate --upload-mix`), and what a user on a metered
connection sets to keep relaying within a budget. Nothing else knows about it: queues
fill, frames are dropped and the upload monitor sheds children exactly as with a slow
uplink.
"""

from __future__ import annotations

import attrs
import trio

BURST_S = 0.02  # the cap allows this many seconds of its rate at once
CHUNK_BYTES = 16 * 1024
MIN_LIMIT_KBPS = 64.0  # below this not even one child's control messages flow well


@attrs.define
class UploadLimit:
    """At most `kbps` kilobits a second, over every write that asks (GCRA)."""

    kbps: float = attrs.field(validator=attrs.validators.ge(MIN_LIMIT_KBPS))
    burst_s: float = BURST_S
    _next_free_s: float = -1e18  # when the bytes reserved so far have all gone out

    @property
    def bytes_per_s(self) -> float:
        """The cap in bytes a second."""
        return self.kbps * 1000 / 8

    def delay_s(self, now_s: float, nbytes: int) -> float:
        """Reserve `nbytes`; how many seconds from `now_s` their write must wait."""
        start = max(now_s, self._next_free_s)
        self._next_free_s = start + nbytes / self.bytes_per_s
        return max(0.0, self._next_free_s - self.burst_s - now_s)


@attrs.define(eq=False)
class LimitedStream(trio.abc.Stream):
    """`inner`, with every byte sent through the shared `limit`; receiving is untouched."""

    inner: trio.abc.Stream
    limit: UploadLimit

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send `data` in chunks, each when the cap allows it."""
        view = memoryview(data)
        for start in range(0, len(view), CHUNK_BYTES):
            chunk = view[start : start + CHUNK_BYTES]
            wait_s = self.limit.delay_s(trio.current_time(), len(chunk))
            if wait_s > 0:
                await trio.sleep(wait_s)
            await self.inner.send_all(chunk)

    async def wait_send_all_might_not_block(self) -> None:
        """As the inner stream (the cap's own waits are not counted)."""
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """As the inner stream."""
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        """Close the inner stream."""
        await self.inner.aclose()
