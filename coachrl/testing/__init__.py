"""Small fakes and builders for tests: fabricated records and histories."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.sim.config import WorldConfig
from coachrl.sim.features import History, init_history, observe_morning, update_history
from coachrl.sim.record import DailyRecord, empty_record
from coachrl.sim.sessions import AEROBIC_BASE, INTENSITY_FACTORS, ZONE_FRACTIONS, tss


def record(config: WorldConfig, session: int = AEROBIC_BASE, minutes: float = 60.0,
           hrv_ms: float = 60.0, rhr_bpm: float = 50.0, sleep_h: float = 7.5,
           sleep_eff: float = 0.9, recovery: float = 60.0, habits=None, benchmark=np.nan,
           ill: bool = False, injured: bool = False, days_to_race: int = -1) -> DailyRecord:
    """One fabricated day; load and time in zone are derived from the session as the simulator
    does."""
    base = empty_record(config.num_habits, days_to_race)
    minutes = 0.0 if session == 0 else minutes
    return base._replace(
        hrv_ms=np.float32(hrv_ms), rhr_bpm=np.float32(rhr_bpm), sleep_h=np.float32(sleep_h),
        sleep_eff=np.float32(sleep_eff), recovery=np.float32(recovery),
        session=np.int32(session), minutes=np.float32(minutes),
        tss=np.float32(tss(minutes, INTENSITY_FACTORS[session])),
        zone_minutes=np.asarray(ZONE_FRACTIONS[session], np.float32) * np.float32(minutes),
        habits=np.asarray(habits if habits is not None else base.habits, np.float32),
        benchmark=np.float32(benchmark), ill=np.bool_(ill), injured=np.bool_(injured))


@functools.lru_cache(maxsize=8)
def _jitted(config: WorldConfig):
    return (jax.jit(lambda h, r: update_history(h, r, config)),
            jax.jit(lambda h, r: observe_morning(h, r, config)))


def fold(config: WorldConfig, days: list[DailyRecord], initial_ctl: float = 0.0,
         today: DailyRecord | None = None, history: History | None = None) -> History:
    """History after complete `days`, then (optionally) the morning of `today`."""
    update, morning = _jitted(config)
    h = init_history(config, initial_ctl) if history is None else history
    for day in days:
        h = update(h, day)
    if today is not None:
        h = morning(h, today)
    return h


def stack(records: list[DailyRecord]) -> DailyRecord:
    """Time-major stack of records (leaves [T, ...])."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *records)
