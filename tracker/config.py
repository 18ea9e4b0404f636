"""The settings of one tracker instance (see `streamnest-tracker --help`)."""

from __future__ import annotations

import ssl

import attrs

from tracker.reachability import PROBE_TIMEOUT_S
from tracker.tree import Placement

HELLO_TIMEOUT_S = 5.0
TICK_INTERVAL_S = 0.2


@attrs.frozen
class TrackerConfig:
    """Settings of one tracker instance (see `streamnest-tracker --help`)."""

    host: str = "127.0.0.1"
    port: int = 9000
    db: str | None = None  # SQLite file for chat history; None keeps it in memory
    max_peers: int = 10_000
    heartbeat_interval_s: float = 1.0
    missed_heartbeats: int = 3
    hello_timeout_s: float = HELLO_TIMEOUT_S
    recovery_window_s: float = 5.0
    max_unregistered: int = 1024  # connections that have not said Hello yet, in all
    max_unregistered_per_ip: int = 128  # ... and from one address
    join_key: str | None = None  # a private stream: every Hello must carry this key
    tls: ssl.SSLContext | None = None  # serve TLS (trio.SSLStream) instead of plain TCP
    placement: Placement = Placement.CAPACITY  # how the tree places viewers (tracker/tree.py)
    # How often the Room's periodic duties run (liveness, backups). Ticks fall on a grid
    # of this step from the start, so a peer silent for heartbeat_interval_s x
    # missed_heartbeats is declared dead at the first tick after that, at most one
    # step later.
    tick_interval_s: float = TICK_INTERVAL_S
    # Dial every peer back before it gets children (tracker/reachability.py). Off only
    # where every peer is known to be reachable (--trust-addresses: a lab, a benchmark
    # of fake peers that listen nowhere).
    check_reachability: bool = True
    probe_timeout_s: float = PROBE_TIMEOUT_S
    metrics: tuple[str, int] | None = None  # serve Prometheus metrics here (--metrics)
