"""The daily record: exactly what a real athlete's log holds for one day.

This is the seam between simulation and reality. The simulator emits one
record per day; the daily coach reads the same fields from the log store.
Hidden state (fitness, fatigue, true hazards) never appears here.
Missing wearable readings and benchmarks are NaN, never invented.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from coachrl.sim.sessions import NUM_ZONES


class DailyRecord(NamedTuple):
    """One observable day. Scalars are 0-d arrays; a batch adds leading axes."""

    hrv_ms: jnp.ndarray  # f32, overnight rMSSD (ms); NaN if the wearable was not worn
    rhr_bpm: jnp.ndarray  # f32, resting heart rate (bpm); NaN if missing
    sleep_h: jnp.ndarray  # f32, hours asleep; NaN if missing
    sleep_eff: jnp.ndarray  # f32, sleep efficiency in [0, 1]; NaN if missing
    recovery: jnp.ndarray  # f32, recovery score 0-100; NaN if missing
    session: jnp.ndarray  # i32, index into SESSION_TYPES of the session done (0 = rest)
    minutes: jnp.ndarray  # f32, minutes done
    tss: jnp.ndarray  # f32, training load done (TSS)
    zone_minutes: jnp.ndarray  # f32[4], minutes in each domain (sessions.ZONE_NAMES)
    habits: jnp.ndarray  # f32[H], amount of each habit done (habit units)
    benchmark: jnp.ndarray  # f32, benchmark effort result (W); NaN if none today
    ill: jnp.ndarray  # bool, self-reported illness today
    injured: jnp.ndarray  # bool, self-reported injury today
    days_to_race: jnp.ndarray  # i32, days until the target race; -1 if none ahead


def empty_record(num_habits: int, days_to_race: int = -1) -> DailyRecord:
    """A day with nothing logged: no readings, no session, no habits."""
    nan = np.float32(np.nan)
    return DailyRecord(
        hrv_ms=nan, rhr_bpm=nan, sleep_h=nan, sleep_eff=nan, recovery=nan,
        session=np.int32(0), minutes=np.float32(0.0), tss=np.float32(0.0),
        zone_minutes=np.zeros((NUM_ZONES,), np.float32),
        habits=np.zeros((num_habits,), np.float32), benchmark=nan,
        ill=np.bool_(False), injured=np.bool_(False), days_to_race=np.int32(days_to_race))
