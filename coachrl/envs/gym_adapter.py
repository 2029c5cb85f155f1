"""`GymCoachEnv`: the `CoachEnv` athlete behind the gymnasium interface.

    from coachrl.envs import GymCoachEnv

    env = GymCoachEnv(seed=0)
    obs, info = env.reset(seed=1)                  # obs: {features, action_mask (int8)}
    truncated = False
    while not truncated:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        info["reward_components"], info["violations"], info["metrics"]

A season ends by time, never by failure: `terminated` is always False and
`truncated` is True on its last day; call `reset()` then. The action mask is
int8 0/1 here, as gymnasium's `MultiBinary` space holds it.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from coachrl.envs.dm_env_adapter import CoachEnv
from coachrl.sim.config import WorldConfig


class GymCoachEnv(gymnasium.Env):
    """One simulated athlete, a season per episode (see `CoachEnv` for the world side).

    Args:
      config: the world (default: `configs/world/default.yaml`).
      seed: seeds the key stream until `reset(seed=...)` re-seeds it.
      population: "train" or "heldout".

    `info` after a step holds `reward_components` (floats), `violations`
    (bool per head: the choice was masked and replaced), `num_violations`,
    the `action` actually applied and the hidden evaluation `metrics`
    (floats; for evaluation, never for acting).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: WorldConfig | None = None, seed: int = 0,
                 population: str = "train"):
        self.env = CoachEnv(config, seed=seed, population=population)
        nvec = np.asarray(self.env.config.nvec, np.int64)
        self.action_space = spaces.MultiDiscrete(nvec)
        self.observation_space = spaces.Dict({
            "features": spaces.Box(-np.inf, np.inf, (self.env.world.num_features,), np.float32),
            "action_mask": spaces.MultiBinary(int(nvec.sum())),
        })
        self._needs_reset = True

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """A new athlete's first morning; `seed` restarts the key stream first."""
        super().reset(seed=seed)
        if seed is not None:
            self.env.reseed(seed)
        timestep = self.env.reset()
        self._needs_reset = False
        return self._observation(timestep.observation), {}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """One day of `action` (int[H]); ValueError for a malformed action."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step(), and again after a season ends "
                               "(truncated=True)")
        timestep = self.env.step(action)
        truncated = bool(timestep.last())
        self._needs_reset = truncated
        extras = self.env.extras
        info = {
            "reward_components": extras["reward_components"],
            "violations": extras["violations"],
            "num_violations": extras["num_violations"],
            "action": extras["action"],
            "metrics": {k: float(v) for k, v in extras["metrics"].items()},
        }
        return self._observation(timestep.observation), float(timestep.reward), False, \
            truncated, info

    @staticmethod
    def _observation(observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"features": observation["features"],
                "action_mask": observation["action_mask"].astype(np.int8)}
