"""Acting with a PPO policy: the trainer's sampling step and an evaluation `Policy`."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from coachrl.agents import distributions as dist
from coachrl.agents.acting import masked_policy
from coachrl.agents.networks import Networks, head_mask
from coachrl.agents.normalization import RunningStats
from coachrl.agents.policy import Policy
from coachrl.agents.ppo.config import PPOConfig
from coachrl.agents.ppo.learning import observe


class ActorOutput(NamedTuple):
    action: jnp.ndarray  # i32[..., H]
    log_prob: jnp.ndarray  # f32[...]
    value: jnp.ndarray  # f32[...]
    mask: jnp.ndarray  # bool[..., H, N]


def make_actor_step(networks: Networks, config: PPOConfig):
    """`act(params, obs_stats, observation, key) -> ActorOutput`, sampling (any batch shape)."""

    def act(params, obs_stats: RunningStats, observation, key) -> ActorOutput:
        out = networks.apply(params, observe(config, obs_stats, observation["features"]))
        mask = head_mask(observation["action_mask"], networks.nvec)
        action = dist.sample(key, out.logits, mask)
        return ActorOutput(action, dist.log_prob(out.logits, mask, action), out.value, mask)

    return act


def make_policy(networks: Networks, config: PPOConfig, params, obs_stats: RunningStats,
                greedy: bool = True, name: str = "ppo") -> Policy:
    """A `Policy` of fixed parameters: the most likely allowed action (or a sample)."""
    return masked_policy(
        lambda features: networks.apply(params, observe(config, obs_stats, features)).logits,
        networks.nvec, greedy, name)


def value_of(networks: Networks, config: PPOConfig, params, obs_stats, features):
    return networks.apply(params, observe(config, obs_stats, features)).value


__all__ = ["ActorOutput", "make_actor_step", "make_policy", "value_of"]
