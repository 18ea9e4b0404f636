"""The upload monitor: when most children starve at once, keep what the upload carries."""

from __future__ import annotations

import attrs

from peer.upload_monitor import CpuBehind, Shed, UploadMonitor, UploadSample

FPS = 30
FRAME_BYTES = 5_000  # one child's stream: 150 kB/s


class Feed:
    """Cumulative counters of a hub, advanced one check (0.5 s) at a time."""

    def __init__(self, children: list[str]) -> None:
        self.now = 0.0
        self.frames = 0
        self.sent = 0
        self.dropped = dict.fromkeys(children, 0)
        self.late = 0.0
        self.blocked = 0.0
        self.busy: float | None = None

    def step(
        self,
        *,
        carried: float,
        drops: dict[str, int] | None = None,
        late_s: float = 0.001,
        blocked_s: float = 0.0,
        cap_busy_s: float | None = None,
    ) -> UploadSample:
        """Half a second in which the upload carried `carried` streams' worth of bytes,
        our event loop woke `late_s` late in all, the writers were blocked `blocked_s`
        in all, and a cap (if any) was busy `cap_busy_s`."""
        self.now += 0.5
        self.late += late_s
        self.blocked += blocked_s
        if cap_busy_s is not None:
            self.busy = (self.busy or 0.0) + cap_busy_s
        self.frames += FPS // 2
        self.sent += int(carried * FRAME_BYTES * FPS / 2)
        for name, count in (drops or {}).items():
            self.dropped[name] = self.dropped.get(name, 0) + count
        return UploadSample(
            at_s=self.now,
            frames_offered=self.frames,
            bytes_offered=self.frames * FRAME_BYTES,
            bytes_sent=self.sent,
            dropped=dict(self.dropped),
            loop_late_s=self.late,
            send_blocked_s=self.blocked,
            upload_busy_s=self.busy,
        )


def test_when_every_child_starves_it_keeps_what_the_upload_carries() -> None:
    monitor = UploadMonitor()
    feed = Feed(["a", "b", "c"])
    decisions = [
        monitor.observe(feed.step(carried=2.3, drops={"a": 3, "b": 5, "c": 4})) for _ in range(8)
    ]
    shed = next(d for d in decisions if isinstance(d, Shed))
    assert shed.keep == 2
    assert shed.children == ("c",)  # the newest child goes
    assert 0.9 * 2.3 * 1200 < shed.upload_kbps < 1.1 * 2.3 * 1200
    assert shed.stream_kbps == 1200.0
    # Decided once the window was full (2 s), not before.
    assert decisions.index(shed) == 4


def test_starvation_moving_from_child_to_child_is_an_overload() -> None:
    # A link too slow for everyone starves the children in turn, as TCP shares it.
    monitor = UploadMonitor()
    feed = Feed(["a", "b", "c"])
    turns = [{"c": 8}, {"c": 9}, {"a": 7}, {"a": 8}, {"c": 2}, {"a": 3}]
    decisions = [monitor.observe(feed.step(carried=2.2, drops=turn)) for turn in turns]
    kept = [d.keep if isinstance(d, Shed) else None for d in decisions]
    assert kept == [None, None, None, None, 2, None]


def test_one_slow_child_is_not_an_overload() -> None:
    monitor = UploadMonitor()
    feed = Feed(["a", "b", "c"])
    for _ in range(20):
        assert monitor.observe(feed.step(carried=2.5, drops={"c": 8})) is None


def test_a_healthy_upload_sheds_nobody() -> None:
    monitor = UploadMonitor()
    feed = Feed(["a", "b", "c"])
    for _ in range(20):
        assert monitor.observe(feed.step(carried=3.0)) is None


def test_it_keeps_at_least_one_child_and_lets_at_least_one_go() -> None:
    feed = Feed(["a", "b", "c"])
    monitor = UploadMonitor()
    starving = {"a": 6, "b": 6, "c": 6}
    decisions = [monitor.observe(feed.step(carried=0.2, drops=starving)) for _ in range(8)]
    assert next(d for d in decisions if isinstance(d, Shed)).keep == 1
    feed = Feed(["a", "b", "c"])
    monitor = UploadMonitor()
    decisions = [monitor.observe(feed.step(carried=2.99, drops=starving)) for _ in range(8)]
    assert next(d for d in decisions if isinstance(d, Shed)).keep == 2


def test_after_letting_children_go_it_waits_and_measures_afresh() -> None:
    monitor = UploadMonitor()
    feed = Feed(["a", "b", "c", "d"])
    starving = {"a": 4, "b": 4, "c": 4, "d": 4}
    first = [monitor.observe(feed.step(carried=2.4, drops=starving)) for _ in range(5)][-1]
    assert isinstance(first, Shed) and first.children == ("c", "d")
    del feed.dropped["c"], feed.dropped["d"]
    # Still starving right after: no decision during the cooldown.
    quiet = [monitor.observe(feed.step(carried=1.5, drops={"a": 4, "b": 4})) for _ in range(9)]
    assert quiet == [None] * 9
    later = [monitor.observe(feed.step(carried=1.5, drops={"a": 4, "b": 4})) for _ in range(2)]
    assert any(isinstance(d, Shed) and d.keep == 1 for d in later)


def test_children_that_joined_during_the_window_are_not_judged() -> None:
    monitor = UploadMonitor()
    feed = Feed(["a", "b"])
    for _ in range(6):
        assert monitor.observe(feed.step(carried=2.0, drops={"a": 4})) is None
    feed.dropped["c"] = 0
    # Only a (of a and b, there all along) starves, and c is too new to count.
    assert monitor.observe(feed.step(carried=2.0, drops={"a": 4, "c": 9})) is None


def test_a_busy_cpu_is_not_a_slow_upload() -> None:
    # The same starving children, but our loop runs 60 ms late every half second: the
    # frames wait for our CPU, so letting children go would only shrink the tree.
    monitor = UploadMonitor()
    feed = Feed(["a", "b", "c"])
    starving = {"a": 3, "b": 5, "c": 4}
    decisions = [
        monitor.observe(feed.step(carried=2.3, drops=starving, late_s=0.06)) for _ in range(8)
    ]
    assert all(d is None or isinstance(d, CpuBehind) for d in decisions)
    behind = [d for d in decisions if isinstance(d, CpuBehind)]
    assert behind
    assert behind[0].late_ms_per_s == 120.0
    assert behind[0].children == 3
    # Once the CPU keeps up again, a real overload is still caught.
    later = [monitor.observe(feed.step(carried=2.3, drops=starving)) for _ in range(20)]
    assert any(isinstance(d, Shed) and d.keep == 2 for d in later)


def test_a_full_uplink_is_shed_even_when_the_cpu_is_behind_too() -> None:
    # A busy machine behind a thin uplink: the loop is late, but the cap was busy the
    # whole time (or, with no cap, every writer sat on a full socket): the uplink is the
    # bottleneck, and waiting for the CPU would starve the children forever.
    starving = {"a": 3, "b": 5, "c": 4}
    capped, capped_feed = UploadMonitor(), Feed(["a", "b", "c"])
    uncapped, uncapped_feed = UploadMonitor(), Feed(["a", "b", "c"])
    decisions = [
        (
            capped.observe(
                capped_feed.step(carried=2.3, drops=starving, late_s=0.06, cap_busy_s=0.5)
            ),
            uncapped.observe(
                uncapped_feed.step(carried=2.3, drops=starving, late_s=0.06, blocked_s=1.2)
            ),
        )
        for _ in range(8)
    ]
    for column in zip(*decisions, strict=True):
        shed = next(d for d in column if d is not None)
        assert isinstance(shed, Shed) and shed.keep == 2
    # A cap with room to spare while the loop is late: the CPU, as before.
    idle_cap, idle_feed = UploadMonitor(), Feed(["a", "b", "c"])
    later = [
        idle_cap.observe(idle_feed.step(carried=2.3, drops=starving, late_s=0.06, cap_busy_s=0.3))
        for _ in range(8)
    ]
    assert any(isinstance(d, CpuBehind) for d in later)
    assert not any(isinstance(d, Shed) for d in later)


def test_children_that_do_not_read_are_not_a_slow_upload() -> None:
    # Two children starve, but the kernel saw their receive windows full most of the
    # time: they do not read (their own CPU, their own downlink). Our uplink is fine.
    monitor = UploadMonitor()
    feed = Feed(["a", "b", "c"])
    held = {"a": 0.0, "b": 0.0, "c": 0.0}
    decisions = []
    for _ in range(8):
        held["a"] += 0.4
        held["b"] += 0.45
        sample = feed.step(carried=2.0, drops={"a": 6, "b": 6})
        decisions.append(monitor.observe(attrs.evolve(sample, receiver_limited_s=dict(held))))
    assert decisions == [None] * 8
    # The same starvation with windows open is our uplink.
    monitor = UploadMonitor()
    decisions = [monitor.observe(feed.step(carried=2.0, drops={"a": 6, "b": 6})) for _ in range(8)]
    assert any(isinstance(d, Shed) for d in decisions)
