"""The repair benchmark's report (scripts/bench_repair.py): per fault, the gaps from the
signal to a child of the frozen or killed relay receiving again, by child and by phase,
and the table for a person. Pure.
"""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peer.simulation.report import quantile


def spread(gaps: Sequence[float | None]) -> dict[str, Any]:
    """p50, p95, max, min and count of `gaps` (s); a child never repaired counts as an
    endless gap, so a figure that lands on one is null."""
    values = [math.inf if gap is None else gap for gap in gaps]

    def finite(value: float) -> float | None:
        return None if not values or math.isinf(value) else round(value, 3)

    return {
        "p50": finite(quantile(values, 0.50)),
        "p95": finite(quantile(values, 0.95)),
        "max": finite(max(values, default=math.inf)),
        "min": finite(min(values, default=math.inf)),
        "count": len(values),
        "unrepaired": sum(gap is None for gap in gaps),
    }


# What each child said and received, in order: the phases of its repair.
PHASES = {"loss noticed": "lost_s", "new parent": "new_parent_s", "first frame": "first_frame_s"}


def times(trials: Sequence[dict[str, Any]], key: str, names: Sequence[str]) -> list[Any]:
    """One time of every named child in every trial (None where it did not happen)."""
    return [trial["children"][name][key] for trial in trials for name in names]


def median(values: Sequence[float | None]) -> float | None:
    """The p50 of the times that happened, or None if none did."""
    happened = [value for value in values if value is not None]
    return round(quantile(happened, 0.5), 3) if happened else None


def summarize(
    trials: Sequence[dict[str, Any]],
    targets_p95_s: dict[str, float],
    signals: dict[str, signal.Signals],
    orphans: Sequence[str],
) -> dict[str, Any]:
    """Per fault (`targets_p95_s`, sent as `signals`): the gaps of the `orphans` in the
    trials without a backup, by child and by phase; the trials with a backup apart."""
    faults: dict[str, Any] = {}
    for fault, target_s in targets_p95_s.items():
        mine = [trial for trial in trials if trial["fault"] == fault]
        clean = [trial for trial in mine if not trial["backup"]]
        backed = [trial for trial in mine if trial["backup"]]
        repair = spread(times(clean, "first_frame_s", orphans))
        faults[fault] = {
            "signal": signals[fault].name,
            "trials": len(mine),
            "trials_with_backup": len(backed),
            "repair_s": repair,
            "by_child": {name: spread(times(clean, "first_frame_s", [name])) for name in orphans},
            "phases_p50_s": {
                name: {label: median(times(clean, key, [name])) for label, key in PHASES.items()}
                for name in orphans
            },
            # The others were moved by the tracker before their own parent link told them.
            "noticed_loss": {
                name: sum(at is not None for at in times(clean, "lost_s", [name]))
                for name in orphans
            },
            "with_backup_repair_s": (
                spread(times(backed, "first_frame_s", orphans)) if backed else None
            ),
            "target_p95_s": target_s,
            "met": repair["p95"] is not None and repair["p95"] <= target_s,
        }
    return faults


def shown(value: float | None) -> str:
    """A figure in seconds for the table ('-' when there is none)."""
    return "-" if value is None else f"{value:.3f}"


def table(report: dict[str, Any]) -> str:
    """The report as a few lines for a person."""
    config = report["config"]
    trials = config["trials"]
    lines = [
        f"== repair with no backup: {trials} trial{'s' * (trials != 1)} per fault, "
        f"{config['source']}, load {config['load_average'][0]:.2f} at start",
        "   source (fanout 2) -> relay (2 slots), leaf1; relay -> leaf2, spare (2 slots)",
        "   gap: from the signal to a child of the relay receiving a frame again",
        f"{'fault':<8}{'signal':<9}{'gaps':>5}{'p50 s':>8}{'p95 s':>8}{'max s':>8}  "
        f"{'target':<17}trials with a backup (not counted)",
    ]
    for fault, figures in report["faults"].items():
        repair = figures["repair_s"]
        verdict = "PASS" if figures["met"] else "FAIL"
        target = f"p95 <= {figures['target_p95_s']:g} {verdict}"
        unrepaired = (
            f"; {repair['unrepaired']} never received again" if repair["unrepaired"] else ""
        )
        lines.append(
            f"{fault:<8}{figures['signal']:<9}{repair['count']:>5}{shown(repair['p50']):>8}"
            f"{shown(repair['p95']):>8}{shown(repair['max']):>8}  {target:<17}"
            f"{figures['trials_with_backup']}{unrepaired}"
        )
    lines.append(f"{'phases, p50 s after the signal':<32}" + "".join(f"{p:>14}" for p in PHASES))
    for fault, figures in report["faults"].items():
        clean = figures["trials"] - figures["trials_with_backup"]
        for name, phases in figures["phases_p50_s"].items():
            noticed = f"{shown(phases['loss noticed'])} ({figures['noticed_loss'][name]}/{clean})"
            cells = [noticed, shown(phases["new parent"]), shown(phases["first frame"])]
            lines.append(f"  {fault:<8}{name:<22}" + "".join(f"{cell:>14}" for cell in cells))
    lines.append("  (a child that the tracker moved before it noticed says no loss: not counted)")
    return "\n".join(lines)
