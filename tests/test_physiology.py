"""Physiology: dose-response targets and kinetics by hand, steady state, keeping, detraining,
intensity, bounded fatigue, overreaching, the population."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.config import default_world_config
from coachrl.sim import features as F
from coachrl.sim import physiology as P
from coachrl.sim.population import sample_athlete, sample_athletes
from coachrl.sim.sessions import AEROBIC_BASE, HIIT, zone_minutes
from coachrl.testing import fold, record

CFG = default_world_config()


def athlete(seed=0, archetype=1):
    """The first training athlete of the given archetype for a seed."""
    for i in range(200):
        p = sample_athlete(jax.random.PRNGKey(seed * 1000 + i), CFG)
        if int(p.archetype) == archetype:
            return p._replace(trainability=jnp.float32(1.0))  # an average responder
    raise AssertionError("archetype not drawn")


def days(params, sessions, phys=None):
    """Physiology after each day of (session, minutes); also the tested performance."""
    step = jax.jit(lambda ph, s, m: P.adapt(ph, zone_minutes(s, m), P.load_of(s, m), params, CFG))
    tested = jax.jit(lambda ph: P.tested_performance(ph, params, CFG))
    phys = P.initial_physiology(params, CFG) if phys is None else phys
    out = []
    for s, m in sessions:
        phys = step(phys, jnp.int32(s), jnp.float32(m))
        out.append(float(tested(phys)))
    return phys, np.asarray(out)


def test_saturation_and_targets_by_hand():
    p = athlete()
    k = CFG.adaptation.aerobic_half_dose
    a_star, _ = P.capacity_targets(jnp.float32(k), jnp.float32(0.0), p, CFG)
    assert float(a_star) == pytest.approx(float(p.trainability * p.aerobic_ceiling) / 2, rel=1e-5)
    # Keeping takes less than building: the same dose keeps a higher level.
    keep, _ = P.capacity_targets(jnp.float32(k), jnp.float32(0.0), p, CFG, keep=True)
    m = CFG.adaptation.maintenance
    assert float(keep) == pytest.approx(float(p.trainability * p.aerobic_ceiling) / (1 + m),
                                        rel=1e-5)
    # The intensity dose drives only VO2max, up to (1 - volume share) of its ceiling.
    _, v_int = P.capacity_targets(jnp.float32(0.0), jnp.float32(1e6), p, CFG)
    share = CFG.adaptation.vo2_volume_share
    assert float(v_int) == pytest.approx(float(p.trainability * p.vo2_ceiling) * (1 - share),
                                         rel=1e-4)


def test_one_day_of_building_by_hand():
    p = athlete()
    phys = P.initial_physiology(p, CFG)._replace(aerobic=jnp.float32(0.0))
    a = CFG.adaptation
    after = P.adapt(phys, zone_minutes(AEROBIC_BASE, 60.0), P.load_of(AEROBIC_BASE, 60.0), p, CFG)
    c = math.exp(-1.0 / a.dose_days)
    # 60 min of aerobic base: 12 min of warm-up and cool-down (recovery), 48 min low.
    hours = (12 * a.volume_weights[0] + 48 * a.volume_weights[1]) / 60
    dose = float(phys.volume_dose) * c + hours * (1 - c)
    target = float(p.trainability * p.aerobic_ceiling) * dose / (dose + a.aerobic_half_dose)
    built = target / a.aerobic_build_days
    # Yesterday's fatigue is the habitual load (phi = 1): nothing held, the usual share shown.
    shown = 1 - math.exp(-1.0 / a.realisation_days)
    assert float(after.aerobic) == pytest.approx(shown * built, rel=1e-4)
    assert float(after.aerobic_pending) == pytest.approx((1 - shown) * built, rel=1e-4)


def test_strain_holds_gains_back_until_recovery():
    # A steady athlete (at the target of their usual training) with 0.01 of gains pending.
    p = athlete(archetype=2)
    a = CFG.adaptation
    zones, load = P.habitual_zone_minutes(p), jnp.float32(float(p.initial_ctl))
    steady = P.initial_physiology(p, CFG)._replace(aerobic_pending=jnp.float32(0.01))
    shown = 1 - math.exp(-1.0 / a.realisation_days)
    strained = steady._replace(fatigue=steady.tolerance * 1.2)  # 20 % above the usual
    held = P.adapt(strained, zones, load, p, CFG)
    assert float(held.aerobic_pending) == pytest.approx(
        0.01 * (1 - shown * math.exp(-a.strain_holds * 0.2)), rel=1e-4)  # 91 % held back
    calm = steady
    for _ in range(10):
        calm = P.adapt(calm, zones, load, p, CFG)
    assert float(calm.aerobic_pending) == pytest.approx(0.01 * (1 - shown) ** 10, rel=1e-3)
    assert float(calm.aerobic) > float(steady.aerobic) + 0.009  # expressed


def test_habitual_training_by_hand():
    # 12 % of the time at threshold comes in tempo sessions (60 % threshold): 20 % tempo,
    # 80 % aerobic base; mean IF^2 = 0.8 x 0.49 + 0.2 x 0.7225 = 0.5365, so CTL 50 is
    # 3000 / 53.65 = 55.92 min a day: 6.71 at threshold, 0.2 x 0.4 + 0.8 x 0.2 = 24 % recovery.
    p = athlete()._replace(initial_ctl=jnp.float32(50.0), habitual_threshold=jnp.float32(0.12),
                           habitual_high=jnp.float32(0.0))
    zones = np.asarray(P.habitual_zone_minutes(p))
    total = 3000.0 / 53.65
    assert zones.sum() == pytest.approx(total, rel=1e-5)
    assert zones == pytest.approx([0.24 * total, 0.64 * total, 0.12 * total, 0.0], rel=1e-5)


def test_habitual_training_is_a_steady_state():
    p = athlete(archetype=2)
    phys = P.initial_physiology(p, CFG)
    zones = P.habitual_zone_minutes(p)
    load = float(p.initial_ctl)
    step = jax.jit(lambda ph: P.adapt(ph, zones, jnp.float32(load), p, CFG))
    later = phys
    for _ in range(60):
        later = step(later)
    assert float(later.aerobic) == pytest.approx(float(phys.aerobic), rel=1e-3)
    assert float(later.vo2) == pytest.approx(float(phys.vo2), rel=1e-3)
    assert int(later.overreached) == P.NORMAL


def test_reduced_volume_keeps_and_stopping_detrains_to_the_floor():
    p = athlete(archetype=2)
    start = P.initial_physiology(p, CFG)
    minutes = float(P.habitual_zone_minutes(p).sum())
    half, _ = days(p, [(AEROBIC_BASE, minutes * 0.5)] * 28)
    assert float(half.aerobic) == pytest.approx(float(start.aerobic), rel=1e-3)  # kept
    stopped, tested = days(p, [(0, 0.0)] * 200)
    assert float(stopped.aerobic) < float(start.aerobic) and float(stopped.vo2) < float(start.vo2)
    assert float(stopped.aerobic) >= float(start.aerobic_floor) - 1e-6
    assert float(stopped.vo2) >= float(start.vo2_floor) - 1e-6
    assert np.all(np.diff(tested[28:]) <= 1e-4)  # once fatigue is gone, only decline


def test_intensity_builds_vo2max_more_than_the_same_easy_minutes():
    p = athlete(archetype=2)._replace(initial_ctl=jnp.float32(75.0))  # the weeks are not overload
    hiit_week = [(0, 0.0), (HIIT, 60.0), (AEROBIC_BASE, 90.0), (AEROBIC_BASE, 60.0),
                 (HIIT, 60.0), (AEROBIC_BASE, 120.0), (AEROBIC_BASE, 90.0)]
    easy_week = [(s if s != HIIT else AEROBIC_BASE, m) for s, m in hiit_week]
    with_hiit, t_hiit = days(p, hiit_week * 4)
    without, t_easy = days(p, easy_week * 4)
    assert float(with_hiit.vo2) > float(without.vo2) + 0.01
    assert t_hiit[-1] > t_easy[-1]


def test_fatigue_is_bounded_and_clears_in_days():
    p = athlete(archetype=2)
    heavy, _ = days(p, [(HIIT, 180.0)] * 10)
    expressed = float(P.performance(heavy, p, CFG))
    fresh = float(p.p0 * (1 + P.capacity(heavy)))
    cut_max = CFG.adaptation.fatigue_max + CFG.overreaching.performance_cut[1]
    assert expressed >= fresh * (1 - cut_max) - 1e-3
    rested, _ = days(p, [(0, 0.0)] * 10, phys=heavy)
    assert float(P.fatigue_ratio(rested, CFG)) < 0.5 * float(P.fatigue_ratio(heavy, CFG))


def test_sustained_overload_is_overreaching_then_recovery():
    p = athlete(archetype=2)._replace(strain_tolerance=jnp.float32(1.1))
    over, _ = days(p, [(AEROBIC_BASE, 120.0), (HIIT, 60.0)] * 4)  # 8 days well above usual
    assert int(over.overreached) == P.FUNCTIONAL_OR
    longer, _ = days(p, [(AEROBIC_BASE, 180.0), (HIIT, 90.0)] * 7)  # 2 weeks far above
    assert int(longer.overreached) == P.NONFUNCTIONAL_OR
    h = fold(CFG, [record(CFG) for _ in range(20)], initial_ctl=40.0)
    normal = P.initial_physiology(p, CFG)
    _, m_normal = P.morning(normal, h, p, CFG, jnp.float32(0.0), jnp.float32(0.0))
    _, m_over = P.morning(longer, h, p, CFG, jnp.float32(0.0), jnp.float32(0.0))
    assert float(m_over.hrv_ln) < float(m_normal.hrv_ln) - 0.1
    assert float(m_over.rhr_bpm) > float(m_normal.rhr_bpm) + 3
    hz_normal = P.hazards(normal, h, jnp.int32(AEROBIC_BASE), m_normal.recovery, p, CFG)
    hz_over = P.hazards(longer, h, jnp.int32(AEROBIC_BASE), m_over.recovery, p, CFG)
    assert float(hz_over.illness) > 2 * float(hz_normal.illness)
    # Functional overreaching clears within 3 weeks of rest (days to weeks: Meeusen et al.
    # 2013); non-functional takes longer.
    f_rest, _ = days(p, [(0, 0.0)] * 21, phys=over)
    n_rest, _ = days(p, [(0, 0.0)] * 21, phys=longer)
    assert int(f_rest.overreached) == P.NORMAL
    assert int(n_rest.overreached) == P.NONFUNCTIONAL_OR
    # Overreached, expressed performance is cut on top of fatigue.
    cut = CFG.overreaching.performance_cut[1]
    fresh = float(p.p0 * (1 + P.capacity(longer)))
    assert float(P.performance(longer, p, CFG)) < fresh * (1 - cut) + 1e-3


def test_overload_block_drives_form_and_injury_hazard():
    p = athlete()
    normal = [record(CFG, session=AEROBIC_BASE, minutes=60) for _ in range(21)]
    overload = [record(CFG, session=HIIT, minutes=120) for _ in range(14)]
    h_normal = fold(CFG, normal, initial_ctl=40.0)
    h_over = fold(CFG, normal[:7] + overload, initial_ctl=40.0)
    assert float(h_over.atl) > 1.8 * float(h_over.ctl)
    assert float(F.readiness(h_over, CFG).tsb) < -30
    phys = P.initial_physiology(p, CFG)
    _, m = P.morning(phys, h_normal, p, CFG, jnp.float32(0.0), jnp.float32(0.0))
    hz_normal = P.hazards(phys, h_normal, jnp.int32(AEROBIC_BASE), m.recovery, p, CFG)
    hz_over = P.hazards(phys, h_over, jnp.int32(HIIT), m.recovery, p, CFG)
    assert float(hz_over.injury) > 5 * float(hz_normal.injury)


def test_injury_hazard_acwr_curve_by_hand():
    # At ACWR 2.0 the hazard multiplier is exp(4 x (2.0 - 1.3)) = 16.4 (~17 %/week, Hulin 2016).
    lo, hi = CFG.risk.acwr_sweet_spot
    assert math.exp(CFG.risk.acwr_high_slope * (2.0 - hi)) == pytest.approx(16.44, abs=0.01)


def test_heldout_population_is_shifted_and_independent():
    key = jax.random.PRNGKey(3)
    train = sample_athletes(key, 2000, CFG, heldout=False)
    held = sample_athletes(key, 2000, CFG, heldout=True)
    assert not np.allclose(np.asarray(train.fatigue_days), np.asarray(held.fatigue_days))
    assert float(held.fatigue_days.mean()) > float(train.fatigue_days.mean())
    for field in ("p0", "aerobic_ceiling", "missing_prob", "habit_adherence", "trainability"):
        assert np.all(np.isfinite(np.asarray(getattr(held, field))))
    assert np.all(np.asarray(held.missing_prob) <= 1) and np.all(np.asarray(held.retention) <= 1)
    # Trainability: mean 1, SD as configured (HERITAGE heterogeneity), clipped.
    t = np.asarray(train.trainability)
    assert t.mean() == pytest.approx(1.0, abs=0.05)
    assert t.std() == pytest.approx(CFG.population.trainability_sd, abs=0.05)
    assert t.min() >= CFG.population.trainability_range[0]
    # Archetype mix follows the configured weights.
    shares = np.bincount(np.asarray(train.archetype), minlength=4) / 2000
    np.testing.assert_allclose(shares, [a.weight for a in CFG.population.archetypes], atol=0.04)
