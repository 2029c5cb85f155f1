"""Outcome metrics per athlete, from a policy's `Trajectory`.

Outcomes that matter to an athlete, not reward:

  gain_pct            performance on the last day vs day 0, % of p0 (primary)
  race_gain_pct       race-day performance vs day 0, % of p0 (NaN without a race)
  delta_ctl           CTL on the last day - CTL on day 0 (TSS/day)
  injury_days         days injured;  illness_days  days ill
  recovery_gt60_pct   % of days with a morning recovery score > 60
  overtraining_score  overtraining markers summed over the season: a day with HRV
                      more than 2 SD below normal counts 1, a second day running
                      with recovery < 30 counts 1 (DESIGN §3 reward penalties)
  violations          action heads the safety mask had to replace
  habit_alignment     mean over days of 1 - mean|1 - habit EMA| (1 = every goal met)
  adherence_pct       % of prescribed training (non-rest days) done, by minutes
  habit_adherence_pct % of habit prescriptions done at the prescribed level
  over_budget_min     minutes a day prescribed (training and habits) beyond the person's
                      real free time (0 when the habit file has no time budget)
  hours_per_week      training time done
  hard_time_pct       % of prescribed training time in hard sessions (tempo, HIIT)
  recovery_time_pct, low_time_pct, threshold_time_pct, high_time_pct
                      % of the training time done in each intensity domain (time in zone,
                      from the sessions' structured steps): the plan's intensity distribution
  <session>_pct       % of days each session type was prescribed (the action distribution)
  light_weeks_pct     % of weeks (from the 4th) with under LIGHT_WEEK x the minutes of the 3
                      before: how often the plan eases off (a coach's recovery week)
  taper_volume_pct    minutes a day over the TAPER_DAYS before the race, % of those over the
                      TAPER_BASE_DAYS before them (< 100: volume down; NaN without a race)
  taper_intensity_pct the same for minutes at threshold and above (~100: intensity kept)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from coachrl.evaluation.rollout import Trajectory
from coachrl.sim.config import WorldConfig
from coachrl.sim.sessions import HARD, REST, SESSION_NAMES, ZONE_NAMES


class Metric(NamedTuple):
    name: str
    label: str
    higher_is_better: bool | None  # None: neither (descriptive)


METRICS: tuple[Metric, ...] = (
    Metric("gain_pct", "performance gain (% of p0)", True),
    Metric("race_gain_pct", "race-day gain (% of p0)", True),
    Metric("delta_ctl", "ΔCTL (TSS/day)", None),
    Metric("injury_days", "injury days", False),
    Metric("illness_days", "illness days", False),
    Metric("recovery_gt60_pct", "days recovery > 60 (%)", True),
    Metric("overtraining_score", "overtraining markers", False),
    Metric("violations", "constraint violations", False),
    Metric("habit_alignment", "habit alignment", True),
    Metric("adherence_pct", "training adherence (%)", True),
    Metric("habit_adherence_pct", "habit adherence (%)", True),
    Metric("over_budget_min", "minutes a day over the time budget", False),
    Metric("hours_per_week", "training hours / week", None),
    Metric("hard_time_pct", "hard training time (%)", None),
    Metric("recovery_time_pct", "time at recovery intensity (%)", None),
    Metric("low_time_pct", "time at low intensity (%)", None),
    Metric("threshold_time_pct", "time at threshold (%)", None),
    Metric("high_time_pct", "time at high intensity (%)", None),
    Metric("light_weeks_pct", "lighter weeks (%)", None),
    Metric("taper_volume_pct", "taper volume (% of before)", None),
    Metric("taper_intensity_pct", "taper intensity time (% of before)", None),
) + tuple(Metric(f"{name}_pct", f"{name.replace('_', ' ')} days (%)", None)
          for name in SESSION_NAMES)

# Plan realism: a lighter week has under 80 % of the minutes of the 3 before it (a 3:1
# mesocycle's recovery week is ~60-70 %); a taper is read over the last 10 days before a race
# against the 4 weeks before those (Bosquet et al. 2007: volume -41...60 %, intensity kept).
LIGHT_WEEK = 0.8
TAPER_DAYS = 10
TAPER_BASE_DAYS = 28
REALISM: tuple[str, ...] = ("hours_per_week", "recovery_time_pct", "low_time_pct",
                            "threshold_time_pct", "high_time_pct", "light_weeks_pct",
                            "taper_volume_pct", "taper_intensity_pct")

PRIMARY = "gain_pct"
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
HEADLINE: tuple[str, ...] = ("gain_pct", "race_gain_pct", "delta_ctl", "injury_days",
                             "illness_days", "recovery_gt60_pct", "overtraining_score",
                             "violations", "habit_alignment", "adherence_pct")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        np.nan)


def light_weeks_pct(minutes: np.ndarray) -> np.ndarray:
    """% of weeks, from the 4th, with under LIGHT_WEEK x the mean minutes of the 3 before."""
    weeks = minutes.shape[1] // 7
    if weeks < 4:
        return np.full(minutes.shape[0], np.nan)
    weekly = minutes[:, :7 * weeks].reshape(minutes.shape[0], weeks, 7).sum(axis=2)
    before = np.stack([weekly[:, k - 3:k].mean(axis=1) for k in range(3, weeks)], axis=1)
    light = (weekly[:, 3:] < LIGHT_WEEK * before) & (before > 0)
    return 100.0 * light.mean(axis=1)


def taper_pct(minutes: np.ndarray, race_day: np.ndarray) -> np.ndarray:
    """Minutes a day over the TAPER_DAYS before each race, % of those over the TAPER_BASE_DAYS
    before them; NaN without a race (or one too early in the season to tell)."""
    out = np.full(minutes.shape[0], np.nan)
    for i, race in enumerate(np.asarray(race_day)):
        if race < TAPER_DAYS + TAPER_BASE_DAYS:
            continue
        taper = minutes[i, race - TAPER_DAYS:race].mean()
        base = minutes[i, race - TAPER_DAYS - TAPER_BASE_DAYS:race - TAPER_DAYS].mean()
        out[i] = 100.0 * taper / base if base > 0 else np.nan
    return out


def athlete_metrics(traj: Trajectory, config: WorldConfig) -> dict[str, np.ndarray]:
    """Every metric of METRICS for each athlete: name -> f64[N]."""
    durations = np.asarray(config.actions.durations_min, np.float64)
    session = traj.action[..., 0]  # [N, T], prescribed
    training = session != REST
    prescribed_min = np.where(training, durations[traj.action[..., 1]], 0.0)
    hard = np.asarray(HARD)[session]
    days = session.shape[1]
    out = {
        "gain_pct": traj.gain[:, -1],
        "race_gain_pct": traj.race_gain,
        "delta_ctl": traj.ctl[:, -1] - traj.start_ctl,
        "injury_days": traj.injured.sum(axis=1),
        "illness_days": traj.ill.sum(axis=1),
        "recovery_gt60_pct": 100.0 * np.mean(traj.recovery > 60.0, axis=1),
        "overtraining_score": traj.overtraining.sum(axis=1),
        "violations": traj.violations.sum(axis=1),
        "habit_alignment": traj.habit_alignment.mean(axis=1),
        "adherence_pct": 100.0 * _ratio(np.sum(traj.completed * prescribed_min, axis=1),
                                        prescribed_min.sum(axis=1)),
        "habit_adherence_pct": 100.0 * traj.habits_kept.mean(axis=1),
        "over_budget_min": traj.over_budget_min.mean(axis=1),
        "hours_per_week": traj.minutes.sum(axis=1) / 60.0 / (days / 7.0),
        "hard_time_pct": 100.0 * _ratio(np.sum(prescribed_min * hard, axis=1),
                                        prescribed_min.sum(axis=1)),
    }
    zone_total = traj.zone_minutes.sum(axis=(1, 2))
    for k, name in enumerate(ZONE_NAMES):
        out[f"{name}_time_pct"] = 100.0 * _ratio(traj.zone_minutes[..., k].sum(axis=1), zone_total)
    for k, name in enumerate(SESSION_NAMES):
        out[f"{name}_pct"] = 100.0 * np.mean(session == k, axis=1)
    hard_minutes = traj.zone_minutes[..., ZONE_NAMES.index("threshold"):].sum(axis=-1)
    out["light_weeks_pct"] = light_weeks_pct(traj.minutes)
    out["taper_volume_pct"] = taper_pct(traj.minutes, traj.race_day)
    out["taper_intensity_pct"] = taper_pct(hard_minutes, traj.race_day)
    return {name: np.asarray(out[name], np.float64) for name in METRIC_NAMES}


def metrics_table(trajectories: dict[str, Trajectory], config: WorldConfig) -> pd.DataFrame:
    """One row per (policy, athlete): `policy`, `athlete`, `archetype`, then METRIC_NAMES."""
    archetypes = np.asarray(config.population.archetype_names)
    frames = []
    for policy, traj in trajectories.items():
        values = athlete_metrics(traj, config)
        frames.append(pd.DataFrame({
            "policy": policy, "athlete": np.arange(traj.gain.shape[0]),
            "archetype": archetypes[traj.archetype], **values}))
    return pd.concat(frames, ignore_index=True)


__all__ = ["HEADLINE", "LIGHT_WEEK", "METRICS", "METRIC_NAMES", "Metric", "PRIMARY", "REALISM",
           "TAPER_BASE_DAYS", "TAPER_DAYS", "athlete_metrics", "light_weeks_pct",
           "metrics_table", "taper_pct"]
