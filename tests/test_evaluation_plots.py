"""Evaluation figures: the four PNGs are written; the heatmap and share helpers by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coachrl.evaluation.metrics import HEADLINE
from coachrl.evaluation.plots import (
    hard_time_share,
    modal_session_grid,
    session_shares,
    write_plots,
)
from coachrl.evaluation.rollout import Trajectory
from coachrl.sim.sessions import HIIT, NUM_SESSION_TYPES, NUM_ZONES, REST, TEMPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DURATIONS_MIN = (0.0, 30.0, 45.0, 60.0, 90.0)


def fake_trajectory(seed: int, athletes: int = 3, days: int = 30, heads: int = 3) -> Trajectory:
    """A Trajectory of random values with the rollout's shapes and dtypes."""
    rng = np.random.default_rng(seed)

    def f32(*shape):
        return rng.random(shape, dtype=np.float32)

    session = rng.integers(0, NUM_SESSION_TYPES, (athletes, days)).astype(np.int32)
    action = np.stack([session, rng.integers(0, len(DURATIONS_MIN), (athletes, days)),
                       *(rng.integers(0, 3, (athletes, days)) for _ in range(heads - 2))],
                      axis=-1).astype(np.int32)
    ctl = np.cumsum(f32(athletes, days), axis=1) + 40
    atl = ctl + 20 * (f32(athletes, days) - 0.5)
    injured = np.zeros((athletes, days), bool)
    injured[0, 10:14] = True
    ill = np.zeros((athletes, days), bool)
    ill[0, 20:22] = True
    return Trajectory(
        action=action, violations=rng.integers(0, 2, (athletes, days)).astype(np.int32),
        session=session, minutes=60 * f32(athletes, days), completed=f32(athletes, days),
        habits_kept=f32(athletes, days), habit_alignment=f32(athletes, days),
        over_budget_min=np.zeros((athletes, days), np.float32),
        recovery=100 * f32(athletes, days), seen_recovery=100 * f32(athletes, days),
        seen_tsb=-50 + 80 * f32(athletes, days), ctl=ctl, atl=atl,
        gain=np.cumsum(0.1 * f32(athletes, days), axis=1), injured=injured, ill=ill,
        zone_minutes=np.zeros((athletes, days, NUM_ZONES), np.float32),
        overreached=np.zeros((athletes, days), np.int32), hrv_z=f32(athletes, days),
        overtraining=rng.integers(0, 3, (athletes, days)).astype(np.float32),
        start_ctl=np.full(athletes, 40, np.float32),
        race_day=np.array([25] + [-1] * (athletes - 1), np.int32),
        race_gain=np.array([2.0] + [np.nan] * (athletes - 1), np.float32),
        archetype=np.arange(athletes, dtype=np.int32) % 2)


def fake_summary(policies) -> pd.DataFrame:
    """The long summary table: one row per (policy, metric); some CIs NaN."""
    rows = []
    for i, policy in enumerate(policies):
        for j, metric in enumerate(HEADLINE):
            mean = float(i - j)
            rows.append({"policy": policy, "metric": metric, "mean": mean, "sd": 1.0,
                         "ci_lo": np.nan if j == 1 else mean - 0.5, "ci_hi": mean + 0.5, "n": 3,
                         "median_diff_vs_ref": 0.0, "wilcoxon_stat": np.nan, "p_value": np.nan})
    return pd.DataFrame(rows)


def test_write_plots_writes_four_pngs(tmp_path):
    trajectories = {"fixed_plan": fake_trajectory(0), "ppo": fake_trajectory(1)}
    paths = write_plots(tmp_path / "plots", trajectories, fake_summary(trajectories),
                        DURATIONS_MIN)
    assert [p.name for p in paths] == ["pmc.png", "metrics.png", "actions.png", "heatmap.png"]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, path


def test_write_plots_rejects_a_missing_athlete(tmp_path):
    trajectories = {"fixed_plan": fake_trajectory(0)}
    with pytest.raises(ValueError, match="athlete 3"):
        write_plots(tmp_path, trajectories, fake_summary(trajectories), DURATIONS_MIN, athlete=3)


def test_modal_session_grid_by_hand():
    recovery_bins, tsb_bins = (0, 50, 100), (-20, 0, 20)
    # Cell (recovery 0-50, TSB -20-0): rest x2, HIIT x1 -> rest.
    # Cell (recovery 50-100, TSB 0-20): tempo x2, HIIT x2 -> tie, the easier (tempo);
    #   the TSB of 35 and recovery of 100 lie outside / on the last edge and count there.
    # Cell (recovery 50-100, TSB -20-0): one HIIT day < min_count -> blank.
    # Cell (recovery 0-50, TSB 0-20): nothing -> blank. A NaN reading is dropped.
    session = np.array([REST, REST, HIIT, TEMPO, TEMPO, HIIT, HIIT, HIIT, TEMPO])
    recovery = np.array([10, 40, 20, 60, 100, 70, 80, 90, np.nan])
    tsb = np.array([-5, -25, -10, 5, 35, 10, 15, -3, 5])
    grid = modal_session_grid(session, recovery, tsb, recovery_bins, tsb_bins, min_count=2)
    np.testing.assert_array_equal(grid, [[REST, -1], [-1, TEMPO]])
    assert grid.shape == (len(recovery_bins) - 1, len(tsb_bins) - 1)
    # Pooled over [N, T] inputs alike; min_count 4 blanks the 3-day cell.
    grid = modal_session_grid(session.reshape(3, 3), recovery.reshape(3, 3), tsb.reshape(3, 3),
                              recovery_bins, tsb_bins, min_count=4)
    np.testing.assert_array_equal(grid, [[-1, -1], [-1, TEMPO]])


def test_session_shares_and_hard_time():
    session = np.array([[REST, REST, TEMPO, HIIT], [REST, HIIT, HIIT, HIIT]])
    shares = session_shares(session, NUM_SESSION_TYPES)
    assert shares.shape == (NUM_SESSION_TYPES,)
    assert shares.sum() == pytest.approx(1.0)
    assert shares[REST] == pytest.approx(3 / 8) and shares[HIIT] == pytest.approx(4 / 8)
    assert shares[TEMPO] == pytest.approx(1 / 8)
    # Minutes prescribed: the rest day's bucket does not count; 60 of 150 are hard.
    action = np.array([[[REST, 4], [2, 3], [TEMPO, 3], [1, 1]]])
    assert hard_time_share(action, DURATIONS_MIN) == pytest.approx(40.0)
    assert np.isnan(hard_time_share(np.array([[[REST, 1]]]), DURATIONS_MIN))
