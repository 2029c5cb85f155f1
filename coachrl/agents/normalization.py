"""Observation normalisation with running statistics (pure, jittable).

The running mean and (population, ddof=0) variance of every feature are kept
over all observations seen so far and merged batch by batch with the parallel
formula of Chan, Golub & LeVeque (1979). For stats (μ_a, σ²_a, n_a) and a batch
with (μ_b, σ²_b, n_b):

    n  = n_a + n_b
    δ  = μ_b - μ_a
    μ  = μ_a + δ n_b / n
    σ² = (n_a σ²_a + n_b σ²_b + δ² n_a n_b / n) / n

`init_stats` starts at count 0 (with mean 0, var 1, so `normalize` is the
identity until data arrives); no prior of pseudo-observations biases the result
(an epsilon prior at mean 0 would add ~eps μ² / n to the variance, noticeable for
features far from 0). The first update then gives the batch's own mean and
variance exactly (n_a = 0 drops the other terms). Division by n is safe because
the batch size is static: an empty batch returns the stats unchanged, and
otherwise n >= n_b >= 1.

`normalize` then maps x -> clip((x - μ) / sqrt(σ² + eps), -clip, clip).

The count is a float32 scalar: ratios n_b / n stay accurate for any count, but
the count itself is exact only up to 2^24 (about 1.7e7) observations.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["RunningStats", "init_stats", "normalize", "update_stats"]


class RunningStats(NamedTuple):
    """Running per-feature statistics: mean f32[F], var f32[F] (ddof=0), count f32[]."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def init_stats(size: int) -> RunningStats:
    """Stats for `size` features before any data: mean 0, var 1, count 0."""
    return RunningStats(mean=jnp.zeros((size,), jnp.float32),
                        var=jnp.ones((size,), jnp.float32),
                        count=jnp.zeros((), jnp.float32))


def update_stats(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merges a batch [..., F] (all leading axes pooled) into the running stats.

    Uses the parallel-variance formula in the module docstring; the batch's own
    mean and variance are computed in two passes. An empty batch (a leading
    axis of size 0, known at trace time) returns `stats` unchanged.

    Args:
      stats: the running statistics so far.
      batch: float[..., F] observations.

    Returns:
      the updated `RunningStats`.
    """
    batch = jnp.asarray(batch, jnp.float32)
    batch = batch.reshape(-1, batch.shape[-1])
    n_b = batch.shape[0]
    if n_b == 0:
        return stats
    mean_b = jnp.mean(batch, axis=0)
    var_b = jnp.mean(jnp.square(batch - mean_b), axis=0)
    n_a = stats.count
    n = n_a + n_b
    delta = mean_b - stats.mean
    mean = stats.mean + delta * (n_b / n)
    m2 = stats.var * n_a + var_b * n_b + jnp.square(delta) * (n_a * n_b / n)
    return RunningStats(mean=mean, var=m2 / n, count=n)


def normalize(x: jax.Array, stats: RunningStats, clip: float = 10.0,
              eps: float = 1e-8) -> jax.Array:
    """clip((x - mean) / sqrt(var + eps), -clip, clip), for x [..., F].

    Args:
      x: float[..., F] observations.
      stats: the running statistics.
      clip: bound on the magnitude of a normalised feature.
      eps: added to the variance (a constant feature maps to 0, not NaN).

    Returns:
      float[..., F].
    """
    z = (x - stats.mean) / jnp.sqrt(stats.var + eps)
    return jnp.clip(z, -clip, clip)
