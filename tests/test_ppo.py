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


def gae_loop(rewards, discounts, lasts, values, bootstrap, lam):
    """Plain Python GAE with partial-episode bootstrapping: an episode's end at t
    bootstraps from V(s_t) (times its discount, 0 at a terminal) and stops the trace."""
    t_max = len(rewards)
    adv, running = [0.0] * t_max, 0.0
    for t in reversed(range(t_max)):
        if lasts[t]:
            next_value, running = values[t], 0.0
        else:
            next_value = values[t + 1] if t + 1 < t_max else bootstrap
        delta = rewards[t] + discounts[t] * next_value - values[t]
        running = delta + discounts[t] * lam * running
        adv[t] = running
    return np.asarray(adv)


@pytest.mark.parametrize("jit", [False, True])
def test_gae_matches_a_python_loop(jit):
    rng = np.random.default_rng(0)
    t_max, b = 7, 3
    r = rng.normal(size=(t_max, b)).astype(np.float32)
    last = rng.random((t_max, b)) < 0.3
    terminal = last & (rng.random((t_max, b)) < 0.5)  # about half the ends are true terminals
    discount = (0.9 * (1 - terminal)).astype(np.float32)
    v = rng.normal(size=(t_max, b)).astype(np.float32)
    boot = rng.normal(size=(b,)).astype(np.float32)
    fn = jax.jit(losses.gae, static_argnums=5) if jit else losses.gae
    out = fn(r, discount, last, v, boot, 0.8)
    for j in range(b):
        expected = gae_loop(r[:, j], discount[:, j], last[:, j], v[:, j], boot[j], 0.8)
        np.testing.assert_allclose(out.advantage[:, j], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.target, out.advantage + v, rtol=1e-6)


def test_gae_by_hand():
    # One step, gamma 0.5, lambda 1: A = r + gamma V' - V = 1 + 0.5 * 4 - 2 = 1.
    out = losses.gae(jnp.array([[1.0]]), jnp.array([[0.5]]), jnp.array([[False]]),
                     jnp.array([[2.0]]), jnp.array([4.0]), 1.0)
    assert float(out.advantage[0, 0]) == pytest.approx(1.0)


def test_gae_bootstraps_a_time_limit_end_and_not_a_terminal_by_hand():
    # Three steps, gamma 0.5, lambda 0.5, r = [1, 2, 3], V = [4, 6, 8], V(after) = 10; an
    # episode ends with step 1 (row 2 is the next episode's first step).
    r, v, boot = jnp.array([[1.0], [2.0], [3.0]]), jnp.array([[4.0], [6.0], [8.0]]), \
        jnp.array([10.0])
    last = jnp.array([[False], [True], [False]])
    # By a time limit (discount 1 there): step 1 bootstraps from V(s_1) = 6 itself, not
    # from V = 8 of the next episode's first state.
    #   delta = [1 + 0.5 * 6 - 4, 2 + 0.5 * 6 - 6, 3 + 0.5 * 10 - 8] = [0, -1, 0]
    #   A_2 = 0; A_1 = -1 (the trace stops at the end); A_0 = 0 + 0.5 * 0.5 * -1 = -0.25
    np.testing.assert_allclose(losses.next_values(v, boot, last)[:, 0], [6.0, 6.0, 10.0])
    out = losses.gae(r, jnp.full((3, 1), 0.5), last, v, boot, 0.5)
    np.testing.assert_allclose(out.advantage[:, 0], [-0.25, -1.0, 0.0])
    np.testing.assert_allclose(out.target[:, 0], [3.75, 5.0, 8.0])
    # A true terminal (discount 0 at step 1): no bootstrap there.
    #   delta_1 = 2 - 6 = -4; A_1 = -4; A_0 = 0 + 0.25 * -4 = -1
    out = losses.gae(r, jnp.array([[0.5], [0.0], [0.5]]), last, v, boot, 0.5)
    np.testing.assert_allclose(out.advantage[:, 0], [-1.0, -4.0, 0.0])
    # No end: delta = [1 + 3 - 4, 2 + 4 - 6, 3 + 5 - 8] = 0, the values fit the rewards.
    out = losses.gae(r, jnp.full((3, 1), 0.5), jnp.zeros((3, 1), bool), v, boot, 0.5)
    np.testing.assert_allclose(out.advantage[:, 0], [0.0, 0.0, 0.0])


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
                 jnp.zeros((t_max, b)), jnp.zeros((b,))), out  # one-step terminal episodes


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


def test_update_bootstraps_by_the_timesteps_discount():
    # Every step ends an episode (one-day episodes). A = r + gamma d V(s) - V(s): by a time
    # limit (d = 1) the advantages are gamma mean(V) above those of true terminals (d = 0).
    _, state, update, act = bandit_learner()
    batch, _ = bandit_batch(act, state, jax.random.PRNGKey(3))
    _, terminal = update(state, batch)
    _, truncated = update(state, batch._replace(discount=jnp.ones_like(batch.discount)))
    gap = float(truncated["advantage_mean"] - terminal["advantage_mean"])
    assert gap == pytest.approx(0.99 * float(jnp.mean(batch.value)), rel=1e-4, abs=1e-6)
    assert abs(float(jnp.mean(batch.value))) > 1e-4  # the check is not vacuous


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
