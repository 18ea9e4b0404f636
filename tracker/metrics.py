"""What the tracker tells Prometheus (`--metrics [HOST:]PORT`, served at /metrics).

The figures are counted where the trio layer already sees them (tracker/service.py
carries out the Room's actions), so the Room stays pure and the hot path gains one
counter increment: peers by role and reachability are read from the Room at scrape
time; joins, placements, refused placements (a viewer told there is no free slot),
repairs (a lost parent, a dropped child or a peer declared dead) and chat lines are
counters; heartbeat lateness (how much later than the interval each heartbeat came)
is a histogram. Each tracker has its own registry, so tests may run several.

The HTTP side is h11 over trio, one short request per connection, every read bounded
in size and time.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import h11
import trio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tracker.room import Room

REQUEST_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 8 * 1024
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENESS_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
# No `*_created` timestamp beside every counter: noise on the page, and a tracker's
# start is its process's (prometheus-client's switch is for the whole process).
disable_created_metrics()  # type: ignore[no-untyped-call]  # the library has no annotation here


class _PeersCollector(Collector):
    """Peers by role and reachability, counted from the Room when scraped."""

    def __init__(self, room: Callable[[], Room]) -> None:
        self._room = room

    def collect(self) -> Iterator[GaugeMetricFamily]:
        room = self._room()
        peers = GaugeMetricFamily(
            "streamnest_peers", "Registered peers", labels=["role", "reachable"]
        )
        counts: dict[tuple[str, str], int] = {}
        for member in room.members.values():
            reachable = room.reachability.reachable(member.key)
            label = "unknown" if reachable is None else str(reachable).lower()
            counts[(member.role, label)] = counts.get((member.role, label), 0) + 1
        for (role, label), count in sorted(counts.items()):
            peers.add_metric([role, label], count)
        yield peers
        depth = GaugeMetricFamily("streamnest_tree_max_depth", "Depth of the deepest viewer")
        depth.add_metric([], room.tree.max_depth())
        yield depth


class TrackerMetrics:
    """The tracker's counters and its registry."""

    def __init__(self, room: Callable[[], Room]) -> None:
        """Metrics for the Room `room()` returns (read at each scrape)."""
        self.registry = CollectorRegistry()
        self.registry.register(_PeersCollector(room))
        self.joins = Counter(
            "streamnest_joins", "Peers registered", ["role"], registry=self.registry
        )
        self.placements = Counter(
            "streamnest_placements", "Viewers sent to a parent", registry=self.registry
        )
        self.placements_refused = Counter(
            "streamnest_placements_refused",
            "Viewers told there is no free slot in the tree",
            registry=self.registry,
        )
        self.repairs = Counter(
            "streamnest_repairs",
            "Tree repairs: a viewer lost its parent, a parent dropped a child, a peer died",
            ["cause"],
            registry=self.registry,
        )
        self.chat_lines = Counter(
            "streamnest_chat_lines", "Chat lines delivered", registry=self.registry
        )
        self.internal_errors = Counter(
            "streamnest_internal_errors",
            "Bugs contained: a session ended or a tick skipped (tracker/containment.py)",
            registry=self.registry,
        )
        self.heartbeat_lateness = Histogram(
            "streamnest_heartbeat_lateness_seconds",
            "How much later than the heartbeat interval each heartbeat arrived",
            buckets=LATENESS_BUCKETS_S,
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)


async def serve_metrics(
    metrics: TrackerMetrics,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve GET /metrics on host:port until cancelled; started() gets the bound address.

    Raises OSError when it cannot listen there.
    """
    listeners = await trio.open_tcp_listeners(port, host=host or None)
    bound = listeners[0].socket.getsockname()
    task_status.started((str(bound[0]), int(bound[1])))
    await trio.serve_listeners(functools.partial(_answer, metrics), listeners)


async def _answer(metrics: TrackerMetrics, stream: trio.abc.Stream) -> None:
    """One request, one response, then close; a slow or malformed client gets nothing."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
    with (
        trio.move_on_after(REQUEST_TIMEOUT_S),
        contextlib.suppress(h11.ProtocolError, trio.BrokenResourceError),
    ):
        event = connection.next_event()
        while event is h11.NEED_DATA:
            connection.receive_data(bytes(await stream.receive_some(MAX_REQUEST_BYTES)))
            event = connection.next_event()
        if isinstance(event, h11.Request):
            found = event.method == b"GET" and event.target.split(b"?")[0] == b"/metrics"
            body = metrics.exposition() if found else b"not found: try /metrics\n"
            headers = [
                ("content-type", CONTENT_TYPE if found else "text/plain"),
                ("content-length", str(len(body))),
                ("connection", "close"),
            ]
            response = h11.Response(status_code=200 if found else 404, headers=headers)
            parts = (response, h11.Data(data=body), h11.EndOfMessage())
            await stream.send_all(b"".join(connection.send(part) or b"" for part in parts))
    await trio.aclose_forcefully(stream)
