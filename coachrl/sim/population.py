"""Athletes drawn from a population of archetypes (training and held-out).

Each athlete picks an archetype by weight, then draws every ranged parameter
uniformly from that archetype's [lo, hi] (level-dependent ranges) or from the
common ranges. The held-out population uses its own archetype mix, ranges
moved up by `heldout_shift` x their width, and an independent key stream, so
no held-out athlete is ever a training athlete.

Trainability is not uniform: each athlete's multiplier on every adaptation rate is
drawn from a normal distribution (mean 1, `trainability_sd`, clipped to
`trainability_range`), as heterogeneous as HERITAGE's responses to a standardised
programme (Bouchard et al. 1999: VO2max +384 +- 202 mL/min, from ~0 to > 1 L/min).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.sim.config import ArchetypeConfig, CommonRanges, WorldConfig

HELDOUT_STREAM = 0x5EED_0FF  # folded into the key of held-out draws: an independent stream
HABIT_STREAM = 0x4AB1  # folded into the key of the habit-behaviour draws (physiology unchanged)

LEVEL_FIELDS = tuple(f.name for f in dataclasses.fields(ArchetypeConfig)
                     if f.name not in ("name", "weight"))
COMMON_FIELDS = tuple(f.name for f in dataclasses.fields(CommonRanges))
_CLIP_01 = ("habit_adherence", "missing_prob", "retention", "habitual_threshold",
            "habitual_high")
_NUM_UNIFORM = 2 + len(LEVEL_FIELDS) + len(COMMON_FIELDS)  # archetype, ranges, trainability


class AthleteParams(NamedTuple):
    """One athlete's hidden physiology (scalars; a batch adds a leading axis)."""

    archetype: jnp.ndarray  # i32 index into population.archetypes
    p0: jnp.ndarray  # untrained performance (threshold power, W)
    aerobic_ceiling: jnp.ndarray  # most the aerobic capacity can add (fraction of p0)
    vo2_ceiling: jnp.ndarray  # most the VO2max capacity can add (fraction of p0)
    trainability: jnp.ndarray  # multiplier on every adaptation rate (HERITAGE heterogeneity)
    retention: jnp.ndarray  # share of the starting capacities kept for good (years of training)
    habitual_threshold: jnp.ndarray  # share of the usual training time at threshold
    habitual_high: jnp.ndarray  # share of the usual training time above LT2
    fatigue_days: jnp.ndarray  # time constant of acute fatigue (d)
    strain_tolerance: jnp.ndarray  # fatigue ratio above which strain accumulates (overreaching)
    initial_ctl: jnp.ndarray  # chronic load at day 0 (TSS/d)
    time_budget_min: jnp.ndarray
    completion: jnp.ndarray  # logit bias to complete sessions
    interval_affinity: jnp.ndarray
    long_affinity: jnp.ndarray
    habit_adherence: jnp.ndarray
    hrv_base_ln: jnp.ndarray  # ln of baseline rMSSD (ms)
    hrv_day_sd: jnp.ndarray
    rhr_base_bpm: jnp.ndarray
    sleep_need_h: jnp.ndarray
    missing_prob: jnp.ndarray
    injury_susceptibility: jnp.ndarray
    illness_susceptibility: jnp.ndarray
    stress_sd: jnp.ndarray
    formation_days: jnp.ndarray  # days of daily repetition to 95 % automaticity (Lally 2010)
    time_realism: jnp.ndarray  # share of the stated time budget really free on a day


def _tables(config: WorldConfig, heldout: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lo, hi: [A, P] in LEVEL_FIELDS + COMMON_FIELDS order; weights: [A]."""
    pop = config.population
    common = [getattr(pop.common, f) for f in COMMON_FIELDS]
    ranges = np.asarray([[getattr(a, f) for f in LEVEL_FIELDS] + common
                         for a in pop.archetypes], np.float64)  # [A, P, 2]
    lo, hi = ranges[..., 0], ranges[..., 1]
    weights = np.asarray([a.weight for a in pop.archetypes], np.float64)
    if heldout:
        shift = pop.heldout_shift * (hi - lo)
        lo, hi = lo + shift, hi + shift
        weights = np.asarray(pop.heldout_weights, np.float64)
        for name in _CLIP_01:
            j = (LEVEL_FIELDS + COMMON_FIELDS).index(name)
            lo[:, j], hi[:, j] = np.clip(lo[:, j], 0, 1), np.clip(hi[:, j], 0, 1)
    weights = weights / weights.sum()
    return lo.astype(np.float32), hi.astype(np.float32), weights.astype(np.float32)


def sample_athlete(key: jax.Array, config: WorldConfig, heldout: bool = False) -> AthleteParams:
    """Draws one athlete (vmap over keys for a batch, or see `sample_athletes`)."""
    if heldout:
        key = jax.random.fold_in(key, HELDOUT_STREAM)
    u = jax.random.uniform(key, (_NUM_UNIFORM,))
    u_habit = jax.random.uniform(jax.random.fold_in(key, HABIT_STREAM), (2,))
    return athlete_from_uniform(u, config, heldout, u_habit)


def sample_athletes(key: jax.Array, batch: int, config: WorldConfig,
                    heldout: bool = False, uniform=jax.random.uniform) -> AthleteParams:
    """Draws `batch` athletes from one random draw (cheaper than vmapping `sample_athlete`);
    `uniform(key, shape)` makes the draw (`coachrl.sim.draws.uniform` in the batched step)."""
    if heldout:
        key = jax.random.fold_in(key, HELDOUT_STREAM)
    u = uniform(key, (batch, _NUM_UNIFORM))
    u_habit = uniform(jax.random.fold_in(key, HABIT_STREAM), (batch, 2))
    return jax.vmap(lambda row, h: athlete_from_uniform(row, config, heldout, h))(u, u_habit)


def athlete_from_uniform(u: jnp.ndarray, config: WorldConfig, heldout: bool,
                         u_habit: jnp.ndarray) -> AthleteParams:
    """The athlete given by uniforms u[0] (archetype), u[1:-1] (one per ranged parameter)
    and u[-1] (trainability, through the normal inverse CDF); `u_habit` (2 uniforms, from a
    stream of their own) the habit behaviour: formation days log-uniformly, time realism."""
    lo, hi, weights = _tables(config, heldout)
    pop = config.population
    cumulative = np.cumsum(weights)[:-1]
    arch = jnp.sum(u[0] >= jnp.asarray(cumulative)).astype(jnp.int32)
    lo_a, hi_a = jnp.asarray(lo)[arch], jnp.asarray(hi)[arch]
    values = lo_a + u[1:-1] * (hi_a - lo_a)
    v = dict(zip(LEVEL_FIELDS + COMMON_FIELDS, values))
    z = jnp.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * jnp.clip(u[-1], 1e-6, 1 - 1e-6) - 1.0)
    trainability = jnp.clip(1.0 + pop.trainability_sd * z, *pop.trainability_range)
    (f_lo, f_hi), (r_lo, r_hi) = _habit_ranges(pop.habit_behaviour, heldout, pop.heldout_shift)
    formation_days = jnp.exp(np.log(f_lo) + u_habit[0] * (np.log(f_hi) - np.log(f_lo)))
    time_realism = r_lo + u_habit[1] * (r_hi - r_lo)
    return AthleteParams(
        archetype=arch, p0=v["p0"], aerobic_ceiling=v["aerobic_ceiling"],
        vo2_ceiling=v["vo2_ceiling"], trainability=trainability, retention=v["retention"],
        habitual_threshold=v["habitual_threshold"], habitual_high=v["habitual_high"],
        fatigue_days=v["fatigue_days"], strain_tolerance=v["strain_tolerance"],
        initial_ctl=v["initial_ctl"],
        time_budget_min=v["time_budget_min"], completion=v["completion"],
        interval_affinity=v["interval_affinity"], long_affinity=v["long_affinity"],
        habit_adherence=v["habit_adherence"], hrv_base_ln=jnp.log(v["hrv_base_ms"]),
        hrv_day_sd=v["hrv_day_sd"], rhr_base_bpm=v["rhr_base_bpm"],
        sleep_need_h=v["sleep_need_h"], missing_prob=v["missing_prob"],
        injury_susceptibility=v["injury_susceptibility"],
        illness_susceptibility=v["illness_susceptibility"], stress_sd=v["stress_sd"],
        formation_days=formation_days, time_realism=time_realism)


def _habit_ranges(ranges, heldout: bool, shift: float):
    """(formation_days, time_realism) ranges, moved up for the held-out population like
    every other range (time realism kept within [0, 1])."""
    out = []
    for name in ("formation_days", "time_realism"):
        lo, hi = getattr(ranges, name)
        if heldout:
            lo, hi = lo + shift * (hi - lo), hi + shift * (hi - lo)
            if name == "time_realism":
                lo, hi = min(lo, 1.0), min(hi, 1.0)
        out.append((float(lo), float(hi)))
    return out
