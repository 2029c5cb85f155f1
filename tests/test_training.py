"""The jitted trainer, checkpoints and the dm_env loop: tiny smoke runs and properties."""

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from coachrl.agents.mpo import MPOConfig
from coachrl.agents.ppo import PPOConfig
from coachrl.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from coachrl.config import default_world_config
from coachrl.envs import CoachEnv
from coachrl.training.anakin import train
from coachrl.training.checkpoints import load_coach
from coachrl.training.config import AnakinConfig, TrainConfig
from coachrl.training.loop import EnvironmentLoop, MPOAgent, PPOAgent, action_sizes

TINY = TrainConfig(
    world=default_world_config(),
    ppo=PPOConfig(hidden_sizes=(16,), num_minibatches=2, num_epochs=2),
    trainer=AnakinConfig(num_envs=8, rollout_length=8, total_env_steps=8 * 8 * 4,
                         updates_per_call=2, eval_every_steps=0, eval_athletes=3, eval_days=14,
                         checkpoint_every_steps=8 * 8 * 2, keep_checkpoints=2),
    seed=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    result = train(TINY, workdir, show_progress=False)
    return workdir, result


def test_tiny_run_logs_checkpoints_and_evaluates(trained):
    workdir, result = trained
    assert result.updates == 4 and result.env_steps == 8 * 8 * 4
    logs = pd.read_csv(workdir / "logs.csv")
    assert logs.env_steps.tolist() == [128, 256]
    assert np.isfinite(logs.loss).all() and (logs.violations == 0).all()
    final = json.loads((workdir / "final_eval.json").read_text())
    assert final["updates"] == 4 and final["eval_violations"] == 0
    assert latest_checkpoint(workdir).name == "ckpt_0000000004"


def test_checkpoint_round_trip_gives_identical_actions(trained):
    workdir, result = trained
    coach = load_coach(workdir)
    world_obs = CoachEnv(seed=1).reset().observation
    obs = {k: jnp.asarray(v) for k, v in world_obs.items()}
    from coachrl.training.anakin import make_agent
    fresh = make_agent(TINY).policy(result.training)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(coach.policy.step((), obs, key)[0], fresh.step((), obs, key)[0])
    assert coach.config == TINY and coach.metadata["counters"]["updates"] == 4


def test_resume_continues_the_step_count(trained, tmp_path):
    workdir, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    longer = TINY.__class__(**{**TINY.__dict__,
                               "trainer": AnakinConfig(**{**TINY.trainer.__dict__,
                                                          "total_env_steps": 8 * 8 * 8})})
    result = train(longer, copy, resume=True, show_progress=False, evaluate_at_end=False)
    assert result.updates == 8 and result.env_steps == 8 * 8 * 8
    logs = pd.read_csv(copy / "logs.csv")
    assert logs.env_steps.tolist() == [128, 256, 384, 512]  # appended after the resume
    state, meta = load_checkpoint(copy)
    assert meta["counters"]["updates"] == 8


def test_corrupt_or_mismatched_checkpoints_are_refused(trained, tmp_path):
    workdir, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    ckpt = latest_checkpoint(copy)
    meta_path = ckpt / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["metadata"]["feature_names"] = meta["metadata"]["feature_names"][:-1]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="features do not match"):
        load_coach(copy)
    arrays = ckpt / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(copy)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_coach(tmp_path / "nothing_here")


class Chain:
    """A two-armed dm_env: action 1 pays 1, action 0 pays 0; episodes of 5 steps."""

    def __init__(self):
        import dm_env
        from dm_env import specs
        self._dm_env, self._specs, self._t = dm_env, specs, 0

    def reset(self):
        self._t = 0
        return self._dm_env.restart(np.zeros((3,), np.float32))

    def step(self, action):
        self._t += 1
        reward = float(action == 1)
        obs = np.full((3,), self._t, np.float32)
        return (self._dm_env.termination(reward, obs) if self._t == 5
                else self._dm_env.transition(reward, obs))

    def action_spec(self):
        return self._specs.DiscreteArray(2)

    def observation_spec(self):
        return self._specs.Array((3,), np.float32)


def test_dm_env_loop_learns_a_trivial_task():
    env = Chain()
    config = PPOConfig(hidden_sizes=(16,), learning_rate=3e-3, lr_schedule="constant",
                       num_minibatches=2, normalize_observations=False)
    agent = PPOAgent.for_env(env, config, rollout_length=20, total_steps=2000)
    results = EnvironmentLoop(env, agent).run(120)
    assert results[-1]["steps"] == 600
    assert np.mean([r["episode_return"] for r in results[-20:]]) > 4.0


def test_dm_env_loop_runs_the_coach_env():
    env = CoachEnv(seed=0, config=default_world_config())
    assert action_sizes(env.action_spec()) == env.config.nvec
    agent = PPOAgent.for_env(env, PPOConfig(hidden_sizes=(8,), num_minibatches=1),
                             rollout_length=16, total_steps=200)
    loop = EnvironmentLoop(env, agent)
    result = loop.run_episode()
    assert result["episode_length"] >= env.config.episode.min_days
    assert env.total_violations == 0 and np.isfinite(agent.metrics["loss"])


class Countdown:
    """Episodes of 5 steps paying r = t + 1 on step t (t = 0..4), observation [t] before step
    t; the last step is a truncation (discount 1) or a termination (discount 0)."""

    def __init__(self, truncate: bool):
        import dm_env
        from dm_env import specs
        self._dm_env, self._specs, self._t, self.truncate = dm_env, specs, 0, truncate

    def reset(self):
        self._t = 0
        return self._dm_env.restart(np.zeros((1,), np.float32))

    def step(self, action):
        self._t += 1
        reward, obs = float(self._t), np.full((1,), self._t, np.float32)
        if self._t < 5:
            return self._dm_env.transition(reward, obs)
        if self.truncate:
            return self._dm_env.truncation(reward, obs)
        return self._dm_env.termination(reward, obs)

    def action_spec(self):
        return self._specs.DiscreteArray(2)

    def observation_spec(self):
        return self._specs.Array((1,), np.float32)


@pytest.mark.parametrize("truncate", [True, False])
def test_loop_mpo_bootstraps_a_truncation_at_the_last_state(truncate):
    env = Countdown(truncate)
    config = MPOConfig(hidden_sizes=(4,), critic_hidden_sizes=(4,), num_samples=2, n_step=2,
                       discount=0.5, batch_size=4, replay_capacity=16, min_replay_size=16)
    agent = MPOAgent.for_env(env, config, seed=0)
    EnvironmentLoop(env, agent).run_episode()
    replay, size = agent._replay, agent._size
    assert size == 5  # one transition per step, none learned from (min_replay_size 16)
    np.testing.assert_allclose(replay.features[:5, 0], [0, 1, 2, 3, 4])
    # G_t = r_t + 0.5 r_{t+1} (r_t = t + 1), the last one r_4 alone.
    np.testing.assert_allclose(replay.returns[:5], [2.0, 3.5, 5.0, 6.5, 5.0])
    # Bootstrapped 2 steps later, or at s_4 (the last decision state) past the end: by
    # 0.5^k after a truncation, by 0 after a termination.
    np.testing.assert_allclose(replay.next_features[:5, 0], [2, 3, 4, 4, 4])
    last = [0.25, 0.5] if truncate else [0.0, 0.0]
    np.testing.assert_allclose(replay.bootstrap_discount[:5], [0.25, 0.25, 0.25] + last)


@pytest.mark.parametrize("truncate", [True, False])
def test_loop_ppo_hands_the_timesteps_discount_to_the_update(truncate):
    env = Countdown(truncate)
    agent = PPOAgent.for_env(env, PPOConfig(hidden_sizes=(4,), num_minibatches=1),
                             rollout_length=5, total_steps=5)
    batches = []
    agent._update = lambda state, batch: (batches.append(batch), (state, {}))[1]
    EnvironmentLoop(env, agent).run_episode()
    (batch,) = batches
    np.testing.assert_array_equal(batch.done[:, 0], [False] * 4 + [True])
    np.testing.assert_array_equal(batch.discount[:, 0], [1.0] * 4 + [float(truncate)])


TINY_MPO = TrainConfig(
    world=default_world_config(), agent="mpo",
    mpo=MPOConfig(hidden_sizes=(8,), critic_hidden_sizes=(16,), num_samples=4, n_step=2,
                  batch_size=16, samples_per_insert=4.0, replay_capacity=256,
                  min_replay_size=16),
    trainer=AnakinConfig(num_envs=4, rollout_length=4, total_env_steps=4 * 4 * 2 * 2,
                         updates_per_call=2, eval_every_steps=0, eval_athletes=3, eval_days=14,
                         checkpoint_every_steps=0, keep_checkpoints=1),
    seed=5)


def test_tiny_mpo_run_learns_from_replay_and_checkpoints(tmp_path):
    result = train(TINY_MPO, tmp_path, show_progress=False)
    # One rollout fills the first look-ahead, then 2 calls x 2 rollouts of 4 x 4 days.
    assert result.env_steps == 16 + 64
    logs = pd.read_csv(tmp_path / "logs.csv")
    assert np.isfinite(logs.critic_loss.iloc[-1])
    assert logs.replay_size.tolist() == [24.0, 56.0]  # per call, the mean of 16, 32 | 48, 64
    assert int(result.training.steps) > 0 and (logs.violations == 0).all()
    coach = load_coach(tmp_path)
    assert coach.policy.name == "mpo" and coach.config == TINY_MPO
    obs = {k: jnp.asarray(v) for k, v in CoachEnv(seed=2).reset().observation.items()}
    from coachrl.training.anakin import make_agent
    fresh = make_agent(TINY_MPO).policy(result.training)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(coach.policy.step((), obs, key)[0], fresh.step((), obs, key)[0])


def test_mpo_agent_learns_a_trivial_dm_env_task():
    env = Chain()
    config = MPOConfig(hidden_sizes=(16,), critic_hidden_sizes=(32,), num_samples=8, n_step=2,
                       batch_size=32, samples_per_insert=8.0, replay_capacity=2000,
                       min_replay_size=50, learning_rate=3e-3, epsilon_policy=0.5,
                       target_update_rate=0.1, normalize_observations=False)
    agent = MPOAgent.for_env(env, config, seed=0)
    results = EnvironmentLoop(env, agent).run(150)
    assert np.mean([r["episode_return"] for r in results[-20:]]) > 4.0


def test_training_configs_load_and_check_cross_field_rules():
    from coachrl.config import CONFIG_DIR, ConfigError
    from coachrl.training.config import load_train_config

    ppo = load_train_config(CONFIG_DIR / "ppo.yaml")
    mpo = load_train_config(CONFIG_DIR / "mpo.yaml")
    assert (ppo.agent, mpo.agent) == ("ppo", "mpo")
    assert ppo.trainer.steps_per_update % ppo.ppo.num_minibatches == 0
    with pytest.raises(ConfigError, match="mpo.n_step: 40 must be <= trainer.rollout_length"):
        load_train_config(CONFIG_DIR / "mpo.yaml", ["mpo.n_step=40"])
    with pytest.raises(ConfigError, match="num_minibatches"):
        load_train_config(CONFIG_DIR / "ppo.yaml", ["ppo.num_minibatches=7"])
    with pytest.raises(ConfigError, match="agent"):
        load_train_config(CONFIG_DIR / "ppo.yaml", ["agent=dqn"])


# ---------------------------------------------------------------- import structure

PACKAGE = Path(__file__).resolve().parents[1] / "coachrl"


def training_imports() -> dict[str, set[str]]:
    """{module: the coachrl.training modules it imports}, every import statement counted
    (also those inside functions), for each module under coachrl/training."""
    import ast

    root = PACKAGE.parent
    modules = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (PACKAGE / "training").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in
                          modules else node.module for alias in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_the_training_modules_import_each_other_without_a_circle():
    graph = training_imports()
    t = "coachrl.training."
    # The front door picks one of the two halves; both build on the shared pieces.
    assert {t + "anakin_ppo", t + "anakin_mpo", t + "checkpoints"} <= graph[t + "anakin"]
    assert t + "common" in graph[t + "anakin_ppo"] & graph[t + "anakin_mpo"]
    # Neither half of the jitted trainer imports the other (nor the front door, anakin).
    assert not graph[t + "anakin_mpo"] & {t + "anakin", t + "anakin_ppo"}
    assert not graph[t + "anakin_ppo"] & {t + "anakin", t + "anakin_mpo"}
    # The checkpoints and the shared pieces import no trainer.
    trainers = {t + "anakin", t + "anakin_ppo", t + "anakin_mpo"}
    assert not graph[t + "checkpoints"] & trainers
    assert not graph[t + "common"] & (trainers | {t + "checkpoints"})
    # No circle at all, even through imports inside functions: a depth-first search.
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for child in sorted(graph[node]):
            assert state.get(child) != "open", f"import circle: {' -> '.join(path + [child])}"
            if child not in state:
                visit(child, path + [child])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


@pytest.mark.parametrize("module", ["common", "checkpoints", "anakin_ppo", "anakin_mpo",
                                    "anakin", "loop"])
def test_each_training_module_imports_first_in_a_fresh_interpreter(module):
    import subprocess
    import sys

    # Imported first, a module in a circle finds its partner half-initialised and fails.
    code = (f"import coachrl.training.{module}; "
            "from coachrl.training.anakin import (AgentSetup, RunnerState, TrainResult, "
            "evaluate_policy, init_envs, init_runner, make_agent, make_components, "
            "make_train_chunk, train, world_rollout); "
            "from coachrl.training.anakin_mpo import transitions; "
            "from coachrl.training.checkpoints import load_coach, training_template")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


_TWO_DEVICES = """
import jax, numpy as np
from coachrl.config import default_world_config
from coachrl.agents.ppo import PPOConfig
from coachrl.training.anakin_ppo import ppo_setup
from coachrl.training.config import AnakinConfig, TrainConfig

assert jax.local_device_count() == 2
config = TrainConfig(world=default_world_config(),
                     ppo=PPOConfig(hidden_sizes=(16,), num_minibatches=2, num_epochs=2),
                     trainer=AnakinConfig(num_envs=8, rollout_length=8, updates_per_call=2,
                                          devices=2), seed=3)
agent = ppo_setup(config)
key = jax.random.PRNGKey(0)
start = agent.init_training(key)
runner = agent.init_runner(start, key)
assert runner.env_state.day.shape == (2, 4)  # 4 athletes on each device
for _ in range(2):
    runner, metrics = agent.chunk(runner)
assert np.isfinite(float(metrics["loss"])), metrics
moved = False
for leaf, first in zip(jax.tree_util.tree_leaves(runner.training),
                       jax.tree_util.tree_leaves(start)):
    leaf = np.asarray(leaf)
    np.testing.assert_array_equal(leaf[0], leaf[1])  # the replicas never drift apart
    moved |= not np.array_equal(leaf[0], np.asarray(first))
assert moved
stats = agent.training_of(runner).obs_stats
assert float(stats.count) == 2 * 2 * 8 * 8  # both devices' athlete-days, counted once each
print("ok")
"""


def test_ppo_on_two_devices_keeps_the_replicas_equal(tmp_path):
    """The pmapped PPO trainer on two XLA host devices (a fresh process: the device count
    is fixed when JAX starts) averages gradients and statistics, so replicas stay equal."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    done = subprocess.run([sys.executable, "-c", _TWO_DEVICES], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_device_count_must_split_the_athletes():
    from coachrl.schema import ConfigError
    from coachrl.training.anakin_ppo import ppo_devices

    with pytest.raises(ConfigError, match="trainer.num_envs: 9 must be a multiple"):
        AnakinConfig(num_envs=9, devices=2)
    assert ppo_devices(TINY) == 1  # this process has one device
    too_many = TrainConfig(world=TINY.world, ppo=TINY.ppo,
                           trainer=AnakinConfig(num_envs=8, rollout_length=8, devices=4))
    with pytest.raises(ConfigError, match="trainer.devices: 4, but JAX has 1"):
        ppo_devices(too_many)


@pytest.mark.parametrize("agent", ["ppo", "mpo"])
def test_one_coach_trains_on_the_23_habit_file(tmp_path, agent):
    import dataclasses

    from coachrl.config import CONFIG_DIR, load_world_config

    world = load_world_config(CONFIG_DIR / "world" / "coachrl23.yaml")
    tiny = TINY if agent == "ppo" else TINY_MPO
    steps = tiny.trainer.num_envs * tiny.trainer.rollout_length * 2
    trainer = dataclasses.replace(tiny.trainer, total_env_steps=steps, checkpoint_every_steps=0)
    result = train(dataclasses.replace(tiny, world=world, trainer=trainer), tmp_path,
                   show_progress=False)
    assert result.updates >= 1
    final = json.loads((tmp_path / "final_eval.json").read_text())
    assert final["eval_violations"] == 0 and 0.0 < final["eval_habit_alignment"] <= 1.0
    action = load_coach(tmp_path).policy.step(
        (), {k: jnp.asarray(v) for k, v in CoachEnv(world, seed=0).reset().observation.items()},
        jax.random.PRNGKey(0))[0]
    assert action.shape == (25,)
