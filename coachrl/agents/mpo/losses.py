"""MPO's loss terms for discrete (multi-categorical) actions, as pure functions.

Shapes: N sampled joint actions per state, B states, H action heads.

E-step (Abdolmaleki et al. 2018a, eq. 7-8): non-parametric weights over the N
actions sampled from the target policy at each state,
    q_j(s) = softmax_j(Q(s, a_j) / eta),
with the temperature eta from the convex dual of the KL-constrained problem,
    g(eta) = eta * epsilon + eta * mean_s log mean_j exp(Q(s, a_j) / eta).
M-step (eq. 10, with the decoupled per-head KL of Abdolmaleki et al. 2018b):
    L_pi = -mean_s sum_j q_j log pi(a_j|s)
           + sum_h sg(alpha_h) mean_s KL(pi_target,h(.|s) || pi_h(.|s)),
    L_alpha = sum_h alpha_h (epsilon_h - mean_s sg(KL_h)).
Critic (expected SARSA over the sampled next actions, n-step):
    y = G^(n) + gamma_n * mean_j Q_target(s', a'_j),  a'_j ~ pi_target(.|s').
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp


def e_step_weights(q_values: jnp.ndarray, temperature: jnp.ndarray) -> jnp.ndarray:
    """[N, B] Q-values -> [N, B] weights softmax_j(Q_j / eta), stop-gradient."""
    chex.assert_rank(q_values, 2)
    return jax.lax.stop_gradient(jax.nn.softmax(q_values / temperature, axis=0))


def temperature_dual_loss(q_values: jnp.ndarray, temperature: jnp.ndarray,
                          epsilon: float) -> jnp.ndarray:
    """g(eta) = eta eps + eta mean_s log mean_j exp(Q_j / eta) (Q stop-gradient)."""
    q = jax.lax.stop_gradient(q_values)
    n = q.shape[0]
    log_mean_exp = jax.nn.logsumexp(q / temperature, axis=0) - jnp.log(n)
    return temperature * epsilon + temperature * jnp.mean(log_mean_exp)


def weighted_log_likelihood_loss(weights: jnp.ndarray, log_probs: jnp.ndarray) -> jnp.ndarray:
    """-mean_s sum_j q_j log pi(a_j|s) over [N, B] weights and log-probabilities."""
    chex.assert_equal_shape([weights, log_probs])
    return -jnp.mean(jnp.sum(weights * log_probs, axis=0))


class KLPenalty(NamedTuple):
    policy_loss: jnp.ndarray  # sum_h sg(alpha_h) mean_s KL_h: pulls the policy back
    alpha_loss: jnp.ndarray  # sum_h alpha_h (eps_h - mean_s sg(KL_h)): the dual's loss
    kl_per_head: jnp.ndarray  # [H], mean_s KL_h


def kl_penalty(kl: jnp.ndarray, alpha: jnp.ndarray, epsilon_policy: float) -> KLPenalty:
    """The per-head KL terms of the M-step from KL [B, H] and multipliers alpha [H]."""
    chex.assert_rank([kl, alpha], [2, 1])
    mean_kl = jnp.mean(kl, axis=0)
    policy_loss = jnp.sum(jax.lax.stop_gradient(alpha) * mean_kl)
    alpha_loss = jnp.sum(alpha * (epsilon_policy - jax.lax.stop_gradient(mean_kl)))
    return KLPenalty(policy_loss, alpha_loss, mean_kl)


def n_step_returns(r_t: jnp.ndarray, done_t: jnp.ndarray, discount: float,
                   n: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """n-step returns of the first T - n + 1... positions of time-major [T, B] rewards.

    For t in [0, T - n]: G_t = sum_{k<n} gamma^k r_{t+k} prod_{j<k} (1 - d_{t+j}) and the
    bootstrap discount gamma^n prod_{j<n} (1 - d_{t+j}) (0 once the season ended).
    Returns ([T - n + 1, B] returns, [T - n + 1, B] bootstrap discounts).
    """
    chex.assert_rank([r_t, done_t], 2)
    steps = r_t.shape[0] - n + 1
    alive = 1.0 - done_t.astype(jnp.float32)
    returns = jnp.zeros((steps,) + r_t.shape[1:])
    running = jnp.ones((steps,) + r_t.shape[1:])  # gamma^k prod(1 - d) so far
    for k in range(n):
        returns = returns + running * r_t[k:k + steps]
        running = running * discount * alive[k:k + steps]
    return returns, running


def critic_target(returns: jnp.ndarray, bootstrap_discount: jnp.ndarray,
                  next_q_values: jnp.ndarray) -> jnp.ndarray:
    """y = G + gamma_n mean_j Q_target(s', a'_j) from [B], [B] and [N, B]; stop-gradient."""
    chex.assert_rank([returns, bootstrap_discount, next_q_values], [1, 1, 2])
    return jax.lax.stop_gradient(returns + bootstrap_discount * jnp.mean(next_q_values, axis=0))


__all__ = ["KLPenalty", "critic_target", "e_step_weights", "kl_penalty", "n_step_returns",
           "temperature_dual_loss", "weighted_log_likelihood_loss"]
