#!/usr/bin/env python3
"""Run a whole StreamNest swarm on this machine and report what viewers saw.

Same as `streamnest-peer simulate`; see peer/simulation/orchestrator.py (the run) and
peer/simulation/command_line.py (the options), or --help.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peer.simulation.command_line import main

if __name__ == "__main__":
    sys.exit(main())
