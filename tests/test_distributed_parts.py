"""The distributed trainer's local pieces, without Ray: the window-to-batch conversions
worked by hand, the agents' shapes, one learn and act step, the Reverb adder, sampler and
tables on an in-process server, and the environment batches' auto-reset.
"""

from __future__ import annotations

from pathlib import Path

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reverb
from dm_env import specs

from coachrl.schema import ConfigError
from coachrl.training.config import load_train_config
from coachrl.training.distributed.agents import (
    COLUMNS,
    example_columns,
    make_distributed_agent,
    mpo_transitions,
    ppo_batch,
)
from coachrl.training.distributed.environments import DmEnvBatch, WorldBatch
from coachrl.training.distributed.replay import Sampler, SequenceAdder, make_table

ROOT = Path(__file__).resolve().parents[1]
NVEC, F, E = (3, 2), 4, 3  # a small agent: 2 heads, 4 features, 3 athletes per actor
PPO_SET = ["trainer.rollout_length=4", "ppo.num_minibatches=2", "ppo.hidden_sizes=[8,8]"]
MPO_SET = ["mpo.batch_size=16", "mpo.n_step=2", "mpo.num_samples=4",
           "mpo.hidden_sizes=[8,8]", "mpo.critic_hidden_sizes=[8,8]"]


def config(agent: str, overrides: list[str] | tuple[str, ...] = ()):
    return load_train_config(ROOT / "configs" / f"{agent}.yaml", list(overrides))


@pytest.fixture(scope="module")
def agents():
    return {"ppo": make_distributed_agent(config("ppo", PPO_SET), NVEC, F, E),
            "mpo": make_distributed_agent(config("mpo", MPO_SET), NVEC, F, E)}


# ---------------------------------------------------------------- windows -> learner batches


@pytest.mark.parametrize("jit", [False, True])
def test_ppo_batch_keeps_the_first_t_steps_and_bootstraps_from_the_last(jit):
    t, b, nvec = 3, 2, (2, 3)  # T = 3 steps, B = 2 windows, H = 2 heads of 2 and 3 actions
    steps = np.arange(t + 1, dtype=np.float32)[:, None] * 10 + np.arange(b)  # [T+1, B]: 10t + b
    # Flat masks [a0 a1 | b0 b1 b2]: window 0 forbids a1 and b0, window 1 forbids b2.
    flat = np.array([[1, 0, 0, 1, 1], [1, 1, 1, 1, 0]], bool)
    columns = {
        "features": np.stack([steps, -steps], axis=-1),  # [T+1, B, 2]
        "action_mask": np.broadcast_to(flat, (t + 1, b, 5)),  # [T+1, B, 5]
        "action": np.broadcast_to(steps[..., None], (t + 1, b, 2)).astype(np.int32),
        "reward": steps + 0.5, "discount": (steps != 20).astype(np.float32),
        "done": (steps == 21) | (steps == 20), "log_prob": -steps, "value": steps + 100}
    convert = jax.jit(lambda c: ppo_batch(c, nvec)) if jit else (lambda c: ppo_batch(c, nvec))
    batch = convert(jax.tree_util.tree_map(jnp.asarray, columns))

    for name in ("features", "action", "reward", "discount", "done", "log_prob", "value"):
        np.testing.assert_array_equal(getattr(batch, name), columns[name][:t], err_msg=name)
    # Head layout [H, max(nvec)] = [2, 3]: head 0 padded with False in its third slot.
    heads = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [1, 1, 0]]], bool)  # [B, H, N]
    assert batch.mask.shape == (t, b, 2, 3)
    np.testing.assert_array_equal(batch.mask, np.broadcast_to(heads, (t, b, 2, 3)))
    np.testing.assert_array_equal(batch.bootstrap_value, [130.0, 131.0])  # value[T] = 30+b+100


@pytest.mark.parametrize("jit", [False, True])
def test_mpo_transitions_n_step_returns_by_hand(jit):
    # gamma = 0.5, n = 2: windows of 3 steps; the reward of the look-ahead step is never used.
    #   b=0 no end:                 G = 1 + 0.5 * 2 = 2,  bootstrap 0.5^2 = 0.25 at step 2
    #   b=1 terminal at step 0:     G = 4 (stops there),  bootstrap 0
    #   b=2 terminal at step 1:     G = 4 + 0.5 * 8 = 8,  bootstrap 0.25 * 0 = 0
    #   b=3 end at look-ahead:      G = 1 + 0.5 * 2 = 2,  bootstrap 0.25 at step 2 (the step
    #                               after n counts for the next transition, not this one)
    #   b=4 time limit at step 0:   G = 4,                bootstrap 0.5 at step 0 (its last state)
    #   b=5 time limit at step 1:   G = 4 + 0.5 * 8 = 8,  bootstrap 0.25 at step 1
    reward = np.array([[1, 4, 4, 1, 4, 4], [2, 8, 8, 2, 8, 8], [99] * 6], np.float32)
    done = np.array([[0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 1], [0, 0, 0, 1, 0, 0]], bool)
    discount = np.array([[1, 0, 1, 1, 1, 1], [1, 1, 0, 1, 1, 1], [1, 1, 1, 0, 1, 1]],
                        np.float32)  # [n+1, B]: 0 at the true terminals only
    features = np.arange(3 * 6 * 2, dtype=np.float32).reshape(3, 6, 2)  # [n+1, B, F]
    mask = np.zeros((3, 6, 5), bool)
    mask[0, :, 0] = mask[1, :, 2] = mask[2, :, 4] = True  # step k allows action 2k only
    action = np.arange(3 * 6 * 2, dtype=np.int32).reshape(3, 6, 2)
    columns = {"features": features, "action_mask": mask, "action": action,
               "reward": reward, "discount": discount, "done": done}
    convert = jax.jit(mpo_transitions, static_argnums=(1, 2)) if jit else mpo_transitions
    out = convert(jax.tree_util.tree_map(jnp.asarray, columns), 0.5, 2)

    np.testing.assert_allclose(out.returns, [2.0, 4.0, 8.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(out.bootstrap_discount, [0.25, 0.0, 0.0, 0.25, 0.5, 0.25])
    np.testing.assert_array_equal(out.features, features[0])
    np.testing.assert_array_equal(out.mask, mask[0])  # flat, as MPO's replay keeps it
    np.testing.assert_array_equal(out.action, action[0])
    at = [2, 0, 1, 2, 0, 1]  # the step bootstrapped at: 2, or where the episode ended
    np.testing.assert_array_equal(out.next_features, features[at, np.arange(6)])
    np.testing.assert_array_equal(out.next_mask, mask[at, np.arange(6)])


# ---------------------------------------------------------------- the agents


def test_agent_sequence_sizes_and_example_columns(agents):
    ppo, mpo = agents["ppo"], agents["mpo"]
    # PPO: T + 1 steps every T, distributed.batch_items (2 by default) windows per update.
    assert (ppo.sequence_length, ppo.sequence_period, ppo.items_per_batch) == (5, 4, 2)
    # MPO: n_step + 1 steps every step, one athlete an item: batch_size = 16 items.
    assert (mpo.sequence_length, mpo.sequence_period, mpo.items_per_batch) == (3, 1, 16)
    assert (ppo.envs_per_item, mpo.envs_per_item) == (E, 1)
    grouped = make_distributed_agent(config("mpo", [*MPO_SET, "distributed.envs_per_actor=4",
                                                    "distributed.mpo_athletes_per_item=2"]),
                                     NVEC, F, 4)
    assert (grouped.items_per_batch, grouped.envs_per_item) == (8, 2)  # 16 / 2 items of 2
    with pytest.raises(ConfigError, match="mpo_athletes_per_item: 3 must divide"):
        config("mpo", ["distributed.mpo_athletes_per_item=3"])

    h, m = len(NVEC), sum(NVEC)
    for agent, lead in ((ppo, (5, 2 * E)), (mpo, (3, 16))):
        columns = example_columns(agent, NVEC, F)
        assert set(columns) == set(agent.columns)
        shapes = {"features": lead + (F,), "action_mask": lead + (m,), "action": lead + (h,),
                  "reward": lead, "discount": lead, "done": lead, "log_prob": lead,
                  "value": lead}
        for name, array in columns.items():
            assert array.shape == shapes[name], (agent.name, name)
        assert columns["action_mask"].dtype == bool and columns["done"].dtype == bool
        assert columns["discount"].dtype == np.float32
        assert columns["action"].dtype == np.int32
    assert set(ppo.columns) == set(COLUMNS) | {"log_prob", "value"}
    assert set(mpo.columns) == set(COLUMNS)


def test_ppo_minibatches_must_divide_the_learner_batch():
    # 16 divides trainer.num_envs x T = 1024 x 4 (the config loads) but not T x 2 x E = 24.
    bad = config("ppo", ["trainer.rollout_length=4", "ppo.num_minibatches=16"])
    with pytest.raises(ValueError, match="num_minibatches"):
        make_distributed_agent(bad, NVEC, F, E)
    make_distributed_agent(bad, NVEC, F, 4)  # 4 x 2 x 4 = 32: fine


@pytest.mark.parametrize("name", ["ppo", "mpo"])
def test_one_learn_step_on_example_columns_is_finite(agents, name):
    agent = agents[name]
    state = agent.init_training(jax.random.PRNGKey(0))
    batch = agent.to_batch(example_columns(agent, NVEC, F))
    state, metrics = agent.learn(state, batch)
    assert metrics
    for key, value in metrics.items():
        assert np.all(np.isfinite(np.asarray(value))), (name, key)
    assert agent.variables(state)  # what actors pull is there


@pytest.mark.parametrize("name", ["ppo", "mpo"])
def test_act_samples_within_the_mask(agents, name):
    agent = agents[name]
    variables = agent.variables(agent.init_training(jax.random.PRNGKey(0)))
    # Head 0 (3 actions) allows action 2 only; head 1 (2 actions) allows action 0 for the
    # first athlete and both for the others.
    mask = np.array([[0, 0, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]], bool)  # [E, M]
    observation = {"features": np.linspace(-1, 1, E * F, dtype=np.float32).reshape(E, F),
                   "action_mask": mask}
    for seed in range(10):
        out = jax.device_get(agent.act(variables, observation, jax.random.PRNGKey(seed)))
        # What an actor writes per step: the observation, the act's output, reward,
        # discount, done.
        assert set(out) | {"features", "action_mask", "reward", "discount", "done"} == \
            set(agent.columns)
        assert out["action"].shape == (E, len(NVEC)) and out["action"].dtype == np.int32
        np.testing.assert_array_equal(out["action"][:, 0], 2)
        assert out["action"][0, 1] == 0
        assert np.all((out["action"][:, 1] >= 0) & (out["action"][:, 1] < 2))
        for extra in set(out) - {"action"}:
            assert out[extra].shape == (E,) and np.all(np.isfinite(out[extra]))


# ---------------------------------------------------------------- replay on Reverb


@pytest.fixture
def queue_server():
    server = reverb.Server([reverb.Table.queue("replay", max_size=10)])
    yield server, f"localhost:{server.port}"
    server.stop()


def test_sequence_adder_writes_overlapping_windows_for_the_sampler(queue_server):
    _, address = queue_server
    adder = SequenceAdder(reverb.Client(address), length=4, period=3)
    for t in range(10):  # every array of step t holds t: E = 2 athletes
        adder.add({"features": np.full((2, 3), t, np.float32),
                   "action": np.full((2, 1), t, np.int32), "reward": np.full((2,), t, np.float32)})
    adder.close()
    assert reverb.Client(address).server_info()["replay"].current_size == 3

    item = {"features": np.zeros((4, 2, 3), np.float32), "action": np.zeros((4, 2, 1), np.int32),
            "reward": np.zeros((4, 2), np.float32)}  # one window's shapes and dtypes
    sampler = Sampler(address, item, items_per_batch=3)
    batch = sampler.get(timeout=10.0)
    assert batch is not None
    # Windows [0..3], [3..6], [6..9] (FIFO), each 2 athletes wide: [L=4, 3 x 2, ...].
    assert batch["features"].shape == (4, 6, 3) and batch["action"].shape == (4, 6, 1)
    starts = np.repeat([0, 3, 6], 2)
    expected = np.arange(4)[:, None] + starts  # [4, 6]
    np.testing.assert_array_equal(batch["reward"], expected)
    np.testing.assert_array_equal(batch["action"][..., 0], expected)
    np.testing.assert_array_equal(batch["features"], np.repeat(expected[..., None], 3, -1))
    assert sampler.get(timeout=0.2) is None  # the queue is empty now


def test_per_env_adder_writes_one_item_per_athlete(queue_server):
    _, address = queue_server
    adder = SequenceAdder(reverb.Client(address), length=3, period=1, envs_per_item=1)
    for t in range(4):  # athlete e's arrays at step t hold 10 e + t: E = 2 athletes
        values = np.asarray([t, 10 + t], np.float32)
        adder.add({"features": np.repeat(values[:, None], 3, -1), "reward": values})
    adder.close()
    # Windows [0..2] and [1..3] of each athlete: 2 x 2 items of one athlete each.
    assert reverb.Client(address).server_info()["replay"].current_size == 4
    item = {"features": np.zeros((3, 1, 3), np.float32), "reward": np.zeros((3, 1), np.float32)}
    batch = Sampler(address, item, items_per_batch=4).get(timeout=10.0)
    assert batch["features"].shape == (3, 4, 3) and batch["reward"].shape == (3, 4)
    # FIFO: step 2's items (athletes 0, 1), then step 3's; every column is one athlete's.
    expected = np.arange(3)[:, None] + np.asarray([0, 10, 1, 11])  # [L, items]
    np.testing.assert_array_equal(batch["reward"], expected)
    np.testing.assert_array_equal(batch["features"], np.repeat(expected[..., None], 3, -1))


def test_grouped_adder_writes_one_item_per_group_of_athletes(queue_server):
    _, address = queue_server
    adder = SequenceAdder(reverb.Client(address), length=2, period=1, envs_per_item=2)
    for t in range(3):  # 4 athletes; athlete e's reward at step t is 10 e + t
        adder.add({"reward": np.asarray([t, 10 + t, 20 + t, 30 + t], np.float32)})
    adder.close()
    batch = Sampler(address, {"reward": np.zeros((2, 2), np.float32)},
                    items_per_batch=4).get(timeout=10.0)
    # Steps 0-1 then 1-2, each as (athletes 0-1) and (athletes 2-3): [L=2, 4 items x 2].
    expected = np.arange(2)[:, None] + np.asarray([0, 10, 20, 30, 1, 11, 21, 31])
    np.testing.assert_array_equal(batch["reward"], expected)
    with pytest.raises(ValueError, match="4 environments do not split into items of 3"):
        SequenceAdder(reverb.Client(address), length=2, period=1, envs_per_item=3).add(
            {"reward": np.zeros(4, np.float32)})


def test_ppo_table_is_a_queue_of_queue_items():
    info = make_table(config("ppo", ["distributed.queue_items=5"])).info
    assert info.name == "replay" and info.max_size == 5
    assert info.max_times_sampled == 1  # each window is learned from once
    assert info.sampler_options.fifo and info.remover_options.fifo
    assert info.rate_limiter_info.max_diff == 5  # actors wait when 5 windows wait


def test_mpo_table_counts_transitions():
    # One transition an item: capacity 1000, min size 10; error buffer
    # max(2 x 8, 10 x 8 x 0.2) = 16 around 10 x 8 = 80 -> [64, 96].
    mpo = config("mpo", ["mpo.replay_capacity=1000", "mpo.min_replay_size=10",
                         "mpo.samples_per_insert=8"])
    info = make_table(mpo).info
    assert info.name == "replay" and info.max_size == 1000
    assert info.sampler_options.uniform and info.remover_options.fifo
    limiter = info.rate_limiter_info
    assert limiter.samples_per_insert == 8.0 and limiter.min_size_to_sample == 10
    assert (limiter.min_diff, limiter.max_diff) == pytest.approx((64.0, 96.0))
    # Capacity below the minimum size: one more item than the minimum.
    small = config("mpo", ["mpo.replay_capacity=8", "mpo.min_replay_size=8"])
    assert make_table(small).info.max_size == 9
    # 4 athletes an item: sizes in items of 4 transitions.
    info = make_table(config("mpo", ["mpo.replay_capacity=1000", "mpo.min_replay_size=10",
                                     "distributed.mpo_athletes_per_item=4"])).info
    assert info.max_size == 250 and info.rate_limiter_info.min_size_to_sample == 3


# ---------------------------------------------------------------- environment batches


class CountingEnv(dm_env.Environment):
    """Episodes of `length` steps, reward 1 per step, observation [steps so far]."""

    def __init__(self, length: int):
        self.length, self.t, self.actions = length, 0, []

    def reset(self) -> dm_env.TimeStep:
        self.t = 0
        return dm_env.restart(np.array([0.0], np.float32))

    def step(self, action) -> dm_env.TimeStep:
        self.actions.append(action)
        self.t += 1
        observation = np.array([self.t], np.float32)
        if self.t == self.length:
            return dm_env.termination(1.0, observation)
        return dm_env.transition(1.0, observation)

    def observation_spec(self):
        return specs.Array((1,), np.float32)

    def action_spec(self):
        return specs.DiscreteArray(2)


def test_dm_env_batch_restarts_episodes_by_itself():
    envs = DmEnvBatch(lambda i: CountingEnv(3 - i), num_envs=2)  # episodes of 3 and 2 steps
    assert envs.nvec == (2,) and envs.num_features == 1
    observation = envs.reset()
    np.testing.assert_array_equal(observation["features"], [[0.0], [0.0]])
    np.testing.assert_array_equal(observation["action_mask"], np.ones((2, 2), bool))
    dones, finished = [], []
    for step in range(1, 7):
        observation, reward, discount, done, ended = envs.step(np.array([[1], [0]], np.int32))
        np.testing.assert_array_equal(reward, [1.0, 1.0])
        # CountingEnv's episodes end by termination: discount 0 exactly there.
        np.testing.assert_array_equal(discount, np.where(done, 0.0, 1.0))
        dones.append(done.tolist())
        finished.append(ended.tolist())
        # After an episode ends the observation is the next episode's first (0).
        np.testing.assert_array_equal(observation["features"][:, 0],
                                      [step % 3, step % 2])
    assert dones == [[False, False], [False, True], [True, False],
                     [False, True], [False, False], [True, True]]
    assert finished == [[], [2.0], [3.0], [2.0], [], [3.0, 2.0]]
    assert envs.envs[0].actions == [1] * 6 and envs.envs[1].actions == [0] * 6  # int actions


def test_world_batch_steps_three_athletes():
    envs = WorldBatch(config("ppo"), num_envs=3, seed=0)
    h, m = len(envs.nvec), sum(envs.nvec)
    observation = envs.reset()
    assert observation["features"].shape == (3, envs.num_features)
    assert observation["action_mask"].shape == (3, m)
    observation, reward, discount, done, finished = envs.step(np.zeros((3, h), np.int32))
    assert observation["features"].shape == (3, envs.num_features)
    np.testing.assert_array_equal(discount, [1.0, 1.0, 1.0])  # seasons end by time: always 1
    assert observation["action_mask"].shape == (3, m)
    assert reward.shape == (3,) and np.all(np.isfinite(reward))
    assert done.shape == (3,) and not done.any()  # a season lasts more than one day
    assert finished.shape == (0,)


def test_only_the_distributed_package_imports_ray_or_reverb():
    import subprocess
    import sys

    code = ("import sys, coachrl, coachrl.training.anakin, coachrl.training.loop, "
            "coachrl.coach.plan, coachrl.evaluation, coachrl.training.distributed.agents; "
            "heavy = [m for m in ('reverb', 'ray') if m in sys.modules]; "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
