"""Evaluation harness: metrics by hand, repeatable runs, common random numbers."""

import numpy as np
import pytest

from coachrl.agents.baselines import make_baseline
from coachrl.config import ConfigError, default_world_config
from coachrl.evaluation import (
    Trajectory,
    athlete_metrics,
    evaluate,
    evaluation_config,
    metrics_table,
    run_policies,
)
from coachrl.evaluation.metrics import METRIC_NAMES, light_weeks_pct, taper_pct

CONFIG = default_world_config()  # durations 20, 30, 45, 60, 90, 120, 180 min
REST, ACTIVE, AEROBIC, STRENGTH, TEMPO, HIIT = range(6)


def fabricated() -> Trajectory:
    """Two athletes, four days. Athlete 1 rests every day and has a race."""
    n, t = 2, 4
    action = np.zeros((n, t, 5), np.int32)
    action[0, :, 0] = [REST, TEMPO, AEROBIC, HIIT]
    action[0, :, 1] = [0, 3, 4, 2]  # -, 60, 90, 45 min
    f = np.float32
    return Trajectory(
        action=action,
        violations=np.array([[0, 1, 0, 0], [0, 0, 0, 0]], np.int32),
        session=action[..., 0].copy(),
        minutes=np.array([[0, 60, 45, 45], [0, 0, 0, 0]], f),
        completed=np.array([[1, 1, 0.5, 1], [1, 1, 1, 1]], f),
        habits_kept=np.array([[1, 2 / 3, 1 / 3, 0], [1, 1, 1, 1]], f),
        over_budget_min=np.array([[0, 10, 20, 30], [0, 0, 0, 0]], f),
        habit_alignment=np.array([[0.5, 0.6, 0.7, 0.8], [1, 1, 1, 1]], f),
        recovery=np.array([[70, 60, 61, 20], [61, 61, 61, 61]], f),
        seen_recovery=np.full((n, t), 50, f), seen_tsb=np.zeros((n, t), f),
        ctl=np.array([[50, 51, 51, 52], [40, 39, 38, 37]], f),
        atl=np.zeros((n, t), f),
        gain=np.array([[0, 0.5, 1, 1.5], [0, -1, -1, -2]], f),
        zone_minutes=np.array([[[0, 0, 0, 0], [24, 0, 36, 0], [9, 36, 0, 0], [30, 0, 0, 15]],
                               [[0, 0, 0, 0]] * 4], f),
        overreached=np.zeros((n, t), np.int32), hrv_z=np.zeros((n, t), f),
        injured=np.array([[0, 0, 1, 1], [0, 0, 0, 0]], bool),
        ill=np.array([[0, 0, 0, 0], [1, 0, 0, 0]], bool),
        overtraining=np.array([[0, 1, 2, 0], [0, 0, 0, 0]], f),
        start_ctl=np.array([50, 40], f), race_day=np.array([-1, 3], np.int32),
        race_gain=np.array([np.nan, 2.0], f), archetype=np.array([0, 3], np.int32))


def test_metrics_worked_by_hand():
    m = athlete_metrics(fabricated(), CONFIG)
    assert set(m) == set(METRIC_NAMES)
    expected_0 = {
        "gain_pct": 1.5, "delta_ctl": 2.0, "injury_days": 2, "illness_days": 0,
        "recovery_gt60_pct": 50.0,  # 70 and 61 of 70, 60, 61, 20
        "overtraining_score": 3, "violations": 1, "habit_alignment": 0.65,
        "adherence_pct": 100 * (60 + 45 + 45) / (60 + 90 + 45),  # minutes done / prescribed
        "habit_adherence_pct": 50.0,
        "over_budget_min": 15.0,  # (0 + 10 + 20 + 30) / 4
        "hours_per_week": 150 / 60 / (4 / 7),
        "hard_time_pct": 100 * (60 + 45) / 195,  # tempo 60 + HIIT 45 of 195 min
        "recovery_time_pct": 100 * 63 / 150, "low_time_pct": 100 * 36 / 150,
        "threshold_time_pct": 100 * 36 / 150,
        "high_time_pct": 100 * 15 / 150,  # zone minutes done: 24+9+30, 36, 36, 15 of 150
        "rest_pct": 25, "tempo_pct": 25, "aerobic_base_pct": 25, "hiit_pct": 25,
        "strength_pct": 0, "active_recovery_pct": 0,
    }
    for name, value in expected_0.items():
        assert m[name][0] == pytest.approx(value, rel=1e-5), name
    assert np.isnan(m["race_gain_pct"][0]) and m["race_gain_pct"][1] == 2.0
    assert m["gain_pct"][1] == -2 and m["delta_ctl"][1] == -3 and m["illness_days"][1] == 1
    assert m["recovery_gt60_pct"][1] == 100 and m["rest_pct"][1] == 100
    assert np.isnan(m["adherence_pct"][1]) and np.isnan(m["hard_time_pct"][1])  # no training
    assert np.isnan(m["low_time_pct"][1])


def test_metrics_table_rows_and_columns():
    table = metrics_table({"a": fabricated(), "b": fabricated()}, CONFIG)
    assert list(table.columns[:3]) == ["policy", "athlete", "archetype"]
    assert list(table.columns[3:]) == list(METRIC_NAMES)
    assert table.policy.tolist() == ["a", "a", "b", "b"]
    assert table.archetype.tolist() == ["beginner", "elite"] * 2


def test_evaluation_config_fixes_the_season():
    config = evaluation_config(CONFIG, 10, race_probability=1.0)
    assert (config.episode.min_days, config.episode.max_days) == (10, 10)
    assert config.episode.race_window_days <= 10 and config.episode.race_probability == 1.0
    with pytest.raises(ConfigError, match="evaluation season of 0 days"):
        evaluation_config(CONFIG, 0)


SMALL = evaluation_config(CONFIG, 21)


def test_same_policy_same_metrics_and_common_random_numbers():
    fixed = make_baseline("fixed", SMALL)
    first = run_policies({"fixed": fixed, "copy": make_baseline("fixed", SMALL),
                          "random": make_baseline("random", SMALL)}, SMALL, 16, seed=4)
    again = run_policies({"fixed": fixed}, SMALL, 16, seed=4)
    for a, b, c in zip(first["fixed"], again["fixed"], first["copy"]):
        np.testing.assert_array_equal(a, b)  # repeatable
        np.testing.assert_array_equal(a, c)  # same athletes, same draws, same policy
    for field in ("start_ctl", "race_day", "archetype"):  # every policy meets the same athletes
        np.testing.assert_array_equal(getattr(first["random"], field),
                                      getattr(first["fixed"], field))
    assert not np.array_equal(first["random"].action, first["fixed"].action)
    other = run_policies({"fixed": fixed}, SMALL, 16, seed=5)
    assert not np.array_equal(other["fixed"].start_ctl, first["fixed"].start_ctl)


def test_evaluate_picks_the_best_baseline_as_reference():
    policies = {name: make_baseline(name, SMALL) for name in ("random", "fixed")}
    result = evaluate(policies, CONFIG, num_athletes=12, days=21, seed=1)
    means = result.metrics.groupby("policy").gain_pct.mean()
    assert result.reference == means.idxmax()
    assert len(result.summary) == 2 * len(METRIC_NAMES)
    ref_rows = result.summary[result.summary.policy == result.reference]
    assert ref_rows.p_value.isna().all()
    assert (result.metrics.violations == 0).all()  # baselines keep to the masks
    with pytest.raises(ValueError, match="at least 1 athlete"):
        evaluate(policies, CONFIG, num_athletes=0, days=21)


def test_light_weeks_and_taper_by_hand():
    # Weeks of 420, 420, 420, 280 (2/3: lighter), 420 (not: 420 > 0.8 x 373) minutes.
    weeks = [60.0] * 21 + [40.0] * 7 + [60.0] * 7
    minutes = np.asarray([weeks, [60.0] * 35])
    assert light_weeks_pct(minutes) == pytest.approx([50.0, 0.0])
    assert np.isnan(light_weeks_pct(minutes[:, :21])).all()  # under 4 weeks: cannot tell
    # 28 days at 60 min, then 10 at 30 before a race on day 38: 50 %; no race: NaN.
    season = np.asarray([[60.0] * 28 + [30.0] * 10 + [0.0] * 4] * 3)
    out = taper_pct(season, np.asarray([38, -1, 20]))
    assert out[0] == pytest.approx(50.0)
    assert np.isnan(out[1]) and np.isnan(out[2])
