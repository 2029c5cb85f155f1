"""Batches of environments an actor steps at once, behind one small interface.

    envs = WorldBatch(config, num_envs=64, seed=3)      # the jitted, vmapped athlete world
    envs = DmEnvBatch(lambda i: bsuite.load("catch", 0), num_envs=8)   # any dm_env
    observation = envs.reset()                          # {features [E, F], action_mask [E, M]}
    observation, reward, discount, done, finished = envs.step(action)  # action int32[E, H]

Every environment restarts by itself when its episode (season) ends: `done[i]`
says the step ended one, `observation[i]` is then the first of the next, and
`finished` holds the returns of the episodes that ended. `discount[i]` is the
timestep's discount: 0 at a true terminal, 1 otherwise (a season ends by time,
with discount 1), so the learners bootstrap across an end by a time limit only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import dm_env
import jax
import numpy as np

from coachrl.sim.world import LAST, AthleteWorld
from coachrl.training.common import init_envs
from coachrl.training.config import TrainConfig
from coachrl.training.loop import action_sizes, as_observation, env_action


class Step(NamedTuple):
    observation: dict[str, np.ndarray]  # {features [E, F], action_mask [E, M]}, after the step
    reward: np.ndarray  # f32[E]
    discount: np.ndarray  # f32[E], the timestep's discount (0 only at a true terminal)
    done: np.ndarray  # bool[E], the step ended an episode (the observation is the next one's)
    finished: np.ndarray  # f64[K], returns of the K episodes that ended


class WorldBatch:
    """`num_envs` simulated athletes, seasons restarting with new athletes (one jitted step)."""

    def __init__(self, config: TrainConfig, num_envs: int, seed: int):
        world = AthleteWorld(config.world)
        self.nvec, self.num_features, self.num_envs = world.nvec, world.num_features, num_envs
        self._key = jax.random.PRNGKey(seed)
        self._config, self._world = config, world

        def step(env_state, action, key):
            env_state, ts = world.batch_step(env_state, action, key, autoreset=True)
            return env_state, ts.observation, ts.reward, ts.discount, ts.step_type == LAST

        self._step = jax.jit(step)

    def reset(self) -> dict[str, np.ndarray]:
        self._key, key = jax.random.split(self._key)
        self._state, observation, _ = init_envs(self._config, self._world, key, self.num_envs)
        self._returns = np.zeros(self.num_envs, np.float64)
        return jax.device_get(observation)

    def step(self, action: np.ndarray) -> Step:
        self._key, key = jax.random.split(self._key)
        self._state, *out = self._step(self._state, action, key)
        observation, reward, discount, done = jax.device_get(out)
        self._returns += reward
        finished = self._returns[done].copy()
        self._returns[done] = 0.0
        return Step(observation, reward, discount, done, finished)


class DmEnvBatch:
    """`num_envs` instances of any dm_env, stepped in turn and reset when an episode ends.

    `make_env(index)` builds instance `index`; a `{features, action_mask}` observation is
    used as it is, any other array is flattened with every action allowed.
    """

    def __init__(self, make_env: Callable[[int], dm_env.Environment], num_envs: int):
        self.envs = [make_env(i) for i in range(num_envs)]
        self.num_envs = num_envs
        self._spec = self.envs[0].action_spec()
        self.nvec = action_sizes(self._spec)
        self.num_features = int(self.reset()["features"].shape[1])

    def _stack(self, observations: list) -> dict[str, np.ndarray]:
        items = [as_observation(o, self.nvec) for o in observations]
        return {k: np.stack([item[k] for item in items]) for k in items[0]}

    def reset(self) -> dict[str, np.ndarray]:
        self._returns = np.zeros(self.num_envs, np.float64)
        return self._stack([env.reset().observation for env in self.envs])

    def step(self, action: np.ndarray) -> Step:
        observations, reward = [], np.zeros(self.num_envs, np.float32)
        discount = np.ones(self.num_envs, np.float32)
        done = np.zeros(self.num_envs, bool)
        finished = []
        for i, env in enumerate(self.envs):
            ts = env.step(env_action(np.asarray(action[i]), self._spec))
            reward[i] = ts.reward or 0.0
            discount[i] = 1.0 if ts.discount is None else ts.discount
            self._returns[i] += reward[i]
            if ts.last():
                done[i] = True
                finished.append(self._returns[i])
                self._returns[i] = 0.0
                ts = env.reset()
            observations.append(ts.observation)
        return Step(self._stack(observations), reward, discount, done,
                    np.asarray(finished, np.float64))


__all__ = ["DmEnvBatch", "Step", "WorldBatch"]
