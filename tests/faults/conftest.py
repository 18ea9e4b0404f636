"""Fixtures for fault tests: real processes and network namespaces, cleaned up whatever happens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import trio

from tests.faults.netlab import LabUnavailable, NetLab
from tests.faults.programs import Programs


@pytest.fixture
async def programs(nursery: trio.Nursery) -> AsyncIterator[Programs]:
    """Starts tracker and peer processes; every one is killed and reaped at teardown."""
    started = Programs(nursery)
    try:
        yield started
    finally:
        with trio.CancelScope(shield=True):
            await started.stop_all()


@pytest.fixture
def netlab() -> Iterator[NetLab]:
    """An empty lab (a bridge in its own namespace); skipped where namespaces cannot be made."""
    try:
        lab = NetLab.create()
    except LabUnavailable as exc:
        pytest.skip(f"network namespaces cannot be created here: {exc}")
    try:
        yield lab
    finally:
        lab.close()
