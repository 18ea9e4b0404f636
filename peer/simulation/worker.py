"""A simulation worker: many real viewers in one trio process, driven over stdin.

Commands, one JSON object per line on stdin:
    {"op": "join", "name": N, "max_children": K, "resolution": R, "decode": bool,
     "upload_kbps": U or null, "measure_slots": bool}
    {"op": "leave", "name": N}     leave politely (goodbye to the tracker)
    {"op": "kill", "name": N}      vanish: sockets closed, no goodbye
    {"op": "report"}               print {"ev": "report", "peers": [...]} and carry on
It prints {"ev": "ready"} once it reads commands (its imports take a while: joins sent
before would all start at once), then once a second {"ev": "tick", "up": n, "frames": f}
(frames received in that second by all its peers). Each viewer is a full
`peer.node.Peer` with its own listening socket, tracker session and statistics, exactly
as a separate program.

    python -m peer.simulation.worker --tracker HOST:PORT
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import attrs
import trio

import protocol as p
from peer.config import PeerConfig, PeerHooks
from peer.node import Peer
from peer.simulation.losses import MAX_GAPS
from protocol.addresses import parse_address

# Keep every Nth latency sample for the report's distributions (memory stays small).
LATENCY_SAMPLE_EVERY = 3
COMMAND_BYTES = 64 * 1024
NS_PER_S = 1_000_000_000


@attrs.define
class Probe:
    """What one simulated viewer went through, measured from outside its logic."""

    name: str
    started_s: float
    decode: bool
    uplink_kbps: float | None = None  # the simulated home uplink (None: unlimited)
    first_frame_s: float | None = None
    first_picture_s: float | None = None  # a decoding viewer's first picture shown
    last_frame_s: float | None = None
    left_s: float | None = None
    how_left: str | None = None
    frames: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    true_ms: list[float] = attrs.field(factory=list)
    estimate_ms: list[float] = attrs.field(factory=list)
    per_hop_ms: list[float] = attrs.field(factory=list)
    parent_at_last_frame: str | None = None
    recoveries_ms: list[float] = attrs.field(factory=list)
    frames_this_second: int = 0
    gaps: list[tuple[float, int, int, str | None]] = attrs.field(factory=list)
    slot_changes: list[tuple[float, int]] = attrs.field(factory=list)
    _slots: int = -1
    peer: Peer | None = None

    def on_frame(self, header: p.FrameHeader, arrival_ns: int) -> None:
        """Count a frame and sample its latency, true and estimated."""
        now = time.time()
        parent = self.peer.counters.parent if self.peer is not None else None
        if self.last_frame_s is not None and parent != self.parent_at_last_frame:
            # The feed moved to another parent: the gap since the last frame from the old
            # one is what the viewer saw of the repair.
            self.recoveries_ms.append((now - self.last_frame_s) * 1000)
        self.parent_at_last_frame = parent
        if self.peer is not None and self.peer.gate.capacity != self._slots:
            self._slots = self.peer.gate.capacity
            self.slot_changes.append((round(now - self.started_s, 2), self._slots))
        self.last_frame_s = now
        if self.first_frame_s is None:
            self.first_frame_s = now
        if header.seq <= self.last_seq and self.first_seq is not None:
            return  # a repeat after a parent switch
        self.frames += 1
        self.frames_this_second += 1
        if (
            self.first_seq is not None
            and header.seq > self.last_seq + 1
            and len(self.gaps) < MAX_GAPS
        ):
            missing = header.seq - self.last_seq - 1
            self.gaps.append((round(now - self.started_s, 2), self.last_seq + 1, missing, parent))
        if self.first_seq is None:
            self.first_seq = header.seq
        self.last_seq = header.seq
        # A frame captured before the viewer started came from its parent's GOP cache on
        # joining (H.264: up to a keyframe interval old, replayed at once and shown as the
        # newest picture): counted, but its age is no delivery latency, so not sampled.
        replayed = header.capture_ns < self.started_s * NS_PER_S
        if self.frames % LATENCY_SAMPLE_EVERY == 0 and self.peer is not None and not replayed:
            true_ms = (arrival_ns - header.capture_ns) / 1e6
            self.true_ms.append(round(true_ms, 3))
            self.estimate_ms.append(round(self.peer.counters.latency.latency_ms, 3))
            self.per_hop_ms.append(round(true_ms / max(1, header.hops), 3))

    def on_image(self, _image: object, _header: p.FrameHeader) -> None:
        """A picture was shown: the first one ends the wait the viewer sees."""
        if self.first_picture_s is None:
            self.first_picture_s = time.time()

    def summary(self) -> dict[str, Any]:
        """The probe as JSON data for the orchestrator."""
        peer = self.peer
        stats = peer.stats() if peer is not None and self.left_s is None else {}
        return {
            "name": self.name,
            "started_s": self.started_s,
            "first_frame_s": self.first_frame_s,
            "first_picture_s": self.first_picture_s,
            "last_frame_s": self.last_frame_s,
            "left_s": self.left_s,
            "how_left": self.how_left,
            "decode": self.decode,
            "codec": peer.codec.label if peer is not None and self.first_seq is not None else None,
            "frames": self.frames,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "frames_lost": peer.counters.loss.frames_lost if peer is not None else 0,
            "frames_undecodable": peer.pictures.undecodable if peer is not None else 0,
            "depth": stats.get("depth"),
            "parent": stats.get("parent"),
            "children": stats.get("children"),
            "slots": stats.get("slots"),
            "uplink_kbps": self.uplink_kbps,
            "upload_kbps": stats.get("upload_kbps", 0.0),
            "bandwidth_kbps": stats.get("bandwidth_kbps", 0.0),
            "loss_pct": stats.get("loss_pct", 0.0),
            "true_ms": self.true_ms,
            "estimate_ms": self.estimate_ms,
            "per_hop_ms": self.per_hop_ms,
            "recoveries_ms": self.recoveries_ms,
            "gaps": self.gaps,
            "slot_changes": self.slot_changes,
        }


class Worker:
    """The peers of one worker process and the commands that drive them."""

    def __init__(self, tracker: tuple[str, int]) -> None:
        self.tracker = tracker
        self.probes: dict[str, Probe] = {}

    async def run(self) -> None:
        """Read commands until stdin closes; print a tick every second."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._ticks)
            emit({"ev": "ready"})
            await self._commands()
            nursery.cancel_scope.cancel()

    async def _commands(self) -> None:
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buffer = b""
        async with stdin:
            while True:
                chunk = await stdin.receive_some(COMMAND_BYTES)
                if not chunk:
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        await self._do(json.loads(line))

    async def _do(self, command: dict[str, Any]) -> None:
        op = command["op"]
        if op == "join":
            self.nursery.start_soon(self._join, command)
        elif op in ("leave", "kill"):
            probe = self.probes.get(command["name"])
            if probe is not None and probe.peer is not None and probe.left_s is None:
                probe.left_s = time.time()
                probe.how_left = op
                if op == "kill":
                    probe.peer.kill()
                else:
                    await probe.peer.leave("simulated departure")
        elif op == "report":
            summaries = [probe.summary() for probe in self.probes.values()]
            emit({"ev": "report", "peers": summaries})

    async def _join(self, command: dict[str, Any]) -> None:
        name = command["name"]
        probe = Probe(
            name=name,
            started_s=time.time(),
            decode=command.get("decode", False),
            uplink_kbps=command.get("upload_kbps"),
        )
        hooks = PeerHooks(on_frame_received=probe.on_frame, on_image=probe.on_image)
        config = PeerConfig(
            role="viewer",
            name=name,
            tracker=self.tracker,
            max_children=command.get("max_children", 3),
            resolution=command.get("resolution", "source"),
            decode=probe.decode,
            upload_limit_kbps=command.get("upload_kbps"),
            measure_slots=command.get("measure_slots", True),
        )
        peer = Peer(config, hooks)
        probe.peer = peer
        self.probes[name] = probe
        try:
            await peer.run()
        except Exception as exc:  # one failed peer is a result, not a crash of the worker
            emit({"ev": "error", "name": name, "error": str(exc)})
            probe.left_s = probe.left_s or time.time()
            probe.how_left = probe.how_left or "failed"

    async def _ticks(self) -> None:
        next_s = trio.current_time() + 1.0
        while True:
            await trio.sleep_until(next_s)
            next_s += 1.0
            up = [probe for probe in self.probes.values() if probe.left_s is None]
            frames = sum(probe.frames_this_second for probe in up)
            for probe in up:
                probe.frames_this_second = 0
            emit({"ev": "tick", "up": len(up), "frames": frames, "t": time.time()})


def emit(event: dict[str, Any]) -> None:
    """One JSON line on stdout for the orchestrator."""
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Entry point: `python -m peer.simulation.worker --tracker HOST:PORT`."""
    parser = argparse.ArgumentParser(description="run simulated viewers driven over stdin")
    parser.add_argument("--tracker", required=True)
    args = parser.parse_args()
    trio.run(Worker(parse_address(args.tracker)).run)


if __name__ == "__main__":
    main()
