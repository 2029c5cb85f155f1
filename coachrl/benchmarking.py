"""What every benchmark script reports besides its figures: the machine and peak memory."""

from __future__ import annotations

import os
import platform
import resource
from typing import Any


def machine_info() -> dict[str, Any]:
    uname = platform.uname()
    return {"processor": platform.processor() or uname.machine, "system": uname.system,
            "release": uname.release, "machine": uname.machine, "node": uname.node,
            "cpu_count": os.cpu_count()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
