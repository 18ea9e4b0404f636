"""Asking the home router to forward our listening port, so viewers outside can dial us.

Most home viewers sit behind a router that drops every connection from outside, so
nobody can dial them and they relay to nobody but the few they can dial themselves.
Many routers forward a port on request (UPnP IGD), spoken here through miniupnpc, the
MiniUPnP project's client: its calls block and release the GIL, so each runs in a
worker thread. A peer looks for a gateway for DISCOVER_MS, asks it to forward the port
we listen on (or, when that one is taken, any port it picks) to our listener for
LEASE_S, renews the lease at half its life, and removes the mapping when it leaves by
any way out (its task is cancelled: Ctrl-C, SIGTERM, the GUI's close, `leave()`). The
tracker is told the port (`CheckReachability.mapped_port`) and dials it before it
counts on it. NAT-PMP and PCP are not spoken: the one Python client (py-natpmp) speaks
NAT-PMP v0 only and saw its last release in 2023, and routers that speak them mostly
speak UPnP too.

All of this stays off the path to the first frame: the peer registers and watches at
once, and a mapping, when it comes, makes a leaf a relay. It never stops the peer:
whatever goes wrong is one PortMappingError, told to the user once, and retried later.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs
import miniupnpc
import trio

from peer import events as ev

DISCOVER_MS = 1000  # how long we wait for gateways to answer the search (SSDP)
LEASE_S = 1200  # the lease we ask for: a peer that crashed leaves a mapping this long
FIRST_RETRY_S = 30.0  # after a failure, ask again this much later, doubling each time
MAX_RETRY_S = 600.0
PERMANENT_RECHECK_S = 600.0  # a gateway that only grants permanent leases: re-add this often
REMOVE_TIMEOUT_S = 2.0  # leaving waits at most this long for the gateway to forget us
PERMANENT_ONLY = "OnlyPermanentLeasesSupported"  # UPnP error 725


class PortMappingError(Exception):
    """The gateway could not be found or would not map the port; the text says why."""


@attrs.frozen
class Mapping:
    """A port the gateway forwards to our listener: `external_port` on its public
    address (`external_host`, when it tells) to `internal_host`:`internal_port`."""

    external_port: int
    internal_host: str
    internal_port: int
    lease_s: int  # 0: permanent (until removed)
    external_host: str | None = None


class Gateway(Protocol):
    """A home router that maps ports; each call blocks (run it in a worker thread)."""

    def add(self, internal_port: int, lease_s: int, description: str) -> Mapping:
        """Map a port to `internal_port` on this host (or renew it); PortMappingError."""
        ...

    def remove(self, mapping: Mapping) -> None:
        """Delete the mapping; PortMappingError if the gateway refuses."""
        ...


class UpnpGateway:
    """A UPnP Internet Gateway Device on our LAN, found by `discover`."""

    def __init__(self, upnp: miniupnpc.UPnP) -> None:
        """Wrap a miniupnpc client that has selected its gateway."""
        self._upnp = upnp

    @classmethod
    def discover(cls, delay_ms: int) -> UpnpGateway:
        """The first gateway that answers within `delay_ms`; PortMappingError if none."""
        upnp = miniupnpc.UPnP()
        upnp.discoverdelay = delay_ms
        none = PortMappingError(f"no UPnP gateway answered within {delay_ms} ms")
        try:
            found = upnp.discover()
        except Exception:  # miniupnpc: Exception("Success") when nothing answered
            raise none from None
        if not found:
            raise none
        try:
            upnp.selectigd()
        except Exception as exc:  # miniupnpc raises plain Exception with the reason
            raise PortMappingError(f"no usable UPnP gateway ({exc})") from None
        return cls(upnp)

    def add(self, internal_port: int, lease_s: int, description: str) -> Mapping:
        """Forward the same port number if we can, else any the gateway picks."""
        upnp = self._upnp
        lan = str(upnp.lanaddr)
        try:
            try:
                upnp.addportmapping(
                    internal_port, "TCP", lan, internal_port, description, "", lease_s
                )
                external = internal_port
            except Exception as exc:
                if PERMANENT_ONLY in str(exc):
                    return self.add(internal_port, 0, description)
                # The port is taken (by another host's mapping, say): let it choose one.
                external = int(
                    upnp.addanyportmapping(
                        internal_port, "TCP", lan, internal_port, description, "", lease_s
                    )
                )
        except Exception as exc:
            raise PortMappingError(
                f"the gateway refused to map port {internal_port} ({exc})"
            ) from None
        try:
            public: str | None = str(upnp.externalipaddress()) or None
        except Exception:
            public = None  # some gateways will not say; the tracker sees it anyway
        return Mapping(
            external_port=external,
            internal_host=lan,
            internal_port=internal_port,
            lease_s=lease_s,
            external_host=public,
        )

    def remove(self, mapping: Mapping) -> None:
        """Delete the mapping of `mapping.external_port`."""
        try:
            self._upnp.deleteportmapping(mapping.external_port, "TCP")
        except Exception as exc:
            raise PortMappingError(
                f"the gateway kept port {mapping.external_port} ({exc})"
            ) from None


@attrs.define
class MappingSchedule:
    """When to ask the gateway next: at once, then at half of each lease, and after a
    failure later and later (FIRST_RETRY_S, doubling up to MAX_RETRY_S). Pure: the
    caller passes the time."""

    next_s: float = -math.inf
    retry_s: float = FIRST_RETRY_S

    def mapped(self, now_s: float, lease_s: float) -> None:
        """A mapping was made or renewed at `now_s` for `lease_s` (0: permanent)."""
        self.retry_s = FIRST_RETRY_S
        self.next_s = now_s + (lease_s / 2 if lease_s > 0 else PERMANENT_RECHECK_S)

    def failed(self, now_s: float) -> None:
        """Finding the gateway or mapping the port failed at `now_s`."""
        self.next_s = now_s + self.retry_s
        self.retry_s = min(self.retry_s * 2, MAX_RETRY_S)


@attrs.define
class PortMapper:
    """Keeps our listening port mapped on the home router while the peer runs, and
    says so: `on_change` gets each new mapping (None: the one we had is gone)."""

    name: str
    on_change: Callable[[Mapping | None], None]
    on_event: Callable[[ev.PeerEvent], None]
    discover: Callable[[int], Gateway] = UpnpGateway.discover
    # How a blocking gateway call is made: in a worker thread (tests run them inline,
    # so that virtual time stands still while one runs).
    blocking: Callable[..., Awaitable[Any]] = trio.to_thread.run_sync
    mapping: Mapping | None = None
    _gateway: Gateway | None = None
    _told_failure: bool = False

    async def run(self, internal_port: int) -> None:
        """Map `internal_port` and keep it mapped until cancelled; then remove it."""
        schedule = MappingSchedule()
        try:
            while True:
                await trio.sleep_until(schedule.next_s)
                try:
                    mapping = await self._map(internal_port)
                except PortMappingError as exc:
                    schedule.failed(trio.current_time())
                    self._failed(str(exc))
                    continue
                schedule.mapped(trio.current_time(), mapping.lease_s)
                if mapping != self.mapping:
                    self.mapping = mapping
                    self._told_failure = False
                    self.on_change(mapping)
                    self.on_event(
                        ev.PortMapped(
                            external_port=mapping.external_port,
                            internal=f"{mapping.internal_host}:{mapping.internal_port}",
                            external_host=mapping.external_host,
                        )
                    )
        finally:
            await self._remove()

    async def _map(self, internal_port: int) -> Mapping:
        if self._gateway is None:
            # Abandoned on cancel: a search only waits, and ends by itself within the delay.
            self._gateway = await self.blocking(self.discover, DISCOVER_MS, abandon_on_cancel=True)
        description = f"StreamNest {self.name}"
        try:
            mapping: Mapping = await self.blocking(
                self._gateway.add, internal_port, LEASE_S, description
            )
            return mapping
        except PortMappingError:
            self._gateway = None  # it may have gone, or been replaced: search again
            raise

    def _failed(self, detail: str) -> None:
        if self.mapping is not None:
            self.mapping = None
            self.on_change(None)
        if not self._told_failure:
            self._told_failure = True
            self.on_event(ev.PortMappingFailed(detail=detail))

    async def _remove(self) -> None:
        """Delete our mapping, even while the peer is being cancelled, within a bound."""
        mapping, gateway = self.mapping, self._gateway
        if mapping is None or gateway is None:
            return
        self.mapping = None
        with trio.CancelScope(shield=True), trio.move_on_after(REMOVE_TIMEOUT_S):
            try:
                await self.blocking(gateway.remove, mapping, abandon_on_cancel=True)
            except PortMappingError as exc:
                self.on_event(ev.PortMappingFailed(detail=str(exc)))
