"""Uniform draws for the batched world step, from XLA's own threefry generator.

`jax.random.uniform` lowers its threefry hash to rolled loops on CPU; one draw
of a training batch's random numbers (B x ~20) took about a sixth of a
`batch_step`. `lax.rng_bit_generator` with RNG_THREE_FRY runs the same family
of counter-based generator (Threefry-2x32, Salmon et al. 2011) natively, about
4x faster here. The stream differs from `jax.random.uniform`'s, so use it where
only the distribution matters (the batched step), not where a stream is fixed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_ONE_BITS = 0x3F800000  # float32 1.0: with 23 random mantissa bits, a float in [1, 2)


def uniform(key: jax.Array, shape: tuple[int, ...]) -> jnp.ndarray:
    """float32 U[0, 1) of `shape` from a jax.random key (the 23 high bits of each word)."""
    state = jax.random.bits(key, (4,), jnp.uint32)  # the generator's 128-bit key
    _, bits = lax.rng_bit_generator(state, shape, dtype=jnp.uint32,
                                    algorithm=lax.RandomAlgorithm.RNG_THREE_FRY)
    one_to_two = lax.bitcast_convert_type((bits >> 9) | jnp.uint32(_ONE_BITS), jnp.float32)
    return one_to_two - 1.0
