"""Where things live: the checkout, the caches and the runs on the host; the checkout inside."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
CACHE = Path(os.environ.get("TLJH_DEV_CACHE", "/var/cache/tljh-dev"))
RUNS = Path(os.environ.get("TLJH_DEV_RUNS", "/var/tmp/tljh-dev"))
TIMINGS_OUT = REPO / "integration-tests" / ".timings.json"
SRC = "/srv/src"  # where the checkout is copied inside the container (writable)
