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
    y = G^(n) + gamma_n * mean_j Q_target(s', a'_j),  a'_j ~ pi_target(.|s'),
bootstrapped across an end by a time limit but not across a true terminal
(`n_step_returns`).
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


class NStepReturns(NamedTuple):
    returns: jnp.ndarray  # f32[S, B], G_t
    bootstrap_discount: jnp.ndarray  # f32[S, B], gamma_t
    bootstrap_offset: jnp.ndarray  # i32[S, B], k_t: the critic bootstraps at s_{t + k_t}


def n_step_returns(r_t: jnp.ndarray, discount_t: jnp.ndarray, last_t: jnp.ndarray,
                   gamma: float, n: int) -> NStepReturns:
    """n-step returns of the first S = T - n + 1 positions of time-major [T, B] steps.

    With k_t the steps taken before bootstrapping (n, or j + 1 if the episode ends
    with step t + j, j < n: `last_t`) and w_k = gamma^k prod_{i<k} discount_{t+i}:

        G_t     = sum_{k < k_t} w_k r_{t+k}
        gamma_t = w_{k_t}    (0 past a true terminal, whose discount is 0)

    `discount_t` is the timestep's own discount: 1 on ordinary steps and at an end
    by a time limit, 0 at a true terminal (dm_env: `truncation` vs `termination`).
    A time-limit end is therefore bootstrapped (Pardo et al. 2018, partial-episode
    bootstrapping) and a terminal is not. The critic bootstraps at s_{t+n} inside an
    episode; past an end the state after the last day is not in the batch (auto-reset
    puts the next episode's first state there), so it bootstraps at the episode's
    last decision state s_{t+j} instead: `bootstrap_offset` is n or j (not j + 1).
    That is the V(s_T) stand-in of PPO's `next_values`, for the same reasons: the
    observation after a season's last day is never seen, the features hold no days
    left, and every trainer uses the same rule.
    """
    chex.assert_rank([r_t, discount_t, last_t], 2)
    chex.assert_equal_shape([r_t, discount_t, last_t])
    steps = r_t.shape[0] - n + 1
    shape = (steps,) + r_t.shape[1:]
    returns = jnp.zeros(shape, jnp.float32)
    weight = jnp.ones(shape, jnp.float32)  # w_k, frozen once the episode ended
    offset = jnp.full(shape, n, jnp.int32)
    alive = jnp.ones(shape, bool)  # the episode of t has not ended before step t + k
    for k in range(n):
        r, d, last = r_t[k:k + steps], discount_t[k:k + steps], last_t[k:k + steps]
        returns = returns + jnp.where(alive, weight * r, 0.0)
        weight = jnp.where(alive, weight * gamma * d, weight)
        offset = jnp.where(alive & last, k, offset)
        alive = alive & ~last
    return NStepReturns(returns, weight, offset)


def critic_target(returns: jnp.ndarray, bootstrap_discount: jnp.ndarray,
                  next_q_values: jnp.ndarray) -> jnp.ndarray:
    """y = G + gamma_n mean_j Q_target(s', a'_j) from [B], [B] and [N, B]; stop-gradient."""
    chex.assert_rank([returns, bootstrap_discount, next_q_values], [1, 1, 2])
    return jax.lax.stop_gradient(returns + bootstrap_discount * jnp.mean(next_q_values, axis=0))


__all__ = ["KLPenalty", "NStepReturns", "critic_target", "e_step_weights", "kl_penalty",
           "n_step_returns", "temperature_dual_loss", "weighted_log_likelihood_loss"]
