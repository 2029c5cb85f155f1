"""The counter node (Acme's `Counter`): sums of what actors and the learner report.

Kept free of JAX, TensorFlow and Reverb so its Ray process starts in a blink.
"""

from __future__ import annotations

import collections


class Counter:
    """Also carries the stop request the actors poll (so they end without being killed)."""

    def __init__(self) -> None:
        self._counts: dict[str, float] = collections.defaultdict(float)
        self._stop = False

    def request_stop(self) -> None:
        self._stop = True

    def stop_requested(self) -> bool:
        return self._stop

    def increment(self, **deltas: float) -> bool:
        """Adds `deltas`; returns whether a stop was requested."""
        for key, value in deltas.items():
            self._counts[key] += value
        return self._stop

    def at_least(self, **values: float) -> None:
        for key, value in values.items():
            self._counts[key] = max(self._counts[key], value)

    def get(self) -> dict[str, float]:
        return dict(self._counts)


__all__ = ["Counter"]
