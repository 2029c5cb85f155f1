"""MPO's pure update: `update(state, batch) -> (state, metrics)` over a named TrainingState.

One gradient step on a batch of n-step transitions sampled from replay:
the critic towards the expected-SARSA n-step target, the policy by the
E-step weights and the per-head KL-regularised M-step (`losses.py`), the
temperature and KL multipliers by their duals, then a Polyak step of the
target networks. Masks are respected everywhere: actions are sampled only
among allowed choices and the KL terms ignore masked ones.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from coachrl.agents import distributions as dist
from coachrl.agents.mpo import losses
from coachrl.agents.mpo.config import MPOConfig
from coachrl.agents.networks import PolicyCritic, head_mask
from coachrl.agents.normalization import RunningStats, init_stats, normalize, update_stats


class DualParams(NamedTuple):
    raw_temperature: jnp.ndarray  # f32[], temperature = softplus(raw)
    raw_alpha: jnp.ndarray  # f32[H], KL multipliers = softplus(raw)


class TrainingState(NamedTuple):
    policy_params: dict
    critic_params: dict
    target_policy_params: dict
    target_critic_params: dict
    dual_params: DualParams
    policy_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    dual_opt_state: optax.OptState
    obs_stats: RunningStats  # running feature statistics (updated as transitions arrive)
    key: jax.Array
    steps: jnp.ndarray  # i32, gradient steps applied


class Transition(NamedTuple):
    """n-step transitions, [B] leading axis (also the replay's item layout)."""

    features: jnp.ndarray  # f32[B, F], raw
    mask: jnp.ndarray  # bool[B, sum(nvec)], the flat safety mask at s
    action: jnp.ndarray  # i32[B, H]
    returns: jnp.ndarray  # f32[B], n-step discounted reward (up to the episode's end)
    # f32[B], gamma^k for the k steps summed (k = n unless the episode ended sooner);
    # 0 past a true terminal, not past an end by a time limit (losses.n_step_returns).
    bootstrap_discount: jnp.ndarray
    # f32[B, F], raw features of the state bootstrapped at: n steps later, or the
    # episode's last decision state if it ended sooner.
    next_features: jnp.ndarray
    next_mask: jnp.ndarray  # bool[B, sum(nvec)], that state's mask


class Optimizers(NamedTuple):
    policy: optax.GradientTransformation
    critic: optax.GradientTransformation
    dual: optax.GradientTransformation


def _inverse_softplus(x: float) -> float:
    return float(np.log(np.expm1(x)))


def make_optimizers(config: MPOConfig) -> Optimizers:
    def adam(lr):
        return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr))

    return Optimizers(adam(config.learning_rate), adam(config.learning_rate),
                      optax.adam(config.dual_learning_rate))


def init_training_state(key: jax.Array, networks: PolicyCritic, optimizers: Optimizers,
                        config: MPOConfig, num_features: int) -> TrainingState:
    k_policy, k_critic, k_state = jax.random.split(key, 3)
    features = jnp.zeros((num_features,), jnp.float32)
    action = jnp.zeros((len(networks.nvec),), jnp.int32)
    policy_params = networks.policy_init(k_policy, features)
    critic_params = networks.critic_init(k_critic, features, action)
    dual = DualParams(jnp.float32(_inverse_softplus(config.init_temperature)),
                      jnp.full((len(networks.nvec),), _inverse_softplus(config.init_alpha),
                               jnp.float32))
    return TrainingState(policy_params, critic_params, policy_params, critic_params, dual,
                         optimizers.policy.init(policy_params),
                         optimizers.critic.init(critic_params), optimizers.dual.init(dual),
                         init_stats(num_features), k_state, jnp.int32(0))


def observe(config: MPOConfig, stats: RunningStats, features: jnp.ndarray) -> jnp.ndarray:
    return normalize(features, stats) if config.normalize_observations else features


def add_observations(state: TrainingState, features: jnp.ndarray) -> TrainingState:
    """Folds newly collected raw features into the running statistics."""
    return state._replace(obs_stats=update_stats(state.obs_stats, features))


def make_update(networks: PolicyCritic, config: MPOConfig, optimizers: Optimizers):
    """The pure MPO update for these networks and hyper-parameters."""
    nvec, n = networks.nvec, config.num_samples

    def q_of(params, features, actions):  # features [B, F], actions [N, B, H] -> [N, B]
        tiled = jnp.broadcast_to(features, actions.shape[:2] + features.shape[-1:])
        return networks.critic_apply(params, tiled, actions)

    def loss_fn(params, state: TrainingState, batch: Transition, key):
        policy_params, critic_params, dual = params
        k_next, k_now = jax.random.split(key)
        features = observe(config, state.obs_stats, batch.features)
        next_features = observe(config, state.obs_stats, batch.next_features)
        mask, next_mask = head_mask(batch.mask, nvec), head_mask(batch.next_mask, nvec)

        # Critic: expected SARSA over N actions of the target policy at s'.
        next_logits = networks.policy_apply(state.target_policy_params, next_features)
        next_actions = dist.sample(k_next, next_logits, next_mask, num_samples=n)  # [N, B, H]
        next_q = q_of(state.target_critic_params, next_features, next_actions)
        target = losses.critic_target(batch.returns, batch.bootstrap_discount, next_q)
        q = networks.critic_apply(critic_params, features, batch.action)
        critic_loss = 0.5 * jnp.mean(jnp.square(q - target))

        # E-step: weights over N actions of the target policy at s, by the target critic.
        target_logits = networks.policy_apply(state.target_policy_params, features)
        actions = dist.sample(k_now, target_logits, mask, num_samples=n)  # [N, B, H]
        sampled_q = q_of(state.target_critic_params, features, actions)
        temperature = jax.nn.softplus(dual.raw_temperature) + 1e-8
        weights = losses.e_step_weights(sampled_q, temperature)
        temperature_loss = losses.temperature_dual_loss(sampled_q, temperature, config.epsilon)

        # M-step: weighted maximum likelihood under a per-head KL bound.
        logits = networks.policy_apply(policy_params, features)
        log_probs = dist.log_prob(jnp.broadcast_to(logits, (n,) + logits.shape),
                                  jnp.broadcast_to(mask, (n,) + mask.shape), actions)  # [N, B]
        nll = losses.weighted_log_likelihood_loss(weights, log_probs)
        alpha = jax.nn.softplus(dual.raw_alpha) + 1e-8
        kl = losses.kl_penalty(dist.kl_per_head(target_logits, logits, mask), alpha,
                               config.epsilon_policy)
        total = critic_loss + nll + kl.policy_loss + temperature_loss + kl.alpha_loss
        metrics = {
            "critic_loss": critic_loss, "policy_nll": nll, "temperature": temperature,
            "temperature_loss": temperature_loss, "alpha_mean": jnp.mean(alpha),
            "kl_max_head": jnp.max(kl.kl_per_head), "q_mean": jnp.mean(q),
            "target_mean": jnp.mean(target),
            "entropy": jnp.mean(dist.entropy(logits, mask)),
        }
        return total, metrics

    def update(state: TrainingState, batch: Transition) -> tuple[TrainingState, dict]:
        key, k_loss = jax.random.split(state.key)
        params = (state.policy_params, state.critic_params, state.dual_params)
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params, state, batch, k_loss)
        g_policy, g_critic, g_dual = grads
        u_policy, policy_opt = optimizers.policy.update(g_policy, state.policy_opt_state)
        u_critic, critic_opt = optimizers.critic.update(g_critic, state.critic_opt_state)
        u_dual, dual_opt = optimizers.dual.update(g_dual, state.dual_opt_state)
        policy_params = optax.apply_updates(state.policy_params, u_policy)
        critic_params = optax.apply_updates(state.critic_params, u_critic)
        dual = optax.apply_updates(state.dual_params, u_dual)
        tau = config.target_update_rate
        metrics["critic_grad_norm"] = optax.global_norm(g_critic)
        return TrainingState(
            policy_params, critic_params,
            optax.incremental_update(policy_params, state.target_policy_params, tau),
            optax.incremental_update(critic_params, state.target_critic_params, tau),
            dual, policy_opt, critic_opt, dual_opt, state.obs_stats, key,
            state.steps + 1), metrics

    return update


__all__ = ["DualParams", "Optimizers", "TrainingState", "Transition", "add_observations",
           "init_training_state", "make_optimizers", "make_update", "observe"]
