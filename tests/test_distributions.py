"""Masked multi-categorical distributions: hand-worked values, sampling, jit/vmap, gradients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.agents import distributions as D
from coachrl.sim.safety import padded_heads

LN2, LN3 = math.log(2.0), math.log(3.0)
KEY = jax.random.PRNGKey(0)

# One head: logits [0, ln 2, ln 3], the third choice masked -> π = [1/3, 2/3, 0].
ONE_LOGITS = jnp.array([[0.0, LN2, LN3]])
ONE_MASK = jnp.array([[True, True, False]])

# Two heads, nvec (3, 2) -> N = 3, the padding of head 1 masked (via padded_heads).
#   head 0: logits [0, ln 2, ln 3], choice 2 masked  -> [1/3, 2/3, 0]
#   head 1: logits [0, ln 3, 99 (padding)]            -> [1/4, 3/4, 0]
NVEC = (3, 2)
TWO_LOGITS = jnp.array([[0.0, LN2, LN3], [0.0, LN3, 99.0]])
TWO_MASK = padded_heads(jnp.array([True, True, False, True, True]), NVEC)

# KL pair, one head, the middle choice masked (its logits are large on purpose):
#   p = softmax([0, ., ln 3]) = [1/4, 0, 3/4],  q = softmax([ln 3, ., 0]) = [3/4, 0, 1/4]
#   KL(p‖q) = 1/4 ln((1/4)/(3/4)) + 3/4 ln((3/4)/(1/4)) = -1/4 ln 3 + 3/4 ln 3 = 1/2 ln 3
KL_P = jnp.array([[0.0, 5.0, LN3]])
KL_Q = jnp.array([[LN3, 40.0, 0.0]])
KL_MASK = jnp.array([[True, False, True]])


def test_one_head_by_hand():
    np.testing.assert_allclose(D.probs(ONE_LOGITS, ONE_MASK), [[1 / 3, 2 / 3, 0.0]], rtol=1e-6)
    lp = D.log_probs(ONE_LOGITS, ONE_MASK)
    np.testing.assert_allclose(lp[0, :2], [-LN3, math.log(2 / 3)], rtol=1e-6)
    assert np.isfinite(lp).all() and lp[0, 2] < -1e8
    np.testing.assert_allclose(D.log_prob(ONE_LOGITS, ONE_MASK, jnp.array([1])),
                               math.log(2 / 3), rtol=1e-6)
    np.testing.assert_allclose(D.entropy(ONE_LOGITS, ONE_MASK), LN3 - 2 / 3 * LN2, rtol=1e-6)
    np.testing.assert_allclose(D.masked_logits(ONE_LOGITS, ONE_MASK)[0, :2], [0.0, LN2])
    assert D.masked_logits(ONE_LOGITS, ONE_MASK)[0, 2] == D.MASKED_LOGIT


def test_masked_entries_have_probability_exactly_zero():
    logits = jnp.array([[50.0, -3.0, 80.0, 0.0], [0.0, 1e4, 2.0, -1e4]])
    mask = jnp.array([[False, True, False, True], [True, False, True, False]])
    p = np.asarray(D.probs(logits, mask))
    assert (p[~np.asarray(mask)] == 0.0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    assert np.isfinite(np.asarray(D.log_probs(logits, mask))).all()


def test_two_heads_sum_over_heads():
    action = jnp.array([1, 0])
    per_head = D.log_prob_per_head(TWO_LOGITS, TWO_MASK, action)
    np.testing.assert_allclose(per_head, [math.log(2 / 3), math.log(1 / 4)], rtol=1e-6)
    np.testing.assert_allclose(D.log_prob(TWO_LOGITS, TWO_MASK, action),
                               math.log(2 / 3) + math.log(1 / 4), rtol=1e-6)
    # head 1: -(1/4 ln 1/4 + 3/4 ln 3/4) = 2 ln 2 - 3/4 ln 3
    h = [LN3 - 2 / 3 * LN2, 2 * LN2 - 0.75 * LN3]
    np.testing.assert_allclose(D.entropy_per_head(TWO_LOGITS, TWO_MASK), h, rtol=1e-6)
    np.testing.assert_allclose(D.entropy(TWO_LOGITS, TWO_MASK), sum(h), rtol=1e-6)
    np.testing.assert_allclose(D.probs(TWO_LOGITS, TWO_MASK),
                               [[1 / 3, 2 / 3, 0.0], [0.25, 0.75, 0.0]], rtol=1e-6)


def test_kl_by_hand():
    np.testing.assert_allclose(D.kl_per_head(KL_P, KL_Q, KL_MASK), [0.5 * LN3], rtol=1e-6)
    np.testing.assert_allclose(D.kl_divergence(KL_P, KL_Q, KL_MASK), 0.5 * LN3, rtol=1e-6)
    np.testing.assert_allclose(D.kl_divergence(KL_P, KL_P, KL_MASK), 0.0, atol=1e-7)
    # Two heads: KL sums over heads (head 1 compares the two-head logits with themselves).
    p = jnp.stack([KL_P[0], TWO_LOGITS[1]])
    q = jnp.stack([KL_Q[0], TWO_LOGITS[1]])
    mask = jnp.stack([KL_MASK[0], TWO_MASK[1]])
    np.testing.assert_allclose(D.kl_per_head(p, q, mask), [0.5 * LN3, 0.0], atol=1e-6)
    np.testing.assert_allclose(D.kl_divergence(p, q, mask), 0.5 * LN3, rtol=1e-6)


def test_samples_avoid_masked_choices_and_match_probabilities():
    logits = jnp.array([[0.0, 9.0, math.log(3.0), math.log(6.0)],
                        [0.0, LN3, 9.0, 9.0]])  # head 1: nvec 2, padded to 4
    mask = jnp.array([[True, False, True, True], [True, True, False, False]])
    n = 10_000
    a = np.asarray(D.sample(KEY, logits, mask, num_samples=n))
    assert a.shape == (n, 2) and a.dtype == np.int32
    assert np.asarray(mask)[np.arange(2), a].all()  # never a masked or padded choice
    freq = np.stack([np.bincount(a[:, h], minlength=4) / n for h in range(2)])
    # expected [0.1, 0, 0.3, 0.6] and [0.25, 0.75, 0, 0]; 4 sigma is about 0.02
    np.testing.assert_allclose(freq, D.probs(logits, mask), atol=0.02)
    # The same from a batch of n identical rows with one key.
    batch = D.sample(KEY, jnp.broadcast_to(logits, (n, 2, 4)), jnp.broadcast_to(mask, (n, 2, 4)))
    assert batch.shape == (n, 2) and batch.dtype == jnp.int32
    assert np.asarray(mask)[np.arange(2), np.asarray(batch)].all()


def test_mode_picks_best_allowed():
    logits = jnp.array([[5.0, 1.0, 2.0], [0.0, 3.0, 7.0]])
    mask = jnp.array([[False, True, True], [True, True, False]])
    m = D.mode(logits, mask)
    assert m.dtype == jnp.int32
    np.testing.assert_array_equal(m, [2, 1])


def _all(logits, mask, q_logits, action):
    return (D.probs(logits, mask), D.log_probs(logits, mask), D.log_prob(logits, mask, action),
            D.log_prob_per_head(logits, mask, action), D.entropy(logits, mask),
            D.entropy_per_head(logits, mask), D.kl_divergence(logits, q_logits, mask),
            D.kl_per_head(logits, q_logits, mask), D.mode(logits, mask))


def _batch(b=8, h=2, n=3, seed=1):
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(seed), 4)
    logits = 3.0 * jax.random.normal(k1, (b, h, n))
    q_logits = 3.0 * jax.random.normal(k2, (b, h, n))
    mask = jax.random.bernoulli(k3, 0.6, (b, h, n)).at[..., 0].set(True)
    action = D.sample(k4, logits, mask)
    return logits, mask, q_logits, action


def test_jit_and_vmap_agree_with_eager():
    logits, mask, q_logits, action = _batch()
    eager = _all(logits, mask, q_logits, action)
    jitted = jax.jit(_all)(logits, mask, q_logits, action)
    vmapped = jax.vmap(_all)(logits, mask, q_logits, action)
    for e, j, v in zip(eager, jitted, vmapped):
        np.testing.assert_allclose(j, e, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(v, e, rtol=1e-6, atol=1e-6)
    for i in range(logits.shape[0]):  # row by row as well
        for e, r in zip(eager, _all(logits[i], mask[i], q_logits[i], action[i])):
            np.testing.assert_allclose(r, e[i], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(jax.jit(D.sample)(KEY, logits, mask),
                                  D.sample(KEY, logits, mask))


def test_gradients_finite_and_zero_on_masked_entries():
    logits, mask, q_logits, action = _batch(seed=2)
    logits = logits.at[..., 1].set(40.0)  # large logits on some (masked) entries
    masked = ~np.asarray(mask)
    grads = {
        "log_prob": jax.grad(lambda z: D.log_prob(z, mask, action).sum())(logits),
        "entropy": jax.grad(lambda z: D.entropy(z, mask).sum())(logits),
        "kl_p": jax.grad(lambda z: D.kl_divergence(z, q_logits, mask).sum())(logits),
        "kl_q": jax.grad(lambda z: D.kl_divergence(logits, z, mask).sum())(q_logits),
    }
    for name, g in grads.items():
        g = np.asarray(g)
        assert np.isfinite(g).all(), name
        assert (g[masked] == 0.0).all(), name
        assert np.abs(g[~masked]).max() > 0, name
    # d log π(a*) / d z_a = 1[a = a*] - π(a) on allowed entries.
    expected = np.asarray(jax.nn.one_hot(action, 3) - D.probs(logits, mask))
    np.testing.assert_allclose(grads["log_prob"], np.where(masked, 0.0, expected), atol=1e-6)


def test_all_masked_head_falls_back_to_choice_zero():
    logits = jnp.array([[1.0, 2.0, 3.0], [0.0, LN2, 7.0]])
    mask = jnp.array([[False, False, False], [True, True, False]])  # head 0 fully masked
    np.testing.assert_array_equal(D.effective_mask(mask),
                                  [[True, False, False], [True, True, False]])
    np.testing.assert_allclose(D.probs(logits, mask), [[1.0, 0.0, 0.0], [1 / 3, 2 / 3, 0.0]],
                               rtol=1e-6)
    np.testing.assert_allclose(D.entropy_per_head(logits, mask), [0.0, LN3 - 2 / 3 * LN2],
                               atol=1e-6)
    np.testing.assert_allclose(D.log_prob(logits, mask, jnp.array([0, 1])), math.log(2 / 3),
                               rtol=1e-6)
    np.testing.assert_allclose(D.kl_per_head(logits, -logits, mask)[0], 0.0, atol=1e-7)
    assert (np.asarray(D.sample(KEY, logits, mask, num_samples=100))[:, 0] == 0).all()
    np.testing.assert_array_equal(D.mode(logits, mask), [0, 1])
    for f in (D.log_probs(logits, mask), D.kl_divergence(logits, -logits, mask),
              jax.grad(lambda z: D.entropy(z, mask) + D.log_prob(z, mask, jnp.array([0, 1])))(
                  logits)):
        assert np.isfinite(np.asarray(f)).all()


@pytest.mark.parametrize("nvec", [(3, 2), (6, 6, 5, 4, 4)])
def test_padded_heads_from_world_mask(nvec):
    n, h = max(nvec), len(nvec)
    flat = jnp.ones(sum(nvec), bool)
    mask = padded_heads(flat, nvec)
    logits = jnp.full((h, n), 20.0)  # padding would win if it were not masked
    p = np.asarray(D.probs(logits, mask))
    for i, k in enumerate(nvec):
        np.testing.assert_allclose(p[i, :k], 1.0 / k, rtol=1e-6)
        assert (p[i, k:] == 0.0).all()
    np.testing.assert_allclose(D.entropy(logits, mask), sum(math.log(k) for k in nvec),
                               rtol=1e-6)
    a = np.asarray(D.sample(KEY, logits, mask, num_samples=2000))
    assert (a < np.asarray(nvec)).all()
    assert a.shape == (2000, h)
