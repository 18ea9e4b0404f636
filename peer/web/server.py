"""Serve a WebTap over HTTP/1.1 with hypercorn's trio worker, beside the peer."""

from __future__ import annotations

import logging
from typing import Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from peer.web.app import WebTap

KEEP_ALIVE_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 16 * 1024


def hypercorn_config(host: str, port: int) -> Config:
    """Bind where asked; quiet logs; bounded headers and idle time."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("streamnest.http")
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
    config.read_timeout = int(READ_TIMEOUT_S)
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.include_server_header = False
    config.graceful_timeout = 1.0
    return config


async def serve_tap(
    tap: WebTap,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `tap` until cancelled; `started` gets the base URL, e.g. http://127.0.0.1:8080/."""
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve, cast(Any, tap), hypercorn_config(host, port))
        nursery.start_soon(tap.refresh_viewer_count)
        task_status.started(binds[0].rstrip("/") + "/")
