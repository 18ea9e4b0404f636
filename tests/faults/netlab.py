"""Several hosts on one machine: network namespaces joined by veth pairs on one bridge.

A `NetLab` makes a namespace for the bridge and one per host; each host gets `eth0`
(one end of a veth pair, the other end a port of the bridge) with its own address in
LAB_SUBNET, and its loopback up. Processes run inside a host with `ip netns exec`
(`Programs.start(..., netns=host.netns)`). Faults are made with iproute2 only: `cut`
sets the host's bridge port down (the cable is pulled at the switch: no FIN, no RST,
just silence), `cap_upload` puts a tbf on the host's eth0 (netem is not available on
these machines, tbf and htb are), and `delay` holds what the host sends for a few
milliseconds (an NFQUEUE program, tests/faults/delay_queue.py, in its namespace).

A home router (`add_router`) is a host on the bridge with a private LAN behind it
(192.168.N.0/24 on its own bridge): iptables MASQUERADEs what leaves for the bridge,
and drops every connection that starts outside, as home routers do; hosts added
`behind=` it sit on that LAN with the router as their default route.

A UPnP router (`add_upnp_router`) is that router running a real IGD daemon, Debian's
miniupnpd (tests/faults/upnp_gateway.py): LAN hosts find it by SSDP and map ports with
UPnP or NAT-PMP, and `Router.port_mappings` reads what it forwards. The lab's first
UPnP router also starts the STUN responder miniupnpd needs on a host of its own
(`stun`, tests/faults/stun_responder.py).

Names carry the test process's pid (`snf<pid>x<n>-...`), so concurrent runs never
collide; `close` kills whatever still runs inside and deletes every namespace, and a
new lab first removes labs left behind by test processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs
import trio

from tests.faults.lab_commands import COMMAND_TIMEOUT_S, LabUnavailable, ip, run
from tests.faults.upnp_gateway import (
    STUN_PORT,
    PortMapping,
    port_mappings,
    prepare_router,
    start_miniupnpd,
)
from tests.processes import alive

__all__ = ["Host", "LabUnavailable", "NetLab", "PortMapping", "Router"]

LAB_PREFIX = "snf"
LAB_SUBNET = "10.77.0"
LAB_SUBNET6 = "fd77::"  # a ULA prefix: hosts on the bridge are dual-stacked
REPO = Path(__file__).resolve().parents[2]
_labs = itertools.count(1)


@attrs.frozen
class Host:
    """One host of the lab: its namespace, its address, and its port on the bridge (or
    on its router's LAN)."""

    label: str
    netns: str
    address: str
    bridge_port: str
    address6: str | None = None  # its IPv6 address (hosts on the bridge; a LAN has none)


@attrs.define
class Router:
    """A home router: its public side is `wan` on the bridge, its LAN is `subnet`.0/24."""

    wan: Host
    subnet: str
    hosts: list[Host] = attrs.field(factory=list)
    upnp: bool = False  # runs miniupnpd (`NetLab.add_upnp_router`)

    @property
    def lan_address(self) -> str:
        """The router's own address on its LAN (the hosts' default route)."""
        return f"{self.subnet}.1"

    def port_mappings(self) -> list[PortMapping]:
        """The ports it forwards now (none without UPnP)."""
        return port_mappings(self.wan.netns) if self.upnp else []


@attrs.define
class NetLab:
    """Hosts in their own namespaces on one bridge, created and removed by a test."""

    tag: str
    hosts: dict[str, Host] = attrs.field(factory=dict)
    namespaces: list[str] = attrs.field(factory=list)
    routers: list[Router] = attrs.field(factory=list)
    # Programs the lab runs in its hosts (delay queues, the STUN responder, miniupnpd),
    # killed and reaped at `close`.
    helpers: list[trio.Process] = attrs.field(factory=list)
    stun: Host | None = None  # the STUN responder's host, once a UPnP router needs it
    _files: Path | None = None  # config, log, leases and pid file of each miniupnpd
    _queues: itertools.count[int] = attrs.field(factory=itertools.count)

    @classmethod
    def create(cls) -> NetLab:
        """A lab with its bridge and no host yet; LabUnavailable if namespaces cannot be made."""
        if shutil.which("ip") is None:
            raise LabUnavailable("iproute2 (the ip command) is not installed")
        if os.geteuid() != 0:
            raise LabUnavailable("creating network namespaces needs root")
        remove_stale_labs()
        lab = cls(tag=f"{LAB_PREFIX}{os.getpid()}x{next(_labs)}")
        try:
            lab._add_namespace(lab.bridge_ns)
        except RuntimeError as exc:
            raise LabUnavailable(f"cannot create a network namespace: {exc}") from None
        try:
            ip("-n", lab.bridge_ns, "link", "add", "br0", "type", "bridge")
            ip("-n", lab.bridge_ns, "link", "set", "br0", "up")
        except RuntimeError as exc:
            lab.close()
            raise LabUnavailable(f"cannot create a bridge in a namespace: {exc}") from None
        return lab

    @property
    def bridge_ns(self) -> str:
        """The namespace holding the bridge."""
        return f"{self.tag}-br"

    def add_router(
        self, label: str, *, random_ports: bool = False, drop_inbound_syn: bool = False
    ) -> Router:
        """A home router on the bridge with an empty LAN (add hosts `behind=` it).

        Its MASQUERADE keeps a connection's source port where it is free, and so maps a
        port the same way whatever the destination; `random_ports` gives every new
        connection a random one instead (--random-fully), as the hardest home routers do.
        `drop_inbound_syn`: its firewall drops every SYN from outside, even one that
        answers a SYN of its own LAN's (TCP simultaneous open cannot pass two of them).

        Raises LabUnavailable when iptables is missing.
        """
        if shutil.which("iptables") is None:
            raise LabUnavailable("iptables is not installed (scripts/test installs it)")
        wan = self.add_host(label)
        router = Router(wan=wan, subnet=f"192.168.{len(self.routers) + 1}")
        ns = wan.netns
        ip("-n", ns, "link", "add", "lan0", "type", "bridge")
        ip("-n", ns, "addr", "add", f"{router.lan_address}/24", "dev", "lan0")
        ip("-n", ns, "link", "set", "lan0", "up")
        in_router = ["ip", "netns", "exec", ns]
        run([*in_router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        for rule in (
            ["-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE",
             *(["--random-fully"] if random_ports else [])],
            ["-A", "FORWARD", "-i", "lan0", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
             "-j", "ACCEPT"],
            ["-A", "FORWARD", "-j", "DROP"],
            ["-A", "INPUT", "-i", "eth0", "-m", "conntrack", "--ctstate",
             "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-A", "INPUT", "-i", "eth0", "-j", "DROP"],
        ):  # fmt: skip
            run([*in_router, "iptables", *rule])
        if drop_inbound_syn:
            syn = ["-I", "FORWARD", "1", "-i", "eth0", "-p", "tcp", "--syn", "-j", "DROP"]
            run([*in_router, "iptables", *syn])
        self.routers.append(router)
        return router

    async def add_upnp_router(self, label: str) -> Router:
        """A home router (as `add_router`) whose miniupnpd maps ports for its LAN hosts
        over UPnP IGD and NAT-PMP; it is ready to map once this returns.

        Raises LabUnavailable when miniupnpd or iptables-legacy is missing, or when the
        daemon is not ready within UPNP_READY_TIMEOUT_S.
        """
        if shutil.which("miniupnpd") is None:
            raise LabUnavailable("miniupnpd is not installed (scripts/test installs it)")
        if shutil.which("iptables-legacy") is None:
            raise LabUnavailable("iptables-legacy is not installed (scripts/test installs it)")
        stun = await self._stun_host()
        router = self.add_router(label)
        router.upnp = True
        prepare_router(router.wan.netns)
        self.helpers.append(
            await start_miniupnpd(router.wan, router.subnet, stun.address, self._files_dir())
        )
        return router

    async def _stun_host(self) -> Host:
        """The host answering miniupnpd's STUN checks, started with the first UPnP router."""
        if self.stun is None:
            host = self.add_host("stun")
            await self._start_helper(
                [*("ip", "netns", "exec", host.netns, sys.executable),
                 *("-m", "tests.faults.stun_responder", "--port", str(STUN_PORT))],
                what="the STUN responder",
            )  # fmt: skip
            self.stun = host
        return self.stun

    def _files_dir(self) -> Path:
        if self._files is None:
            self._files = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        return self._files

    def add_host(self, label: str, *, behind: Router | None = None) -> Host:
        """A new host on the bridge with the next free address, or on `behind`'s LAN."""
        if behind is not None:
            return self._add_lan_host(label, behind)
        index = len(self.hosts) + 1
        host = Host(
            label=label,
            netns=f"{self.tag}-{label}",
            address=f"{LAB_SUBNET}.{index}",
            bridge_port=f"p{index}",
            address6=f"{LAB_SUBNET6}{index:x}" if ipv6_available() else None,
        )
        self._plug(host, self.bridge_ns, "br0")
        return host

    def _add_lan_host(self, label: str, router: Router) -> Host:
        index = len(router.hosts) + 2
        host = Host(
            label=label,
            netns=f"{self.tag}-{label}",
            address=f"{router.subnet}.{index}",
            bridge_port=f"l{index}",
        )
        self._plug(host, router.wan.netns, "lan0")
        ip("-n", host.netns, "route", "add", "default", "via", router.lan_address)
        router.hosts.append(host)
        return host

    def _plug(self, host: Host, switch_ns: str, switch: str) -> None:
        """Make the host's namespace and cable its eth0 to `switch` (a bridge in `switch_ns`)."""
        self._add_namespace(host.netns)
        ip("-n", host.netns, "link", "set", "lo", "up")
        ip(
            "-n", host.netns, "link", "add", "eth0", "type", "veth",
            "peer", "name", host.bridge_port, "netns", switch_ns,
        )  # fmt: skip
        ip("-n", switch_ns, "link", "set", host.bridge_port, "master", switch)
        ip("-n", switch_ns, "link", "set", host.bridge_port, "up")
        ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        if host.address6 is not None:  # nodad: usable at once, not after 1-2 s of checks
            ip("-n", host.netns, "addr", "add", f"{host.address6}/64", "dev", "eth0", "nodad")
        ip("-n", host.netns, "link", "set", "eth0", "up")
        self.hosts[host.label] = host

    def refuse_connections(self, host: Host, source: Host) -> None:
        """A firewall on `host` silently drops new TCP connections from `source` only."""
        rule = ["-A", "INPUT", "-s", source.address, "-p", "tcp", "--syn", "-j", "DROP"]
        run(["ip", "netns", "exec", host.netns, "iptables", *rule])

    async def cut(self, host: Host) -> None:
        """Pull the host's cable at the switch: its packets go nowhere, nobody is told."""
        await trio.run_process(
            ["ip", "-n", self.bridge_ns, "link", "set", host.bridge_port, "down"]
        )

    async def delay(self, host: Host, delay_ms: float) -> None:
        """Hold everything the host sends for `delay_ms` (its one-way latency to any
        other host: RTTs between two delayed hosts add up): a queue program
        (tests/faults/delay_queue.py) gives each packet its verdict that much later.

        Raises LabUnavailable when iptables-legacy or NetfilterQueue is missing.
        """
        if shutil.which("iptables-legacy") is None:
            raise LabUnavailable("iptables-legacy is not installed (scripts/test installs it)")
        if importlib.util.find_spec("netfilterqueue") is None:
            raise LabUnavailable("NetfilterQueue is not installed (the lab extra)")
        queue = next(self._queues)
        command = [
            "ip", "netns", "exec", host.netns, sys.executable, "-m", "tests.faults.delay_queue",
            "--queue", str(queue), "--delay-ms", str(delay_ms),
        ]  # fmt: skip
        await self._start_helper(command, what="the delay program (NetfilterQueue?)")
        rule = ["-A", "OUTPUT", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", str(queue)]
        run(["ip", "netns", "exec", host.netns, "iptables-legacy", *rule, "--queue-bypass"])

    async def _start_helper(self, command: list[str], *, what: str) -> None:
        """Start a lab program that prints `ready` once it serves; LabUnavailable if not."""
        program = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, cwd=REPO)
        self.helpers.append(program)
        assert program.stdout is not None
        said = b""
        with trio.move_on_after(COMMAND_TIMEOUT_S):
            while b"\n" not in said and (chunk := await program.stdout.receive_some()):
                said += chunk
        if said.strip() != b"ready":
            raise LabUnavailable(f"{what} did not start: {said!r}")

    async def cap_upload(self, host: Host, rate_kbit: int, burst_bytes: int = 16_000) -> None:
        """Limit what the host can send to `rate_kbit` (token bucket on its eth0)."""
        await trio.run_process(
            ["tc", "-n", host.netns, "qdisc", "replace", "dev", "eth0", "root", "tbf",
             "rate", f"{rate_kbit}kbit", "burst", str(burst_bytes), "latency", "200ms"]
        )  # fmt: skip

    def close(self) -> None:
        """Kill what still runs in the lab's namespaces and delete them all."""
        for program in self.helpers:
            program.kill()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(program.pid, 0)
        self.helpers.clear()
        for netns in reversed(self.namespaces):
            delete_namespace(netns)
        self.namespaces.clear()
        if self._files is not None:
            shutil.rmtree(self._files, ignore_errors=True)
            self._files = None

    def _add_namespace(self, netns: str) -> None:
        ip("netns", "add", netns)
        self.namespaces.append(netns)


def ipv6_available() -> bool:
    """Whether this kernel has IPv6 (booted without ipv6.disable=1)."""
    return os.path.exists("/proc/sys/net/ipv6")


def delete_namespace(netns: str) -> None:
    """Kill the processes inside `netns`, then delete it (its veths and bridge go with it)."""
    pids = ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    ip("netns", "del", netns, check=False)


def remove_stale_labs() -> None:
    """Delete namespaces of labs whose test process is gone (a run that was killed)."""
    listing = ip("netns", "list", check=False).stdout
    for line in listing.splitlines():
        netns = line.split(" ", 1)[0]
        if not netns.startswith(LAB_PREFIX):
            continue
        digits = netns[len(LAB_PREFIX) :].split("x", 1)[0]
        if digits.isdigit() and not alive(int(digits)):
            delete_namespace(netns)
