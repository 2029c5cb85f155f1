"""PPO: loss terms and GAE checked by hand, the update learns, jitted and not."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.agents import distributions as dist
from coachrl.agents.networks import head_mask, make_policy_value_networks
from coachrl.agents.ppo import PPOConfig, init_training_state, losses, make_optimizer, make_update
from coachrl.agents.ppo.acting import make_actor_step, make_policy
from coachrl.agents.ppo.learning import Batch


def gae_loop(rewards, discounts, values, bootstrap, lam):
    """Plain Python GAE: A_t = delta_t + gamma_t lambda A_{t+1}."""
    t_max = len(rewards)
    values = list(values) + [bootstrap]
    adv, running = [0.0] * t_max, 0.0
    for t in reversed(range(t_max)):
        delta = rewards[t] + discounts[t] * values[t + 1] - values[t]
        running = delta + discounts[t] * lam * running
        adv[t] = running
    return np.asarray(adv)


@pytest.mark.parametrize("jit", [False, True])
def test_gae_matches_a_python_loop(jit):
    rng = np.random.default_rng(0)
    t_max, b = 7, 3
    r = rng.normal(size=(t_max, b)).astype(np.float32)
    done = rng.random((t_max, b)) < 0.2
    discount = (0.9 * (1 - done)).astype(np.float32)
    v = rng.normal(size=(t_max, b)).astype(np.float32)
    boot = rng.normal(size=(b,)).astype(np.float32)
    fn = jax.jit(losses.gae, static_argnums=4) if jit else losses.gae
    out = fn(r, discount, v, boot, 0.8)
    for j in range(b):
        expected = gae_loop(r[:, j], discount[:, j], v[:, j], boot[j], 0.8)
        np.testing.assert_allclose(out.advantage[:, j], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.target, out.advantage + v, rtol=1e-6)


def test_gae_by_hand():
    # One step, gamma 0.5, lambda 1: A = r + gamma V' - V = 1 + 0.5 * 4 - 2 = 1.
    # Two steps with a season end at t=0: A_0 = 1 - 2 = -1 (no bootstrap across the end).
    out = losses.gae(jnp.array([[1.0]]), jnp.array([[0.5]]), jnp.array([[2.0]]),
                     jnp.array([4.0]), 1.0)
    assert float(out.advantage[0, 0]) == pytest.approx(1.0)
    out = losses.gae(jnp.array([[1.0], [0.0]]), jnp.array([[0.0], [0.5]]),
                     jnp.array([[2.0], [1.0]]), jnp.array([3.0]), 1.0)
    assert float(out.advantage[0, 0]) == pytest.approx(-1.0)
    assert float(out.advantage[1, 0]) == pytest.approx(0.0 + 0.5 * 3.0 - 1.0)


def test_clipped_surrogate_by_hand():
    # min(r A, clip(r, 0.8, 1.2) A): r=0.5, A=1 -> min(0.5, 0.8) = 0.5; r=1, A=-1 -> -1;
    # r=1.5, A=2 -> min(3, 2.4) = 2.4. Loss = -(0.5 - 1 + 2.4) / 3.
    loss = losses.clipped_surrogate_loss(jnp.array([0.5, 1.0, 1.5]), jnp.array([1.0, -1.0, 2.0]),
                                         0.2)
    assert float(loss) == pytest.approx(-1.9 / 3)
    # Negative advantage, ratio below the clip: min(0.5 * -1, 0.8 * -1) = -0.8.
    assert float(losses.clipped_surrogate_loss(jnp.array([0.5]), jnp.array([-1.0]), 0.2)) == \
        pytest.approx(0.8)


def test_value_loss_and_advantage_normalisation_by_hand():
    assert float(losses.value_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))) == 1.25
    adv = losses.normalize(jnp.array([1.0, 2.0, 3.0, 6.0]))
    assert float(jnp.mean(adv)) == pytest.approx(0.0, abs=1e-6)
    assert float(jnp.std(adv)) == pytest.approx(1.0, abs=1e-5)


NVEC = (3, 2)
MASK_FLAT = jnp.array([True, True, False, True, True])  # head 0: choice 2 masked


def bandit_batch(act, state, key, t_max=4, b=64):
    """A contextual-free bandit: reward 1 when head 0 picks 1, whatever head 1 does."""
    obs = {"features": jnp.ones((t_max, b, 2)), "action_mask": jnp.broadcast_to(MASK_FLAT,
                                                                                (t_max, b, 5))}
    out = act(state.params, state.obs_stats, obs, key)
    reward = (out.action[..., 0] == 1).astype(jnp.float32)
    done = jnp.ones((t_max, b), bool)
    return Batch(obs["features"], out.mask, out.action, out.log_prob, out.value, reward, done,
                 jnp.zeros((b,))), out


def bandit_learner():
    config = PPOConfig(hidden_sizes=(16,), learning_rate=0.01, lr_schedule="constant",
                       num_minibatches=4, entropy_coef=0.0)
    networks = make_policy_value_networks(NVEC, config.hidden_sizes)
    optimizer = make_optimizer(config, 50)
    state = init_training_state(jax.random.PRNGKey(0), networks, optimizer, 2)
    update = make_update(networks, config, optimizer)
    act = jax.jit(make_actor_step(networks, config))
    return networks, state, update, act


def test_update_learns_a_masked_bandit():
    networks, state, update, act = bandit_learner()
    update = jax.jit(update)
    key = jax.random.PRNGKey(1)
    for i in range(30):
        batch, out = bandit_batch(act, state, jax.random.fold_in(key, i))
        assert not np.any(np.asarray(out.action[..., 0]) == 2)  # masked: never sampled
        state, metrics = update(state, batch)
        assert np.isfinite(float(metrics["loss"]))
    logits = networks.apply(state.params, jnp.ones((2,))).logits
    probs = dist.probs(logits, head_mask(MASK_FLAT, NVEC))
    assert float(probs[0, 1]) > 0.9
    assert float(probs[0, 2]) == 0.0
    assert int(state.steps) == 30


def test_update_jitted_equals_eager():
    _, state, update, act = bandit_learner()
    batch, _ = bandit_batch(act, state, jax.random.PRNGKey(2))
    eager, eager_metrics = update(state, batch)
    jitted, jitted_metrics = jax.jit(update)(state, batch)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert float(eager_metrics["loss"]) == pytest.approx(float(jitted_metrics["loss"]), rel=1e-4)


def test_greedy_policy_takes_the_mode_and_respects_the_mask():
    config = PPOConfig(hidden_sizes=(8,))
    networks = make_policy_value_networks(NVEC, config.hidden_sizes)
    state = init_training_state(jax.random.PRNGKey(0), networks, make_optimizer(config, 1), 2)
    policy = make_policy(networks, config, state.params, state.obs_stats)
    obs = {"features": jnp.array([0.3, -1.0]), "action_mask": MASK_FLAT}
    action, _ = jax.jit(policy.step)((), obs, jax.random.PRNGKey(0))
    logits = networks.apply(state.params, obs["features"]).logits
    np.testing.assert_array_equal(action, dist.mode(logits, head_mask(MASK_FLAT, NVEC)))
    assert int(action[0]) != 2
