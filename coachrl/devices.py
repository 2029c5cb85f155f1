"""XLA host devices: one per CPU core, so that `jax.pmap` can use every core.

XLA shows a CPU as ONE device unless XLA_FLAGS asks for more, and it reads the flag
once, when JAX starts its backend (the first computation or device query, not the
import). Call `request_host_devices` before that; afterwards it changes nothing.
"""

from __future__ import annotations

import os

_FLAG = "--xla_force_host_platform_device_count"


def request_host_devices(count: int | None = None) -> None:
    """Asks XLA for `count` CPU devices (default: one per core) unless XLA_FLAGS already
    sets a count; leaves JAX_PLATFORMS alone (a GPU, if JAX uses one, is unaffected)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _FLAG.lstrip("-") not in flags:
        count = count or os.cpu_count() or 1
        os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={count}".strip()


__all__ = ["request_host_devices"]
