"""The policy interface shared by baselines, trained coaches, evaluation and actors.

A `Policy` is a pair of pure functions over ONE athlete (vmap them for a batch):

    state = policy.init(key)                                  # at the start of a season
    action, state = policy.step(state, observation, key)      # every morning

`observation` is the world's `{features: f32[F], action_mask: bool[sum(nvec)]}`
and `action` an int32[H] (session type, duration bucket, one level per habit).
The policy state carries what a policy remembers (a plan's calendar, say); a
policy without memory uses `()`. Both functions jit, vmap and scan.

`PolicyActor` is the thin stateful shell that runs a policy against a
`dm_env.Environment` (one athlete, numpy in and out), in the manner of Acme's
actors: `observe_first(timestep)` at a season's start, `select_action(obs)` each day.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np


class Policy(NamedTuple):
    """A named pair of pure functions: `init(key) -> state`, `step(state, obs, key)`."""

    name: str
    init: Callable[[jax.Array], Any]
    step: Callable[[Any, dict[str, jax.Array], jax.Array], tuple[jax.Array, Any]]
    # A stable digest of what the policy computes (kind and parameters), or "" when unknown;
    # the daily coach keeps the programs of a policy with an identity across runs.
    identity: str = ""


class PolicyActor:
    """Runs a `Policy` on one dm_env athlete: holds the policy state and a key stream."""

    def __init__(self, policy: Policy, seed: int = 0):
        self.policy = policy
        self._key = jax.random.PRNGKey(seed)
        self._init = jax.jit(policy.init)
        self._step = jax.jit(policy.step)
        self._state: Any = None

    def _next_key(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return key

    def observe_first(self, timestep: Any = None) -> None:
        """Starts a new season: resets the policy's memory."""
        self._state = self._init(self._next_key())

    def select_action(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Today's action (int32[H]) for the observation of this morning."""
        if self._state is None:
            self.observe_first()
        obs = {"features": np.asarray(observation["features"], np.float32),
               "action_mask": np.asarray(observation["action_mask"], bool)}
        action, self._state = self._step(self._state, obs, self._next_key())
        return np.asarray(action, np.int32)
