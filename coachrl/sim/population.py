"""Athletes drawn from a population of archetypes (training and held-out).

Each athlete picks an archetype by weight, then draws every ranged parameter
uniformly from that archetype's [lo, hi] (level-dependent ranges) or from the
common ranges. The held-out population uses its own archetype mix, ranges
moved up by `heldout_shift` x their width, and an independent key stream, so
no held-out athlete is ever a training athlete.

Busso's k3 is derived, not drawn: with daily load w sustained, the steady-state
gain is w (k1 T1 - k2 T2) - k3 w^2 T2 T3 (T = 1 / (1 - e^{-1/tau}), Busso 2003
variable-dose fatigue), which peaks at the athlete's `optimal_load` w*:
    k3 = (k1 T1 - k2 T2) / (2 w* T2 T3).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.sim.config import ArchetypeConfig, CommonRanges, WorldConfig

HELDOUT_STREAM = 0x5EED_0FF  # folded into the key of held-out draws: an independent stream

LEVEL_FIELDS = tuple(f.name for f in dataclasses.fields(ArchetypeConfig)
                     if f.name not in ("name", "weight"))
COMMON_FIELDS = tuple(f.name for f in dataclasses.fields(CommonRanges))
_CLIP_01 = ("habit_adherence", "missing_prob")


class AthleteParams(NamedTuple):
    """One athlete's hidden physiology (scalars; a batch adds a leading axis)."""

    archetype: jnp.ndarray  # i32 index into population.archetypes
    p0: jnp.ndarray  # Banister baseline performance (W)
    k1: jnp.ndarray  # fitness gain (W per TSS)
    k2: jnp.ndarray  # base fatigue gain (W per TSS)
    k3: jnp.ndarray  # Busso variable-dose fatigue gain growth (W per TSS^2)
    tau1: jnp.ndarray  # fitness time constant (d)
    tau2: jnp.ndarray  # fatigue time constant (d)
    tau3: jnp.ndarray  # Busso load-memory time constant (d)
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


def steady_gain(tau: jnp.ndarray) -> jnp.ndarray:
    """T = sum_{i>=0} e^{-i/tau} = 1 / (1 - e^{-1/tau}): steady-state gain of a daily impulse."""
    return 1.0 / (1.0 - jnp.exp(-1.0 / tau))


def sample_athlete(key: jax.Array, config: WorldConfig, heldout: bool = False) -> AthleteParams:
    """Draws one athlete (vmap over keys for a batch, or see `sample_athletes`)."""
    if heldout:
        key = jax.random.fold_in(key, HELDOUT_STREAM)
    u = jax.random.uniform(key, (1 + len(LEVEL_FIELDS) + len(COMMON_FIELDS),))
    return athlete_from_uniform(u, config, heldout)


def sample_athletes(key: jax.Array, batch: int, config: WorldConfig,
                    heldout: bool = False) -> AthleteParams:
    """Draws `batch` athletes from one random draw (cheaper than vmapping `sample_athlete`)."""
    if heldout:
        key = jax.random.fold_in(key, HELDOUT_STREAM)
    u = jax.random.uniform(key, (batch, 1 + len(LEVEL_FIELDS) + len(COMMON_FIELDS)))
    return jax.vmap(lambda row: athlete_from_uniform(row, config, heldout))(u)


def athlete_from_uniform(u: jnp.ndarray, config: WorldConfig, heldout: bool) -> AthleteParams:
    """The athlete given by uniforms u[0] (archetype) and u[1:] (one per ranged parameter)."""
    lo, hi, weights = _tables(config, heldout)
    cumulative = np.cumsum(weights)[:-1]
    arch = jnp.sum(u[0] >= jnp.asarray(cumulative)).astype(jnp.int32)
    lo_a, hi_a = jnp.asarray(lo)[arch], jnp.asarray(hi)[arch]
    values = lo_a + u[1:] * (hi_a - lo_a)
    v = dict(zip(LEVEL_FIELDS + COMMON_FIELDS, values))
    k2 = v["k2_ratio"] * v["k1"]
    t1, t2, t3 = steady_gain(v["tau1"]), steady_gain(v["tau2"]), steady_gain(v["tau3"])
    k3 = jnp.maximum(v["k1"] * t1 - k2 * t2, 0.0) / (2.0 * v["optimal_load"] * t2 * t3)
    return AthleteParams(
        archetype=arch, p0=v["p0"], k1=v["k1"], k2=k2, k3=k3,
        tau1=v["tau1"], tau2=v["tau2"], tau3=v["tau3"], initial_ctl=v["initial_ctl"],
        time_budget_min=v["time_budget_min"], completion=v["completion"],
        interval_affinity=v["interval_affinity"], long_affinity=v["long_affinity"],
        habit_adherence=v["habit_adherence"], hrv_base_ln=jnp.log(v["hrv_base_ms"]),
        hrv_day_sd=v["hrv_day_sd"], rhr_base_bpm=v["rhr_base_bpm"],
        sleep_need_h=v["sleep_need_h"], missing_prob=v["missing_prob"],
        injury_susceptibility=v["injury_susceptibility"],
        illness_susceptibility=v["illness_susceptibility"], stress_sd=v["stress_sd"])
