"""A single-process loop for any dm_env, on the same actor and learner pieces as Anakin.

    agent = PPOAgent.for_env(env, PPOConfig(), rollout_length=128, total_steps=10**5)
    # or MPOAgent.for_env(env, MPOConfig())
    EnvironmentLoop(env, agent).run(num_episodes=1000)

In the spirit of Acme's `EnvironmentLoop`: the loop steps the environment and
hands each transition to the agent; `PPOAgent` is the thin stateful shell
around the pure PPO functions (`make_actor_step` to act, `make_update` to
learn every `rollout_length` steps); `MPOAgent` wraps MPO's with a replay.
Any dm_env with a discrete or multi-discrete action spec works: a
`{features, action_mask}` observation (our `CoachEnv`) is used as it is; any
other array observation is flattened into the features with every action allowed.

Episode ends follow the timestep's discount, as in the other trainers: an end by
a time limit (`dm_env.truncation`, discount 1: a season's end) is bootstrapped
from the last decision state, a true terminal (`dm_env.termination`, discount 0,
e.g. bsuite's catch) is not (`ppo.losses.gae`, `mpo.losses.n_step_returns`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs

from coachrl.agents.mpo.acting import make_actor_step as mpo_actor_step
from coachrl.agents.mpo.config import MPOConfig
from coachrl.agents.mpo.learning import (
    Transition,
    add_observations,
    init_training_state,
    make_optimizers,
)
from coachrl.agents.mpo.learning import make_update as mpo_update
from coachrl.agents.networks import make_policy_critic_networks, make_policy_value_networks
from coachrl.agents.ppo.acting import make_actor_step, value_of
from coachrl.agents.ppo.config import PPOConfig
from coachrl.agents.ppo.learning import Batch, make_optimizer, make_update
from coachrl.agents.ppo.learning import init_training_state as ppo_init
from coachrl.loggers import Logger


def action_sizes(spec: Any) -> tuple[int, ...]:
    """nvec of a dm_env action spec: a DiscreteArray or an int BoundedArray of shape (H,)."""
    if isinstance(spec, specs.DiscreteArray):
        return (int(spec.num_values),)
    if isinstance(spec, specs.BoundedArray) and np.issubdtype(spec.dtype, np.integer) \
            and len(spec.shape) <= 1 and np.all(np.asarray(spec.minimum) == 0):
        return tuple(int(m) + 1 for m in np.broadcast_to(spec.maximum, spec.shape or (1,)))
    raise ValueError(f"unsupported action spec {spec!r}: need a DiscreteArray or an integer "
                     "BoundedArray of shape (H,) with minimum 0")


def as_observation(observation: Any, nvec: tuple[int, ...]) -> dict[str, np.ndarray]:
    """`{features, action_mask}` for the policy: passed through, or flattened with no mask."""
    if isinstance(observation, dict) and "features" in observation:
        return {"features": np.asarray(observation["features"], np.float32),
                "action_mask": np.asarray(observation["action_mask"], bool)}
    return {"features": np.asarray(observation, np.float32).ravel(),
            "action_mask": np.ones(sum(nvec), bool)}


class PPOAgent:
    """Acts with the current PPO policy and updates it every `rollout_length` steps."""

    def __init__(self, config: PPOConfig, num_features: int, nvec: tuple[int, ...],
                 rollout_length: int, total_updates: int, seed: int = 0):
        self.config, self.nvec, self.rollout_length = config, nvec, rollout_length
        self.networks = make_policy_value_networks(nvec, config.hidden_sizes)
        optimizer = make_optimizer(config, total_updates)
        key = jax.random.PRNGKey(seed)
        self._key, k_init = jax.random.split(key)
        self.state = ppo_init(k_init, self.networks, optimizer, num_features)
        self._act = jax.jit(make_actor_step(self.networks, config))
        self._update = jax.jit(make_update(self.networks, config, optimizer))
        self._value = jax.jit(lambda params, stats, f: value_of(self.networks, config, params,
                                                                 stats, f))
        self._buffer: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None
        self.metrics: dict[str, float] = {}

    @classmethod
    def for_env(cls, env: dm_env.Environment, config: PPOConfig, rollout_length: int,
                total_steps: int, seed: int = 0) -> PPOAgent:
        nvec = action_sizes(env.action_spec())
        return cls(config, _num_features(env.observation_spec()), nvec, rollout_length,
                   max(1, total_steps // rollout_length), seed)

    def select_action(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        self._key, key = jax.random.split(self._key)
        out = self._act(self.state.params, self.state.obs_stats, observation, key)
        self._pending = {"features": observation["features"], "mask": out.mask,
                         "action": out.action, "log_prob": out.log_prob, "value": out.value}
        return np.asarray(out.action)

    def observe(self, reward: float, discount: float, done: bool,
                next_observation: dict[str, np.ndarray]) -> None:
        """Records the last action's outcome (`discount`: the timestep's, 0 at a true
        terminal; `done`: the episode ended); learns when a rollout is complete."""
        if self._pending is None:
            raise RuntimeError("observe() called before select_action()")
        self._buffer.append({**self._pending, "reward": np.float32(reward),
                             "discount": np.float32(discount), "done": done})
        self._pending = None
        if len(self._buffer) == self.rollout_length:
            self._learn(next_observation)

    def _learn(self, next_observation: dict[str, np.ndarray]) -> None:
        def stack(name):  # [T] -> [T, 1]: a batch of one environment
            return jnp.stack([jnp.asarray(t[name]) for t in self._buffer])[:, None]

        bootstrap = self._value(self.state.params, self.state.obs_stats,
                                next_observation["features"])
        batch = Batch(stack("features"), stack("mask"), stack("action"), stack("log_prob"),
                      stack("value"), stack("reward"), stack("done"), stack("discount"),
                      bootstrap[None])
        self.state, metrics = self._update(self.state, batch)
        self.metrics = {k: float(v) for k, v in metrics.items()}
        self._buffer = []


class MPOAgent:
    """Acts with the current MPO policy; learns from a replay of n-step transitions.

    The replay is a host-side (numpy) ring buffer; `samples_per_insert` sets how many
    transitions are learned from per transition collected (one update of
    `batch_size` every batch_size / samples_per_insert steps once the replay holds
    `min_replay_size`).
    """

    def __init__(self, config: MPOConfig, num_features: int, nvec: tuple[int, ...],
                 seed: int = 0):
        self.config, self.nvec = config, nvec
        self.networks = make_policy_critic_networks(nvec, config.hidden_sizes,
                                                    config.critic_hidden_sizes)
        optimizers = make_optimizers(config)
        self._key, k_init = jax.random.split(jax.random.PRNGKey(seed))
        self.state = init_training_state(k_init, self.networks, optimizers, config,
                                         num_features)
        self._act = jax.jit(mpo_actor_step(self.networks, config))
        self._update = jax.jit(mpo_update(self.networks, config, optimizers))
        self._add_observations = jax.jit(add_observations)
        capacity, mask_size = config.replay_capacity, sum(nvec)
        self._replay = Transition(
            features=np.zeros((capacity, num_features), np.float32),
            mask=np.zeros((capacity, mask_size), bool),
            action=np.zeros((capacity, len(nvec)), np.int32),
            returns=np.zeros((capacity,), np.float32),
            bootstrap_discount=np.zeros((capacity,), np.float32),
            next_features=np.zeros((capacity, num_features), np.float32),
            next_mask=np.zeros((capacity, mask_size), bool))
        self._size = self._index = 0
        self._pending: dict[str, Any] | None = None
        self._window: list[dict[str, Any]] = []  # the last n steps awaiting their n-step return
        self._credit = 0.0
        self._rng = np.random.default_rng(seed)
        self.metrics: dict[str, float] = {}

    @classmethod
    def for_env(cls, env: dm_env.Environment, config: MPOConfig, seed: int = 0) -> MPOAgent:
        nvec = action_sizes(env.action_spec())
        return cls(config, _num_features(env.observation_spec()), nvec, seed)

    def select_action(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        self._key, key = jax.random.split(self._key)
        action = np.asarray(self._act(self.state.policy_params, self.state.obs_stats,
                                      observation, key))
        self._pending = {"features": observation["features"],
                         "mask": observation["action_mask"], "action": action}
        return action

    def observe(self, reward: float, discount: float, done: bool,
                next_observation: dict[str, np.ndarray]) -> None:
        """Records the last action's outcome (`discount`: the timestep's, 0 at a true
        terminal; `done`: the episode ended) and inserts the n-step transitions it
        completes: at an episode's end, those of its last n steps, bootstrapped at its
        last decision state (`mpo.losses.n_step_returns`)."""
        if self._pending is None:
            raise RuntimeError("observe() called before select_action()")
        self.state = self._add_observations(self.state, self._pending["features"][None])
        self._window.append({**self._pending, "reward": float(reward),
                             "discount": float(discount)})
        self._pending = None
        n, gamma = self.config.n_step, self.config.discount
        # The state bootstrapped at: n steps later, or the last decision state at an end.
        last = self._window[-1]
        bootstrap_state = ({"features": last["features"], "action_mask": last["mask"]}
                           if done else next_observation)
        while self._window and (len(self._window) == n or done):
            returns, weight = 0.0, 1.0  # weight: gamma^k x the discounts so far
            for step in self._window:
                returns += weight * step["reward"]
                weight *= gamma * step["discount"]
            first = self._window.pop(0)
            self._insert(first, returns, weight, bootstrap_state)
        self._learn()

    def _insert(self, step, returns, bootstrap, bootstrap_state) -> None:
        i = self._index
        r = self._replay
        r.features[i], r.mask[i], r.action[i] = step["features"], step["mask"], step["action"]
        r.returns[i], r.bootstrap_discount[i] = returns, bootstrap
        r.next_features[i] = bootstrap_state["features"]
        r.next_mask[i] = bootstrap_state["action_mask"]
        self._index = (i + 1) % len(r.returns)
        self._size = min(self._size + 1, len(r.returns))

    def _learn(self) -> None:
        c = self.config
        if self._size < c.min_replay_size:
            return
        self._credit += c.samples_per_insert / c.batch_size
        while self._credit >= 1.0:
            self._credit -= 1.0
            rows = self._rng.integers(0, self._size, c.batch_size)
            batch = Transition(*(field[rows] for field in self._replay))
            self.state, metrics = self._update(self.state, batch)
            self.metrics = {k: float(v) for k, v in metrics.items()}


def _num_features(obs_spec: Any) -> int:
    if isinstance(obs_spec, dict) and "features" in obs_spec:
        return int(np.prod(obs_spec["features"].shape))
    return int(np.prod(obs_spec.shape))


def env_action(action: np.ndarray, spec: Any) -> Any:
    """The agent's int32[H] action in the environment's own form (a scalar for DiscreteArray)."""
    return int(action[0]) if isinstance(spec, specs.DiscreteArray) else action.astype(spec.dtype)


class EnvironmentLoop:
    """Runs episodes of `env` with `agent`, reporting each episode's return and length."""

    def __init__(self, env: dm_env.Environment, agent: PPOAgent | MPOAgent,
                 logger: Logger | None = None,
                 on_episode: Callable[[dict[str, float]], None] | None = None):
        self.env, self.agent, self.logger, self.on_episode = env, agent, logger, on_episode
        self.steps = self.episodes = 0

    def run_episode(self) -> dict[str, float]:
        start = time.perf_counter()
        spec, nvec = self.env.action_spec(), self.agent.nvec
        timestep = self.env.reset()
        observation = as_observation(timestep.observation, nvec)
        episode_return, length = 0.0, 0
        while not timestep.last():
            action = self.agent.select_action(observation)
            timestep = self.env.step(env_action(action, spec))
            observation = as_observation(timestep.observation, nvec)
            # Bootstrapped at a truncation (discount 1: a season's end), not at a termination.
            discount = 1.0 if timestep.discount is None else float(timestep.discount)
            self.agent.observe(timestep.reward or 0.0, discount, timestep.last(), observation)
            episode_return += float(timestep.reward or 0.0)
            length += 1
        self.steps += length
        self.episodes += 1
        result = {"episode_return": episode_return, "episode_length": float(length),
                  "steps_per_s": length / max(time.perf_counter() - start, 1e-9),
                  "episodes": float(self.episodes), "steps": float(self.steps)}
        if self.logger is not None:
            self.logger.write(self.steps, {**result, **self.agent.metrics})
        if self.on_episode is not None:
            self.on_episode(result)
        return result

    def run(self, num_episodes: int) -> list[dict[str, float]]:
        return [self.run_episode() for _ in range(num_episodes)]


__all__ = ["EnvironmentLoop", "MPOAgent", "PPOAgent", "action_sizes", "as_observation",
           "env_action"]
