"""Tests for coachrl.envs: the dm_env and gymnasium adapters of the athlete world.

Every env here uses a short season (8-10 days) so episodes end quickly; the
jitted world functions are cached per config, so envs of one config share
one compilation.
"""

import dm_env
import gymnasium
import numpy as np
import pytest
from absl.testing import absltest
from dm_env import test_utils
from gymnasium.utils.env_checker import check_env

from coachrl.config import default_world_config, load_world_config
from coachrl.envs import CoachEnv, GymCoachEnv
from coachrl.sim.sessions import AEROBIC_BASE, HIIT, REST

SHORT = ["episode.min_days=8", "episode.max_days=10", "episode.race_window_days=3"]


def short_config(*overrides):
    return load_world_config(overrides=SHORT + list(overrides))


def random_actions(nvec, count, seed=0):
    """`count` valid int32 actions, uniform over each head's choices."""
    rng = np.random.default_rng(seed)
    return (rng.random((count, len(nvec))) * np.asarray(nvec)).astype(np.int32)


def rollout(env, actions):
    """Observations and rewards of a reset then one step per action."""
    steps = [env.reset()] + [env.step(a) for a in actions]
    return [s.observation for s in steps], [s.reward for s in steps[1:]]


def same_observations(a, b):
    return all(np.array_equal(x["features"], y["features"])
               and np.array_equal(x["action_mask"], y["action_mask"]) for x, y in zip(a, b))


# --------------------------------------------------------------------------- dm_env


class CoachEnvConformanceTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
    """dm_env's reusable interface checks (reset, step, specs, end-of-episode order)."""

    def make_object_under_test(self):
        return CoachEnv(short_config(), seed=0)

    def make_action_sequence(self):
        # 25 days > one 8-10 day season: the LAST -> FIRST contract is exercised.
        yield from random_actions(self.environment.config.nvec, 25)


@pytest.fixture(scope="module")
def env():
    return CoachEnv(short_config(), seed=0)


def test_specs_and_properties(env):
    config = env.config
    nvec = np.asarray(config.nvec)
    spec = env.action_spec()
    assert spec.shape == (len(nvec),) and spec.dtype == np.int32
    np.testing.assert_array_equal(spec.minimum, 0)
    np.testing.assert_array_equal(spec.maximum, nvec - 1)
    obs_spec = env.observation_spec()
    assert obs_spec["features"].shape == (len(env.feature_names),)
    assert obs_spec["features"].dtype == np.float32
    assert obs_spec["action_mask"].shape == (nvec.sum(),)
    assert obs_spec["action_mask"].dtype == np.bool_
    assert env.reward_spec().shape == () and env.reward_spec().dtype == np.float32
    assert (env.discount_spec().minimum, env.discount_spec().maximum) == (0.0, 1.0)
    assert env.head_names == config.head_names
    assert env.world.config == config  # one world (and its compiled code) per equal config


def test_default_config():
    assert CoachEnv().config == default_world_config()


def test_season_ends_by_truncation_then_restarts(env):
    timestep = env.reset()
    days = 0
    for action in random_actions(env.config.nvec, 12):
        timestep = env.step(action)
        days += 1
        assert timestep.discount == np.float32(1.0)
        if timestep.last():
            break
    assert timestep.last() and 8 <= days <= 10
    assert env.step(np.zeros(len(env.config.nvec), np.int32)).first()
    assert env.extras == {}


def test_extras_after_a_step(env):
    env.reset()
    env.step([2, 1, 0, 0, 0])  # a python list of ints is a valid action
    extras = env.extras
    assert set(extras) == {"record", "reward_components", "action", "violations", "metrics",
                           "num_violations", "habits_prescribed", "habits_followed",
                           "habits_trimmed"}
    assert all(isinstance(v, float) for v in extras["reward_components"].values())
    assert extras["violations"].dtype == np.bool_
    assert extras["violations"].shape == (len(env.config.nvec),)
    assert extras["action"].dtype == np.int32
    assert extras["num_violations"] == int(extras["violations"].sum())
    assert 0 <= extras["record"].session < env.config.nvec[0]


@pytest.mark.parametrize("action, match", [
    (np.zeros(4, np.int32), r"shape \(4,\); expected \(5,\)"),
    (np.zeros((1, 5), np.int32), r"shape \(1, 5\)"),
    (np.zeros(5, np.float32), "dtype float32"),
    ([0.0, 1.0, 0.0, 0.0, 0.0], "dtype float64"),
    (np.zeros(5, bool), "dtype bool"),
    (np.array([0, 9, 0, 0, 0]), r"action head 'duration' = 9 is out of range; allowed 0\.\.6"),
    ([-1, 0, 0, 0, 0], r"action head 'session' = -1 is out of range; allowed 0\.\.5"),
    ([0, 0, 0, 0, 4], r"action head 'habit_\w+' = 4 is out of range; allowed 0\.\.3"),
])
def test_bad_actions_raise_before_the_world_moves(action, match):
    env, twin = CoachEnv(short_config(), seed=3), CoachEnv(short_config(), seed=3)
    env.reset(), twin.reset()
    with pytest.raises(ValueError, match=match):
        env.step(action)
    good = np.array([2, 1, 0, 0, 0], np.int64)  # any integer dtype is accepted
    a, b = env.step(good), twin.step(good)
    assert a.reward == b.reward and same_observations([a.observation], [b.observation])


def test_masked_action_is_replaced_and_counted():
    env = CoachEnv(short_config("safety.max_days_without_rest=1"), seed=1)
    timestep = env.reset()
    n = len(env.config.nvec)
    rest_only = np.eye(env.config.nvec[0], dtype=bool)[REST]
    for _ in range(30):
        if timestep.first() or not np.array_equal(
                timestep.observation["action_mask"][:len(rest_only)], rest_only):
            # Train today, so that tomorrow rest is due.
            timestep = env.step(np.array([AEROBIC_BASE] + [0] * (n - 1)))
            continue
        before = env.total_violations
        env.step(np.array([HIIT] + [0] * (n - 1)))
        extras = env.extras
        assert extras["action"][0] == REST
        assert extras["violations"][0] and not extras["violations"][1:].any()
        assert extras["num_violations"] == 1
        assert extras["reward_components"]["violation"] == 1.0
        assert env.total_violations == before + 1
        return
    pytest.fail("no rest-only day in 30 days with max_days_without_rest=1")


def test_population_argument():
    with pytest.raises(ValueError, match=r"population must be one of \('train', 'heldout'\)"):
        CoachEnv(short_config(), population="test")
    assert CoachEnv(short_config(), population="heldout").population == "heldout"


def test_seeds_and_populations():
    config = short_config()
    actions = random_actions(config.nvec, 5)
    obs_a, rew_a = rollout(CoachEnv(config, seed=7), actions)
    obs_b, rew_b = rollout(CoachEnv(config, seed=7), actions)
    assert same_observations(obs_a, obs_b) and rew_a == rew_b
    obs_c, rew_c = rollout(CoachEnv(config, seed=8), actions)
    assert not same_observations(obs_a, obs_c) and rew_a != rew_c
    obs_h, rew_h = rollout(CoachEnv(config, seed=7, population="heldout"), actions)
    assert not same_observations(obs_a, obs_h) and rew_a != rew_h


def test_reseed_restarts_the_key_stream(env):
    actions = random_actions(env.config.nvec, 3)
    env.reseed(11)
    obs_a, rew_a = rollout(env, actions)
    env.reseed(11)
    obs_b, rew_b = rollout(env, actions)
    assert same_observations(obs_a, obs_b) and rew_a == rew_b


def test_observations_are_not_shared_between_steps(env):
    first = env.reset().observation
    second = env.step(np.zeros(len(env.config.nvec), np.int32)).observation
    assert not np.shares_memory(first["features"], second["features"])
    second["features"][:] = 0.0  # the caller's to keep and change


# --------------------------------------------------------------------------- gymnasium


@pytest.fixture(scope="module")
def gym_env():
    return GymCoachEnv(short_config(), seed=0)


# Features are unbounded by design (z-scores, ratios), so check_env's warning about an
# infinite Box is expected; every other check of check_env applies and passes.
@pytest.mark.filterwarnings("ignore:.*infinity.*")
def test_gym_check_env(gym_env):
    check_env(gym_env, skip_render_check=True)


def test_gym_spaces(gym_env):
    nvec = gym_env.env.config.nvec
    assert isinstance(gym_env.action_space, gymnasium.spaces.MultiDiscrete)
    np.testing.assert_array_equal(gym_env.action_space.nvec, nvec)
    mask_space = gym_env.observation_space["action_mask"]
    assert mask_space.n == sum(nvec) and mask_space.dtype == np.int8
    assert gym_env.metadata["render_modes"] == []


def test_gym_reset_seed_determinism(gym_env):
    actions = random_actions(gym_env.env.config.nvec, 4)

    def run(seed):
        obs, _ = gym_env.reset(seed=seed)
        out = [obs]
        for a in actions:
            obs, reward, _, _, _ = gym_env.step(a)
            out.append((obs, reward))
        return out

    a, b, c = run(5), run(5), run(6)
    assert gymnasium.utils.env_checker.data_equivalence(a, b, exact=True)
    assert not gymnasium.utils.env_checker.data_equivalence(a, c)


def test_gym_season_ends_with_truncation(gym_env):
    obs, info = gym_env.reset(seed=2)
    assert info == {} and obs["action_mask"].dtype == np.int8
    days = 0
    for action in random_actions(gym_env.env.config.nvec, 12):
        obs, reward, terminated, truncated, info = gym_env.step(action)
        days += 1
        assert obs in gym_env.observation_space
        assert isinstance(reward, float) and terminated is False
        assert set(info) >= {"reward_components", "violations", "metrics"}
        if truncated:
            break
    assert truncated and 8 <= days <= 10
    with pytest.raises(RuntimeError, match="reset"):
        gym_env.step(action)


def test_gym_rejects_bad_actions(gym_env):
    gym_env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        gym_env.step(np.array([6, 0, 0, 0, 0]))


def test_dm_env_timestep_types(env):
    timestep = env.reset()
    assert timestep.step_type is dm_env.StepType.FIRST
    timestep = env.step(np.zeros(len(env.config.nvec), np.int32))
    assert timestep.step_type is dm_env.StepType.MID
    assert isinstance(timestep.reward, np.float32) and isinstance(timestep.discount, np.float32)
