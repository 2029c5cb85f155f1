"""Acting shared by the learners: an evaluation `Policy` from a logits function."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp

from coachrl.agents import distributions as dist
from coachrl.agents.networks import head_mask
from coachrl.agents.policy import Policy


def masked_policy(logits_fn: Callable[[jnp.ndarray], jnp.ndarray], nvec: Sequence[int],
                  greedy: bool = True, name: str = "coach") -> Policy:
    """A memoryless `Policy` from `logits_fn(features) -> [H, max(nvec)]` logits.

    Each day: the most likely allowed choice of every head (`greedy`), or a sample;
    the observation's safety mask always applies.
    """
    nvec = tuple(nvec)

    def step(state, observation, key):
        logits = logits_fn(observation["features"])
        mask = head_mask(observation["action_mask"], nvec)
        action = dist.mode(logits, mask) if greedy else dist.sample(key, logits, mask)
        return action.astype(jnp.int32), state

    return Policy(name, lambda key: (), step)


__all__ = ["masked_policy"]
