"""The counter node (Acme's `Counter`): sums of what actors and the learner report.

Kept free of JAX, TensorFlow and Reverb so its Ray process starts in a blink.
"""

from __future__ import annotations

import collections


class Counter:
    def __init__(self) -> None:
        self._counts: dict[str, float] = collections.defaultdict(float)

    def increment(self, **deltas: float) -> None:
        for key, value in deltas.items():
            self._counts[key] += value

    def at_least(self, **values: float) -> None:
        for key, value in values.items():
            self._counts[key] = max(self._counts[key], value)

    def get(self) -> dict[str, float]:
        return dict(self._counts)


__all__ = ["Counter"]
