"""A swarm in the lab where most viewers sit behind home routers, and what it achieved.

`HomeMix` says how many viewers sit where: public (on the bridge), behind routers with
UPnP (miniupnpd), behind plain MASQUERADE routers, and behind routers that give every
connection a random port (--random-fully). `start_home_swarm` builds the hosts, starts
a tracker, a source and the viewers in a shuffled order, and `measure` reads, over a
window, what a network engineer would ask of it: how each viewer is reached, the links
in use by kind, the source's egress, depth, continuity and join times, and the share
of relay slots in use that viewers behind routers hold. Used by
tests/faults/test_home_swarm.py and scripts/nat_swarm.py.
"""

from __future__ import annotations

import random
from collections import Counter

import attrs
import trio

from tests.faults.netlab import Host, NetLab, Router
from tests.faults.programs import Program, Programs
from tests.faults.rates import source_rate
from tests.polling import eventually

VIEWERS_PER_ROUTER = 2
PROBE_DEADLINE_S = 15.0
LINK_KINDS = ("direct", "mapped", "reversed", "punched")
# How each viewer is reached by its children, as the table prints them.
REACHED_BY = ("direct", "mapped", "punched", "reversed", "leaf-only")


@attrs.frozen
class HomeMix:
    """How many viewers sit where."""

    public: int
    upnp: int
    plain: int
    random_ports: int

    @property
    def viewers(self) -> int:
        """All viewers."""
        return self.public + self.upnp + self.plain + self.random_ports

    @classmethod
    def of(cls, viewers: int, home_share: float) -> HomeMix:
        """`viewers` with `home_share` of them at home: one behind a router with random
        ports, a third of the rest behind UPnP routers, the others behind plain ones."""
        home = round(viewers * home_share)
        hard = 1 if home else 0
        upnp = (home - hard) // 3
        return cls(public=viewers - home, upnp=upnp, plain=home - hard - upnp, random_ports=hard)


@attrs.define
class HomeSwarm:
    """The running swarm: its tracker, source, and viewers with where each sits."""

    tracker: tuple[str, int]
    tracker_host: Host
    cam: Program
    viewers: dict[str, Program] = attrs.field(factory=dict)
    place: dict[str, str] = attrs.field(factory=dict)  # name -> public/upnp/plain/random
    started_at: dict[str, float] = attrs.field(factory=dict)  # when each was launched

    @property
    def at_home(self) -> list[str]:
        """The viewers behind a router."""
        return [name for name, where in self.place.items() if where != "public"]


async def start_home_swarm(
    netlab: NetLab,
    programs: Programs,
    mix: HomeMix,
    *,
    spec: str,
    fanout: int,
    max_children: int,
    seed: int = 1,
    home_first: bool = False,
) -> HomeSwarm:
    """Build the lab's hosts for `mix`, start everything, and return once every viewer
    reports statistics and the tracker has checked each one. Viewers join in a shuffled
    order (`seed`), those at home first if `home_first` (the order that once put
    viewers nobody can reach in the source's slots)."""
    trk, cam_host = netlab.add_host("trk"), netlab.add_host("cam")
    hosts = await _viewer_hosts(netlab, mix)
    _, (_, port) = await programs.tracker(host="0.0.0.0", netns=trk.netns)
    tracker = (trk.address, port)
    cam = await programs.source(
        tracker, "cam", spec=spec, fanout=fanout, listen=None, netns=cam_host.netns
    )
    swarm = HomeSwarm(tracker=tracker, tracker_host=trk, cam=cam)
    order = list(hosts)
    random.Random(seed).shuffle(order)
    if home_first:
        order.sort(key=lambda name: hosts[name][1] == "public")
    for name in order:
        host, where = hosts[name]
        swarm.place[name] = where
        swarm.started_at[name] = trio.current_time()
        swarm.viewers[name] = await programs.viewer(
            tracker,
            name,
            max_children=max_children,
            listen=None,
            netns=host.netns,
            port_mapping=where == "upnp",
        )
    await eventually(
        lambda: all(
            (s := v.latest()) is not None and s["reachable"] is not None
            for v in swarm.viewers.values()
        ),
        within_s=PROBE_DEADLINE_S,
        what="the tracker checking every viewer",
    )
    return swarm


async def _viewer_hosts(netlab: NetLab, mix: HomeMix) -> dict[str, tuple[Host, str]]:
    """A host for each viewer, named by where it sits: p0.. public, u0.. UPnP, n0..
    plain NAT, x0 random ports; at most VIEWERS_PER_ROUTER behind each router."""
    hosts: dict[str, tuple[Host, str]] = {}
    for index in range(mix.public):
        hosts[f"p{index}"] = (netlab.add_host(f"p{index}"), "public")
    for prefix, where, count in (("u", "upnp", mix.upnp), ("n", "plain", mix.plain),
                                 ("x", "random", mix.random_ports)):  # fmt: skip
        router: Router | None = None
        for index in range(count):
            if index % VIEWERS_PER_ROUTER == 0:
                label = f"g{prefix}{index // VIEWERS_PER_ROUTER}"
                if where == "upnp":
                    router = await netlab.add_upnp_router(label)
                else:
                    router = netlab.add_router(label, random_ports=where == "random")
            name = f"{prefix}{index}"
            hosts[name] = (netlab.add_host(name, behind=router), where)
    return hosts


@attrs.frozen
class SwarmReport:
    """What the swarm achieved over the window."""

    viewers: int
    at_home: int
    reached_by: dict[str, int]  # REACHED_BY -> viewers
    links: dict[str, int]  # LINK_KINDS -> links in use
    source_egress: int  # streams the source sends
    max_depth: int
    continuity_p5: float
    continuity_p50: float
    join_p95_s: float
    home_slot_share: float  # of the relay slots in use (children of viewers), held at home
    waiting: int  # viewers with no parent at the end

    def rows(self) -> list[tuple[str, str]]:
        """The report as (figure, value) rows for a table."""
        rows = [("viewers (behind routers)", f"{self.viewers} ({self.at_home})")]
        rows += [(f"reached {kind}", str(self.reached_by[kind])) for kind in REACHED_BY]
        rows += [(f"links {kind}", str(self.links[kind])) for kind in LINK_KINDS]
        rows += [
            ("source egress (streams)", str(self.source_egress)),
            ("max depth", str(self.max_depth)),
            ("continuity p5", f"{self.continuity_p5:.3f}"),
            ("continuity p50", f"{self.continuity_p50:.3f}"),
            ("join to first frame p95 s", f"{self.join_p95_s:.2f}"),
            ("relay slots held at home", f"{self.home_slot_share:.2f}"),
            ("waiting at the end", str(self.waiting)),
        ]
        return rows


async def measure(programs: Programs, swarm: HomeSwarm, window_s: float) -> SwarmReport:
    """Watch the swarm for `window_s` from now, then report."""
    start = trio.current_time()
    end = start + window_s
    await eventually(
        lambda: all(
            (s := v.latest()) is not None and s["_at"] > end
            for v in [swarm.cam, *swarm.viewers.values()]
        ),
        within_s=3 * window_s + 10,
        what="statistics covering the window",
    )
    status = await programs.status(swarm.tracker, netns=swarm.tracker_host.netns)
    peers = {peer["name"]: peer for peer in status["peers"]}
    children: Counter[str] = Counter()
    links: Counter[str] = Counter()
    for name in swarm.viewers:
        parent, link = peers[name]["parent"], peers[name]["link"]
        if parent is None:
            continue
        links[link] += 1
        children[parent] += 1
    sent_fps = source_rate(swarm.cam, start, end)
    continuity = [
        window_continuity(viewer, sent_fps, start, end) for viewer in swarm.viewers.values()
    ]
    reached = Counter(_reached_by(peers[name]) for name in swarm.viewers)
    relay_children = sum(children[name] for name in swarm.viewers)
    home_children = sum(children[name] for name in swarm.at_home)
    return SwarmReport(
        viewers=len(swarm.viewers),
        at_home=len(swarm.at_home),
        reached_by={kind: reached[kind] for kind in REACHED_BY},
        links={kind: links[kind] for kind in LINK_KINDS},
        source_egress=children["cam"],
        max_depth=int(status["max_depth"]),
        continuity_p5=percentile(continuity, 5),
        continuity_p50=percentile(continuity, 50),
        join_p95_s=percentile([_join_s(swarm, name) for name in swarm.viewers], 95),
        home_slot_share=home_children / relay_children if relay_children else 0.0,
        waiting=sum(1 for name in swarm.viewers if peers[name]["parent"] is None),
    )


def _reached_by(peer: dict[str, object]) -> str:
    """How a child behind another router reaches this viewer, as the tracker sees it
    (PeerInfo.reached_by: `reversed` means it serves only children it can dial), or
    `leaf-only` when it offers no slot or is not checked."""
    reached_by = peer["reached_by"]
    return "leaf-only" if reached_by is None or not peer["max_children"] else str(reached_by)


def window_continuity(viewer: Program, sent_fps: float, start: float, end: float) -> float:
    """The share of the source's frames `viewer` received over the window, by its own
    statistics lines (their `t` is the peer's clock)."""
    lines = viewer.stats_between(start, end)
    if len(lines) < 2 or sent_fps <= 0:
        return 0.0
    first, last = lines[0], lines[-1]
    span_s = float(last["t"]) - float(first["t"])
    received = int(last["frames_received"]) - int(first["frames_received"])
    return min(1.0, received / (sent_fps * span_s)) if span_s > 0 else 0.0


def _join_s(swarm: HomeSwarm, name: str) -> float:
    """From launching the viewer to its first statistics line counting a frame."""
    viewer = swarm.viewers[name]
    first = next((s["_at"] for s in viewer.stats if s["frames_received"] > 0), None)
    return float("inf") if first is None else first - swarm.started_at[name]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank, as scripts/simulate.py reports)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
