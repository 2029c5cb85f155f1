"""Virtual trials: calendars by hand, endpoints by hand, a fast trial and the script's output."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.config import default_world_config
from coachrl.sim.features import feature_names
from coachrl.sim.sessions import AEROBIC_BASE, HIIT, REST
from coachrl.validation.protocols import (
    MAX_OWED_MIN,
    Arm,
    calendar_policy,
    repeat,
    week,
    week_load,
)
from coachrl.validation.trials import (
    PER_PROTOCOL_COMPLETION,
    TRIAL_IDS,
    TRIALS,
    Check,
    Cohort,
    TrialResult,
    change,
    cohort_config,
    select,
    summary_json,
)

CFG = default_world_config()
ROOT = Path(__file__).resolve().parents[1]
WEEK = week(("rest", 0), ("hiit", 60), ("aerobic_base", 90), ("rest", 0), ("aerobic_base", 60),
            ("aerobic_base", 120), ("rest", 0))


def observation(ctl: float) -> dict:
    features = np.zeros(len(feature_names(CFG)), np.float32)
    features[feature_names(CFG).index("ctl")] = ctl / 100.0
    return {"features": jnp.asarray(features), "action_mask": jnp.ones(sum(CFG.nvec), bool)}


def follow(arm: Arm, ctl: float, days: int) -> list[tuple[int, float]]:
    policy = calendar_policy(CFG, arm)
    step = jax.jit(policy.step)
    state, out = policy.init(jax.random.PRNGKey(0)), []
    for _ in range(days):
        action, state = step(state, observation(ctl), jax.random.PRNGKey(0))
        out.append((int(action[0]), CFG.actions.durations_min[int(action[1])]))
    return out


def test_week_load_by_hand():
    # HIIT 60 min at IF 0.9: 81 TSS; aerobic base 270 min at IF 0.7: 4.5 h x 49 = 220.5 TSS.
    assert week_load(WEEK) == pytest.approx((81.0 + 220.5) / 7)
    with pytest.raises(ValueError, match="7 days"):
        week(("rest", 0))
    with pytest.raises(ValueError, match="unknown session"):
        week(*[("swim", 30)] * 7)


def test_an_absolute_calendar_is_followed_as_written():
    days = follow(Arm("as written", (WEEK,)), ctl=50.0, days=9)
    assert [s for s, _ in days[:7]] == [REST, HIIT, AEROBIC_BASE, REST, AEROBIC_BASE,
                                        AEROBIC_BASE, REST]
    assert [m for s, m in days[:7] if s != REST] == [60.0, 90.0, 60.0, 120.0]
    assert days[7:9] == days[0:2]  # after the calendar its last week repeats


def test_a_relative_calendar_scales_to_the_athletes_load():
    # Volume 1.0 at CTL 21.5: the written week (43.07 TSS/day) at half its minutes.
    days = follow(Arm("relative", (WEEK,), (1.0,)), ctl=0.5 * week_load(WEEK), days=7)
    assert [m for s, m in days if s != REST] == [30.0, 45.0, 30.0, 60.0]
    assert days[1][0] == HIIT  # intensity kept


def test_a_scaled_calendar_carries_what_the_buckets_leave_out():
    # Volume 1.2: 72, 108, 72, 144 min a week. Nearest buckets alone give 60, 120, 60, 120
    # (360 of 396); carrying the rest forward gives 60, 120 (108 + 12), 60, 180 (144 + 12).
    days = follow(Arm("relative", (WEEK,), (1.2,)), ctl=week_load(WEEK), days=14)
    assert [m for s, m in days[:7] if s != REST] == [60.0, 120.0, 60.0, 180.0]
    # The second week starts 24 min ahead: 45 (48), 120 (111), 60 (63), 120 (147).
    assert [m for s, m in days[7:] if s != REST] == [45.0, 120.0, 60.0, 120.0]
    total = sum(m for s, m in days if s != REST)
    assert abs(total - 2 * 396.0) <= MAX_OWED_MIN


def test_a_cohort_sets_its_mix_its_season_and_per_protocol_completion():
    arm = Arm("as written", (WEEK,) * 3)
    trial = cohort_config(CFG, Cohort("c", {"advanced": 1.0}, (arm,)))
    assert trial.episode.max_days == 21 and trial.episode.race_probability == 0.0
    names = CFG.population.archetype_names
    assert trial.population.heldout_weights == tuple(float(n == "advanced") for n in names)
    assert all(a.completion == PER_PROTOCOL_COMPLETION for a in trial.population.archetypes)
    free = cohort_config(CFG, Cohort("c", {"advanced": 1.0}, (arm,), completion=None))
    assert [a.completion for a in free.population.archetypes] == [
        a.completion for a in CFG.population.archetypes]
    with pytest.raises(ValueError, match="unknown archetypes"):
        cohort_config(CFG, Cohort("c", {"pro": 1.0}, (arm,)))
    # A supervised study runs only the illness and injury rules; a coach's cohort all of them.
    assert CFG.safety.coach_rules and not trial.safety.coach_rules
    coached = cohort_config(CFG, Cohort("c", {"advanced": 1.0}, baseline="polarized", days=7))
    assert coached.safety.coach_rules
    assert [c.supervised for t in TRIALS for c in t.cohorts].count(False) == 1  # season_levels


def test_change_between_two_tests_by_hand():
    class Traj:  # tested gain (%) after days 1..4
        gain = np.array([[0.0, 10.0, 21.0, 0.0]])

    assert change(Traj, 2)[0] == pytest.approx(10.0)
    assert change(Traj, 3, since=2)[0] == pytest.approx(10.0)  # 1.21 / 1.10 - 1
    assert change(Traj, 4, since=3)[0] == pytest.approx(100 * (1 / 1.21 - 1))


def test_summary_json_shape_and_unknown_trial():
    check = Check("x (%)", 2.0, (1.0, 3.0), "+1 … +4", True)
    result = TrialResult("t", "Someone 2000", "a test", "+2 %", (check,))
    out = summary_json({"t": result})
    assert out == {"trials": {"t": {"published": "+2 %", "simulated": 2.0, "ci": [1.0, 3.0],
                                    "pass": True,
                                    "checks": {"x (%)": {"value": 2.0, "band": "+1 … +4",
                                                         "pass": True}}}},
                   "passed": 1, "total": 1}
    with pytest.raises(ValueError, match="unknown trial"):
        select(["nope"])
    assert set(TRIAL_IDS) == {"stoggl2014", "taper_bosquet2007", "detraining", "heritage1999",
                              "overload_aubry2014", "season_levels"}


def test_repeat_and_arm_checks():
    assert len(repeat(WEEK, 3)) == 3
    with pytest.raises(ValueError, match="volumes"):
        Arm("bad", (WEEK, WEEK), (1.0,))


def test_validate_world_runs_the_detraining_trial(tmp_path):
    """The fast subset of `make validate`: the detraining trial passes on the default world."""
    out = tmp_path / "validation"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_world.py"),
                           "--trials", "detraining", "--athletes", "40", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(summary) == {"trials", "passed", "total"}
    assert summary["total"] == 1 and "detraining" in summary["trials"]
    trial = summary["trials"]["detraining"]
    assert set(trial) >= {"published", "simulated", "ci", "pass"}
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert trial["pass"] and summary["passed"] == 1
    assert (out / "report.md").read_text().startswith("# Virtual trials")
    assert (out / "forest.png").stat().st_size > 1000 and (out / "results.json").exists()


def test_validate_world_rejects_bad_flags(tmp_path):
    script = str(ROOT / "scripts" / "validate_world.py")
    bad = subprocess.run([sys.executable, script, "--trials", "nope", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "unknown nope" in bad.stderr
    few = subprocess.run([sys.executable, script, "--athletes", "1", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert few.returncode == 2 and "--athletes" in few.stderr
