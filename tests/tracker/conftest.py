"""The tracker's tests drive it with scripted clients (tests/tracker/client.py) that
name a listening port but listen nowhere, so the tracker under test trusts the
addresses they give instead of dialling them back; tests/tracker/test_reachability.py
covers the dial-back with clients that do answer."""

from __future__ import annotations

import attrs
import pytest

from tests.conftest import default_tracker_config
from tracker.service import TrackerConfig


@pytest.fixture
def tracker_config() -> TrackerConfig:
    """The shared settings (tests/conftest.py), without the reachability check."""
    return attrs.evolve(default_tracker_config(), check_reachability=False)
