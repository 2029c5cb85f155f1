"""MPO: E-step, duals, per-head KL, critic targets by hand; the update learns; replay."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.agents import distributions as dist
from coachrl.agents.mpo import MPOConfig, init_training_state, losses, make_optimizers, make_update
from coachrl.agents.mpo.learning import Transition
from coachrl.agents.networks import head_mask, make_policy_critic_networks
from coachrl.training import replay as replay_lib
from coachrl.training.anakin_mpo import transitions


def test_e_step_weights_by_hand():
    q = jnp.array([[1.0], [2.0], [3.0]])  # N = 3 actions, B = 1 state
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(losses.e_step_weights(q, 1.0)[:, 0], e / e.sum(), rtol=1e-6)
    e2 = np.exp([0.5, 1.0, 1.5])  # eta = 2 flattens the weights
    np.testing.assert_allclose(losses.e_step_weights(q, 2.0)[:, 0], e2 / e2.sum(), rtol=1e-6)


def test_temperature_dual_by_hand():
    # Q = [0, ln 3], eta = 1, eps = 0.1: g = 0.1 + ln((1 + 3) / 2) = 0.1 + ln 2.
    q = jnp.array([[0.0], [math.log(3.0)]])
    assert float(losses.temperature_dual_loss(q, 1.0, 0.1)) == pytest.approx(0.1 + math.log(2))
    # dg/deta = eps + log mean exp(Q/eta) - sum_j softmax_j(Q/eta) Q_j / eta
    #         = 0.1 + ln 2 - 0.75 ln 3.
    grad = jax.grad(lambda eta: losses.temperature_dual_loss(q, eta, 0.1))(1.0)
    assert float(grad) == pytest.approx(0.1 + math.log(2) - 0.75 * math.log(3), rel=1e-5)


def test_weighted_log_likelihood_by_hand():
    w = jnp.array([[0.25], [0.75]])
    lp = jnp.log(jnp.array([[0.5], [0.25]]))
    expected = -(0.25 * math.log(0.5) + 0.75 * math.log(0.25))
    assert float(losses.weighted_log_likelihood_loss(w, lp)) == pytest.approx(expected)


def test_per_head_kl_penalty_and_its_dual_by_hand():
    kl = jnp.array([[0.02, 0.0], [0.04, 0.01]])  # B = 2 states, H = 2 heads
    alpha = jnp.array([2.0, 1.0])
    out = losses.kl_penalty(kl, alpha, 0.01)
    np.testing.assert_allclose(out.kl_per_head, [0.03, 0.005], rtol=1e-6)
    assert float(out.policy_loss) == pytest.approx(2 * 0.03 + 1 * 0.005)
    assert float(out.alpha_loss) == pytest.approx(2 * (0.01 - 0.03) + (0.01 - 0.005))
    # The multiplier of the head over its bound grows (negative gradient), the other shrinks.
    grad = jax.grad(lambda a: losses.kl_penalty(kl, a, 0.01).alpha_loss)(alpha)
    np.testing.assert_allclose(grad, [0.01 - 0.03, 0.01 - 0.005], rtol=1e-6)
    # The per-head KL itself, masked: KL([1/4, 0, 3/4] || [3/4, 0, 1/4]) = 1/2 ln 3.
    p = jnp.log(jnp.array([[0.25, 9.0, 0.75]]))
    q = jnp.log(jnp.array([[0.75, 1.0, 0.25]]))
    mask = jnp.array([[True, False, True]])
    assert float(dist.kl_per_head(p, q, mask)[0]) == pytest.approx(0.5 * math.log(3), rel=1e-5)


def test_n_step_returns_and_critic_target_by_hand():
    r = jnp.array([[1.0], [2.0], [3.0], [4.0]])
    done = jnp.array([[False], [False], [True], [False]])
    terminal = 1.0 - done.astype(jnp.float32)  # the episode ends at t = 2 by termination
    out = losses.n_step_returns(r, terminal, done, 0.5, 2)
    # G_0 = 1 + 0.5 * 2, bootstrap 0.25; G_1 = 2 + 0.5 * 3, but the episode terminates at
    # t = 2: bootstrap 0; G_2 = 3 (ends at once), bootstrap 0.
    np.testing.assert_allclose(out.returns[:, 0], [2.0, 3.5, 3.0])
    np.testing.assert_allclose(out.bootstrap_discount[:, 0], [0.25, 0.0, 0.0])
    y = losses.critic_target(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.0]),
                             jnp.array([[2.0, 5.0], [4.0, 7.0]]))
    np.testing.assert_allclose(y, [1.0 + 0.5 * 3.0, 2.0])


@pytest.mark.parametrize("jit", [False, True])
def test_n_step_returns_across_a_truncation_and_a_terminal_by_hand(jit):
    # gamma 0.5, n = 3, seven steps r_t = t + 1. Episodes end with step 1 by a time limit
    # (discount 1) and with step 3 by a true terminal (discount 0); steps 4-6 go on.
    r = jnp.arange(1.0, 8.0)[:, None]
    last = jnp.array([0, 1, 0, 1, 0, 0, 0], bool)[:, None]
    discount = jnp.array([1, 1, 1, 0, 1, 1, 1], jnp.float32)[:, None]
    fn = jax.jit(losses.n_step_returns, static_argnums=(3, 4)) if jit else losses.n_step_returns
    out = fn(r, discount, last, 0.5, 3)
    # t=0: 1 + 0.5 * 2, the season ends with step 1: bootstrap 0.5^2 at s_1 (offset 1).
    # t=1: 2, ends at once: bootstrap 0.5 at s_1 itself (offset 0).
    # t=2: 3 + 0.5 * 4, then the terminal: bootstrap 0.5^2 x 0 = 0.
    # t=3: 4, the terminal: bootstrap 0.
    # t=4: 5 + 0.5 * 6 + 0.25 * 7 = 9.75, no end: bootstrap 0.5^3 at s_7 (offset 3).
    np.testing.assert_allclose(out.returns[:, 0], [2.0, 2.0, 5.0, 4.0, 9.75])
    np.testing.assert_allclose(out.bootstrap_discount[:, 0], [0.25, 0.5, 0.0, 0.0, 0.125])
    np.testing.assert_array_equal(out.bootstrap_offset[:, 0], [1, 0, 1, 0, 3])


def test_transitions_look_ahead_into_the_next_rollout():
    t_max, b, n = 3, 1, 2

    def rollout(offset):
        return {"features": jnp.arange(offset, offset + t_max, dtype=jnp.float32)[:, None, None],
                "action_mask": jnp.ones((t_max, b, 2), bool),
                "action": jnp.zeros((t_max, b, 1), jnp.int32),
                "reward": jnp.ones((t_max, b)), "discount": jnp.ones((t_max, b)),
                "done": jnp.zeros((t_max, b), bool)}

    last = {"features": jnp.full((b, 1), 6.0), "action_mask": jnp.ones((b, 2), bool)}
    items = transitions(rollout(0), rollout(3), last, 0.5, n)
    np.testing.assert_allclose(items.features[:, 0], [0, 1, 2])
    np.testing.assert_allclose(items.next_features[:, 0], [2, 3, 4])  # n = 2 days later
    np.testing.assert_allclose(items.returns, [1.5, 1.5, 1.5])
    np.testing.assert_allclose(items.bootstrap_discount, [0.25, 0.25, 0.25])

    # A season ends (by time) with day 3, the first of the next rollout: the transition of
    # day 2 bootstraps at day 3, that season's last state, not at day 4 (a new athlete).
    current = rollout(3)
    current["done"] = current["done"].at[0].set(True)
    current["action_mask"] = current["action_mask"].at[0, 0, 1].set(False)
    items = transitions(rollout(0), current, last, 0.5, n)
    np.testing.assert_allclose(items.next_features[:, 0], [2, 3, 3])
    np.testing.assert_array_equal(items.next_mask[:, 1], [True, False, False])
    np.testing.assert_allclose(items.bootstrap_discount, [0.25, 0.25, 0.25])
    # ... and a true terminal there (discount 0) is not bootstrapped past: day 2's
    # transition takes day 3's step; day 1's (days 1 and 2) still bootstraps at day 3.
    current["discount"] = current["discount"].at[0].set(0.0)
    items = transitions(rollout(0), current, last, 0.5, n)
    np.testing.assert_allclose(items.bootstrap_discount, [0.25, 0.25, 0.0])
    np.testing.assert_allclose(items.returns, [1.5, 1.5, 1.5])


NVEC = (3, 2)
MASK = jnp.array([True, True, False, True, True])  # head 0: choice 2 masked


def bandit_batch(key, b=256):
    """Reward 1 when head 0 picks 1; one-step transitions (no bootstrap)."""
    k_a0, k_a1 = jax.random.split(key)
    action = jnp.stack([jax.random.randint(k_a0, (b,), 0, 2),
                        jax.random.randint(k_a1, (b,), 0, 2)], axis=-1)
    features = jnp.ones((b, 2))
    masks = jnp.broadcast_to(MASK, (b, 5))
    return Transition(features, masks, action, (action[:, 0] == 1).astype(jnp.float32),
                      jnp.zeros((b,)), features, masks)


def tiny_learner():
    config = MPOConfig(hidden_sizes=(16,), critic_hidden_sizes=(32,), num_samples=8,
                       learning_rate=3e-3, min_replay_size=1, replay_capacity=10,
                       target_update_rate=0.05, normalize_observations=False)
    networks = make_policy_critic_networks(NVEC, config.hidden_sizes,
                                           config.critic_hidden_sizes)
    optimizers = make_optimizers(config)
    state = init_training_state(jax.random.PRNGKey(0), networks, optimizers, config, 2)
    return networks, state, make_update(networks, config, optimizers)


def test_update_learns_a_masked_bandit_within_the_kl_bound():
    networks, state, update = tiny_learner()
    update = jax.jit(update)
    for i in range(300):
        state, metrics = update(state, bandit_batch(jax.random.PRNGKey(i)))
    assert np.isfinite(float(metrics["critic_loss"]))
    q = networks.critic_apply(state.critic_params, jnp.ones((2, 2)), jnp.array([[1, 0], [0, 0]]))
    assert float(q[0]) > float(q[1]) + 0.5  # the critic learned the reward
    probs = dist.probs(networks.policy_apply(state.policy_params, jnp.ones((2,))),
                       head_mask(MASK, NVEC))
    assert float(probs[0, 1]) > 0.8 and float(probs[0, 2]) == 0.0
    assert float(metrics["kl_max_head"]) < 0.1  # each step stays near its bound (0.01)


def test_update_jitted_equals_eager():
    _, state, update = tiny_learner()
    batch = bandit_batch(jax.random.PRNGKey(7))
    eager, _ = update(state, batch)
    jitted, _ = jax.jit(update)(state, batch)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_replay_ring_buffer():
    replay = replay_lib.init_replay({"x": jnp.zeros((2,)), "i": jnp.int32(0)}, capacity=4)
    replay = replay_lib.add_batch(replay, {"x": jnp.ones((3, 2)), "i": jnp.arange(3)})
    assert int(replay.size) == 3 and int(replay.index) == 3
    replay = replay_lib.add_batch(replay, {"x": jnp.ones((2, 2)), "i": jnp.arange(10, 12)})
    assert int(replay.size) == 4 and int(replay.index) == 1  # wrapped: item 0 overwritten
    np.testing.assert_array_equal(replay.data["i"], [11, 1, 2, 10])
    batch = replay_lib.sample(replay, jax.random.PRNGKey(0), 100)
    assert set(np.asarray(batch["i"]).tolist()) <= {1, 2, 10, 11}
