"""PPO's loss terms as pure functions over flat batches (rlax naming: `_t` per sample).

    L = L_clip + c_v L_value - c_H H                  (Schulman et al. 2017, eq. 9)
    L_clip  = -mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)
              with r_t = pi(a_t|s_t) / pi_old(a_t|s_t)
    L_value = mean_t 1/2 (V(s_t) - G_t)^2, G_t = A_t + V_old(s_t) (the GAE target)
    H       = mean_t sum_heads entropy(pi_h(.|s_t))

A_t is GAE with partial-episode bootstrapping at time-limit ends (`gae`).
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


def next_values(v_t: jnp.ndarray, v_bootstrap: jnp.ndarray, last_t: jnp.ndarray) -> jnp.ndarray:
    """v_tp1 [T, B]: the value each step bootstraps from.

    V(s_{t+1}) (`v_t[t + 1]`, or `v_bootstrap` [B] after the last row), except where an
    episode ended with step t (`last_t`): there the value of the last decision state,
    V(s_t), stands in for the state after it. Why V(s_T) rather than the value of the
    observation after the last day: with auto-reset that observation is never seen
    (the world hands over the next athlete's first morning in its place, so the next
    row is a new episode), and getting it would take a second observation per step
    inside the simulator; the features hold no "days left", so V(s_T) (the same
    athlete one day earlier) is a close estimate at no cost; and one rule in every
    trainer (jitted, distributed, dm_env loop) keeps their targets the same. At a
    true terminal the value is multiplied by a zero discount, so it does not matter.
    """
    chex.assert_rank([v_t, v_bootstrap, last_t], [2, 1, 2])
    following = jnp.concatenate([v_t[1:], v_bootstrap[None]], axis=0)  # [T, B]
    return jnp.where(last_t, v_t, following)


def gae(r_t: jnp.ndarray, discount_t: jnp.ndarray, last_t: jnp.ndarray, v_t: jnp.ndarray,
        v_bootstrap: jnp.ndarray, lambda_: float) -> Advantages:
    """GAE (Schulman et al. 2016) over time-major [T, B] rollouts with episode ends inside.

        delta_t = r_t + discount_t v_tp1 - v_t
        A_t     = delta_t + discount_t lambda (1 - last_t) A_{t+1}

    `discount_t` is gamma times the timestep's discount: gamma where the episode goes
    on and where it ended by a time limit (discount 1: a season ends by time), 0 at
    a true terminal (discount 0, e.g. bsuite's catch). `last_t` marks every episode
    end (step type LAST) however it came: the lambda-trace stops there, since the
    next row belongs to the next episode. So a time-limit end is bootstrapped, not
    treated as terminal (Pardo et al. 2018, "Time Limits in Reinforcement
    Learning", partial-episode bootstrapping), from `v_tp1 = next_values(...)`:
    V(s_{t+1}) inside an episode, V(s_t) of the last decision state at its end, and
    `v_bootstrap` [B] (the value of the observation after the last row) at the end
    of the rollout.
    """
    chex.assert_rank([r_t, discount_t, last_t, v_t, v_bootstrap], [2, 2, 2, 2, 1])
    chex.assert_equal_shape([r_t, discount_t, last_t, v_t])
    v_tp1 = next_values(v_t, v_bootstrap, last_t)
    delta_t = r_t + discount_t * v_tp1 - v_t
    trace_t = discount_t * lambda_ * (1.0 - last_t.astype(delta_t.dtype))

    def backward(a_tp1, xs):
        delta, trace = xs
        a = delta + trace * a_tp1
        return a, a

    _, advantage = jax.lax.scan(backward, jnp.zeros_like(v_bootstrap), (delta_t, trace_t),
                                reverse=True)
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


__all__ = ["Advantages", "clipped_surrogate_loss", "gae", "next_values", "normalize",
           "value_loss"]
