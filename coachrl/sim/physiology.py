"""Hidden physiology of one athlete: pure daily dynamics (jit / vmap / scan friendly).

The day runs: morning readings (from yesterday's state) -> the session and
habits actually done (adherence) -> load, Banister / Busso response -> tonight's
sleep -> injury and illness events for tomorrow.

Forms and sources:
  * Load: TSS = h x IF^2 x 100 (Coggan), see `coachrl.sim.sessions`.
  * Performance (Banister 1975; Busso 2003 variable dose):
        g_t = g_{t-1} e^{-1/tau1} + w_t            (fitness)
        M_t = M_{t-1} e^{-1/tau3} + w_t            (load memory)
        h_t = h_{t-1} e^{-1/tau2} + (k2 + k3 M_t) w_t  (fatigue, gain grows with recent load)
        p_t = p0 + k1 g_t - h_t
  * HRV: ln rMSSD = baseline - a strain - b sleep debt - c illness - d stress + AR(1) noise,
    strain = max(0, ATL - CTL) / (CTL + 25) (Plews 2012: falling ln rMSSD in overreaching).
  * Resting HR rises with strain, illness and sleep debt (Oura: +3-5 bpm is a warning).
  * Recovery (WHOOP-like): 100 sigmoid(wh z_hrv - wr z_rhr + ws z_sleep + bias).
  * Injury: base x susceptibility x ACWR U-curve (Gabbett 2016, Hulin 2016) x monotony
    (Foster 1998) x low recovery x sleep debt x session weight x (1 - mobility habit).
  * Illness: base x susceptibility x (1 + strain) x (1 + sleep debt) x (1 + stress).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from coachrl.sim.config import WorldConfig
from coachrl.sim.features import History, readiness
from coachrl.sim.population import AthleteParams, steady_gain
from coachrl.sim.sessions import (
    ACTIVE_RECOVERY,
    HARD,
    INJURY_WEIGHTS,
    INTENSITY_FACTORS,
    REST,
    lookup,
    tss,
)


class Physiology(NamedTuple):
    """Hidden state of one athlete, as of the end of a day."""

    fitness: jnp.ndarray  # Banister g (TSS-days)
    fatigue: jnp.ndarray  # Busso-weighted fatigue h (W)
    load_memory: jnp.ndarray  # Busso M (TSS-days)
    hrv_noise: jnp.ndarray  # AR(1) state of ln rMSSD noise
    stress: jnp.ndarray  # life stress (z units), AR(1)
    sleep_h: jnp.ndarray  # last night's sleep (h), drives this morning's readings
    sleep_eff: jnp.ndarray
    sleep_debt: jnp.ndarray  # h
    injury_left: jnp.ndarray  # i32, injured days left (incl. today)
    illness_left: jnp.ndarray  # i32, ill days left (incl. today)
    low_recovery_yesterday: jnp.ndarray  # bool, true recovery < safety line yesterday


class Morning(NamedTuple):
    """True morning readings (the wearable shows them unless it is not worn)."""

    hrv_ln: jnp.ndarray
    rhr_bpm: jnp.ndarray
    sleep_h: jnp.ndarray
    sleep_eff: jnp.ndarray
    recovery: jnp.ndarray
    hrv_z: jnp.ndarray  # vs the athlete's true baseline (overtraining marker)


def performance(phys: Physiology, params: AthleteParams) -> jnp.ndarray:
    """Banister performance p = p0 + k1 g - h (W)."""
    return params.p0 + params.k1 * phys.fitness - phys.fatigue


def initial_physiology(params: AthleteParams) -> Physiology:
    """Steady state of an athlete who has trained `initial_ctl` TSS a day for months."""
    w = params.initial_ctl
    memory = w * steady_gain(params.tau3)
    fatigue = (params.k2 + params.k3 * memory) * w * steady_gain(params.tau2)
    zero = jnp.zeros_like(w)
    return Physiology(
        fitness=w * steady_gain(params.tau1), fatigue=fatigue, load_memory=memory,
        hrv_noise=zero, stress=zero, sleep_h=params.sleep_need_h, sleep_eff=zero + 0.88,
        sleep_debt=zero, injury_left=jnp.int32(0), illness_left=jnp.int32(0),
        low_recovery_yesterday=jnp.bool_(False))


def _strain(history: History) -> jnp.ndarray:
    return jnp.maximum(history.atl - history.ctl, 0.0) / (history.ctl + 25.0)


def stress_effective(phys: Physiology, history: History, config: WorldConfig) -> jnp.ndarray:
    """Life stress less what the breathing habit relieves."""
    return phys.stress - config.hrv.breathing_relief * _habit_ema(history, config, "stress")


def _habit_ema(history: History, config: WorldConfig, effect: str) -> jnp.ndarray:
    for i, h in enumerate(config.habits.items):
        if h.effect == effect:
            return jnp.minimum(history.habit_ema[i], 1.2)
    return jnp.float32(0.0)


def morning(phys: Physiology, history: History, params: AthleteParams, config: WorldConfig,
            z_hrv: jnp.ndarray, z_rhr: jnp.ndarray) -> tuple[Physiology, Morning]:
    """This morning's true readings from the state at the end of yesterday."""
    h = config.hrv
    strain = _strain(history)
    ill = (phys.illness_left > 0).astype(jnp.float32)
    stress = stress_effective(phys, history, config)
    rho = h.autocorrelation
    noise = rho * phys.hrv_noise + jnp.sqrt(1.0 - rho**2) * params.hrv_day_sd * z_hrv
    hrv_ln = (params.hrv_base_ln - h.fatigue_drop * strain - h.sleep_debt_drop * phys.sleep_debt
              - h.illness_drop * ill - h.stress_drop * stress + noise)
    rhr = (params.rhr_base_bpm + h.rhr_fatigue_bpm * strain + h.rhr_illness_bpm * ill
           + h.rhr_sleep_debt_bpm * phys.sleep_debt + h.rhr_noise_bpm * z_rhr)
    r = config.recovery
    hrv_z = (hrv_ln - params.hrv_base_ln) / params.hrv_day_sd
    sleep_z = (jnp.minimum(phys.sleep_h / params.sleep_need_h, 1.1) - 0.9) / 0.1
    score = (r.hrv_weight * hrv_z - r.rhr_weight * (rhr - params.rhr_base_bpm) / 3.0
             + r.sleep_weight * sleep_z + r.bias)
    recovery = 100.0 * jax.nn.sigmoid(score)
    return phys._replace(hrv_noise=noise), Morning(hrv_ln, rhr, phys.sleep_h, phys.sleep_eff,
                                                   recovery, hrv_z)


class Done(NamedTuple):
    session: jnp.ndarray  # i32
    minutes: jnp.ndarray  # f32
    completed: jnp.ndarray  # f32 in [0, 1]: minutes done / prescribed (1 for rest)


def adherence(session: jnp.ndarray, minutes: jnp.ndarray, recovery: jnp.ndarray,
              stress: jnp.ndarray, ill: jnp.ndarray, injured: jnp.ndarray,
              params: AthleteParams, config: WorldConfig, u_full: jnp.ndarray,
              u_partial: jnp.ndarray, u_fraction: jnp.ndarray) -> Done:
    """What the athlete actually does with a prescription (full, partial or skipped).

    P(full) = sigmoid(completion + readiness + affinities - overtime - stress);
    of the rest a `partial_share` is done partly, the remainder skipped. Illness
    forces rest; injury caps the session at active recovery.
    """
    a = config.adherence
    session = jnp.where(ill, REST, jnp.where(injured, jnp.minimum(session, ACTIVE_RECOVERY),
                                             session))
    hard = lookup(HARD, session)
    logit = (params.completion + a.readiness_gain * (recovery - 50.0) / 50.0
             + params.interval_affinity * hard
             + params.long_affinity * (minutes >= a.long_session_min)
             - a.overtime_gain * jnp.maximum(minutes - params.time_budget_min, 0.0) / 30.0
             - a.stress_gain * jnp.maximum(stress, 0.0)
             + 1.0 * (session == ACTIVE_RECOVERY))  # easy sessions are easy to keep
    full = u_full < jax.nn.sigmoid(logit)
    partial = ~full & (u_partial < a.partial_share)
    lo, hi = a.partial_fraction
    fraction = jnp.where(full, 1.0, jnp.where(partial, lo + (hi - lo) * u_fraction, 0.0))
    is_rest = session == REST
    fraction = jnp.where(is_rest, 1.0, fraction)
    done_minutes = jnp.where(is_rest, 0.0, minutes * fraction)
    done_session = jnp.where(done_minutes > 0, session, REST).astype(jnp.int32)
    return Done(done_session, done_minutes, fraction)


def banister_step(phys: Physiology, load: jnp.ndarray, params: AthleteParams) -> Physiology:
    """One day of the Banister model with Busso's variable-dose fatigue gain."""
    memory = phys.load_memory * jnp.exp(-1.0 / params.tau3) + load
    fatigue = phys.fatigue * jnp.exp(-1.0 / params.tau2) + (params.k2 + params.k3 * memory) * load
    fitness = phys.fitness * jnp.exp(-1.0 / params.tau1) + load
    return phys._replace(fitness=fitness, fatigue=fatigue, load_memory=memory)


def night(phys: Physiology, history: History, time_in_bed: jnp.ndarray, hard_done: jnp.ndarray,
          params: AthleteParams, config: WorldConfig, z_eff: jnp.ndarray,
          z_stress: jnp.ndarray) -> Physiology:
    """Tonight's sleep and sleep debt, and tomorrow's life stress."""
    s = config.sleep
    stress = stress_effective(phys, history, config)
    eff = (s.efficiency - s.hard_session_cost * hard_done - s.stress_cost * jnp.maximum(stress, 0.0)
           + s.habit_gain * _habit_ema(history, config, "stress") + s.efficiency_sd * z_eff)
    eff = jnp.clip(eff, 0.6, 0.99)
    sleep_h = time_in_bed * eff
    debt = s.debt_decay * phys.sleep_debt + jnp.maximum(params.sleep_need_h - sleep_h, 0.0)
    rho = config.hrv.stress_autocorrelation
    new_stress = rho * phys.stress + jnp.sqrt(1.0 - rho**2) * params.stress_sd * z_stress
    return phys._replace(sleep_h=sleep_h, sleep_eff=eff, sleep_debt=debt, stress=new_stress)


class Hazards(NamedTuple):
    injury: jnp.ndarray  # daily probability of a new injury
    illness: jnp.ndarray  # daily probability of a new illness
    acwr: jnp.ndarray
    monotony: jnp.ndarray


def hazards(phys: Physiology, history: History, done_session: jnp.ndarray,
            recovery: jnp.ndarray, params: AthleteParams, config: WorldConfig) -> Hazards:
    """Injury and illness hazards after today's training (`history` includes today)."""
    k = config.risk
    r = readiness(history, config)
    lo, hi = k.acwr_sweet_spot
    f_acwr = jnp.exp(k.acwr_high_slope * jnp.maximum(r.acwr - hi, 0.0)
                     + k.acwr_low_slope * jnp.maximum(lo - r.acwr, 0.0))
    f_mono = 1.0 + k.monotony_gain * jnp.maximum(r.monotony - k.monotony_threshold, 0.0)
    f_rec = 1.0 + k.low_recovery_gain * jnp.maximum(40.0 - recovery, 0.0) / 40.0
    f_sleep = 1.0 + k.sleep_debt_gain * phys.sleep_debt
    mobility = _habit_ema(history, config, "mobility")
    injury = (k.injury_base_daily * params.injury_susceptibility * f_acwr * f_mono * f_rec
              * f_sleep * lookup(INJURY_WEIGHTS, done_session)
              * (1.0 - k.mobility_protection * jnp.minimum(mobility, 1.0)))
    stress = jnp.maximum(stress_effective(phys, history, config), 0.0)
    illness = (k.illness_base_daily * params.illness_susceptibility
               * (1.0 + k.illness_strain_gain * _strain(history)) * f_sleep
               * (1.0 + k.illness_stress_gain * stress))
    return Hazards(jnp.clip(injury, 0.0, 1.0), jnp.clip(illness, 0.0, 1.0), r.acwr, r.monotony)


def load_of(session: jnp.ndarray, minutes: jnp.ndarray) -> jnp.ndarray:
    return tss(minutes, lookup(INTENSITY_FACTORS, session))
