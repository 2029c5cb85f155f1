"""Baselines: hand-worked prescriptions, masks always respected, dm_env and jitted use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.agents.baselines import (
    FIXED_WEEK,
    NAMES,
    START_VOLUME,
    PlanState,
    RuleState,
    make_baseline,
    plan_tables,
)
from coachrl.agents.policy import PolicyActor
from coachrl.config import default_world_config
from coachrl.envs import CoachEnv
from coachrl.sim.features import feature_names
from coachrl.sim.safety import padded_heads
from coachrl.sim.sessions import ACTIVE_RECOVERY, AEROBIC_BASE, HIIT, REST, TEMPO

CONFIG = default_world_config()  # durations 20, 30, 45, 60, 90, 120 min
NAMES_F = feature_names(CONFIG)
KEY = jax.random.PRNGKey(0)


def observation(ctl=50.0, recovery=60.0, habit_ema=(1.0, 1.0, 1.0), mask=None):
    features = np.zeros(len(NAMES_F), np.float32)
    features[NAMES_F.index("ctl")] = ctl / 100.0
    features[NAMES_F.index("recovery")] = recovery / 100.0
    for h, value in zip(CONFIG.habits.items, habit_ema):
        features[NAMES_F.index(f"habit_ema_{h.name}")] = value
    mask = np.ones(sum(CONFIG.nvec), bool) if mask is None else mask
    return {"features": jnp.asarray(features), "action_mask": jnp.asarray(mask)}


def act(name, obs, state=None, key=KEY):
    policy = make_baseline(name, CONFIG)
    state = policy.init(key) if state is None else state
    action, state = jax.jit(policy.step)(state, obs, key)
    return np.asarray(action), state


GOAL = [h.goal_level for h in CONFIG.habits.items]  # 8 h in bed, 10 min mobility, 10 min breathing


def test_goal_levels_of_the_default_habits():
    assert GOAL == [2, 1, 2]


@pytest.mark.parametrize("recovery, session", [(80.0, TEMPO), (65.0, AEROBIC_BASE),
                                               (45.0, ACTIVE_RECOVERY), (30.0, REST)])
def test_readiness_rule_bands(recovery, session):
    action, _ = act("rule", observation(ctl=50.0, recovery=recovery))
    assert action[0] == session
    # Plan load 1.1 x 50 = 55 TSS. Tempo: 1.3 x 55 = 71.5 TSS at 72.25 TSS/h -> 59.4 min -> 60.
    # Aerobic base: 55 TSS at 49 TSS/h -> 67.3 min -> 60. Active recovery: 30 min.
    expected_minutes = {TEMPO: 60, AEROBIC_BASE: 60, ACTIVE_RECOVERY: 30, REST: None}[session]
    if expected_minutes is not None:
        assert CONFIG.actions.durations_min[action[1]] == expected_minutes
    sleep = GOAL[0] + 1 if recovery <= 50.0 else GOAL[0]  # more sleep on a low day
    assert action[2:].tolist() == [sleep, *GOAL[1:]]


def test_readiness_rule_alternates_tempo_and_hiit_and_keeps_its_start_ctl():
    obs = observation(ctl=50.0, recovery=80.0)
    first, state = act("rule", obs)
    second, state = act("rule", observation(ctl=200.0, recovery=80.0), state)
    assert (first[0], second[0]) == (TEMPO, HIIT)
    assert isinstance(state, RuleState) and float(state.start_ctl) == 50.0
    # HIIT: 71.5 TSS at 81 TSS/h -> 53 min -> 60 (the day-0 CTL sets the load, not today's).
    assert CONFIG.actions.durations_min[second[1]] == 60


def test_fixed_plan_progresses_three_weeks_then_deloads():
    """The written week at volume 1 when CTL = written load / START_VOLUME."""
    _, _, written_load = plan_tables(FIXED_WEEK)
    ctl = written_load / START_VOLUME
    obs = observation(ctl=ctl)
    durations = CONFIG.actions.durations_min
    policy = make_baseline("fixed", CONFIG)
    step = jax.jit(policy.step)
    state = policy.init(KEY)
    plan = []
    for _ in range(30):
        action, state = step(state, obs, KEY)
        plan.append((int(action[0]), durations[int(action[1])] if action[0] else 0))
    assert [s for s, _ in plan[:7]] == [REST, TEMPO, AEROBIC_BASE, HIIT, ACTIVE_RECOVERY,
                                        AEROBIC_BASE, AEROBIC_BASE]
    tuesdays = [plan[d][1] for d in (1, 8, 15, 22, 29)]
    # Tempo 60 min x 1.0, 1.15 (69 -> 60), 1.3 (78 -> 90), deload 0.6 (36 -> 30),
    # then the next block at +5 % (63 -> 60).
    assert tuesdays == [60, 60, 90, 30, 60]
    saturdays = [plan[d][1] for d in (5, 12, 19, 26)]  # 90 min long ride
    assert saturdays == [90, 90, 120, 60]  # 103.5 -> 90, 117 -> 120, 54 -> 60
    assert isinstance(state, PlanState) and int(state.day) == 30


def test_polarized_week_is_80_20_by_time():
    sessions, minutes, _ = plan_tables(make_baseline.__globals__["POLARIZED_WEEK"])
    hard = np.isin(sessions, [TEMPO, HIIT])
    assert minutes[hard].sum() / minutes.sum() == pytest.approx(0.2)


def test_habit_greedy_pushes_the_habit_furthest_below_goal():
    action, _ = act("habit", observation(habit_ema=(1.1, 0.5, 0.8)))
    assert action[2:].tolist() == [GOAL[0], 3, GOAL[2]]  # mobility to its top level
    action, _ = act("habit", observation(habit_ema=(1.0, 1.2, 1.05)))
    assert action[2:].tolist() == GOAL  # every goal met: goal levels


def test_random_is_uniform_over_allowed_choices():
    mask = np.ones(sum(CONFIG.nvec), bool)
    mask[[0, 4, 5]] = False  # sessions: active recovery, aerobic base, strength allowed
    policy = make_baseline("random", CONFIG)
    obs = observation(mask=mask)
    keys = jax.random.split(KEY, 3000)
    actions, _ = jax.vmap(policy.step, in_axes=(None, None, 0))((), obs, keys)
    counts = np.bincount(np.asarray(actions[:, 0]), minlength=6) / 3000
    np.testing.assert_allclose(counts, [0, 1 / 3, 1 / 3, 1 / 3, 0, 0], atol=0.04)


def random_masks(key, n):
    """Random masks with at least one allowed choice per head."""
    mask = np.array(jax.random.bernoulli(key, 0.4, (n, sum(CONFIG.nvec))))
    rng = np.random.default_rng(0)
    start = 0
    for k in CONFIG.nvec:
        empty = np.flatnonzero(~mask[:, start:start + k].any(axis=1))
        mask[empty, start + rng.integers(k, size=empty.size)] = True
        start += k
    return mask


@pytest.mark.parametrize("name", NAMES)
def test_baselines_never_pick_a_masked_action(name):
    n = 512
    k_mask, k_obs, k_act = jax.random.split(jax.random.PRNGKey(1), 3)
    masks = random_masks(k_mask, n)
    u = np.asarray(jax.random.uniform(k_obs, (n, 3 + CONFIG.num_habits)))
    obs = {"features": jnp.zeros((n, len(NAMES_F))), "action_mask": jnp.asarray(masks)}
    obs["features"] = obs["features"].at[:, NAMES_F.index("ctl")].set(u[:, 0] * 1.5)
    obs["features"] = obs["features"].at[:, NAMES_F.index("recovery")].set(u[:, 1])
    for i, h in enumerate(CONFIG.habits.items):
        obs["features"] = obs["features"].at[:, NAMES_F.index(f"habit_ema_{h.name}")].set(
            u[:, 3 + i] * 1.5)
    policy = make_baseline(name, CONFIG)
    keys = jax.random.split(k_act, n)
    states = jax.vmap(policy.init)(keys)
    step = jax.jit(jax.vmap(policy.step))
    # Days through a whole 4-week cycle, so every plan day meets random masks.
    for day in range(28):
        actions, states = step(states, obs, keys)
        allowed = np.asarray(jax.vmap(padded_heads, in_axes=(0, None))(obs["action_mask"],
                                                                       CONFIG.nvec))
        picked = np.take_along_axis(allowed, np.asarray(actions)[:, :, None], axis=2)
        assert picked.all(), (name, day)
        obs["action_mask"] = jnp.roll(obs["action_mask"], 1, axis=0)


@pytest.mark.parametrize("name", ["rule", "habit"])
def test_baselines_run_through_dm_env_without_violations(name):
    env = CoachEnv(seed=3, population="heldout")
    actor = PolicyActor(make_baseline(name, env.config), seed=0)
    timestep = env.reset()
    actor.observe_first(timestep)
    days = 0
    while not timestep.last():
        action = actor.select_action(timestep.observation)
        assert env.action_spec().validate(action) is not None
        timestep = env.step(action)
        days += 1
    assert days >= CONFIG.episode.min_days
    assert env.total_violations == 0


def test_unknown_baseline_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown baseline 'nope'.*random, rule"):
        make_baseline("nope", CONFIG)
