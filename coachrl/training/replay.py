"""An in-memory replay for the jitted trainer: a ring buffer of pytrees in JAX arrays.

    replay = init_replay(example_item, capacity)
    replay = add_batch(replay, items)            # items: the item pytree with a [K] axis
    batch = sample(replay, key, batch_size)      # uniform over what is stored

Pure functions of a NamedTuple, so they live inside `jit` and `lax.scan`. The
distributed trainer feeds the same updates from Reverb instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Replay(NamedTuple):
    data: Any  # the item pytree with a leading [capacity] axis
    size: jnp.ndarray  # i32, items stored (<= capacity)
    index: jnp.ndarray  # i32, where the next item goes


def init_replay(example: Any, capacity: int) -> Replay:
    """An empty replay for items shaped like `example` (one item, no leading axis)."""
    data = jax.tree_util.tree_map(
        lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example)
    return Replay(data, jnp.int32(0), jnp.int32(0))


def capacity_of(replay: Replay) -> int:
    return jax.tree_util.tree_leaves(replay.data)[0].shape[0]


def add_batch(replay: Replay, items: Any) -> Replay:
    """Writes `items` ([K] leading axis, K <= capacity), overwriting the oldest when full."""
    capacity = capacity_of(replay)
    k = jax.tree_util.tree_leaves(items)[0].shape[0]
    positions = (replay.index + jnp.arange(k)) % capacity
    data = jax.tree_util.tree_map(lambda d, x: d.at[positions].set(x), replay.data, items)
    return Replay(data, jnp.minimum(replay.size + k, capacity),
                  (replay.index + k) % capacity)


def sample(replay: Replay, key: jax.Array, batch_size: int) -> Any:
    """`batch_size` items drawn uniformly (with replacement) from those stored."""
    positions = jax.random.randint(key, (batch_size,), 0, jnp.maximum(replay.size, 1))
    return jax.tree_util.tree_map(lambda d: d[positions], replay.data)


__all__ = ["Replay", "add_batch", "capacity_of", "init_replay", "sample"]
