"""PPO's loss terms as pure functions over flat batches (rlax naming: `_t` per sample).

    L = L_clip + c_v L_value - c_H H                  (Schulman et al. 2017, eq. 9)
    L_clip  = -mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)
              with r_t = pi(a_t|s_t) / pi_old(a_t|s_t)
    L_value = mean_t 1/2 (V(s_t) - G_t)^2, G_t = A_t + V_old(s_t) (the GAE target)
    H       = mean_t sum_heads entropy(pi_h(.|s_t))
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import rlax


class Advantages(NamedTuple):
    advantage: jnp.ndarray  # [T, B]
    target: jnp.ndarray  # [T, B], value targets A + V


def gae(r_t: jnp.ndarray, discount_t: jnp.ndarray, v_t: jnp.ndarray, v_bootstrap: jnp.ndarray,
        lambda_: float) -> Advantages:
    """GAE over time-major [T, B] rewards (rlax.truncated_generalized_advantage_estimation).

    `discount_t` is gamma on transitions that continue and 0 where a season ended
    at t; `v_bootstrap` [B] is the value of the observation after the last step.
    """
    chex.assert_rank([r_t, discount_t, v_t, v_bootstrap], [2, 2, 2, 1])
    values = jnp.concatenate([v_t, v_bootstrap[None]], axis=0)  # [T + 1, B]
    advantage = jax.vmap(rlax.truncated_generalized_advantage_estimation,
                         in_axes=(1, 1, None, 1), out_axes=1)(r_t, discount_t, lambda_, values)
    return Advantages(advantage, jax.lax.stop_gradient(advantage + v_t))


def clipped_surrogate_loss(ratio_t: jnp.ndarray, adv_t: jnp.ndarray,
                           epsilon: float) -> jnp.ndarray:
    """-mean min(r A, clip(r, 1 - eps, 1 + eps) A) (rlax.clipped_surrogate_pg_loss)."""
    return rlax.clipped_surrogate_pg_loss(ratio_t, adv_t, epsilon)


def value_loss(v_t: jnp.ndarray, target_t: jnp.ndarray) -> jnp.ndarray:
    """mean 1/2 (V - G)^2."""
    return 0.5 * jnp.mean(jnp.square(v_t - target_t))


def normalize(adv_t: jnp.ndarray, eps: float = 1e-8) -> jnp.ndarray:
    """Advantages standardised over the minibatch."""
    return (adv_t - jnp.mean(adv_t)) / (jnp.std(adv_t) + eps)


__all__ = ["Advantages", "clipped_surrogate_loss", "gae", "normalize", "value_loss"]
