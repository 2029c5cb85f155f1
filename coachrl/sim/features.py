"""The ONE feature function: observable history -> features.

`History` is what can be known from an athlete's log up to today. It is
folded day by day with `update_history(history, record)`, by the simulator
and by daily inference over a real log alike, so both see the same features.
At the moment of a decision for day t the history holds every complete day
before t plus the morning of day t (`observe_morning`: today's wearable
readings and illness / injury reports), as a real morning log does.

Definitions (all from logged data only):
  * PMC (TrainingPeaks / GoldenCheetah PMCData.cpp):
      CTL_t = CTL_{t-1} e^{-1/42} + TSS_t (1 - e^{-1/42}),  ATL likewise with 7 d,
      TSB_t = CTL_{t-1} - ATL_{t-1} (form going into day t).
  * ACWR = mean load of the last 7 d / mean load of the last 28 d (Gabbett 2016),
    the chronic mean floored at `pmc.chronic_floor_tss`.
  * Monotony = mean / SD of the last 7 daily loads; strain = weekly load x monotony (Foster 1998).
  * HRV (Plews 2012/2014, HRV4Training): ln rMSSD; 7-day rolling baseline (today
    included) and a 60-day normal range (mean +- SD of the days before today),
    trusted after `hrv_min_days` readings. The normal range is an exponentially
    weighted mean / variance with span 60 (weight max(1/n, 2/61), so the first 60
    readings give the plain sample mean): O(1) per day instead of a 60-day buffer,
    and the same for a real log. Resting HR's usual value is kept the same way.
  * Missing readings are forward-filled for at most `forward_fill_days` days and
    flagged; beyond that the feature falls back to the athlete's own mean (or a
    neutral value before there is one) and the flag stays on.
  * Time in each intensity domain (recovery / low / threshold / high) over the last 7 days,
    in hours.
  * Habit EMA: EMA_t = (1 - a) EMA_{t-1} + a n_t, n_t the day's amount normalised by the goal
    (`coachrl.sim.habits`; CoachRL: -> 1 at the goal).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from coachrl.sim import habits as habits_lib
from coachrl.sim.config import WorldConfig
from coachrl.sim.record import DailyRecord
from coachrl.sim.sessions import (
    AEROBIC_BASE,
    HARD,
    INTENSITY_FACTORS,
    NUM_SESSION_TYPES,
    REST,
    lookup,
    zone_minutes,
)

NUM_CHANNELS = 5  # wearable channels forward-filled: hrv_ms, rhr_bpm, sleep_h, sleep_eff, recovery
LOAD_DAYS = 28  # load history kept: the longest window any rule or feature needs
SD_FLOOR_LN = 0.03  # floor on the SD of ln rMSSD so z-scores stay finite on very stable data
ZONE_FEATURE_HOURS = (3.0, 10.0, 2.0, 1.0)  # scale of the 7-day hours in each domain
WEEKLY_PATTERN = (1.2, 1.0, 0.0, 1.3, 1.0, 0.8, 1.7)  # warm-start week: 6 sessions + 1 rest, mean 1
_DAYS_SINCE_WARM_REST = len(WEEKLY_PATTERN) - 1 - WEEKLY_PATTERN.index(0.0)


class History(NamedTuple):
    """Observable history of one athlete (oldest first in every buffer)."""

    day: jnp.ndarray  # i32, days folded so far
    ctl: jnp.ndarray  # f32, chronic training load (fitness proxy)
    atl: jnp.ndarray  # f32, acute training load (fatigue proxy)
    ctl_week: jnp.ndarray  # f32[8], CTL of the last 8 days (ramp rate)
    tss: jnp.ndarray  # f32[28], daily load
    minutes: jnp.ndarray  # f32[28], daily minutes
    zone_week: jnp.ndarray  # f32[7, 4], daily minutes in each domain (sessions.ZONE_NAMES)
    session: jnp.ndarray  # i32, yesterday's session type
    hard_streak: jnp.ndarray  # i32, hard days in a row up to yesterday
    days_since_rest: jnp.ndarray  # i32, days since the last rest day
    hrv_week: jnp.ndarray  # f32[7], ln rMSSD of the last days, today last (NaN = missing)
    hrv_mean: jnp.ndarray  # f32, normal-range mean of ln rMSSD (days before today)
    hrv_var: jnp.ndarray  # f32, normal-range variance of ln rMSSD
    hrv_n: jnp.ndarray  # i32, ln rMSSD readings in the normal range
    rhr_mean: jnp.ndarray  # f32, usual resting HR (days before today)
    rhr_n: jnp.ndarray  # i32, resting-HR readings so far
    sleep_h: jnp.ndarray  # f32[7], hours asleep (NaN = missing)
    last: jnp.ndarray  # f32[5], last seen value of each wearable channel
    age: jnp.ndarray  # i32[5], days since each channel was last seen (0 = today)
    low_recovery_streak: jnp.ndarray  # i32, days running with recovery under the safety line
    habit_ema: jnp.ndarray  # f32[H], goal-normalised habit EMAs
    ill: jnp.ndarray  # bool, ill today (self-reported)
    injured: jnp.ndarray  # bool, injured today (self-reported)
    days_to_race: jnp.ndarray  # i32, days from today to the race (0 = race day); -1 if none
    bench_last: jnp.ndarray  # f32, last benchmark (NaN before the first)
    bench_ema: jnp.ndarray  # f32, EMA of benchmarks (NaN before the first)


def warm_start_loads(initial_ctl: float | jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Daily TSS and minutes of the 28 days before day 0 for an athlete at CTL `initial_ctl`.

    A repeating week of aerobic-base sessions (WEEKLY_PATTERN, one rest day)
    averaging `initial_ctl` TSS a day. Used by the simulator and by daily
    inference for an athlete whose log starts today with a known starting CTL.
    """
    pattern = jnp.asarray(WEEKLY_PATTERN * (LOAD_DAYS // 7), jnp.float32)
    tss = pattern * initial_ctl
    minutes = tss / (INTENSITY_FACTORS[AEROBIC_BASE] ** 2 * 100.0) * 60.0
    return tss, minutes


def init_history(config: WorldConfig, initial_ctl: float | jnp.ndarray = 0.0,
                 days_to_race: int | jnp.ndarray = -1) -> History:
    """History of an athlete with no log yet, training at `initial_ctl` TSS/day so far.

    Habit EMAs start where each habit's default level (what the athlete does
    unprompted) would hold them, not at zero.
    """
    ctl = jnp.asarray(initial_ctl, jnp.float32)
    tss, minutes = warm_start_loads(ctl)
    nan = jnp.float32(jnp.nan)
    return History(
        day=jnp.int32(0), ctl=ctl, atl=ctl, ctl_week=jnp.full((8,), ctl),
        tss=tss, minutes=minutes, zone_week=zone_minutes(AEROBIC_BASE, minutes[-7:]),
        session=jnp.int32(AEROBIC_BASE),
        hard_streak=jnp.int32(0), days_since_rest=jnp.int32(_DAYS_SINCE_WARM_REST),
        hrv_week=jnp.full((config.observation.hrv_baseline_days,), nan),
        hrv_mean=nan, hrv_var=jnp.float32(0.0), hrv_n=jnp.int32(0),
        rhr_mean=nan, rhr_n=jnp.int32(0), sleep_h=jnp.full((7,), nan),
        last=jnp.full((NUM_CHANNELS,), nan), age=jnp.full((NUM_CHANNELS,), 10_000, jnp.int32),
        low_recovery_streak=jnp.int32(0),
        habit_ema=jnp.asarray(habits_lib.initial_ema(config.habits)),
        ill=jnp.bool_(False), injured=jnp.bool_(False),
        days_to_race=jnp.asarray(days_to_race, jnp.int32),
        bench_last=nan, bench_ema=nan)


def _push(buffer: jnp.ndarray, value: jnp.ndarray) -> jnp.ndarray:
    return jnp.concatenate([buffer[1:], value[None].astype(buffer.dtype)])


def pmc_decay(days: float) -> float:
    """e^{-1/days}: the PMC's daily decay (0.976472 for 42 d, 0.866878 for 7 d)."""
    return math.exp(-1.0 / days)


def observe_morning(history: History, record: DailyRecord, config: WorldConfig) -> History:
    """Folds a day's morning part: wearable readings, illness / injury, race calendar.

    Daily inference calls this alone for today (readings synced, nothing trained
    yet); `update_history` applies it and then `log_day` for a complete day.
    """
    channels = jnp.stack([record.hrv_ms, record.rhr_bpm, record.sleep_h, record.sleep_eff,
                          record.recovery]).astype(jnp.float32)
    seen = ~jnp.isnan(channels)
    low = record.recovery < config.safety.low_recovery
    low_streak = jnp.where(jnp.isnan(record.recovery), history.low_recovery_streak,
                           jnp.where(low, history.low_recovery_streak + 1, 0))
    return history._replace(
        hrv_week=_push(history.hrv_week, jnp.log(record.hrv_ms)),
        sleep_h=_push(history.sleep_h, record.sleep_h),
        last=jnp.where(seen, channels, history.last),
        age=jnp.where(seen, 0, jnp.minimum(history.age + 1, 10_000)),
        low_recovery_streak=low_streak,
        ill=jnp.asarray(record.ill), injured=jnp.asarray(record.injured),
        days_to_race=jnp.asarray(record.days_to_race, jnp.int32))


def ew_stats(mean: jnp.ndarray, var: jnp.ndarray, n: jnp.ndarray, x: jnp.ndarray,
             span: float) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Exponentially weighted mean / variance (West 1979) with weight max(1/n, 2/(span+1)).

    A NaN `x` (missing reading) leaves the statistics unchanged.
    """
    seen = ~jnp.isnan(x)
    n_new = n + seen
    a = jnp.maximum(1.0 / jnp.maximum(n_new, 1), 2.0 / (span + 1.0))
    delta = jnp.where(seen, x - jnp.where(n > 0, mean, x), 0.0)
    mean_new = jnp.where(n > 0, mean, x) + a * delta
    var_new = (1.0 - a) * (var + a * delta**2)
    return (jnp.where(seen, mean_new, mean), jnp.where(seen, var_new, var), n_new)


def log_day(history: History, record: DailyRecord, config: WorldConfig) -> History:
    """Folds a day's training part: the session done, its load, habits, benchmark.

    Today's morning readings join the normal ranges here, at the end of the day,
    so that during the day they are compared with the days before.
    """
    span = config.observation.hrv_window_days
    hrv_mean, hrv_var, hrv_n = ew_stats(history.hrv_mean, history.hrv_var, history.hrv_n,
                                        jnp.log(record.hrv_ms), span)
    rhr_mean, _, rhr_n = ew_stats(history.rhr_mean, jnp.float32(0.0), history.rhr_n,
                                  record.rhr_bpm, span)
    c_ctl, c_atl = pmc_decay(config.pmc.ctl_days), pmc_decay(config.pmc.atl_days)
    load = jnp.asarray(record.tss, jnp.float32)
    ctl = history.ctl * c_ctl + load * (1.0 - c_ctl)
    atl = history.atl * c_atl + load * (1.0 - c_atl)
    hard = lookup(HARD, record.session) & (record.minutes > 0)
    rested = (record.session == REST) | (record.minutes <= 0)

    habit_ema = habits_lib.update_ema(history.habit_ema, record.habits, config.habits)

    has_bench = ~jnp.isnan(record.benchmark)
    bench_ema = jnp.where(
        has_bench,
        jnp.where(jnp.isnan(history.bench_ema), record.benchmark,
                  0.8 * history.bench_ema + 0.2 * record.benchmark),
        history.bench_ema)
    return history._replace(
        day=history.day + 1, ctl=ctl, atl=atl, ctl_week=_push(history.ctl_week, ctl),
        tss=_push(history.tss, load), minutes=_push(history.minutes, record.minutes),
        zone_week=_push(history.zone_week, jnp.asarray(record.zone_minutes, jnp.float32)),
        session=jnp.asarray(record.session, jnp.int32),
        hard_streak=jnp.where(hard, history.hard_streak + 1, 0),
        days_since_rest=jnp.where(rested, 0, history.days_since_rest + 1),
        habit_ema=habit_ema, hrv_mean=hrv_mean, hrv_var=hrv_var, hrv_n=hrv_n,
        rhr_mean=rhr_mean, rhr_n=rhr_n,
        bench_last=jnp.where(has_bench, record.benchmark, history.bench_last),
        bench_ema=bench_ema)


def update_history(history: History, record: DailyRecord, config: WorldConfig) -> History:
    """Folds one complete day (morning readings, then training) into the history."""
    return log_day(observe_morning(history, record, config), record, config)


class Readiness(NamedTuple):
    """Derived observables shared by the features, the safety rules and the reasons."""

    tsb: jnp.ndarray
    acwr: jnp.ndarray
    monotony: jnp.ndarray
    strain: jnp.ndarray
    ramp: jnp.ndarray  # CTL change over the last 7 days
    longest_min: jnp.ndarray  # longest session of the last 28 days (min)
    hrv_ln: jnp.ndarray  # today's ln rMSSD (forward-filled), NaN if unknown
    hrv_baseline: jnp.ndarray  # 7-day mean ln rMSSD
    hrv_mean: jnp.ndarray  # normal-range mean (60 d, days before today)
    hrv_sd: jnp.ndarray  # normal-range SD (60 d, days before today)
    hrv_trusted: jnp.ndarray  # bool, enough readings for the HRV baselines
    rhr_mean: jnp.ndarray
    filled: jnp.ndarray  # f32[5], forward-filled channels (NaN when too old)
    missing: jnp.ndarray  # bool[5], today's reading missing


def _nanmean(x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    n = jnp.sum(~jnp.isnan(x))
    return jnp.nansum(x) / jnp.maximum(n, 1), n


def max_nonnegative(x: jnp.ndarray) -> jnp.ndarray:
    """max over the last axis of non-negative floats, as their bit patterns (which order
    like the floats): XLA's float max, which must propagate NaN, is ~4x slower on CPU."""
    bits = jax.lax.bitcast_convert_type(x, jnp.int32)
    return jax.lax.bitcast_convert_type(jnp.max(bits, axis=-1), x.dtype)


def readiness(history: History, config: WorldConfig) -> Readiness:
    """Derived observables (ACWR, monotony, HRV normal range, forward-filled readings)."""
    acute_n, chronic_n = config.pmc.acute_days, config.pmc.chronic_days
    acute = jnp.mean(history.tss[-acute_n:])
    chronic = jnp.maximum(jnp.mean(history.tss[-chronic_n:]), config.pmc.chronic_floor_tss)
    week = history.tss[-7:]
    monotony = jnp.mean(week) / jnp.maximum(jnp.std(week), 1.0)

    hrv_baseline, n_week = _nanmean(history.hrv_week)

    fresh = history.age <= config.observation.forward_fill_days
    filled = jnp.where(fresh, history.last, jnp.nan)
    return Readiness(
        tsb=history.ctl - history.atl,  # TSB_t = CTL_{t-1} - ATL_{t-1}: form going into today
        acwr=acute / chronic, monotony=monotony, strain=jnp.sum(week) * monotony,
        ramp=history.ctl - history.ctl_week[0], longest_min=max_nonnegative(history.minutes),
        hrv_ln=jnp.log(filled[0]), hrv_baseline=jnp.where(n_week > 0, hrv_baseline, jnp.nan),
        hrv_mean=history.hrv_mean,
        hrv_sd=jnp.maximum(jnp.sqrt(history.hrv_var), SD_FLOOR_LN),
        hrv_trusted=(history.hrv_n >= config.observation.hrv_min_days) & (n_week > 0),
        rhr_mean=history.rhr_mean,
        filled=filled, missing=history.age > 0)


FEATURE_NAMES: tuple[str, ...] = (
    "ctl", "atl", "tsb", "acwr", "monotony", "ramp",
    "hrv_z", "hrv_trend", "hrv_missing", "rhr_delta", "rhr_missing",
    "sleep_h", "sleep_eff", "sleep_7d", "sleep_missing", "recovery", "recovery_missing",
    "low_recovery_streak", "hard_streak", "days_since_rest", "last_minutes", "longest_28d",
    "injured", "ill", "days_to_race", "race_ahead", "benchmark_trend",
    "recovery_7d", "low_7d", "threshold_7d", "high_7d",
) + tuple(f"yesterday_{i}" for i in range(NUM_SESSION_TYPES))


def feature_names(config: WorldConfig) -> tuple[str, ...]:
    return FEATURE_NAMES + tuple(f"habit_ema_{h.name}" for h in config.habits.items)


def num_features(config: WorldConfig) -> int:
    return len(FEATURE_NAMES) + config.num_habits


def _or(x: jnp.ndarray, default: float) -> jnp.ndarray:
    return jnp.where(jnp.isnan(x), default, x)


def compute_features(history: History, config: WorldConfig,
                     ready: Readiness | None = None) -> jnp.ndarray:
    """float32[F] features, all roughly in [-3, 3]; names in `feature_names(config)`.

    `ready` is `readiness(history, config)` when the caller already has it.
    """
    r = readiness(history, config) if ready is None else ready
    hrv_ok = r.hrv_trusted & ~jnp.isnan(r.hrv_ln)
    sleep_7d, _ = _nanmean(history.sleep_h)
    days_to_race = history.days_to_race
    base = jnp.stack([
        history.ctl / 100.0,
        history.atl / 100.0,
        r.tsb / 50.0,
        jnp.clip(r.acwr, 0.0, 3.0),
        jnp.clip(r.monotony, 0.0, 6.0) / 3.0,
        r.ramp / 8.0,
        jnp.where(hrv_ok, jnp.clip((r.hrv_ln - r.hrv_mean) / r.hrv_sd, -5, 5), 0.0) / 2.0,
        jnp.where(r.hrv_trusted, jnp.clip((r.hrv_baseline - r.hrv_mean) / r.hrv_sd, -5, 5),
                  0.0) / 2.0,
        r.missing[0].astype(jnp.float32),
        _or((r.filled[1] - r.rhr_mean) / 5.0, 0.0),
        r.missing[1].astype(jnp.float32),
        _or(r.filled[2], _or(sleep_7d, 7.5)) / 8.0,
        _or(r.filled[3], 0.88),
        _or(sleep_7d, 7.5) / 8.0,
        r.missing[2].astype(jnp.float32),
        _or(r.filled[4], 50.0) / 100.0,
        r.missing[4].astype(jnp.float32),
        jnp.minimum(history.low_recovery_streak, 4) / 2.0,
        jnp.minimum(history.hard_streak, 6) / 3.0,
        jnp.minimum(history.days_since_rest, 14) / 7.0,
        history.minutes[-1] / 120.0,
        r.longest_min / 120.0,
        history.injured.astype(jnp.float32),
        history.ill.astype(jnp.float32),
        jnp.where(days_to_race >= 0, jnp.minimum(days_to_race, 60) / 60.0, 1.0),
        (days_to_race >= 0).astype(jnp.float32),
        _or(jnp.clip((history.bench_last / history.bench_ema - 1.0) * 10.0, -3, 3), 0.0),
        *(jnp.sum(history.zone_week, axis=0) / 60.0 / jnp.asarray(ZONE_FEATURE_HOURS)),
    ])
    yesterday = (jnp.arange(NUM_SESSION_TYPES) == history.session).astype(jnp.float32)
    return jnp.concatenate([base, yesterday, history.habit_ema]).astype(jnp.float32)


def fold_history(records: DailyRecord, config: WorldConfig, initial: History) -> History:
    """Folds a time-major stack of records ([T, ...] leaves) into `initial`."""

    def body(h, rec):
        return update_history(h, rec, config), None

    return jax.lax.scan(body, initial, records)[0]


__all__ = ["FEATURE_NAMES", "History", "Readiness", "compute_features", "feature_names",
           "fold_history", "init_history", "num_features", "pmc_decay", "readiness",
           "log_day", "observe_morning", "update_history", "warm_start_loads"]
