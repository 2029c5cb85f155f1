"""Running observation statistics: Chan et al. merging against numpy, normalize, clip, jit."""

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.agents.normalization import (
    RunningStats,
    init_stats,
    normalize,
    update_stats,
)

F = 4
LOC = np.array([3.0, -50.0, 0.0, 1e3])
SCALE = np.array([2.0, 0.5, 10.0, 30.0])


def batches(seed=0):
    """Batches of different sizes and leading shapes: [1, F], [7, F], [100, F], [3, 5, F]."""
    rng = np.random.default_rng(seed)
    shapes = [(1,), (7,), (100,), (3, 5)]
    return [(LOC + SCALE * rng.standard_normal((*s, F))).astype(np.float32) for s in shapes]


def run(update, bs):
    stats = init_stats(F)
    for b in bs:
        stats = update(stats, jnp.asarray(b))
    return stats


def test_init_stats():
    s = init_stats(F)
    assert isinstance(s, RunningStats)
    np.testing.assert_array_equal(s.mean, np.zeros(F))
    np.testing.assert_array_equal(s.var, np.ones(F))
    assert s.count.shape == () and s.count.dtype == jnp.float32
    assert s.count == 0.0
    x = jnp.array([[1.5, -2.0, 0.0, 7.0]])
    np.testing.assert_allclose(normalize(x, s), x, rtol=1e-6)  # identity before any data


def test_matches_numpy_over_the_concatenation():
    bs = batches()
    data = np.concatenate([b.reshape(-1, F) for b in bs]).astype(np.float64)
    stats = run(update_stats, bs)
    n = len(data)
    assert stats.count == n == 1 + 7 + 100 + 15
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-5)


def test_first_update_is_the_batch_itself():
    b = batches()[2]
    stats = update_stats(init_stats(F), jnp.asarray(b))
    np.testing.assert_allclose(stats.mean, b.astype(np.float64).mean(0), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(stats.var, b.astype(np.float64).var(0), rtol=1e-5)
    one = update_stats(init_stats(F), jnp.asarray(batches()[0]))  # a single row: var 0
    np.testing.assert_array_equal(one.var, np.zeros(F))


def test_normalize_gives_zero_mean_unit_variance():
    bs = batches(1)
    data = np.concatenate([b.reshape(-1, F) for b in bs])
    z = np.asarray(normalize(jnp.asarray(data), run(update_stats, bs)), np.float64)
    assert z.shape == data.shape
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.var(0), 1.0, rtol=1e-4)


def test_clipping():
    stats = RunningStats(jnp.zeros(2), jnp.ones(2), jnp.asarray(10.0))
    x = jnp.array([[100.0, -100.0], [3.0, -3.0]])
    np.testing.assert_allclose(normalize(x, stats), [[10.0, -10.0], [3.0, -3.0]], rtol=1e-6)
    np.testing.assert_allclose(normalize(x, stats, clip=2.0), [[2.0, -2.0], [2.0, -2.0]])


def test_constant_feature_and_empty_batch():
    stats = update_stats(init_stats(2), jnp.array([[5.0, 1.0], [5.0, 3.0]]))
    np.testing.assert_allclose(stats.var, [0.0, 1.0])
    np.testing.assert_allclose(normalize(jnp.array([[5.0, 2.0], [6.0, 4.0]]), stats),
                               [[0.0, 0.0], [10.0, 2.0]], rtol=1e-6)  # 1/sqrt(1e-8) clipped
    for s in (stats, init_stats(2)):  # an empty batch changes nothing, even the first
        same = jax.jit(update_stats)(s, jnp.zeros((0, 2)))
        for a, b in zip(same, s):
            np.testing.assert_array_equal(a, b)


def test_jit_gives_the_same():
    bs = batches(2)
    eager = run(update_stats, bs)
    jitted = run(jax.jit(update_stats), bs)
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    x = jnp.asarray(bs[2])
    np.testing.assert_allclose(jax.jit(normalize, static_argnames=("clip", "eps"))(x, eager),
                               normalize(x, eager), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(normalize)(x, eager, 3.0), normalize(x, eager, 3.0),
                               rtol=1e-6)
