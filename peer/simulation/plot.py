"""Figures of a simulation report: latency CDF, continuity over time, depth histogram."""

from __future__ import annotations

from typing import Any


def plot_report(report: dict[str, Any], path: str) -> None:
    """Write one PNG with three panels (needs matplotlib: the 'sim' extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cdf, timeline, depths) = plt.subplots(1, 3, figsize=(16, 4.5))
    for key, label in [("true", "true"), ("estimate", "peers' estimate")]:
        values = sorted(report["latency_samples_ms"][key])
        if values:
            fractions = [(i + 1) / len(values) for i in range(len(values))]
            cdf.plot(values, fractions, label=label)
    cdf.set(title="end-to-end latency CDF", xlabel="ms", ylabel="fraction of frames")
    cdf.set_xscale("log")
    cdf.legend()

    seconds = [point["t"] for point in report["timeline"]]
    timeline.plot(seconds, [point["continuity"] for point in report["timeline"]], label="delivery")
    for event in report["events"]:
        colour = {"kill": "red", "kill-relay": "darkred", "leave": "orange"}.get(event["kind"])
        if colour:
            timeline.axvline(event["at_s"], color=colour, alpha=0.4, linewidth=1)
    timeline.set(title="frames delivered / expected, per second", xlabel="s", ylim=(0, 1.05))
    timeline.legend(["delivery", "departures (red: killed)"])

    histogram = report["tree"]["depth_histogram"]
    depths.bar([int(d) for d in histogram], list(histogram.values()))
    depths.set(title="viewers per tree depth", xlabel="depth", ylabel="viewers")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
