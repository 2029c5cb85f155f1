"""PPO's pure update: `update(state, batch) -> (state, metrics)` over a named TrainingState.

One call does `num_epochs` passes of `num_minibatches` Adam steps over a
time-major batch [T, B] collected by the current policy: GAE advantages
(bootstrapped where an episode ends by a time limit, not at a true terminal),
the clipped surrogate, the value loss and the entropy bonus
(`losses.py`), a global-norm gradient clip, and the running observation
statistics updated last (the batch was acted on with the old ones).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from coachrl.agents import distributions as dist
from coachrl.agents.networks import Networks
from coachrl.agents.normalization import RunningStats, init_stats, normalize, update_stats
from coachrl.agents.ppo import losses
from coachrl.agents.ppo.config import PPOConfig


class TrainingState(NamedTuple):
    params: dict  # haiku params of the policy and value networks
    opt_state: optax.OptState
    obs_stats: RunningStats  # running feature statistics (what the actor normalises with)
    key: jax.Array  # for minibatch shuffling
    steps: jnp.ndarray  # i32, updates applied


class Batch(NamedTuple):
    """A rollout of the current policy, time-major [T, B] (B parallel athletes)."""

    features: jnp.ndarray  # f32[T, B, F], raw features the actor saw
    mask: jnp.ndarray  # bool[T, B, H, N], the safety mask in head layout
    action: jnp.ndarray  # i32[T, B, H]
    log_prob: jnp.ndarray  # f32[T, B], log pi_old(a|s)
    value: jnp.ndarray  # f32[T, B], V_old(s)
    reward: jnp.ndarray  # f32[T, B]
    done: jnp.ndarray  # bool[T, B], the episode (season) ended with this step: step type LAST
    discount: jnp.ndarray  # f32[T, B], the timestep's discount: 0 at a true terminal, else 1
    bootstrap_value: jnp.ndarray  # f32[B], V_old of the observation after the last step


class _Minibatch(NamedTuple):
    features: jnp.ndarray  # normalised
    mask: jnp.ndarray
    action: jnp.ndarray
    log_prob: jnp.ndarray
    advantage: jnp.ndarray
    target: jnp.ndarray


def make_optimizer(config: PPOConfig, total_updates: int) -> optax.GradientTransformation:
    """Adam with a global-norm clip; the step size decays linearly to 0 over the run if asked."""
    steps = max(1, total_updates) * config.num_epochs * config.num_minibatches
    lr = (optax.linear_schedule(config.learning_rate, 0.0, steps)
          if config.lr_schedule == "linear" else config.learning_rate)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adam(lr, eps=1e-5))


def init_training_state(key: jax.Array, networks: Networks, optimizer: optax.GradientTransformation,
                        num_features: int) -> TrainingState:
    k_params, k_state = jax.random.split(key)
    params = networks.init(k_params, jnp.zeros((num_features,), jnp.float32))
    return TrainingState(params, optimizer.init(params), init_stats(num_features), k_state,
                         jnp.int32(0))


def observe(config: PPOConfig, stats: RunningStats, features: jnp.ndarray) -> jnp.ndarray:
    """The network's input: features standardised by the running statistics (if enabled)."""
    return normalize(features, stats) if config.normalize_observations else features


def make_update(networks: Networks, config: PPOConfig, optimizer: optax.GradientTransformation,
                axis_name: str | None = None):
    """The pure PPO update for these networks and hyper-parameters.

    With `axis_name` it runs on one shard of the batch per device (`jax.pmap`): the
    gradients and metrics are averaged over the devices (`lax.pmean`) and the observation
    statistics take every device's features, so every replica stays the same. Advantages
    are standardised per device's minibatch.
    """

    def mean_over_devices(tree):
        return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

    def loss_fn(params, mb: _Minibatch):
        out = networks.apply(params, mb.features)
        log_prob = dist.log_prob(out.logits, mb.mask, mb.action)
        log_ratio = log_prob - mb.log_prob
        ratio = jnp.exp(log_ratio)
        advantage = (losses.normalize(mb.advantage) if config.normalize_advantages
                     else mb.advantage)
        policy_loss = losses.clipped_surrogate_loss(ratio, advantage, config.clip_epsilon)
        value_loss = losses.value_loss(out.value, mb.target)
        entropy = jnp.mean(dist.entropy(out.logits, mb.mask))
        total = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
        return total, {
            "loss": total, "policy_loss": policy_loss, "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),  # Schulman's k3 estimator
            "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > config.clip_epsilon),
        }

    def sgd_step(carry, mb: _Minibatch):
        params, opt_state = carry
        grads, metrics = mean_over_devices(jax.grad(loss_fn, has_aux=True)(params, mb))
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        metrics["grad_norm"] = optax.global_norm(grads)
        return (params, opt_state), metrics

    def update(state: TrainingState, batch: Batch) -> tuple[TrainingState, dict]:
        # A season's end by time (discount 1) is bootstrapped from V(s_T), a true terminal
        # (discount 0) is not: see losses.gae.
        discount = config.discount * batch.discount.astype(jnp.float32)
        adv = losses.gae(batch.reward, discount, batch.done, batch.value, batch.bootstrap_value,
                         config.gae_lambda)
        features = observe(config, state.obs_stats, batch.features)
        flat = jax.tree_util.tree_map(
            lambda x: x.reshape((-1,) + x.shape[2:]),  # [T, B, ...] -> [T * B, ...]
            _Minibatch(features, batch.mask, batch.action, batch.log_prob, adv.advantage,
                       adv.target))
        size = flat.log_prob.shape[0]
        per_minibatch = size // config.num_minibatches

        def epoch(carry, key):
            order = jax.random.permutation(key, size)[:per_minibatch * config.num_minibatches]
            shuffled = jax.tree_util.tree_map(
                lambda x: x[order].reshape((config.num_minibatches, per_minibatch) + x.shape[1:]),
                flat)
            return jax.lax.scan(sgd_step, carry, shuffled)

        key, k_epochs = jax.random.split(state.key)
        (params, opt_state), metrics = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(k_epochs, config.num_epochs))
        metrics = jax.tree_util.tree_map(jnp.mean, metrics)
        residual = adv.target - batch.value
        metrics["explained_variance"] = 1.0 - jnp.var(residual) / (jnp.var(adv.target) + 1e-8)
        metrics["advantage_mean"] = jnp.mean(adv.advantage)
        seen = batch.features
        if axis_name is not None:  # [T, B / devices, F] -> [T, B, F]: the same stats everywhere
            seen = jax.lax.all_gather(seen, axis_name, axis=1, tiled=True)
        stats = update_stats(state.obs_stats, seen)
        return (TrainingState(params, opt_state, stats, key, state.steps + 1),
                mean_over_devices(metrics))

    return update


__all__ = ["Batch", "TrainingState", "init_training_state", "make_optimizer", "make_update",
           "observe"]
