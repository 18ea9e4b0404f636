#!/usr/bin/env python3
"""Relay benchmark: latency added per hop down a chain of relay processes, and source
egress as the audience grows.

    python scripts/bench_relay.py [--hops 10] [--source testsrc:1280x720@30] [--seconds 10]
                                  [--audiences 10,100]

Part 1 starts a tracker, a source with fanout 1 and HOPS viewers, each in its own
process with one child slot, so they form a chain. Every viewer records, for every
frame, arrival time minus capture time (one machine, one clock). The latency a hop
adds is the difference for the same frame between consecutive depths. Targets: p50
<= 1 ms and p99 <= 3 ms.

Part 0 measures the cost of frame signatures at 1080p30: signing each frame at the
source plus verifying it at a viewer, as a share of one core. Target: under 10%.

Part 2 starts a source with fanout 3 and N viewers (spread over worker processes, many
peers per process, no decoding) for each N in --audiences, and compares the source's
upload with the stream's bitrate: it should stay about 3x, whatever N is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from process_group import processes, spawn

from peer.simulation.report import quantile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STARTUP_TIMEOUT_S = 30.0


# -- worker: runs peers in this process and reports what they saw ---------------------


def signature_cost(frames: int = 300, fps: float = 30.0, noise: bool = False) -> dict[str, float]:
    """CPU time to sign (source) and verify (viewer) one 1080p JPEG frame, and the share
    of one core both take at `fps`. With `noise`, the pattern is covered in random noise,
    which makes JPEGs several times larger than a camera's (a worst case for hashing)."""
    import numpy as np

    import protocol as p
    from peer.media import TestPattern, encode_jpeg
    from protocol.signing import FrameSigner, FrameVerifier

    pattern = TestPattern(1920, 1080, fps)
    rng = np.random.default_rng(1)
    images = [pattern.read(0) for _ in range(30)]
    if noise:
        images = [
            np.clip(image + rng.integers(-40, 40, image.shape), 0, 255).astype(np.uint8)
            for image in images
        ]
    jpegs = [encode_jpeg(image, 80) for image in images]
    signer = FrameSigner()
    verifier = FrameVerifier(signer.public_key_hex)
    signed: list[p.VideoFrame] = []
    start = time.process_time()
    for seq in range(frames):
        jpeg = jpegs[seq % len(jpegs)]
        header = p.FrameHeader(epoch=1, seq=seq, capture_ns=seq, width=1920, height=1080)
        signed.append(p.VideoFrame(header=header, data=jpeg, signature=signer.sign(header, jpeg)))
    sign_s = (time.process_time() - start) / frames
    start = time.process_time()
    ok = all(verifier.verify(frame) for frame in signed)
    verify_s = (time.process_time() - start) / frames
    assert ok, "a signature failed to verify"
    return {
        "jpeg_kib": statistics.mean(len(j) for j in jpegs) / 1024,
        "sign_us": sign_s * 1e6,
        "verify_us": verify_s * 1e6,
        "core_pct_at_fps": (sign_s + verify_s) * fps * 100,
    }


def worker(args: argparse.Namespace) -> None:
    """Run viewers named in --names (joining one after another), then print a JSON report."""
    import trio

    import protocol as p
    from peer.config import PeerConfig, PeerHooks
    from peer.node import Peer
    from protocol.addresses import parse_address

    tracker = parse_address(args.tracker)
    names = args.names.split(",")
    latencies: dict[str, dict[int, float]] = {name: {} for name in names}

    def recorder(name: str) -> PeerHooks:
        table = latencies[name]

        def on_frame(header: p.FrameHeader, arrival_ns: int) -> None:
            if recording:
                table[header.seq] = (arrival_ns - header.capture_ns) / 1e6

        return PeerHooks(on_frame_received=on_frame)

    recording = False
    peers: list[Peer] = []

    async def main() -> None:
        nonlocal recording
        async with trio.open_nursery() as nursery:
            for name in names:
                config = PeerConfig(
                    role="viewer",
                    name=name,
                    tracker=tracker,
                    max_children=args.max_children,
                    decode=False,
                )
                peer = Peer(config, recorder(name))
                await nursery.start(peer.run)
                peers.append(peer)
                with trio.fail_after(STARTUP_TIMEOUT_S):
                    await peer.receiving.wait()
            print("ready", flush=True)
            # Every worker starts measuring together, when the orchestrator says so.
            await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            await trio.sleep(args.warmup)
            recording = True
            lost_before = {peer.config.name: peer.counters.loss.frames_lost for peer in peers}
            await trio.sleep(args.seconds)
            recording = False
            report = {
                peer.config.name: {
                    "depth": peer.counters.depth,
                    "latency_ms": latencies[peer.config.name],
                    "bandwidth_kbps": peer.stats()["bandwidth_kbps"],
                    "frames_lost": peer.counters.loss.frames_lost - lost_before[peer.config.name],
                }
                for peer in peers
            }
            print(json.dumps(report), flush=True)
            # Stay in the tree until everyone has reported (stdin closes).
            await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
            nursery.cancel_scope.cancel()

    trio.run(main)


# -- orchestration ---------------------------------------------------------------------


def read_line(process: subprocess.Popen[str], timeout_s: float = STARTUP_TIMEOUT_S) -> str:
    """The next stdout line of `process`, within `timeout_s`."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise RuntimeError(f"no output from {process.args!r} within {timeout_s} s")
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"{process.args!r} exited ({process.poll()})")
    return line.strip()


def go(workers: list[subprocess.Popen[str]]) -> None:
    """Tell every worker to start its measurement."""
    for work in workers:
        assert work.stdin is not None
        work.stdin.write("start\n")
        work.stdin.flush()


def start_tracker(started: list[subprocess.Popen[str]]) -> str:
    """A tracker on a free port; returns HOST:PORT."""
    tracker = spawn(started, "-m", "tracker", "--port", "0", "--max-peers", "100000")
    line = read_line(tracker)
    return line.rsplit(" ", 1)[1]


def start_source(
    started: list[subprocess.Popen[str]],
    tracker: str,
    source: str,
    fanout: int,
    options: Sequence[str] = (),
) -> subprocess.Popen[str]:
    """A source process printing --stats-json lines; `options` go to `peer source` too
    (--codec h264, --loop...)."""
    return spawn(
        started, "-m", "peer", "source", "--no-port-mapping",
        source, "--tracker", tracker, "--name", "source",
        "--fanout", str(fanout), "--stats-json", *options,
    )  # fmt: skip


def chain(
    hops: int,
    source: str,
    seconds: float,
    *,
    source_options: Sequence[str] = (),
    warmup_s: float = 2.0,
) -> dict[str, Any]:
    """Part 1: per-hop latency down a chain of `hops` relay processes, measured for
    `seconds` after `warmup_s`; `source_options` go to the source (its codec, say)."""
    with processes() as started:
        tracker = start_tracker(started)
        start_source(started, tracker, source, fanout=1, options=source_options)
        workers = []
        for hop in range(hops):
            work = spawn(
                started, __file__, "worker", "--tracker", tracker, "--names", f"hop{hop:02d}",
                "--max-children", "1", "--seconds", str(seconds), "--warmup", str(warmup_s),
            )  # fmt: skip
            read_line(work)  # "ready": receiving, so the next one lands below it
            workers.append(work)
        go(workers)
        reports: dict[str, Any] = {}
        for work in workers:
            reports.update(json.loads(read_line(work, seconds + warmup_s + 60)))
    by_depth = sorted(reports.values(), key=lambda r: r["depth"])
    per_hop: list[float] = []
    rows = []
    for upper, lower in itertools.pairwise(by_depth):
        upper_ms = {int(k): v for k, v in upper["latency_ms"].items()}
        lower_ms = {int(k): v for k, v in lower["latency_ms"].items()}
        added = [lower_ms[s] - upper_ms[s] for s in lower_ms if s in upper_ms]
        per_hop += added
        rows.append((lower["depth"], len(added), quantile(added, 0.5), quantile(added, 0.99)))
    first = by_depth[0]
    end_to_end = list(by_depth[-1]["latency_ms"].values())
    return {
        "hops": hops,
        "depths": [r["depth"] for r in by_depth],
        "first_hop_ms_p50": quantile(list(first["latency_ms"].values()), 0.5),
        "per_hop": rows,
        "per_hop_ms_p50": quantile(per_hop, 0.5),
        "per_hop_ms_p99": quantile(per_hop, 0.99),
        "end_to_end_ms_p50": quantile(end_to_end, 0.5),
        "end_to_end_ms_p99": quantile(end_to_end, 0.99),
        "frames_lost": sum(r["frames_lost"] for r in by_depth),
        "samples": len(per_hop),
    }


def egress(args: argparse.Namespace, audience: int) -> dict[str, Any]:
    """Part 2: the source's upload vs the stream bitrate for `audience` viewers."""
    fanout = 3
    per_worker = max(1, -(-audience // args.workers))
    with processes() as started:
        tracker = start_tracker(started)
        source = start_source(started, tracker, args.source, fanout=fanout)
        workers = []
        for w in range(0, audience, per_worker):
            names = ",".join(f"n{i:03d}" for i in range(w, min(audience, w + per_worker)))
            workers.append(
                spawn(
                    started,
                    __file__,
                    "worker",
                    "--tracker",
                    tracker,
                    "--names",
                    names,
                    "--max-children",
                    "3",
                    "--seconds",
                    str(args.seconds),
                    "--warmup",
                    "2",
                )
            )
        for work in workers:
            read_line(work, STARTUP_TIMEOUT_S * 4)
        go(workers)
        uploads = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            stats = json.loads(read_line(source))
            uploads.append(float(stats["upload_kbps"]))
        reports: dict[str, Any] = {}
        for work in workers:
            reports.update(json.loads(read_line(work, args.seconds + 60)))
    bitrates = [float(r["bandwidth_kbps"]) for r in reports.values()]
    depths = [int(r["depth"]) for r in reports.values()]
    upload = statistics.median(uploads[len(uploads) // 2 :]) if uploads else 0.0
    bitrate = statistics.median(bitrates) if bitrates else 0.0
    return {
        "viewers": audience,
        "source_upload_kbps": upload,
        "stream_kbps": bitrate,
        "egress_ratio": upload / bitrate if bitrate else 0.0,
        "max_depth": max(depths, default=0),
        "viewers_lossless": sum(1 for r in reports.values() if r["frames_lost"] == 0),
    }


def main() -> None:
    """Parse arguments and run both parts (or be a worker)."""
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        parser = argparse.ArgumentParser()
        parser.add_argument("worker")
        parser.add_argument("--tracker", required=True)
        parser.add_argument("--names", required=True)
        parser.add_argument("--max-children", type=int, default=1)
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--warmup", type=float, default=2)
        worker(parser.parse_args())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=10)
    parser.add_argument("--source", default="testsrc:1280x720@30")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run")
    parser.add_argument("--audiences", default="10,100", help="viewer counts for part 2")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--signatures-only", action="store_true", help="run part 0 only (signature cost)"
    )
    args = parser.parse_args()

    print("== frame signatures at 1080p30 (RSA-2048 PSS over header + BLAKE3 of the JPEG)")
    costs = {"pattern": signature_cost(), "noisy": signature_cost(noise=True)}
    for label, cost in costs.items():
        verdict = "PASS" if cost["core_pct_at_fps"] < 10 else "FAIL"
        print(
            f"{label:>8}: JPEG {cost['jpeg_kib']:.0f} KiB, sign {cost['sign_us']:.0f} us at "
            f"the source, verify {cost['verify_us']:.0f} us at each viewer; together "
            f"{cost['core_pct_at_fps']:.2f}% of one core at 30 fps (target < 10%: {verdict})"
        )
    print()
    if args.signatures_only:
        return

    print(f"== chain of {args.hops} relay processes, {args.source}, {args.seconds:.0f} s")
    result = chain(args.hops, args.source, args.seconds)
    print(f"{'depth':>6} {'frames':>8} {'added p50 ms':>13} {'added p99 ms':>13}")
    for depth, count, p50, p99 in result["per_hop"]:
        print(f"{depth:>6} {count:>8} {p50:>13.3f} {p99:>13.3f}")
    met = result["per_hop_ms_p50"] <= 1 and result["per_hop_ms_p99"] <= 3
    verdict = "PASS" if met else "FAIL"
    print(
        f"per hop, all relays: p50 {result['per_hop_ms_p50']:.3f} ms, "
        f"p99 {result['per_hop_ms_p99']:.3f} ms over {result['samples']} samples "
        f"(targets 1 / 3 ms: {verdict})"
    )
    print(
        f"capture to first hop p50 {result['first_hop_ms_p50']:.2f} ms (includes encoding); "
        f"capture to depth {args.hops}: p50 {result['end_to_end_ms_p50']:.2f} ms, "
        f"p99 {result['end_to_end_ms_p99']:.2f} ms; frames lost {result['frames_lost']}"
    )
    results: dict[str, Any] = {"signatures": costs, "chain": result, "egress": []}
    print(f"\n== source egress with fanout 3, {args.source}")
    print(
        f"{'viewers':>8} {'stream kb/s':>12} {'source up kb/s':>15} {'ratio':>6} "
        f"{'max depth':>10} {'lossless':>9}"
    )
    for audience in [int(n) for n in args.audiences.split(",")]:
        row = egress(args, audience)
        results["egress"].append(row)
        print(
            f"{row['viewers']:>8} {row['stream_kbps']:>12.0f} {row['source_upload_kbps']:>15.0f} "
            f"{row['egress_ratio']:>6.2f} {row['max_depth']:>10} "
            f"{row['viewers_lossless']:>5}/{row['viewers']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
