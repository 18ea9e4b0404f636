"""Hostile clients hammer a live tracker and a live relay; the swarm beside them streams on.

hypothesis draws short conversations (real, mutated and made-up protocol messages;
see tests/faults/fuzzing.py) and plays them, one connection each, for a bounded number
of examples and a bounded time. Meanwhile a source, a relay and a viewer stream as
usual. Afterwards: nobody crashed, the tracker answered status all along (no hang),
the viewer kept its frame rate and its parent, the relay and the tracker hold no
leftover connections, and their memory grew by no more than a few MiB.
"""

from __future__ import annotations

import itertools
import time

import attrs
import pytest
import trio
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import protocol as p
from peer.simulation.procstat import open_fds, rss_mib
from tests.faults import fuzzing as fz
from tests.faults.programs import Program, Programs, listen_address
from tests.faults.rates import received_rates, source_rate
from tests.polling import eventually

SOURCE_FPS = 30
FUZZ_BUDGET_S = 10.0  # wall-clock bound per test; examples past it do nothing
MAX_EXAMPLES = 400
FRAME_RATE_FLOOR = 0.9
STATUS_GAP_LIMIT_S = 1.0  # the watcher asks every 0.2 s; a longer silence is a hang
MAX_RSS_GROWTH_MIB = 16.0
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # shrinking against live servers: too slow
    suppress_health_check=list(HealthCheck),
)


@attrs.frozen
class Swarm:
    """A tracker, a source, a relay and a viewer under the relay, as processes."""

    tracker: Program
    address: tuple[str, int]
    source: Program
    relay: Program
    viewer: Program
    watcher: Program


@attrs.frozen
class Footprint:
    """Resident memory and open file descriptors of a process."""

    rss_mib: float
    fds: int

    @classmethod
    def of(cls, program: Program) -> Footprint:
        """Measure `program` now."""
        return cls(rss_mib(program.pid), open_fds(program.pid))


@pytest.fixture
async def swarm(programs: Programs) -> Swarm:
    """cam (fanout 1) -> relay (3 slots) -> viewer (a leaf): two free slots for intruders."""
    tracker, address = await programs.tracker()
    spec = f"testsrc:320x240@{SOURCE_FPS}"
    source = await programs.source(address, "cam", spec=spec, fanout=1)
    relay = await programs.viewer(address, "relay", max_children=3)
    viewer = await programs.viewer(address, "viewer", max_children=0)
    await eventually(
        lambda: viewer.frames() > SOURCE_FPS and viewer.latest()["parent"] == "relay",  # type: ignore[index]
        within_s=20,
        what="the viewer receiving through the relay",
    )
    watcher = await programs.tree_watcher(address, interval_s=0.2)
    return Swarm(tracker, address, source, relay, viewer, watcher)


def fuzz_tracker(address: tuple[str, int], budget_s: float) -> fz.Tally:
    """Play hostile sessions against the tracker (runs in a worker thread)."""
    tally = fz.Tally()
    stop_at = time.monotonic() + budget_s

    @FUZZ_SETTINGS
    @given(fz.tracker_sessions())
    def play(session: fz.Session) -> None:
        if time.monotonic() > stop_at:
            tally.add("not played (time)")
            return
        data = ([p.encode(session.opening)] if session.opening else []) + session.chunks
        answers, closed = fz.converse(address, data, fz.TRACKER_TO_PEER, reset=session.reset)
        tally.add(fz.outcome(answers, closed))

    play()
    return tally


def fuzz_peer(tracker: tuple[str, int], relay: tuple[str, int], budget_s: float) -> fz.Tally:
    """Play hostile sessions against the relay's child port (runs in a worker thread).

    With `admit`, the intruder first gets itself placed by the tracker and joins with
    the token the tracker issued, so its garbage reaches a link the relay accepted.
    """
    tally = fz.Tally()
    stop_at = time.monotonic() + budget_s

    def placed(name: str, chunks: list[bytes], reset: bool) -> fz.Session:
        """A session that gets itself placed, then sends `chunks` on the accepted link."""
        join = p.Join(protocol_version=p.PROTOCOL_VERSION, name=name, token="-")
        return fz.Session(opening=join, chunks=chunks, reset=reset)

    # Random draws make few placed sessions; these always reach past the gate.
    @FUZZ_SETTINGS
    @example(placed("fz-placed-1", [], False), True)
    @example(placed("fz-placed-2", [b"\x00" * 64], True), True)
    @example(placed("fz-placed-3", [b"SN\x02\x50" + b"\xff" * 40], False), True)
    @given(fz.peer_sessions(), st.booleans())
    def play(session: fz.Session, admit: bool) -> None:
        if time.monotonic() > stop_at:
            tally.add("not played (time)")
            return
        opening, target, placement = session.opening, relay, None
        if admit and isinstance(opening, p.Join):
            placement = fz.admitted(tracker, opening.name)
            if placement is not None:
                offer = placement[1]
                opening = p.Join(
                    protocol_version=p.PROTOCOL_VERSION, name=opening.name, token=offer.token
                )
                target = (offer.host, offer.port)
        try:
            data = ([p.encode(opening)] if opening else []) + session.chunks
            answers, closed = fz.converse(
                target, data, fz.PARENT_TO_CHILD, reset=session.reset, limit_s=0.3
            )
        finally:
            if placement is not None:
                fz.close(placement[0], reset=False)
        accepted = any(isinstance(a, p.Accept) for a in answers)
        tally.add("accepted as a child" if accepted else fz.outcome(answers, closed))

    play()
    return tally


async def test_a_live_tracker_survives_hostile_clients(swarm: Swarm) -> None:
    before = Footprint.of(swarm.tracker)
    started = trio.current_time()
    tally = await trio.to_thread.run_sync(fuzz_tracker, swarm.address, FUZZ_BUDGET_S)
    ended = trio.current_time()
    print(f"\ntracker fuzzing, {ended - started:.1f} s: {tally}")
    await assert_swarm_unharmed(swarm, started, ended)
    await assert_no_leftovers(swarm.tracker, before)


async def test_a_live_relay_survives_hostile_children(swarm: Swarm) -> None:
    before = Footprint.of(swarm.relay)
    relay = listen_address(swarm.relay)
    started = trio.current_time()
    tally = await trio.to_thread.run_sync(fuzz_peer, swarm.address, relay, FUZZ_BUDGET_S)
    ended = trio.current_time()
    print(f"\nrelay fuzzing, {ended - started:.1f} s: {tally}")
    assert tally.counts["accepted as a child"] > 0, "no session got past the admission gate"
    await assert_swarm_unharmed(swarm, started, ended)
    await assert_no_leftovers(swarm.relay, before)


async def assert_swarm_unharmed(swarm: Swarm, started: float, ended: float) -> None:
    """Everyone alive, the tracker never silent, the viewer streaming from its parent."""
    for program in (swarm.tracker, swarm.source, swarm.relay, swarm.viewer, swarm.watcher):
        assert program.running(), f"{program.name} died:\n{program.tail()}"
    await eventually(
        lambda: (
            swarm.viewer.stats[-1]["_at"] > ended + 1.0 and swarm.watcher.stats[-1]["_at"] > ended
        ),
        within_s=5,
        what="statistics and status after the fuzzing",
    )
    replies = [s["_at"] for s in swarm.watcher.stats if started - 1 <= s["_at"] <= ended + 1]
    gap = max(b - a for a, b in itertools.pairwise(replies))
    rates = received_rates(swarm.viewer, started, ended)
    sent = source_rate(swarm.source, started, ended)
    overall = sum(rates) / len(rates) / sent
    print(
        f"longest wait for a status reply {gap * 1000:.0f} ms; viewer at {overall:.0%} of the "
        f"source's rate (lowest second {min(rates) / sent:.0%})"
    )
    assert gap < STATUS_GAP_LIMIT_S, "the tracker stopped answering"
    assert min(rates) / sent >= FRAME_RATE_FLOOR
    latest = swarm.viewer.latest()
    assert latest is not None and latest["parent"] == "relay" and latest["parent_switches"] == 0
    await eventually(
        lambda: swarm.watcher.stats[-1]["parents"] == {"relay": "cam", "viewer": "relay"},
        within_s=10,
        what="the tracker forgetting every intruder",
    )


async def assert_no_leftovers(program: Program, before: Footprint) -> None:
    """Descriptors back to what they were; memory grown by at most MAX_RSS_GROWTH_MIB."""
    await eventually(
        lambda: Footprint.of(program).fds <= before.fds,
        within_s=10,
        what=f"{program.name} closing every intruder's connection",
    )
    after = Footprint.of(program)
    print(
        f"{program.name}: {before.fds} -> {after.fds} descriptors, "
        f"RSS {before.rss_mib:.1f} -> {after.rss_mib:.1f} MiB"
    )
    assert after.rss_mib - before.rss_mib <= MAX_RSS_GROWTH_MIB
