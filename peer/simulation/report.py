"""Turning what the workers measured into the simulation report. Pure.

The report (JSON, and a table at the end of a run) has these top-level keys; the test
suite checks them against REPORT_SCHEMA:

- `settings`: the command-line settings of the run.
- `viewers`: per viewer: name, continuity, join_ms, codec (of the frames it received),
  decode, picture_ms (join to first picture), frames, frames_lost, frames_undecodable,
  loss_pct, depth, parent, children, slots (offered at the end), uplink_kbps (its
  simulated uplink, or null), recoveries_ms, gaps ([seconds since it started, first
  missing seq, frames missing, parent] each), slot_changes ([seconds since it started,
  slots offered] at each change), how_left, true/estimate latency p50 and p99 (ms).
- `continuity`, `true_latency_ms`, `estimated_latency_ms`, `per_hop_ms`, `join_ms`,
  `join_to_picture_ms`, `recovery_ms`, `loss_pct`: each {p5, p50, p95, p99, min, max,
  count} over all viewers (continuity: one value per viewer; latencies: sampled frames;
  join to picture: one value per decoding viewer that showed a picture).
- `decoding_viewers`: how many viewers decoded (the `--decode` share of them);
  `frames_undecodable`: frames they did not show because one before them was lost or
  did not decode (H.264; always 0 for JPEG), in total.
- `source`: egress_mbps (MB/s sent by the source), stream_kbps, egress_streams.
- `tracker`: cpu_pct (of one core), bytes_per_s (TCP bytes in + out, via `ss`; null
  without iproute2), rss_mib.
- `relay_traffic_mbps`: what all viewers uploaded to their children, MB/s.
- `tree`: depth_histogram {depth: viewers}, max_depth, attached, viewers_at_end.
- `losses`: where the frames viewers missed were lost (peer/simulation/losses.py):
  missed, last_hop, passed_down, last_hop_while_forming, last_hop_by_parent_uplink_kbps.
- `uplinks`: per uplink class of `--upload-mix` (peer/simulation/uplinks.py): uplink_kbps,
  viewers, mean_depth, slots and children (offered and filled at the end); [] without.
- `waiting_with_free_slot`: viewers_waited_over_1s and longest_s, the waits for a place
  while some slot was free (peer/simulation/waiting.py).
- `workers`: per worker process: pid, cpu_pct, rss_mib.
- `killed_relays`: per killed relay: name, at_s, children, recovered (list of names).
- `timeline`: per second: t, viewers_up, frames, continuity.
- `events`: the churn that happened: at_s, kind, name.
- `pids`: every process the run started (all reaped when it ends).
- `latency_samples_ms`: {true, estimate}: up to 5,000 sampled frames each, for plots.

Continuity is frames received / frames the source sent while the viewer was attached:
from its first frame to its departure, or to the newest frame any viewer had at the end.
Latencies are sampled on frames captured after the viewer started: the older ones its
parent replays on joining (the GOP cache) are counted, not sampled.
Join time runs from the moment a viewer starts (registers) to its first frame; join to
picture, from the same moment to the first picture it shows (`PeerHooks.on_image`): for
H.264 that includes waiting for, receiving and decoding the frames since a keyframe.
"""

from __future__ import annotations

from typing import Any

from peer.simulation.losses import describe as describe_losses
from peer.simulation.losses import where_lost

REPORT_SCHEMA: dict[str, type] = {
    "settings": dict,
    "viewers": list,
    "continuity": dict,
    "true_latency_ms": dict,
    "estimated_latency_ms": dict,
    "per_hop_ms": dict,
    "join_ms": dict,
    "join_to_picture_ms": dict,
    "decoding_viewers": int,
    "frames_undecodable": int,
    "recovery_ms": dict,
    "loss_pct": dict,
    "source": dict,
    "tracker": dict,
    "relay_traffic_mbps": float,
    "tree": dict,
    "losses": dict,
    "uplinks": list,
    "waiting_with_free_slot": dict,
    "workers": list,
    "killed_relays": list,
    "timeline": list,
    "events": list,
    "pids": list,
    "latency_samples_ms": dict,
}
MAX_PLOTTED_SAMPLES = 5000
DISTRIBUTION_KEYS = ("p5", "p50", "p95", "p99", "min", "max", "count")


def quantile(values: list[float], fraction: float) -> float:
    """Nearest-rank quantile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def distribution(values: list[float]) -> dict[str, float]:
    """p5, p50, p95, p99, min, max and count of `values`."""
    return {
        "p5": round(quantile(values, 0.05), 3),
        "p50": round(quantile(values, 0.50), 3),
        "p95": round(quantile(values, 0.95), 3),
        "p99": round(quantile(values, 0.99), 3),
        "min": round(min(values), 3) if values else 0.0,
        "max": round(max(values), 3) if values else 0.0,
        "count": len(values),
    }


def continuity(peer: dict[str, Any], newest_seq: int) -> float | None:
    """Frames received / frames sent while attached; None if it never received."""
    first = peer["first_seq"]
    if first is None:
        return None
    last = peer["last_seq"] if peer["left_s"] is not None else max(newest_seq, peer["last_seq"])
    expected = last - first + 1
    return min(1.0, peer["frames"] / expected) if expected > 0 else 1.0


def _since_start_ms(peer: dict[str, Any], key: str) -> float | None:
    """Milliseconds from the viewer's start to the moment at `key`, if it came."""
    moment = peer[key]
    return round((moment - peer["started_s"]) * 1000, 1) if moment is not None else None


def summarize_viewers(peers: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-viewer rows and the aggregate distributions."""
    newest = max((p["last_seq"] for p in peers if p["left_s"] is None), default=0)
    rows = []
    for peer in peers:
        rows.append(
            {
                "name": peer["name"],
                "continuity": continuity(peer, newest),
                "join_ms": _since_start_ms(peer, "first_frame_s"),
                "codec": peer["codec"],
                "decode": peer["decode"],
                "picture_ms": _since_start_ms(peer, "first_picture_s"),
                "frames": peer["frames"],
                "frames_lost": peer["frames_lost"],
                "frames_undecodable": peer["frames_undecodable"],
                "loss_pct": peer["loss_pct"],
                "depth": peer["depth"],
                "parent": peer["parent"],
                "children": peer.get("children"),
                "slots": peer.get("slots"),
                "uplink_kbps": peer.get("uplink_kbps"),
                "recoveries_ms": [round(r, 1) for r in peer["recoveries_ms"]],
                "gaps": peer["gaps"],
                "slot_changes": peer["slot_changes"],
                "how_left": peer["how_left"],
                "true_ms_p50": round(quantile(peer["true_ms"], 0.5), 3),
                "true_ms_p99": round(quantile(peer["true_ms"], 0.99), 3),
                "estimate_ms_p50": round(quantile(peer["estimate_ms"], 0.5), 3),
                "estimate_ms_p99": round(quantile(peer["estimate_ms"], 0.99), 3),
            }
        )

    def pooled(key: str) -> list[float]:
        return [value for peer in peers for value in peer[key]]

    aggregate = {
        "continuity": distribution([r["continuity"] for r in rows if r["continuity"] is not None]),
        "true_latency_ms": distribution(pooled("true_ms")),
        "estimated_latency_ms": distribution(pooled("estimate_ms")),
        "per_hop_ms": distribution(pooled("per_hop_ms")),
        "join_ms": distribution([r["join_ms"] for r in rows if r["join_ms"] is not None]),
        "join_to_picture_ms": distribution(
            [r["picture_ms"] for r in rows if r["picture_ms"] is not None]
        ),
        "decoding_viewers": sum(1 for peer in peers if peer["decode"]),
        "frames_undecodable": sum(int(peer["frames_undecodable"]) for peer in peers),
        "recovery_ms": distribution(pooled("recoveries_ms")),
        "loss_pct": distribution([float(p["loss_pct"] or 0.0) for p in peers]),
        "losses": where_lost(peers),
        "latency_samples_ms": {
            "true": thin(pooled("true_ms"), MAX_PLOTTED_SAMPLES),
            "estimate": thin(pooled("estimate_ms"), MAX_PLOTTED_SAMPLES),
        },
    }
    return rows, aggregate


def thin(values: list[float], most: int) -> list[float]:
    """Every k-th value, so that at most `most` remain."""
    step = max(1, -(-len(values) // most))
    return values[::step]


def tree_shape(peers: list[dict[str, Any]]) -> dict[str, Any]:
    """Depth histogram of the viewers still present at the end."""
    present = [p for p in peers if p["left_s"] is None]
    histogram: dict[str, int] = {}
    for peer in present:
        if peer["depth"] is not None and peer["parent"] is not None:
            key = str(peer["depth"])
            histogram[key] = histogram.get(key, 0) + 1
    return {
        "depth_histogram": dict(sorted(histogram.items(), key=lambda kv: int(kv[0]))),
        "max_depth": max((int(k) for k in histogram), default=0),
        "attached": sum(histogram.values()),
        "viewers_at_end": len(present),
    }


def _kilo(value: float | None) -> str:
    return "?" if value is None else f"{value / 1000:.1f}"


def table(report: dict[str, Any]) -> str:
    """The readable summary printed at the end of a run."""
    lines = [f"{'metric':<34} {'p5':>9} {'p50':>9} {'p95':>9} {'p99':>9} {'min':>9} {'max':>9}"]
    for key, label in [
        ("continuity", "continuity index"),
        ("true_latency_ms", "true end-to-end latency (ms)"),
        ("estimated_latency_ms", "peers' own latency estimate (ms)"),
        ("per_hop_ms", "latency per hop (ms)"),
        ("join_ms", "join time, register -> frame (ms)"),
        ("join_to_picture_ms", "join to first picture (ms)"),
        ("recovery_ms", "recovery after parent loss (ms)"),
        ("loss_pct", "loss (%)"),
    ]:
        d = report[key]
        lines.append(
            f"{label:<34} {d['p5']:>9.3f} {d['p50']:>9.3f} {d['p95']:>9.3f} {d['p99']:>9.3f} "
            f"{d['min']:>9.3f} {d['max']:>9.3f}"
        )
    source, tracker, tree = report["source"], report["tracker"], report["tree"]
    lines += [
        f"source egress {source['egress_mbps']:.2f} MB/s = {source['egress_streams']:.2f} streams "
        f"of {source['stream_kbps']:.0f} kb/s",
        f"tracker: {tracker['cpu_pct']:.1f}% of a core, {_kilo(tracker['bytes_per_s'])} kB/s, "
        f"{tracker['rss_mib']:.1f} MiB",
        f"relay traffic (all viewers' upload) {report['relay_traffic_mbps']:.2f} MB/s",
        f"codec {report['settings']['codec']}: {report['decoding_viewers']} viewers decoding, "
        f"{report['join_to_picture_ms']['count']} showed a picture, "
        f"{report['frames_undecodable']} frames undecodable",
        f"tree: {tree['attached']}/{tree['viewers_at_end']} viewers attached, max depth "
        f"{tree['max_depth']}, depths {tree['depth_histogram']}",
    ]
    lines.append(describe_losses(report["losses"]))
    for uplink in report["uplinks"]:
        lines.append(
            f"uplink {uplink['uplink_kbps'] / 1000:g} Mb/s: {uplink['viewers']} viewers, mean "
            f"depth {uplink['mean_depth']}, {uplink['children']}/{uplink['slots']} slots in use"
        )
    waits = report["waiting_with_free_slot"]
    lines.append(
        f"waited for a place with a slot free: {waits['viewers_waited_over_1s']} viewers over "
        f"1 s, longest {waits['longest_s']:.1f} s"
    )
    for worker in report["workers"]:
        lines.append(
            f"worker {worker['pid']}: {worker['cpu_pct']:.1f}% CPU, {worker['rss_mib']:.1f} MiB"
        )
    for killed in report["killed_relays"]:
        lines.append(
            f"killed relay {killed['name']} at {killed['at_s']:.1f} s: "
            f"{len(killed['recovered'])}/{len(killed['children'])} children recovered"
        )
    return "\n".join(lines)
