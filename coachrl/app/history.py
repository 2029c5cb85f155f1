"""The charted series of an athlete's log, from the SHARED feature function.

    series = history_series(store.days("demo"), config)
    series.dates, series.ctl, series.hrv_low, series.habit_ema["sleep"], ...

The log is screened (`coachrl.coach.features.screened`: implausible readings become missing),
gaps are filled with empty days, and the simulator's own `update_history` is scanned over the
days (`jax.lax.scan`, one compiled fold for every log length up to a power of two), keeping the
history before and after each day. So every series has the definitions of
`coachrl.sim.features`:

  ctl, atl      after the day (PMC, 42 d / 7 d)
  tsb           form going into the day: CTL - ATL of the day before
  hrv_ms        the morning's reading; hrv_low / hrv_high: exp(mean -+ SD) of the 60-day normal
                range of ln rMSSD from the days before, once it is trusted (`hrv_min_days`)
  rhr_bpm       the morning's reading; rhr_usual: the usual resting HR of the days before
  sleep_h       hours asleep
  habit_ema     goal-normalised habit EMAs after the day (1 = at the goal)
  benchmark_w   benchmark results (missing on the other days)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from coachrl.coach.daily import initial_ctl
from coachrl.coach.features import record_of, screened, with_gaps_filled
from coachrl.coach.store import LoggedDay
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import init_history, readiness, update_history

MIN_BUCKET = 32  # logs are padded with empty days to a power of two >= this (fewer compiles)


@dataclasses.dataclass(frozen=True)
class Series:
    dates: list[dt.date]
    ctl: np.ndarray  # [T]
    atl: np.ndarray  # [T]
    tsb: np.ndarray  # [T]
    hrv_ms: np.ndarray  # [T], NaN = missing
    hrv_low: np.ndarray  # [T], NaN until the normal range is trusted
    hrv_high: np.ndarray  # [T]
    rhr_bpm: np.ndarray  # [T]
    rhr_usual: np.ndarray  # [T]
    sleep_h: np.ndarray  # [T]
    habit_ema: dict[str, np.ndarray]  # habit -> [T]
    benchmark_w: np.ndarray  # [T], NaN on days without a benchmark

    def to_json(self, start: dt.date | None = None, end: dt.date | None = None
                ) -> dict[str, Any]:
        """The series between `start` and `end` (inclusive), missing values as null."""
        keep = [i for i, d in enumerate(self.dates)
                if (start is None or d >= start) and (end is None or d <= end)]

        def values(x: np.ndarray) -> list[float | None]:
            return [None if np.isnan(x[i]) else round(float(x[i]), 3) for i in keep]

        out: dict[str, Any] = {"dates": [self.dates[i].isoformat() for i in keep]}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                out[field.name] = values(value)
        out["habit_ema"] = {name: values(x) for name, x in self.habit_ema.items()}
        return out


@functools.lru_cache(maxsize=8)
def _scan(config: WorldConfig):
    """jit(initial history, records [T] -> (histories before each day, after each day))."""

    def body(history, record):
        after = update_history(history, record, config)
        return after, (history, after)

    def fold(initial, records):
        _, (before, after) = jax.lax.scan(body, initial, records)
        ready = jax.vmap(lambda h: readiness(h, config))(before)
        return before, after, ready

    return jax.jit(fold)


def _bucket(n: int) -> int:
    size = MIN_BUCKET
    while size < n:
        size *= 2
    return size


def history_series(days: Sequence[LoggedDay], config: WorldConfig) -> Series:
    """The charted series of the logged `days` (chronological, gaps allowed)."""
    filled = with_gaps_filled([screened(day)[0] for day in days])
    if not filled:
        empty = np.zeros((0,), np.float32)
        return Series([], *([empty] * 9), {h.name: empty for h in config.habits.items}, empty)
    t = len(filled)
    padded = filled + [LoggedDay(filled[-1].date + dt.timedelta(days=i + 1))
                       for i in range(_bucket(t) - t)]
    records = jax.tree.map(lambda *xs: np.stack(xs), *[record_of(d, config) for d in padded])
    before, after, ready = jax.device_get(
        _scan(config)(init_history(config, initial_ctl(filled, config)), records))
    trusted = before.hrv_n[:t] >= config.observation.hrv_min_days
    mean, sd = ready.hrv_mean[:t], ready.hrv_sd[:t]
    nan = np.float32(np.nan)

    def reading(name: str) -> np.ndarray:
        return np.asarray([nan if getattr(d, name) is None else getattr(d, name)
                           for d in filled], np.float32)

    return Series(
        dates=[d.date for d in filled], ctl=after.ctl[:t], atl=after.atl[:t],
        tsb=ready.tsb[:t], hrv_ms=reading("hrv_ms"),
        hrv_low=np.where(trusted, np.exp(mean - sd), nan),
        hrv_high=np.where(trusted, np.exp(mean + sd), nan),
        rhr_bpm=reading("rhr_bpm"), rhr_usual=before.rhr_mean[:t], sleep_h=reading("sleep_h"),
        habit_ema={h.name: after.habit_ema[:t, i] for i, h in enumerate(config.habits.items)},
        benchmark_w=reading("benchmark_w"))


__all__ = ["Series", "history_series"]
