"""An H.264 stream into .mp4 or .mkv as it is, without re-encoding (PyAV muxing).

Blocking: the recorder calls it from its worker thread. Each access unit is written
with its slot on the stream's timeline as its timestamp (1/fps), so a gap the recorder
skipped shows as a pause in the player. Only units the recorder's DecodeGate admits are
written, so the file never holds a unit that does not decode.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import av

from peer.errors import PeerError

REMUX_SUFFIXES = (".mp4", ".mkv")


class H264Remuxer:
    """An open .mp4/.mkv file taking H.264 access units."""

    def __init__(self, path: Path, fps: float, width: int, height: int) -> None:
        """Open `path` for writing; PeerError if the container cannot be made."""
        self.time_base = fractions.Fraction(fps).limit_denominator(1001) ** -1
        try:
            self._container = av.open(str(path), "w")
            stream = self._container.add_stream("h264", rate=1 / self.time_base)
        except (av.FFmpegError, ValueError) as exc:
            raise PeerError(f"cannot write the recording {str(path)!r}: {exc}") from None
        stream.width, stream.height = width, height
        self._stream = stream
        self.path = path

    def write(self, data: bytes | memoryview, slot: int, *, keyframe: bool) -> None:
        """Write one access unit at timeline slot `slot` (frames since the first)."""
        packet = av.Packet(bytes(data))
        packet.stream = self._stream
        packet.pts = packet.dts = slot
        packet.time_base = self.time_base
        packet.is_keyframe = keyframe
        self._container.mux(packet)

    def close(self) -> None:
        """Finish the file (its index written)."""
        self._container.close()
