"""Haiku networks shared by the learners: a masked multi-categorical policy and critics.

The policy head emits one logit per choice of every head, `sum(nvec)` in all,
laid out padded as [..., H, max(nvec)] (`split_heads`), to be combined with the
safety mask by `coachrl.agents.distributions`. The value head is a separate
MLP (separate torsos are the more stable default for PPO; Andrychowicz et al.
2021, "What matters in on-policy RL").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp

from coachrl.sim.safety import padded_heads


class PolicyValue(NamedTuple):
    logits: jnp.ndarray  # [..., H, N], padded heads (mask the padding)
    value: jnp.ndarray  # [...]


class Networks(NamedTuple):
    """Pure `init(key, features) -> params` and `apply(params, features) -> PolicyValue`."""

    init: object
    apply: object
    nvec: tuple[int, ...]


def split_heads(flat: jnp.ndarray, nvec: Sequence[int]) -> jnp.ndarray:
    """[..., sum(nvec)] logits -> [..., H, max(nvec)], padding filled with 0 (to be masked)."""
    return padded_heads(flat, tuple(nvec), fill=0.0)


def _mlp(hidden_sizes: Sequence[int], name: str) -> hk.nets.MLP:
    return hk.nets.MLP(list(hidden_sizes), activation=jnp.tanh, activate_final=True,
                       w_init=hk.initializers.Orthogonal(jnp.sqrt(2.0)), name=name)


def make_policy_value_networks(nvec: Sequence[int], hidden_sizes: Sequence[int]) -> Networks:
    """A policy MLP and a value MLP over the (normalised) features."""
    nvec = tuple(int(n) for n in nvec)

    def forward(features: jnp.ndarray) -> PolicyValue:
        policy = _mlp(hidden_sizes, "policy_torso")(features)
        flat = hk.Linear(sum(nvec), w_init=hk.initializers.Orthogonal(0.01),
                         name="policy_head")(policy)
        value = _mlp(hidden_sizes, "value_torso")(features)
        value = hk.Linear(1, w_init=hk.initializers.Orthogonal(1.0), name="value_head")(value)
        return PolicyValue(split_heads(flat, nvec), value[..., 0])

    net = hk.without_apply_rng(hk.transform(forward))
    return Networks(init=net.init, apply=net.apply, nvec=nvec)


def head_mask(action_mask: jnp.ndarray, nvec: Sequence[int]) -> jnp.ndarray:
    """The world's flat mask bool[..., sum(nvec)] -> bool[..., H, max(nvec)] (padding False)."""
    return padded_heads(action_mask, tuple(nvec), fill=False)




def joint_one_hot(action: jnp.ndarray, nvec: Sequence[int]) -> jnp.ndarray:
    """int32[..., H] -> f32[..., sum(nvec)]: one one-hot block per head."""
    return jnp.concatenate([jax.nn.one_hot(action[..., h], n) for h, n in enumerate(nvec)],
                           axis=-1)


class PolicyCritic(NamedTuple):
    """MPO's networks: `policy(params, features) -> logits [..., H, N]` and
    `critic(params, features, action) -> Q [...]` over the joint action."""

    policy_init: object
    policy_apply: object
    critic_init: object
    critic_apply: object
    nvec: tuple[int, ...]


def make_policy_critic_networks(nvec: Sequence[int], hidden_sizes: Sequence[int],
                                critic_hidden_sizes: Sequence[int]) -> PolicyCritic:
    """The multi-categorical policy and a Q(s, a) MLP over features and one-hot actions."""
    nvec = tuple(int(n) for n in nvec)

    def policy(features: jnp.ndarray) -> jnp.ndarray:
        torso = _mlp(hidden_sizes, "policy_torso")(features)
        flat = hk.Linear(sum(nvec), w_init=hk.initializers.Orthogonal(0.01),
                         name="policy_head")(torso)
        return split_heads(flat, nvec)

    def critic(features: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        inputs = jnp.concatenate([features, joint_one_hot(action, nvec)], axis=-1)
        hidden = hk.nets.MLP(list(critic_hidden_sizes), activation=jax.nn.elu,
                             activate_final=True, name="critic_torso")(inputs)
        return hk.Linear(1, name="critic_head")(hidden)[..., 0]

    p = hk.without_apply_rng(hk.transform(policy))
    c = hk.without_apply_rng(hk.transform(critic))
    return PolicyCritic(p.init, p.apply, c.init, c.apply, nvec)


__all__ = ["Networks", "PolicyCritic", "PolicyValue", "head_mask", "joint_one_hot",
           "make_policy_critic_networks", "make_policy_value_networks", "split_heads"]
