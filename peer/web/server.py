"""Serve a WebTap: a trio listener, one h11 connection task per client."""

from __future__ import annotations

import functools

import trio

from peer.web.app import WebTap
from peer.web.http_server import serve_connection


async def serve_tap(
    tap: WebTap,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `tap` until cancelled; `started` gets the base URL, e.g. http://127.0.0.1:8080/.

    Raises OSError if the address cannot be bound.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    handler = functools.partial(
        serve_connection,
        handler=tap.handle,
        stall_s=tap.client_stall_s,
        admit=tap.admit,
        release=tap.release,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handler, listeners)
        nursery.start_soon(tap.refresh_viewer_count)
        task_status.started(f"http://{shown}:{bound_port}/")
