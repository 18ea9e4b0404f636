"""A real UPnP IGD daemon in a lab router: Debian's miniupnpd (iptables backend, so its
rules live in the legacy tables beside the router's own nf_tables rules), and what it
forwards, read back from those rules (tests/faults/netlab.py builds the router).

miniupnpd maps nothing while its WAN address is private, as the lab's are, unless a
STUN check finds the WAN unfiltered; the lab runs a STUN responder that tells it so
(tests/faults/stun_responder.py).
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from tests.faults.lab_commands import LabUnavailable, run

if TYPE_CHECKING:
    from tests.faults.netlab import Host

STUN_PORT = 3478
UPNP_READY_TIMEOUT_S = 10.0  # miniupnpd is ready in well under a second here
READY_POLL_S = 0.02
# miniupnpd's log lines (-d: on stderr) once it maps ports (its STUN check passed) and
# once it has opened its last socket (HTTP and SSDP come before NAT-PMP).
UPNP_READY_LINES = ("Port forwarding is now enabled", "Listening for NAT-PMP/PCP traffic")
# A UPnP router's miniupnpd: it maps unprivileged ports, each to the LAN host that asks
# (secure_mode), and learns from STUN that its private WAN address is open.
UPNP_CONFIG = """\
ext_ifname=eth0
listening_ip=lan0
http_port=0
enable_upnp=yes
enable_natpmp=yes
secure_mode=yes
ext_perform_stun=yes
ext_stun_host={stun}
ext_stun_port={stun_port}
uuid={uuid}
lease_file={leases}
allow 1024-65535 {subnet}.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
"""


@attrs.frozen
class PortMapping:
    """A port a UPnP router forwards: `external_port` on its WAN address to a LAN host."""

    protocol: str  # "tcp" or "udp"
    external_port: int
    internal_host: str
    internal_port: int


def prepare_router(netns: str) -> None:
    """Give the router in `netns` the chains miniupnpd fills, and let through what they
    forward."""
    in_router = ["ip", "netns", "exec", netns]
    for rule in (
        ["-t", "nat", "-N", "MINIUPNPD"],
        ["-t", "nat", "-A", "PREROUTING", "-i", "eth0", "-j", "MINIUPNPD"],
        ["-t", "nat", "-N", "MINIUPNPD-POSTROUTING"],
        ["-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MINIUPNPD-POSTROUTING"],
        ["-N", "MINIUPNPD"],
        ["-A", "FORWARD", "-i", "eth0", "!", "-o", "eth0", "-j", "MINIUPNPD"],
    ):
        run([*in_router, "iptables-legacy", *rule])
    # The router's own FORWARD chain drops connections that start outside; like a
    # real router's, it lets through those it DNATs itself for a mapping.
    accept = ["-I", "FORWARD", "1", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"]
    run([*in_router, "iptables", *accept])


async def start_miniupnpd(wan: Host, subnet: str, stun: str, files_dir: Path) -> trio.Process:
    """Run miniupnpd in the router whose public side is `wan`, for its LAN `subnet`.0/24;
    return it once it maps ports (the caller kills it). Its config, log, leases and pid
    file go in a new directory under `files_dir`.

    Raises LabUnavailable when it is not ready within UPNP_READY_TIMEOUT_S.
    """
    files = files_dir / wan.label
    files.mkdir()
    config = files / "miniupnpd.conf"
    config.write_text(
        UPNP_CONFIG.format(
            stun=stun, stun_port=STUN_PORT, uuid=uuid.uuid4(),
            leases=files / "leases", subnet=subnet,
        )
    )  # fmt: skip
    log = files / "miniupnpd.log"
    command = ["miniupnpd", "-d", "-f", str(config), "-P", str(files / "pid")]
    with log.open("wb") as log_file:
        daemon = await trio.lowlevel.open_process(
            ["ip", "netns", "exec", wan.netns, *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,  # -d: it stays in the foreground and logs there
        )
    with trio.move_on_after(UPNP_READY_TIMEOUT_S):
        while daemon.poll() is None:
            said = log.read_text(errors="replace")
            if all(line in said for line in UPNP_READY_LINES):
                return daemon
            await trio.sleep(READY_POLL_S)
    tail = " / ".join(log.read_text(errors="replace").splitlines()[-5:])
    state = "not ready" if daemon.poll() is None else f"exited ({daemon.returncode})"
    daemon.kill()
    await daemon.wait()
    raise LabUnavailable(f"miniupnpd in {wan.label} {state} after {UPNP_READY_TIMEOUT_S} s: {tail}")


def port_mappings(netns: str) -> list[PortMapping]:
    """The ports miniupnpd in the router `netns` forwards now, from its rules."""
    # The DNAT rules say which external ports are forwarded, but iptables-legacy cannot
    # print their target ("DNAT [unsupported revision]"); the MASQUERADE rule miniupnpd
    # adds beside each (its internal source port back to the external port) names the
    # LAN end.
    forwarded = {
        (_option(rule, "-p"), int(_option(rule, "--dport")))
        for rule in _nat_rules(netns, "MINIUPNPD")
    }
    return [
        PortMapping(
            protocol=_option(rule, "-p"),
            external_port=int(_option(rule, "--to-ports")),
            internal_host=_option(rule, "-s").removesuffix("/32"),
            internal_port=int(_option(rule, "--sport")),
        )
        for rule in _nat_rules(netns, "MINIUPNPD-POSTROUTING")
        if (_option(rule, "-p"), int(_option(rule, "--to-ports"))) in forwarded
    ]


def _nat_rules(netns: str, chain: str) -> list[list[str]]:
    """The rules of a legacy nat chain in `netns`, each as its `iptables -S` words."""
    command = ["ip", "netns", "exec", netns, "iptables-legacy", "-t", "nat", "-S", chain]
    listing = run(command).stdout
    return [words for line in listing.splitlines() if (words := line.split())[:1] == ["-A"]]


def _option(rule: list[str], name: str) -> str:
    return rule[rule.index(name) + 1]
