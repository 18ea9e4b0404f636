"""A relay's upload is capped below what its children need: it lets some go, and they move.

Every peer runs on its own host (a network namespace). The relay feeds three children
until a token bucket (tc tbf) on its link caps its upload at 2.3 streams. Its children
start losing frames; the relay's upload monitor sees most of them starve, measures
what its link really carries, keeps that many children and lets the newest go with
the reason "overloaded". The tracker lowers the relay's capacity to match and places
the others elsewhere, and every child is back at full frame rate. All the while the
relay's own latency stays honest: its pings to the source wait behind its video to its
children, but the frames coming down do not, and neither does the estimate.
"""

from __future__ import annotations

import statistics
from typing import Any

import trio

from tests.faults.netlab import NetLab
from tests.faults.programs import Program, Programs
from tests.faults.rates import received_rates, source_rate
from tests.polling import eventually

SOURCE_FPS = 30
CHILDREN = 3
CAP_STREAMS = 2.3  # the capped link carries two children's streams, not three
SHED_TARGET_S = 6.0  # drops start once the socket buffers fill, then a 3 s window
FRAME_RATE_FLOOR = 0.9
SETTLE_S = 3.0  # after the move: the moved children's new links warm up
# The relay's estimate against the truth, for the same frame. Too high is what queueing
# would do (its pings wait up to the tbf's 200 ms behind its video; before the minimum
# RTT the estimate read 20 to 80 ms over a true 2 to 3 ms for the next 15 s): no line may
# be over by more than one hop's scheduling noise. Too low is the relay reading its
# socket late on a busy machine, which the estimate cannot see: judged on the median.
OVERESTIMATE_SLACK_MS = 5.0
MEDIAN_ERROR_MS = 2.0
MEDIAN_ERROR_SHARE = 0.2


async def test_a_relay_whose_upload_is_capped_lets_children_go(
    netlab: NetLab, programs: Programs
) -> None:
    home = netlab.add_host("home")
    _, address = await programs.tracker(host=home.address, netns=home.netns)
    spec = f"testsrc:320x240@{SOURCE_FPS}"
    source = await programs.source(
        address, "cam", spec=spec, fanout=1, listen=home.address, netns=home.netns
    )
    relay_host = netlab.add_host("relay")
    relay = await programs.viewer(
        address, "relay", max_children=CHILDREN, listen=relay_host.address, netns=relay_host.netns
    )
    children: list[Program] = []
    for index in range(CHILDREN):
        # The relay offers two slots at first and one more once it carries them well
        # (peer/capacity.py): each child comes once the relay has a slot for it.
        await eventually(
            lambda: int((relay.latest() or {}).get("slots", 0)) > index,  # noqa: B023
            within_s=20,
            what=f"the relay offering {index + 1} slots",
        )
        host = netlab.add_host(f"c{index}")
        children.append(
            await programs.viewer(
                address, f"c{index}", max_children=2, listen=host.address, netns=host.netns
            )
        )
    watcher = await programs.tree_watcher(address, netns=home.netns)
    await eventually(
        lambda: all(under(c, "relay") and c.frames() > SOURCE_FPS for c in children),
        within_s=20,
        what="three children receiving through the relay",
    )
    stream_kbps = float(relay.latest()["bandwidth_kbps"])  # type: ignore[index]
    cap_kbit = round(CAP_STREAMS * stream_kbps)

    capped_at = trio.current_time()
    await netlab.cap_upload(relay_host, cap_kbit)
    await eventually(
        lambda: relay.said("upload carries", since_s=capped_at) is not None,
        within_s=3 * SHED_TARGET_S,
        what="the relay noticing its upload cannot carry its children",
    )
    shed_at = relay.said("upload carries", since_s=capped_at)
    assert shed_at is not None
    await eventually(
        lambda: capacity_follows(watcher.stats[-1], shed_at),
        within_s=10,
        what="the tracker lowering the relay's capacity and re-placing the others",
    )
    tree = watcher.stats[-1]
    kept = [name for name, up in tree["parents"].items() if up == "relay"]
    moved = [c.name for c in children if c.name not in kept]
    await eventually(
        lambda: (
            all(not under(c, None) for c in children)
            and all(not under(c, "relay") for c in children if c.name in moved)
        ),
        within_s=10,
        what="the moved children receiving from their new parents",
    )
    settled = trio.current_time() + SETTLE_S
    await eventually(
        lambda: all(len(c.stats_between(settled, settled + 10)) >= 4 for c in children),
        within_s=SETTLE_S + 10,
        what="four seconds of statistics after the move",
    )
    sent = source_rate(source, settled, trio.current_time())
    floors = {c.name: min(received_rates(c, settled, trio.current_time())) / sent for c in children}
    relay_line = relay.latest()
    assert relay_line is not None
    relay_lines = relay.stats_between(capped_at, trio.current_time())
    estimates = [float(line["latency_ms"]) for line in relay_lines]
    truths = [float(line["true_latency_ms"]) for line in relay_lines]
    print(
        f"\nstream {stream_kbps:.0f} kb/s, relay capped at {cap_kbit} kbit/s; it let "
        f"{', '.join(moved)} go {shed_at - capped_at:.2f} s after the cap "
        f"({notice(relay, 'upload carries')}); the tracker now "
        f"gives it {tree['capacity']['relay']} slots; kept {', '.join(kept)}; moved: "
        + ", ".join(f"{name} -> {tree['parents'][name]}" for name in moved)
        + "; lowest 1 s frame rate since: "
        + ", ".join(f"{name} {floor:.0%}" for name, floor in floors.items())
        + f"; relay upload now {relay_line['upload_kbps']:.0f} kb/s"
        + f"; relay latency since the cap (estimate/true ms): {latency_pairs(relay_lines)}"
    )
    assert shed_at - capped_at < 2 * SHED_TARGET_S
    assert tree["capacity"]["relay"] == len(kept) == 2
    assert min(floors.values()) >= FRAME_RATE_FLOOR
    assert len(relay_lines) >= 5
    assert max(e - t for e, t in zip(estimates, truths, strict=True)) <= OVERESTIMATE_SLACK_MS
    truth = statistics.median(truths)
    median_error = statistics.median(abs(e - t) for e, t in zip(estimates, truths, strict=True))
    assert median_error <= MEDIAN_ERROR_MS + MEDIAN_ERROR_SHARE * truth


def under(child: Program, parent: str | None) -> bool:
    """Whether the child's newest statistics line shows `parent` as its parent."""
    latest = child.latest()
    return latest is not None and latest["parent"] == parent


def capacity_follows(line: dict[str, Any], since_s: float) -> bool:
    """The tracker's tree (as of `line`) gives the relay no more slots than children."""
    if line["_at"] < since_s:
        return False
    children = sum(1 for up in line["parents"].values() if up == "relay")
    return bool(line["capacity"]["relay"] < CHILDREN and children <= line["capacity"]["relay"])


def notice(program: Program, text: str) -> str:
    """The first notice of `program` containing `text`, from `text` on."""
    line = next(line for _, line in program.notices if text in line)
    return line[line.index(text) :]


def latency_pairs(lines: list[dict[str, Any]]) -> str:
    """Each line's latency estimate and true latency, as `est/true` in ms."""
    return " ".join(f"{line['latency_ms']:.1f}/{line['true_latency_ms']:.1f}" for line in lines)
