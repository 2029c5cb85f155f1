"""Parity: features folded from the log store equal the simulator's, day by day."""

import datetime as dt

import jax
import numpy as np
import pytest

from coachrl.agents.baselines import make_baseline
from coachrl.coach.features import history_from_log, logged_day, record_of, with_gaps_filled
from coachrl.coach.store import LoggedDay, open_store
from coachrl.config import default_world_config
from coachrl.evaluation import evaluation_config
from coachrl.sim.safety import observe
from coachrl.sim.sessions import SESSION_NAMES
from coachrl.sim.world import AthleteWorld

CONFIG = evaluation_config(default_world_config(), 45, race_probability=0.0)
START = dt.date(2026, 1, 5)


@pytest.fixture(scope="module")
def simulated():
    """A held-out athlete's 45 days under the fixed plan: morning observations and records."""
    world = AthleteWorld(CONFIG)
    key = jax.random.PRNGKey(11)
    params = world.sample_athlete(key, heldout=True)
    state, ts = jax.jit(world.reset)(key, params)
    policy = make_baseline("fixed", CONFIG)
    step = jax.jit(world.step)
    act = jax.jit(policy.step)
    policy_state = policy.init(key)
    observations, records = [], []
    for day in range(CONFIG.episode.max_days):
        observations.append(jax.device_get(ts.observation))
        action, policy_state = act(policy_state, ts.observation, jax.random.PRNGKey(day))
        state, ts = step(state, action, jax.random.fold_in(key, day))
        records.append(jax.device_get(ts.extras["record"]))
    return float(params.initial_ctl), observations, records


def test_features_from_the_store_equal_the_simulators(simulated, tmp_path):
    initial_ctl, observations, records = simulated
    store = open_store(f"sqlite:///{tmp_path}/parity.db")
    store.add_athlete("sim")
    store.log_days("sim", [logged_day(r, START + dt.timedelta(days=i), CONFIG)
                           for i, r in enumerate(records)], source="simulator")
    days = store.days("sim")
    assert len(days) == len(records)
    for t in range(len(days)):  # every morning of the season
        history = history_from_log(days[:t], CONFIG, initial_ctl, today=days[t])
        ours = observe(history, CONFIG)
        np.testing.assert_allclose(ours["features"], observations[t]["features"], rtol=2e-4,
                                   atol=2e-4, err_msg=f"day {t}")
        np.testing.assert_array_equal(ours["action_mask"], observations[t]["action_mask"])


def test_record_of_sums_sessions_under_the_hardest_type():
    day = LoggedDay(START, sessions=(("aerobic_base", 60.0, None), ("hiit", 30.0, 8.0)),
                    habits={"sleep": 8.0})
    record = record_of(day, CONFIG)
    assert SESSION_NAMES[int(record.session)] == "hiit" and float(record.minutes) == 90.0
    assert float(record.tss) == pytest.approx(60 / 60 * 0.7**2 * 100 + 30 / 60 * 0.9**2 * 100)
    assert record.habits.tolist() == [8.0, 0.0, 0.0] and np.isnan(record.hrv_ms)
    morning = record_of(day, CONFIG, morning_only=True)
    assert float(morning.minutes) == 0.0 and morning.habits.sum() == 0.0


def test_record_of_uses_logged_tss_and_time_in_zone_when_present():
    # 60 min aerobic base with a device's TSS 55 and zones (10, 45, 5, 0) min, plus 30 min
    # tempo with nothing logged: TSS 0.5 h x 0.85^2 x 100 = 36.125 and the catalogue's
    # tempo split (0.4 easy, 0.6 threshold) = (12, 0, 18, 0) min.
    day = LoggedDay(START, sessions=(("aerobic_base", 60.0, 3.0, 55.0, (10.0, 45.0, 5.0, 0.0)),
                                     ("tempo", 30.0, 6.0)))
    record = record_of(day, CONFIG)
    assert SESSION_NAMES[int(record.session)] == "tempo" and float(record.minutes) == 90.0
    assert float(record.tss) == pytest.approx(55.0 + 36.125)
    np.testing.assert_allclose(record.zone_minutes, [22.0, 45.0, 23.0, 0.0], rtol=1e-6)
    # A logged TSS alone keeps the catalogue's zones, and logged zones alone the type's TSS.
    only_tss = record_of(LoggedDay(START, sessions=(("tempo", 30.0, None, 40.0),)), CONFIG)
    assert float(only_tss.tss) == 40.0
    np.testing.assert_allclose(only_tss.zone_minutes, [12.0, 0.0, 18.0, 0.0], rtol=1e-6)
    only_zones = record_of(LoggedDay(START, sessions=(
        ("tempo", 30.0, None, None, (5.0, 5.0, 20.0, 0.0)),)), CONFIG)
    assert float(only_zones.tss) == pytest.approx(36.125)
    np.testing.assert_allclose(only_zones.zone_minutes, [5.0, 5.0, 20.0, 0.0])


def test_gaps_become_empty_days_and_order_is_checked():
    days = with_gaps_filled([LoggedDay(START, hrv_ms=50.0),
                             LoggedDay(START + dt.timedelta(days=3), hrv_ms=60.0)])
    assert [d.date.day for d in days] == [5, 6, 7, 8]
    assert days[1].hrv_ms is None and days[3].hrv_ms == 60.0
    with pytest.raises(ValueError, match="not in date order"):
        with_gaps_filled([LoggedDay(START + dt.timedelta(days=1)), LoggedDay(START)])


def test_screened_makes_implausible_readings_missing_and_says_so():
    from coachrl.coach.features import screened

    day = LoggedDay(dt.date(2026, 1, 5), hrv_ms=0.0, rhr_bpm=52.0, sleep_h=7.5, recovery=140.0)
    clean, notes = screened(day)
    assert clean.hrv_ms is None and clean.recovery is None  # HRV 0 ms and recovery 140
    assert clean.rhr_bpm == 52.0 and clean.sleep_h == 7.5  # plausible ones are kept
    assert notes == ["2026-01-05: HRV 0 ms is outside the plausible range (0, 300]: ignored",
                     "2026-01-05: recovery 140 is outside the plausible range [0, 100]: ignored"]
    assert screened(clean) == (clean, [])
