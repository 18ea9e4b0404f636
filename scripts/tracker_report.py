"""bench_tracker's report: what the fake peers measured and the CPU counters around
each phase, summed up, and printed with one PASS/FAIL line per target.
"""

from __future__ import annotations

import os
import statistics

import attrs
from fake_peers import Recorder
from server_process import CpuSample

CPU_TARGET_PCT = 15.0
P99_TARGET_MS = 50.0
BUSY_MACHINE_PCT = 25.0  # other processes' CPU above which latencies are suspect


@attrs.frozen
class Report:
    """The benchmark's results (also what --json writes)."""

    peers: int
    registration_s: float
    welcome_p50_ms: float | None
    welcome_p99_ms: float | None
    registration_tracker_cpu_pct: float
    placed: int
    max_depth: int
    warmup_s: float
    window_s: float
    heartbeats_sent: int
    heartbeats_acked: int
    peers_lost: int
    first_loss: str | None  # why the first lost peer was lost
    ack_p50_ms: float | None
    ack_p95_ms: float | None
    ack_p99_ms: float | None
    ack_max_ms: float | None
    tracker_cpu_pct: float
    tracker_user_pct: float
    tracker_system_pct: float
    tracker_rss_mib: float
    generator_cpu_pct: float
    other_cpu_pct: float  # every other process on the machine, in % of one core
    cores: int
    messages_from_tracker: dict[str, int]
    cpu_ok: bool
    latency_ok: bool
    tracker_stop_s: float | None = None  # from SIGTERM to exit
    # The same load on scripts/heartbeat_floor.py (None: not run, --no-floor).
    floor_cpu_pct: float | None = None
    floor_ack_p99_ms: float | None = None
    cost_vs_floor: float | None = None  # tracker CPU / the floor's, same load, same run


def percentile_ms(arrived_s: list[float], percent: int, total: int) -> float | None:
    """The `percent`-th percentile in ms of `total` durations, of which `arrived_s` arrived.

    statistics.quantiles, inclusive method (100 is the maximum). The missing durations
    (heartbeats never acked) count as infinitely late: None when the percentile falls
    among them.
    """
    if not arrived_s or percent / 100 * (total - 1) > len(arrived_s) - 1:
        return None
    if percent == 100 or total == 1:
        return max(arrived_s) * 1000
    # Stand-ins for the missing ones sort after every arrival, past the percentile.
    padded = arrived_s + [max(arrived_s)] * (total - len(arrived_s))
    return statistics.quantiles(padded, n=100, method="inclusive")[percent - 1] * 1000


def build_report(
    recorder: Recorder,
    warmup_s: float,
    registration: tuple[CpuSample, CpuSample],
    window: tuple[CpuSample, CpuSample],
    rss: float,
) -> Report:
    """Sum up what the peers measured and the CPU counters around each phase."""
    first, last = registration
    registration_s = last.wall_s - first.wall_s
    registration_cpu_s = (last.tracker_user_s + last.tracker_system_s) - (
        first.tracker_user_s + first.tracker_system_s
    )
    start, end = window
    window_s = end.wall_s - start.wall_s

    def pct(cpu_s: float) -> float:
        return 100 * cpu_s / window_s

    user_pct = pct(end.tracker_user_s - start.tracker_user_s)
    system_pct = pct(end.tracker_system_s - start.tracker_system_s)
    own_pct = pct(end.own_s - start.own_s)
    machine_pct = pct(end.machine_busy_s - start.machine_busy_s)
    latencies = recorder.latencies_s
    welcomes = [peer.welcome_s for peer in recorder.registered]
    depths = [peer.depth for peer in recorder.registered if peer.depth is not None]
    sent = recorder.sent
    ack_p99_ms = percentile_ms(latencies, 99, sent)
    return Report(
        peers=len(recorder.registered),
        registration_s=registration_s,
        welcome_p50_ms=percentile_ms(welcomes, 50, len(welcomes)),
        welcome_p99_ms=percentile_ms(welcomes, 99, len(welcomes)),
        registration_tracker_cpu_pct=100 * registration_cpu_s / registration_s,
        placed=sum(1 for depth in depths if depth > 0),
        max_depth=max(depths, default=0),
        warmup_s=warmup_s,
        window_s=window_s,
        heartbeats_sent=sent,
        heartbeats_acked=len(latencies),
        peers_lost=len(recorder.lost),
        first_loss=next((f"{name}: {why}" for name, why in recorder.lost.items()), None),
        ack_p50_ms=percentile_ms(latencies, 50, sent),
        ack_p95_ms=percentile_ms(latencies, 95, sent),
        ack_p99_ms=ack_p99_ms,
        ack_max_ms=percentile_ms(latencies, 100, sent),
        tracker_cpu_pct=user_pct + system_pct,
        tracker_user_pct=user_pct,
        tracker_system_pct=system_pct,
        tracker_rss_mib=rss,
        generator_cpu_pct=own_pct,
        other_cpu_pct=max(0.0, machine_pct - user_pct - system_pct - own_pct),
        cores=os.cpu_count() or 1,
        messages_from_tracker=dict(recorder.received.most_common()),
        cpu_ok=user_pct + system_pct < CPU_TARGET_PCT,
        latency_ok=ack_p99_ms is not None and ack_p99_ms < P99_TARGET_MS,
    )


def with_floor(report: Report, floor: Report) -> Report:
    """The tracker's report with the bare floor's figures (same load, same run) beside."""
    ratio = report.tracker_cpu_pct / floor.tracker_cpu_pct if floor.tracker_cpu_pct else None
    return attrs.evolve(
        report,
        floor_cpu_pct=floor.tracker_cpu_pct,
        floor_ack_p99_ms=floor.ack_p99_ms,
        cost_vs_floor=ratio,
    )


def print_report(report: Report) -> None:
    """The results as a readable block, then one PASS/FAIL line per target."""

    def ms(value: float | None) -> str:
        return "unacked" if value is None else f"{value:.1f} ms"

    unacked = report.heartbeats_sent - report.heartbeats_acked
    busy = report.other_cpu_pct > BUSY_MACHINE_PCT
    stop = "killed" if report.tracker_stop_s is None else f"{report.tracker_stop_s:.1f} s"
    sent_by_tracker = ", ".join(f"{n} {k}" for k, n in report.messages_from_tracker.items())
    lines = [
        ("peers registered", f"{report.peers} (1 source, {report.peers - 1} viewers)"),
        (
            "registration",
            f"{report.registration_s:.2f} s ({report.peers / report.registration_s:.0f}/s), "
            f"Welcome p50 {ms(report.welcome_p50_ms)}, p99 {ms(report.welcome_p99_ms)}, "
            f"tracker CPU {report.registration_tracker_cpu_pct:.0f}% meanwhile",
        ),
        ("tree", f"{report.placed} viewers placed, deepest at depth {report.max_depth}"),
        ("window", f"{report.window_s:.1f} s, after {report.warmup_s:g} s of warm-up"),
        (
            "heartbeats",
            f"{report.heartbeats_sent} sent, {report.heartbeats_acked} acked "
            f"({unacked} unacked), {report.peers_lost} peers lost"
            + (f" (first: {report.first_loss})" if report.first_loss else ""),
        ),
        (
            "ack latency",
            f"p50 {ms(report.ack_p50_ms)}, p95 {ms(report.ack_p95_ms)}, "
            f"p99 {ms(report.ack_p99_ms)}, max {ms(report.ack_max_ms)}",
        ),
        (
            "tracker CPU",
            f"{report.tracker_cpu_pct:.1f}% of one core (user {report.tracker_user_pct:.1f}%, "
            f"system {report.tracker_system_pct:.1f}%)",
        ),
        ("tracker RSS", f"{report.tracker_rss_mib:.1f} MiB"),
        ("bare trio server", floor_text(report)),
        ("load generator CPU", f"{report.generator_cpu_pct:.1f}% of one core"),
        (
            "other processes",
            f"{report.other_cpu_pct:.1f}% of one core ({report.cores} cores)"
            + (" - busy machine, latencies are pessimistic" if busy else ""),
        ),
        ("tracker stop", f"{stop} from SIGTERM to exit (its peers had just disconnected)"),
        ("received, whole run", sent_by_tracker),
    ]
    print()
    for label, value in lines:
        print(f"{label:<20}{value}")
    cpu_verdict = "PASS" if report.cpu_ok else "FAIL"
    latency_verdict = "PASS" if report.latency_ok else "FAIL"
    print(
        f"{cpu_verdict}  tracker CPU {report.tracker_cpu_pct:.1f}% "
        f"(target < {CPU_TARGET_PCT:g}% of one core)"
    )
    print(
        f"{latency_verdict}  p99 ack latency {ms(report.ack_p99_ms)} "
        f"(target < {P99_TARGET_MS:g} ms)"
    )
    if report.peers_lost:
        print(f"WARNING  {report.peers_lost} peers lost: the tracker was not under full load")


def floor_text(report: Report) -> str:
    """The floor's line: its CPU, its ack p99, and the tracker's cost as a multiple."""
    if report.floor_cpu_pct is None:
        return "not run (--no-floor)"
    p99 = "unacked" if report.floor_ack_p99_ms is None else f"{report.floor_ack_p99_ms:.1f} ms"
    ratio = "-" if report.cost_vs_floor is None else f"{report.cost_vs_floor:.2f}x"
    return (
        f"{report.floor_cpu_pct:.1f}% of one core, ack p99 {p99}, under the same load: "
        f"the tracker costs {ratio} that"
    )
