"""Hidden physiology of one athlete: pure daily dynamics (jit / vmap / scan friendly).

The day runs: morning readings (from yesterday's state) -> the session and
habits actually done (adherence) -> time in each intensity domain and load ->
adaptation, fatigue and strain -> tonight's sleep -> injury and illness events.

Forms and sources (parameters in `configs/world/default.yaml`, each with its source):
  * Stimulus: minutes in Seiler's three domains with Coggan's recovery zone split out
    (recovery / low / threshold / high), from the session's structured steps
    (`coachrl.sim.sessions.zone_minutes`); load is TSS.
  * Two capacities, fractions of the untrained performance p0, each driven toward a
    saturating target by the recent dose (EMAs over `dose_days` of weighted hours: D_vol of
    volume in every domain, D_int of intensity, threshold counting a little):
        A* = t C_A f(D_vol, k_A)                                   (aerobic / threshold)
        V* = t C_V [s f(D_vol, k_Vv) + (1 - s) f(D_int, k_Vi)]      (VO2max / peak power)
    f(D, k) = D / (D + k), t the athlete's trainability (HERITAGE heterogeneity), C the
    individual ceiling. Volume drives the aerobic capacity and part of VO2max (untrained
    people improve VO2max at 40-50 % VO2max); the rest of VO2max needs intensity, and its
    dose-response saturates at ~2 HIIT sessions a week (Midgley et al. 2006; Laursen &
    Jenkins 2002; Seiler 2010). Near the ceiling more of either adds little: beginners
    gain most, elites least.
    Kinetics: a capacity below its target rises toward it (time constant `*_build_days`,
    blunted in overreaching); above the target of keeping it, f(D, m k) with m < 1 (it
    takes less to keep than to build: Hickson et al. 1985; Spiering et al. 2021), it
    falls (`*_detraining_days`) toward that target, never below the retained floor
    (`retention` x the starting capacity: Coyle 1984's athletes kept VO2max ~17 % above
    sedentary after 84 days off; recently gained fitness is lost: Mujika & Padilla 2000).
    Gains are built into a pending pool and expressed from it, a share
    (1 - exp(-1 / `realisation_days`)) exp(-`strain_holds` (phi - 1)+) a day: adaptation
    shows in recovery, and while acute fatigue runs above what the athlete is used to it is
    held back (the delayed second-order fitness response of Calvert et al. 1976; PerPot's
    delayed response potential, Perl 2001): Aubry et al. 2014's acutely fatigued athletes
    showed no gain at the end of a 3-week overload and supercompensated after the taper
    (VO2max up only at the post-taper peak).
  * Acute fatigue F (true load plus extra for high-intensity minutes, which delay
    autonomic recovery: Seiler et al. 2007; time constant `fatigue_days`) over the
    same load as the athlete is used to it, T (`tolerance_days`): ratio
    phi = F / max(T, floor). It lowers *expressed* performance by
    fatigue_max tanh(cost phi / fatigue_max): bounded, gone in days (the Banister fatigue
    term without its unbounded steady-state share).
  * Overreaching (Meeusen et al. 2013 consensus): strain S accumulates the excess of phi
    over the athlete's tolerance (and sleep debt) and clears in days; S above
    `functional_at` is functional overreaching (performance suppressed ~2-3 %, adaptation
    blunted: Aubry et al. 2014), above `nonfunctional_at` non-functional overreaching,
    which clears only slowly (weeks to months) and stays a state until S is low again.
    Both lower HRV (Plews 2012), raise resting HR and illness.
  * Expressed performance p0 (1 + A + V)(1 - fatigue cut)(1 - overreaching cut);
    tested performance is that after `test_easy_days` easy days (`tested_performance`).
  * HRV: ln rMSSD = baseline - a strain - b sleep debt - c illness - d stress
    - overreaching drop + AR(1) noise, strain = (phi - 1)+.
  * Resting HR rises with strain, overreaching, illness and sleep debt (Oura: +3-5 bpm).
  * Recovery (WHOOP-like): 100 sigmoid(wh z_hrv - wr z_rhr + ws z_sleep + bias).
  * Injury: base x susceptibility x ACWR U-curve (Gabbett 2016, Hulin 2016) x monotony
    (Foster 1998) x low recovery x sleep debt x session weight x (1 - mobility habit).
  * Illness: base x susceptibility x (1 + strain) x (1 + sleep debt) x (1 + stress)
    x overreaching factor (Aubry 2014; Hausswirth 2014: 67-70 % of F-OR athletes ill).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from coachrl.sim.config import WorldConfig
from coachrl.sim.features import History, readiness
from coachrl.sim.population import AthleteParams
from coachrl.sim.sessions import (
    ACTIVE_RECOVERY,
    HABITUAL_SESSIONS,
    HARD,
    HIGH_ZONE,
    INJURY_WEIGHTS,
    INTENSITY_FACTORS,
    NUM_ZONES,
    REST,
    ZONE_FRACTIONS,
    habitual_session_shares,
    lookup,
    tss,
)

NORMAL, FUNCTIONAL_OR, NONFUNCTIONAL_OR = 0, 1, 2  # overreaching states


class Physiology(NamedTuple):
    """Hidden state of one athlete, as of the end of a day."""

    aerobic: jnp.ndarray  # aerobic / threshold capacity (fraction of p0)
    vo2: jnp.ndarray  # VO2max / peak-power capacity (fraction of p0)
    aerobic_pending: jnp.ndarray  # built but not yet expressed (Calvert et al. 1976's delay)
    vo2_pending: jnp.ndarray
    aerobic_floor: jnp.ndarray  # capacity kept for good (retention x the starting one)
    vo2_floor: jnp.ndarray
    volume_dose: jnp.ndarray  # D_vol: EMA (`dose_days`) of volume-weighted hours a day
    intensity_dose: jnp.ndarray  # D_int: EMA (`dose_days`) of intensity-weighted hours a day
    fatigue: jnp.ndarray  # acute fatigue F (TSS/day, the athlete's own time constant)
    tolerance: jnp.ndarray  # chronic load the athlete is used to, T (TSS/day)
    strain: jnp.ndarray  # accumulated excess strain S (fatigue-ratio days)
    overreached: jnp.ndarray  # i32: NORMAL, FUNCTIONAL_OR or NONFUNCTIONAL_OR
    hrv_noise: jnp.ndarray  # AR(1) state of ln rMSSD noise
    stress: jnp.ndarray  # life stress (z units), AR(1)
    sleep_h: jnp.ndarray  # last night's sleep (h), drives this morning's readings
    sleep_eff: jnp.ndarray
    sleep_debt: jnp.ndarray  # h
    injury_left: jnp.ndarray  # i32, injured days left (incl. today)
    illness_left: jnp.ndarray  # i32, ill days left (incl. today)
    low_recovery_yesterday: jnp.ndarray  # bool, true recovery < safety line yesterday
    automaticity: jnp.ndarray  # f32[H], how automatic each habit has become (Lally 2010), 0..1


class Morning(NamedTuple):
    """True morning readings (the wearable shows them unless it is not worn)."""

    hrv_ln: jnp.ndarray
    rhr_bpm: jnp.ndarray
    sleep_h: jnp.ndarray
    sleep_eff: jnp.ndarray
    recovery: jnp.ndarray
    hrv_z: jnp.ndarray  # vs the athlete's true baseline (overtraining marker)


def fatigue_ratio(phys: Physiology, config: WorldConfig) -> jnp.ndarray:
    """phi = F / max(T, floor): acute fatigue over the load the athlete is used to."""
    return phys.fatigue / jnp.maximum(phys.tolerance, config.adaptation.tolerance_floor_tss)


def acute_strain(phys: Physiology, config: WorldConfig) -> jnp.ndarray:
    """(phi - 1)+: how far acute fatigue runs above the athlete's usual (HRV, RHR, illness)."""
    return jnp.maximum(fatigue_ratio(phys, config) - 1.0, 0.0)


def _by_state(values: tuple[float, float], state: jnp.ndarray, normal: float) -> jnp.ndarray:
    """`normal` when not overreached, else the functional / non-functional value."""
    return jnp.where(state == NONFUNCTIONAL_OR, values[1],
                     jnp.where(state == FUNCTIONAL_OR, values[0], normal))


def capacity(phys: Physiology) -> jnp.ndarray:
    """Trained capacity above the untrained athlete (fraction of p0)."""
    return phys.aerobic + phys.vo2


def performance(phys: Physiology, params: AthleteParams, config: WorldConfig) -> jnp.ndarray:
    """Expressed performance (W): p0 (1 + A + V), less acute fatigue and overreaching."""
    a = config.adaptation
    cut = a.fatigue_max * jnp.tanh(a.fatigue_cost * fatigue_ratio(phys, config)
                                   / max(a.fatigue_max, 1e-6))
    overreached = _by_state(config.overreaching.performance_cut, phys.overreached, 0.0)
    return params.p0 * (1.0 + capacity(phys)) * (1.0 - cut) * (1.0 - overreached)


def _saturation(dose: jnp.ndarray, half: float | jnp.ndarray) -> jnp.ndarray:
    """f(D, k) = D / (D + k): the share of a ceiling a daily dose D supports."""
    return dose / (dose + half)


def capacity_targets(volume_dose: jnp.ndarray, intensity_dose: jnp.ndarray,
                     params: AthleteParams, config: WorldConfig, keep: bool = False
                     ) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(A*, V*) the doses build toward, or (`keep`) the lower levels they maintain."""
    a = config.adaptation
    m = a.maintenance if keep else 1.0
    aerobic = (params.trainability * params.aerobic_ceiling
               * _saturation(volume_dose, m * a.aerobic_half_dose))
    share = a.vo2_volume_share
    vo2 = params.trainability * params.vo2_ceiling * (
        share * _saturation(volume_dose, m * a.vo2_volume_half_dose)
        + (1.0 - share) * _saturation(intensity_dose, m * a.vo2_intensity_half_dose))
    return aerobic, vo2


def daily_doses(zone_min: jnp.ndarray, config: WorldConfig) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Today's (volume, intensity)-weighted hours from the minutes in each domain."""
    a = config.adaptation
    hours = jnp.asarray(zone_min, jnp.float32) / 60.0  # [NUM_ZONES]
    return (jnp.sum(jnp.asarray(a.volume_weights) * hours, axis=-1),
            jnp.sum(jnp.asarray(a.intensity_weights) * hours, axis=-1))


def _toward(x, pending, build, keep, floor, build_rate, detraining_days, release):
    """Built-and-pending x + pending rises toward `build` when below it; the expressed x falls
    toward max(keep, floor) when above that; a `release` share of the pending is expressed."""
    keep = jnp.maximum(keep, floor)
    total = x + pending
    gain = jnp.where(total < build, build_rate * (build - total), 0.0)
    loss = jnp.where((total >= build) & (x > keep), (keep - x) / detraining_days, 0.0)
    pending = pending + gain
    return x + loss + release * pending, (1.0 - release) * pending


def adapt(phys: Physiology, zone_min: jnp.ndarray, load: jnp.ndarray, params: AthleteParams,
          config: WorldConfig) -> Physiology:
    """One day of adaptation, fatigue and strain from the minutes in each domain and the load."""
    a, o = config.adaptation, config.overreaching
    volume, intensity = daily_doses(zone_min, config)
    c_dose = jnp.exp(-1.0 / a.dose_days)
    volume_dose = phys.volume_dose * c_dose + volume * (1.0 - c_dose)
    intensity_dose = phys.intensity_dose * c_dose + intensity * (1.0 - c_dose)
    build_a, build_v = capacity_targets(volume_dose, intensity_dose, params, config)
    keep_a, keep_v = capacity_targets(volume_dose, intensity_dose, params, config, keep=True)
    kept = _by_state(o.adaptation_kept, phys.overreached, 1.0)
    release = 1.0 - math.exp(-1.0 / a.realisation_days) if a.realisation_days > 0 else 1.0
    release = release * jnp.exp(-a.strain_holds * acute_strain(phys, config))
    aerobic, aerobic_pending = _toward(phys.aerobic, phys.aerobic_pending, build_a, keep_a,
                                       phys.aerobic_floor, kept / a.aerobic_build_days,
                                       a.aerobic_detraining_days, release)
    vo2, vo2_pending = _toward(phys.vo2, phys.vo2_pending, build_v, keep_v, phys.vo2_floor,
                               kept / a.vo2_build_days, a.vo2_detraining_days, release)
    fatigue_load = load + a.high_intensity_fatigue * zone_min[..., HIGH_ZONE]
    c_fatigue = jnp.exp(-1.0 / params.fatigue_days)
    c_tolerance = jnp.exp(-1.0 / a.tolerance_days)
    phys = phys._replace(
        aerobic=aerobic, vo2=vo2, aerobic_pending=aerobic_pending, vo2_pending=vo2_pending,
        volume_dose=volume_dose, intensity_dose=intensity_dose,
        fatigue=phys.fatigue * c_fatigue + fatigue_load * (1.0 - c_fatigue),
        tolerance=phys.tolerance * c_tolerance + fatigue_load * (1.0 - c_tolerance))
    excess = (jnp.maximum(fatigue_ratio(phys, config) - params.strain_tolerance, 0.0)
              + o.sleep_debt_strain * phys.sleep_debt)
    clear = jnp.where(phys.overreached == NONFUNCTIONAL_OR, o.nonfunctional_clear_days,
                      o.clear_days)
    strain = phys.strain * jnp.exp(-1.0 / clear) + excess
    state = phys.overreached
    state = jnp.where(strain >= o.nonfunctional_at, NONFUNCTIONAL_OR,
                      jnp.where((strain >= o.functional_at) & (state == NORMAL), FUNCTIONAL_OR,
                                jnp.where(strain < o.recovered_below, NORMAL, state)))
    return phys._replace(strain=strain, overreached=state.astype(jnp.int32))


def tested_performance(phys: Physiology, params: AthleteParams,
                       config: WorldConfig) -> jnp.ndarray:
    """A standard test after `test_easy_days` easy (rest) days, as studies test (W)."""
    rest = jnp.zeros((NUM_ZONES,), jnp.float32)
    for _ in range(config.adaptation.test_easy_days):
        phys = adapt(phys, rest, jnp.float32(0.0), params, config)
    return performance(phys, params, config)


def habitual_zone_minutes(params: AthleteParams) -> jnp.ndarray:
    """Minutes a day in each domain of the athlete's usual training ([NUM_ZONES]).

    The usual training is aerobic-base, tempo and HIIT sessions in the shares that put
    `habitual_threshold` and `habitual_high` of the time in those domains
    (`sessions.habitual_session_shares`), for `initial_ctl` TSS a day:
    minutes = 60 CTL / (100 sum_i share_i IF_i^2).
    """
    shares = jnp.stack(habitual_session_shares(params.habitual_threshold,
                                               params.habitual_high), axis=-1)
    if2 = jnp.asarray([INTENSITY_FACTORS[k] ** 2 for k in HABITUAL_SESSIONS], jnp.float32)
    minutes = 60.0 * params.initial_ctl / (100.0 * jnp.sum(shares * if2, axis=-1))
    zones = jnp.asarray([ZONE_FRACTIONS[k] for k in HABITUAL_SESSIONS], jnp.float32)  # [3, Z]
    return minutes[..., None] * (shares @ zones)


def initial_physiology(params: AthleteParams, config: WorldConfig) -> Physiology:
    """Steady state of an athlete who has trained `initial_ctl` TSS a day for months."""
    habitual = habitual_zone_minutes(params)
    volume_dose, intensity_dose = daily_doses(habitual, config)  # months of it: the EMAs' value
    aerobic, vo2 = capacity_targets(volume_dose, intensity_dose, params, config)
    w = params.initial_ctl + config.adaptation.high_intensity_fatigue * habitual[..., HIGH_ZONE]
    zero = jnp.zeros_like(w)
    return Physiology(
        aerobic=aerobic, vo2=vo2, aerobic_pending=jnp.zeros_like(aerobic),
        vo2_pending=jnp.zeros_like(vo2), aerobic_floor=params.retention * aerobic,
        vo2_floor=params.retention * vo2, volume_dose=volume_dose,
        intensity_dose=intensity_dose, fatigue=w, tolerance=w, strain=zero,
        overreached=jnp.int32(NORMAL),
        hrv_noise=zero, stress=zero, sleep_h=params.sleep_need_h, sleep_eff=zero + 0.88,
        sleep_debt=zero, injury_left=jnp.int32(0), illness_left=jnp.int32(0),
        low_recovery_yesterday=jnp.bool_(False),
        automaticity=jnp.zeros(w.shape + (config.num_habits,), jnp.float32))


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
    h, o = config.hrv, config.overreaching
    strain = acute_strain(phys, config)
    state = phys.overreached
    ill = (phys.illness_left > 0).astype(jnp.float32)
    stress = stress_effective(phys, history, config)
    rho = h.autocorrelation
    noise = rho * phys.hrv_noise + jnp.sqrt(1.0 - rho**2) * params.hrv_day_sd * z_hrv
    hrv_ln = (params.hrv_base_ln - h.fatigue_drop * strain - h.sleep_debt_drop * phys.sleep_debt
              - h.illness_drop * ill - h.stress_drop * stress
              - _by_state(o.hrv_drop, state, 0.0) + noise)
    rhr = (params.rhr_base_bpm + h.rhr_fatigue_bpm * strain + h.rhr_illness_bpm * ill
           + _by_state(o.rhr_rise_bpm, state, 0.0)
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
               * (1.0 + k.illness_strain_gain * acute_strain(phys, config)) * f_sleep
               * (1.0 + k.illness_stress_gain * stress)
               * _by_state(config.overreaching.illness_factor, phys.overreached, 1.0))
    return Hazards(jnp.clip(injury, 0.0, 1.0), jnp.clip(illness, 0.0, 1.0), r.acwr, r.monotony)


def load_of(session: jnp.ndarray, minutes: jnp.ndarray) -> jnp.ndarray:
    return tss(minutes, lookup(INTENSITY_FACTORS, session))
