"""Physiology: Banister / Busso by hand, overload, taper, detraining, population."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.config import default_world_config
from coachrl.sim import features as F
from coachrl.sim import physiology as P
from coachrl.sim.population import sample_athlete, sample_athletes, steady_gain
from coachrl.sim.sessions import AEROBIC_BASE, HIIT
from coachrl.testing import fold, record

CFG = default_world_config()


def athlete(seed=0, archetype=1):
    """The first training athlete of the given archetype for a seed."""
    for i in range(200):
        p = sample_athlete(jax.random.PRNGKey(seed * 1000 + i), CFG)
        if int(p.archetype) == archetype:
            return p
    raise AssertionError("archetype not drawn")


def run_loads(params, loads, phys=None):
    step = jax.jit(P.banister_step)
    phys = P.initial_physiology(params._replace(initial_ctl=jnp.float32(0.0))) if phys is None \
        else phys
    perf = []
    for w in loads:
        phys = step(phys, jnp.float32(w), params)
        perf.append(float(P.performance(phys, params)))
    return phys, np.asarray(perf)


def test_single_impulse_matches_closed_form():
    p = athlete()
    _, perf = run_loads(p, [100.0] + [0.0] * 30)
    k1, k2, k3 = float(p.k1), float(p.k2), float(p.k3)
    t1, t2 = float(p.tau1), float(p.tau2)
    for t in (0, 1, 10, 30):  # t days after the impulse day
        expected = float(p.p0) + k1 * 100 * math.exp(-t / t1) - (k2 + k3 * 100) * 100 * math.exp(
            -t / t2)
        assert perf[t] == pytest.approx(expected, rel=1e-5)
    # Fatigue masks fitness first (k2 > k1), then the athlete supercompensates.
    assert perf[0] < float(p.p0) < perf[30]


def test_busso_fatigue_gain_grows_with_recent_load():
    p = athlete()
    light, _ = run_loads(p, [50.0] * 5)
    heavy, _ = run_loads(p, [150.0] * 5)
    gain_light = float(p.k2 + p.k3 * light.load_memory)
    gain_heavy = float(p.k2 + p.k3 * heavy.load_memory)
    assert gain_heavy > gain_light > float(p.k2)


def test_k3_puts_the_steady_state_optimum_at_the_optimal_load():
    p = athlete()
    t1, t2, t3 = (float(steady_gain(jnp.float32(t))) for t in (p.tau1, p.tau2, p.tau3))

    def steady(w):  # steady-state gain of a sustained daily load w
        return w * (float(p.k1) * t1 - float(p.k2) * t2) - float(p.k3) * w * w * t2 * t3

    w_star = (float(p.k1) * t1 - float(p.k2) * t2) / (2 * float(p.k3) * t2 * t3)
    lo, hi = CFG.population.archetypes[1].optimal_load
    assert lo <= w_star <= hi
    assert steady(w_star) > steady(0.8 * w_star) and steady(w_star) > steady(1.2 * w_star)


def test_taper_after_build_raises_performance():
    p = athlete()
    build = [90.0] * 56
    _, keep_going = run_loads(p, build + [90.0] * 14)
    _, taper = run_loads(p, build + [35.0] * 14)
    assert taper[-1] > keep_going[-1]
    assert taper[-1] > taper[55]  # supercompensation: better than at the end of the build


def test_rest_only_detrains():
    p = athlete(archetype=2)
    start = P.initial_physiology(p)
    phys, perf = run_loads(p, [0.0] * 90, phys=start)
    assert float(phys.fitness) < float(start.fitness)
    assert perf[-1] < float(P.performance(start, p))
    assert np.all(np.diff(perf[30:]) < 0)  # once fatigue is gone, only decline


def test_overload_block_drives_form_hrv_and_injury_hazard():
    p = athlete()
    normal = [record(CFG, session=AEROBIC_BASE, minutes=60) for _ in range(21)]
    overload = [record(CFG, session=HIIT, minutes=120) for _ in range(14)]
    h_normal = fold(CFG, normal, initial_ctl=40.0)
    h_over = fold(CFG, normal[:7] + overload, initial_ctl=40.0)
    assert float(h_over.atl) > 1.8 * float(h_over.ctl)
    assert float(F.readiness(h_over, CFG).tsb) < -30
    phys = P.initial_physiology(p)
    _, m_normal = P.morning(phys, h_normal, p, CFG, jnp.float32(0.0), jnp.float32(0.0))
    _, m_over = P.morning(phys, h_over, p, CFG, jnp.float32(0.0), jnp.float32(0.0))
    assert float(m_over.hrv_ln) < float(m_normal.hrv_ln) - 0.2
    assert float(m_over.rhr_bpm) > float(m_normal.rhr_bpm) + 3
    assert float(m_over.recovery) < float(m_normal.recovery)
    hz_normal = P.hazards(phys, h_normal, jnp.int32(AEROBIC_BASE), m_normal.recovery, p, CFG)
    hz_over = P.hazards(phys, h_over, jnp.int32(HIIT), m_over.recovery, p, CFG)
    assert float(hz_over.injury) > 5 * float(hz_normal.injury)
    assert float(hz_over.illness) > float(hz_normal.illness)


def test_injury_hazard_acwr_curve_by_hand():
    # At ACWR 2.0 the hazard multiplier is exp(4 x (2.0 - 1.3)) = 16.4 (~17 %/week, Hulin 2016).
    lo, hi = CFG.risk.acwr_sweet_spot
    assert math.exp(CFG.risk.acwr_high_slope * (2.0 - hi)) == pytest.approx(16.44, abs=0.01)


def test_heldout_population_is_shifted_and_independent():
    key = jax.random.PRNGKey(3)
    train = sample_athletes(key, 2000, CFG, heldout=False)
    held = sample_athletes(key, 2000, CFG, heldout=True)
    assert not np.allclose(np.asarray(train.tau1), np.asarray(held.tau1))
    assert float(held.tau1.mean()) > float(train.tau1.mean())
    for field in ("p0", "k1", "missing_prob", "habit_adherence"):
        assert np.all(np.isfinite(np.asarray(getattr(held, field))))
    assert np.all(np.asarray(held.missing_prob) <= 1) and np.all(np.asarray(held.k3) >= 0)
    # Archetype mix follows the configured weights.
    shares = np.bincount(np.asarray(train.archetype), minlength=4) / 2000
    np.testing.assert_allclose(shares, [a.weight for a in CFG.population.archetypes], atol=0.04)
