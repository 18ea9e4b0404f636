"""The tables and target checks of scripts/bench_compare.py: metrics in, text out.

Each table has a row per metric, a column per system, then StreamNest/other for each
star. The targets are checked at one audience size (N = 100 in bench_compare): source
egress about FANOUT/N of each star's (at most EGRESS_SLACK times that), delivered frames
at least each star's, p99 latency within P99_LIMIT times imagezmq's.
"""

from __future__ import annotations

from typing import Any

from baselines.streamnest_peers import FANOUT

EGRESS_SLACK = 1.5  # "about FANOUT/N of a star's egress": at most this times FANOUT/N
P99_LIMIT = 2.0  # StreamNest's p99 within this factor of imagezmq's
LABEL_WIDTH, VALUE_WIDTH, RATIO_WIDTH = 22, 12, 15  # table columns, characters

# (key, label, format) of each metric, in table order.
METRICS = (
    ("source_cpu_pct", "source CPU %", ".1f"),
    ("source_egress_mb_per_s", "source egress MB/s", ".2f"),
    ("source_egress_streams", "  in streams", ".2f"),
    ("delivered_ratio", "delivered frames", ".4f"),
    ("latency_p50_ms", "e2e latency p50 ms", ".2f"),
    ("latency_p99_ms", "e2e latency p99 ms", ".2f"),
    ("total_cpu_pct", "total CPU %", ".1f"),
)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, or None when either is missing or theirs is 0."""
    return ours / theirs if ours is not None and theirs else None


def cell(value: float | None, spec: str, width: int) -> str:
    """A table cell: `value` formatted by `spec`, right-aligned, '-' when missing."""
    return f"{'-' if value is None else format(value, spec):>{width}}"


def print_table(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Print one table of metrics and StreamNest/other ratios; return the ratios."""
    systems = [system for system in results if "error" not in results[system]]
    others = [s for s in systems if s != "streamnest"] if "streamnest" in systems else []
    ours = results.get("streamnest", {})
    ratios = {
        other: {key: ratio(ours[key], results[other][key]) for key, _, _ in METRICS}
        for other in others
    }
    header = [f"{s:>{VALUE_WIDTH}}" for s in systems]
    header += [f"{'sn/' + o:>{RATIO_WIDTH}}" for o in others]
    print(f"{'metric':<{LABEL_WIDTH}}" + "".join(header))
    for key, label, spec in METRICS:
        cells = [cell(results[s][key], spec, VALUE_WIDTH) for s in systems]
        cells += [cell(ratios[o][key], ".3f", RATIO_WIDTH) for o in others]
        print(f"{label:<{LABEL_WIDTH}}" + "".join(cells))
    return ratios


def print_cpu_per_frame(results: dict[str, dict[str, Any]]) -> None:
    """One more table row: CPU ms per delivered frame of each system, then StreamNest/other."""
    key = "cpu_ms_per_delivered_frame"
    systems = [system for system in results if "error" not in results[system]]
    ours = results["streamnest"].get(key) if "streamnest" in systems else None
    others = [s for s in systems if s != "streamnest"] if "streamnest" in systems else []
    cells = [cell(results[s][key], ".3f", VALUE_WIDTH) for s in systems]
    cells += [cell(ratio(ours, results[o][key]), ".3f", RATIO_WIDTH) for o in others]
    print(f"{'CPU ms/delivered frame':<{LABEL_WIDTH}}" + "".join(cells))


def target(name: str, value: float | None, passed: bool) -> dict[str, Any]:
    """One target check, printed as PASS or FAIL."""
    shown = "-" if value is None else f"{value:.3f}"
    print(f"{'PASS' if passed else 'FAIL'}  {name}: {shown}")
    return {"target": name, "value": value, "passed": passed}


def check_targets(viewers: int, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Check StreamNest against each star that ran at this audience size."""
    ours = results.get("streamnest", {})
    checks = []
    for star in ("imagezmq", "seed"):
        theirs = results.get(star, {})
        if not ours or not theirs or "error" in ours or "error" in theirs:
            continue
        limit = EGRESS_SLACK * FANOUT / viewers
        egress = ratio(ours["source_egress_bytes_per_s"], theirs["source_egress_bytes_per_s"])
        checks.append(
            target(
                f"source egress / {star}'s, about {FANOUT}/{viewers} (at most {limit:.3f})",
                egress,
                egress is not None and egress <= limit,
            )
        )
        delivered, their_delivered = ours["delivered_ratio"], theirs["delivered_ratio"]
        checks.append(
            target(
                f"delivered frames at least {star}'s ({their_delivered:.4f})",
                delivered,
                delivered >= their_delivered,
            )
        )
        if star == "imagezmq":
            p99, their_p99 = ours["latency_p99_ms"], theirs["latency_p99_ms"]
            p99_ratio = ratio(p99, their_p99)
            checks.append(
                target(
                    f"p99 latency within {P99_LIMIT:g}x imagezmq's ({p99} vs {their_p99} ms)",
                    p99_ratio,
                    p99_ratio is not None and p99_ratio <= P99_LIMIT,
                )
            )
    return checks
