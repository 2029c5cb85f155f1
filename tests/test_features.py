"""The shared feature function: PMC numbers by hand, habits, missing data."""

import math

import jax
import numpy as np
import pytest

from coachrl.config import default_world_config
from coachrl.sim import features as F
from coachrl.sim.sessions import AEROBIC_BASE, HIIT, REST, TEMPO
from coachrl.testing import fold, record

CFG = default_world_config()


def loads(*tss_values):
    """Records whose TSS is exactly the given values (aerobic base minutes chosen to match)."""
    out = []
    for t in tss_values:
        minutes = t / (0.70**2 * 100) * 60
        out.append(record(CFG, session=AEROBIC_BASE if t > 0 else REST, minutes=minutes))
    return out


def test_pmc_decays_match_published_constants():
    assert F.pmc_decay(42) == pytest.approx(0.976472, abs=1e-6)
    assert F.pmc_decay(7) == pytest.approx(0.866878, abs=1e-6)


def test_ctl_atl_tsb_by_hand():
    # CTL_t = CTL_{t-1} e^{-1/42} + TSS (1 - e^{-1/42}); from 0 with loads 100, 0, 50.
    h = fold(CFG, loads(100, 0, 50), initial_ctl=0.0)
    c, a = 0.976472, 0.866878
    ctl = ((100 * (1 - c)) * c) * c + 50 * (1 - c)
    atl = ((100 * (1 - a)) * a) * a + 50 * (1 - a)
    assert float(h.ctl) == pytest.approx(ctl, rel=1e-4)  # 3.4198
    assert float(h.ctl) == pytest.approx(3.4198, abs=1e-3)
    assert float(h.atl) == pytest.approx(atl, rel=1e-4)
    # TSB going into day 4 = CTL_3 - ATL_3.
    assert float(F.readiness(h, CFG).tsb) == pytest.approx(ctl - atl, rel=1e-4)


def test_acwr_and_monotony_by_hand():
    week = [50, 60, 0, 70, 40, 80, 100]
    h = fold(CFG, loads(*([30] * 21 + week)), initial_ctl=30.0)
    r = F.readiness(h, CFG)
    acute = sum(week) / 7
    chronic = (30 * 21 + sum(week)) / 28
    assert float(r.acwr) == pytest.approx(acute / chronic, rel=1e-4)
    assert float(r.monotony) == pytest.approx(np.mean(week) / np.std(week), rel=1e-4)


def test_habit_at_goal_drives_ema_to_one():
    goals = [h.daily_goal for h in CFG.habits.items]
    days = [record(CFG, habits=goals) for _ in range(1500)]
    h = fold(CFG, days)
    np.testing.assert_allclose(np.asarray(h.habit_ema), 1.0, atol=1e-3)
    # And after n days at the goal: EMA_n = 1 - (1 - EMA_0) (1 - a)^n.
    ema0 = np.asarray(F.init_history(CFG).habit_ema)
    np.testing.assert_allclose(ema0, [7.5 / 8, 0, 0], rtol=1e-6)  # the default levels
    h30 = fold(CFG, days[:30])
    np.testing.assert_allclose(np.asarray(h30.habit_ema),
                               1 - (1 - ema0) * (1 - CFG.habits.alpha) ** 30, rtol=1e-4)


def test_missing_readings_stay_missing_after_forward_fill_window():
    days = [record(CFG, hrv_ms=60.0, recovery=70.0)]
    days += [record(CFG, hrv_ms=np.nan, rhr_bpm=np.nan, sleep_h=np.nan, sleep_eff=np.nan,
                    recovery=np.nan) for _ in range(4)]
    fill = CFG.observation.forward_fill_days
    for n_missing in range(1, 5):
        h = fold(CFG, days[:n_missing], today=days[n_missing])
        r = F.readiness(h, CFG)
        assert bool(r.missing[0]) and bool(r.missing[4])
        if n_missing <= fill:
            assert float(r.filled[4]) == pytest.approx(70.0)  # forward-filled, flagged
        else:
            assert math.isnan(float(r.filled[4]))  # too old: missing, not invented
        features = np.asarray(F.compute_features(h, CFG))
        names = F.feature_names(CFG)
        assert features[names.index("recovery_missing")] == 1.0
        assert np.all(np.isfinite(features))


def test_hrv_normal_range_is_the_sample_statistics_of_the_days_before():
    values = [55, 60, 65, 58, 62, 70, 50, 61, 59, 64, 57, 63, 66, 54, 60]
    h = fold(CFG, [record(CFG, hrv_ms=v) for v in values], today=record(CFG, hrv_ms=40.0))
    r = F.readiness(h, CFG)
    ln = np.log(values)
    assert float(r.hrv_mean) == pytest.approx(ln.mean(), rel=1e-5)
    # West's weighted variance with weights 1/n is the population variance.
    assert float(r.hrv_sd) == pytest.approx(ln.std(), rel=1e-3)
    assert bool(r.hrv_trusted)
    assert float(r.hrv_ln) == pytest.approx(math.log(40.0), rel=1e-6)
    assert float(r.hrv_baseline) == pytest.approx(np.mean(np.log(values[-6:] + [40.0])), rel=1e-5)


def test_streaks_and_days_to_race():
    days = [record(CFG, session=TEMPO), record(CFG, session=HIIT), record(CFG, session=TEMPO)]
    h = fold(CFG, days, today=record(CFG, days_to_race=12))
    assert int(h.hard_streak) == 3
    assert int(h.days_since_rest) == 3 + F.init_history(CFG).days_since_rest
    assert int(h.days_to_race) == 12
    features = np.asarray(F.compute_features(h, CFG))
    names = F.feature_names(CFG)
    assert features[names.index("race_ahead")] == 1.0
    assert features[names.index("days_to_race")] == pytest.approx(12 / 60)


def test_fold_history_scan_equals_python_loop():
    days = loads(40, 0, 80, 60, 20)
    from coachrl.testing import stack

    scanned = F.fold_history(stack(days), CFG, F.init_history(CFG, 25.0))
    looped = fold(CFG, days, initial_ctl=25.0)
    for a, b in zip(jax.tree_util.tree_leaves(scanned), jax.tree_util.tree_leaves(looped)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_max_nonnegative_is_the_max_of_non_negative_floats():
    x = np.asarray([[0.0, 30.0, 29.5, 1e-30], [0.0, 0.0, 0.0, 0.0], [180.0, 45.0, 0.5, 90.0]],
                   np.float32)
    np.testing.assert_array_equal(np.asarray(F.max_nonnegative(x)), x.max(axis=1))
