#!/usr/bin/env bash
# Soak test: a swarm with steady churn for SOAK_MINUTES (default 30) minutes; reports the
# RSS and open file descriptors of the tracker and of a long-lived relay at the start and
# at the end (targets: growth under 10%, no descriptor leak). Not part of scripts/test.
#   scripts/soak.sh                     # 30 minutes
#   SOAK_MINUTES=2 scripts/soak.sh      # a short run
#   scripts/soak.sh --viewers 20 --json soak.json   # more options: scripts/soak.py --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec python scripts/soak.py --minutes "${SOAK_MINUTES:-30}" "$@"
