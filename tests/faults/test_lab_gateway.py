"""The lab's home routers as UPnP gateways: what a peer behind one will find.

A LAN host maps a port with miniupnpc (the client a peer would use) in its own
namespace; a host on the "internet" then reaches it at the router's WAN address, and
`Router.port_mappings` tells the test what the router forwards. A plain router has no
gateway to find.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from tests.faults.netlab import REPO, Host, LabUnavailable, NetLab, PortMapping, Router

# How long miniupnpc waits for SSDP answers to each device type it searches for; it
# waits at least 1 s whatever this says, and searches four types when none answers.
DISCOVER_DELAY_MS = 500
STEP_TIMEOUT_S = 5.0  # each step of a program in a lab host (a discovery that finds one)
NO_GATEWAY_DISCOVERY_S = 4.0  # four device types, a second each
CLOSED_CONNECT_TIMEOUT_S = 1.0  # a port no longer forwarded: the router drops the SYN
EXTERNAL_PORT = 40000
INTERNAL_PORT = 40001

# Run in a LAN host: map EXTERNAL to INTERNAL on this host, accept one connection,
# say who it came from and what it sent, then delete the mapping.
MAP_AND_ACCEPT = f"""
import socket, sys
import miniupnpc
external, internal = int(sys.argv[1]), int(sys.argv[2])
gateway = miniupnpc.UPnP()
gateway.discoverdelay = {DISCOVER_DELAY_MS}
gateway.discover()
gateway.selectigd()
server = socket.create_server(("0.0.0.0", internal))
gateway.addportmapping(external, "TCP", gateway.lanaddr, internal, "streamnest lab", "", 120)
print("mapped", gateway.lanaddr, flush=True)
connection, (peer, _) = server.accept()
print("accepted", peer, connection.recv(64).decode(), flush=True)
gateway.deleteportmapping(external, "TCP")
print("deleted", flush=True)
"""

# Run in a host on the bridge: connect to argv[1]:argv[2], send "hello", say whether it could.
CONNECT = """
import socket, sys
host, port, timeout_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    socket.create_connection((host, port), timeout=timeout_s).send(b"hello")
    print("connected")
except OSError as exc:
    print("failed", type(exc).__name__)
"""

# Run in a LAN host: how many UPnP devices answer (miniupnpc raises when none does).
DISCOVER = f"""
import miniupnpc
gateway = miniupnpc.UPnP()
gateway.discoverdelay = {DISCOVER_DELAY_MS}
try:
    print(gateway.discover())
except Exception:
    print(0)
"""


@attrs.define
class LabProgram:
    """A Python program running in a lab host, read line by line."""

    process: trio.Process
    said: bytearray = attrs.field(factory=bytearray)

    async def line(self) -> list[str]:
        """Its next line, as words; fails after STEP_TIMEOUT_S."""
        assert self.process.stdout is not None
        with trio.fail_after(STEP_TIMEOUT_S):
            while b"\n" not in self.said:
                chunk = await self.process.stdout.receive_some()
                assert chunk, f"the program ended after {bytes(self.said)!r}"
                self.said += chunk
        line, _, rest = bytes(self.said).partition(b"\n")
        self.said[:] = rest
        return line.decode().split()


@asynccontextmanager
async def running(host: Host, code: str, *args: object) -> AsyncIterator[LabProgram]:
    """Run `code` with `args` in `host`; it is killed and reaped on leaving."""
    command = ["ip", "netns", "exec", host.netns, sys.executable, "-c", code, *map(str, args)]
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, cwd=REPO)
    try:
        yield LabProgram(process)
    finally:
        process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def said_by(host: Host, code: str, *args: object, within_s: float = STEP_TIMEOUT_S) -> str:
    """What `code` with `args` prints in `host`; fails unless it ends within `within_s`."""
    command = ["ip", "netns", "exec", host.netns, sys.executable, "-c", code, *map(str, args)]
    with trio.fail_after(within_s):
        done = await trio.run_process(command, capture_stdout=True, cwd=REPO)
    return done.stdout.decode().strip()


async def upnp_router(netlab: NetLab, label: str) -> Router:
    """A UPnP router in `netlab`; the test is skipped where miniupnpd cannot run."""
    if importlib.util.find_spec("miniupnpc") is None:
        pytest.skip("the miniupnpc package (the UPnP client) is not installed")
    try:
        return await netlab.add_upnp_router(label)
    except LabUnavailable as exc:
        pytest.skip(f"no UPnP gateway here: {exc}")


async def test_a_port_mapped_over_upnp_reaches_the_lan_host_until_it_is_deleted(
    netlab: NetLab,
) -> None:
    router = await upnp_router(netlab, "r0")
    lan_host, outsider = netlab.add_host("lan", behind=router), netlab.add_host("pub")
    assert router.port_mappings() == []
    async with running(lan_host, MAP_AND_ACCEPT, EXTERNAL_PORT, INTERNAL_PORT) as program:
        assert await program.line() == ["mapped", lan_host.address]
        mapping = PortMapping("tcp", EXTERNAL_PORT, lan_host.address, INTERNAL_PORT)
        assert router.port_mappings() == [mapping]

        wan = (router.wan.address, EXTERNAL_PORT)
        assert await said_by(outsider, CONNECT, *wan, STEP_TIMEOUT_S) == "connected"
        # DNAT only: the LAN host sees the outsider's own address.
        assert await program.line() == ["accepted", outsider.address, "hello"]

        assert await program.line() == ["deleted"]
        assert router.port_mappings() == []
    closed = await said_by(outsider, CONNECT, *wan, CLOSED_CONNECT_TIMEOUT_S)
    assert closed.startswith("failed"), closed


async def test_two_upnp_routers_map_the_same_external_port_each_for_its_own_lan(
    netlab: NetLab,
) -> None:
    routers = [await upnp_router(netlab, f"r{index}") for index in range(2)]
    hosts = [netlab.add_host(f"lan{index}", behind=router) for index, router in enumerate(routers)]
    async with (
        running(hosts[0], MAP_AND_ACCEPT, EXTERNAL_PORT, INTERNAL_PORT) as first,
        running(hosts[1], MAP_AND_ACCEPT, EXTERNAL_PORT, INTERNAL_PORT + 1) as second,
    ):
        assert await first.line() == ["mapped", hosts[0].address]
        assert await second.line() == ["mapped", hosts[1].address]
        assert routers[0].port_mappings() == [
            PortMapping("tcp", EXTERNAL_PORT, hosts[0].address, INTERNAL_PORT)
        ]
        assert routers[1].port_mappings() == [
            PortMapping("tcp", EXTERNAL_PORT, hosts[1].address, INTERNAL_PORT + 1)
        ]


async def test_a_plain_router_offers_no_gateway_to_its_lan(netlab: NetLab) -> None:
    if importlib.util.find_spec("miniupnpc") is None:
        pytest.skip("the miniupnpc package (the UPnP client) is not installed")
    router = netlab.add_router("r0")
    lan_host = netlab.add_host("lan", behind=router)
    found = await said_by(lan_host, DISCOVER, within_s=NO_GATEWAY_DISCOVERY_S + STEP_TIMEOUT_S)
    assert found == "0", f"{found} UPnP devices answered behind a plain router"
    assert router.port_mappings() == []
