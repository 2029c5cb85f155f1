"""Acting with an MPO policy: sampling for collection, and an evaluation `Policy`."""

from __future__ import annotations

import jax.numpy as jnp

from coachrl.agents import distributions as dist
from coachrl.agents.acting import masked_policy
from coachrl.agents.mpo.config import MPOConfig
from coachrl.agents.mpo.learning import observe
from coachrl.agents.networks import PolicyCritic, head_mask
from coachrl.agents.normalization import RunningStats
from coachrl.agents.policy import Policy


def make_actor_step(networks: PolicyCritic, config: MPOConfig):
    """`act(policy_params, obs_stats, observation, key) -> int32[..., H]`, sampled."""

    def act(policy_params, obs_stats: RunningStats, observation, key) -> jnp.ndarray:
        logits = networks.policy_apply(policy_params,
                                       observe(config, obs_stats, observation["features"]))
        return dist.sample(key, logits, head_mask(observation["action_mask"], networks.nvec))

    return act


def make_policy(networks: PolicyCritic, config: MPOConfig, policy_params,
                obs_stats: RunningStats, greedy: bool = True, name: str = "mpo") -> Policy:
    """A `Policy` of fixed parameters: the most likely allowed action (or a sample)."""
    return masked_policy(
        lambda features: networks.policy_apply(policy_params,
                                               observe(config, obs_stats, features)),
        networks.nvec, greedy, name)


__all__ = ["make_actor_step", "make_policy"]
