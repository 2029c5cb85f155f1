"""Masked multi-categorical distributions over padded action heads (pure functions).

An action is one choice per head: H independent categoricals with sizes `nvec`.
Networks emit logits padded to `[..., H, N]` with `N = max(nvec)`, and the
safety mask arrives as bool `[..., H, N]` (`coachrl.sim.safety.padded_heads`),
True where a choice is allowed; padded columns are always False. So for head h

    π_h(a) = m_{h,a} exp(z_{h,a}) / Σ_b m_{h,b} exp(z_{h,b}),

and the joint policy is the product over heads, π(a) = Π_h π_h(a_h).

Masking is done with a large negative FINITE logit rather than -inf, and every
sum over choices selects the allowed entries with `jnp.where`, so masked and
padded choices get probability exactly 0, contribute exactly 0 to entropies and
KLs, and receive gradient exactly 0 — with no inf or NaN in values or gradients.

A head with no allowed choice at all cannot come from the world (rest and the
shortest duration are always allowed, see `coachrl.sim.safety`). Should one
arrive anyway, it falls back to choice 0 only: a choice every head has (never
padding), and the same fallback as `safety.nearest_allowed`. Such a head is
deterministic (π_h(0) = 1, entropy 0, KL 0) and all values stay finite.

Everything works for any leading batch shape and under jit, vmap and grad.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from coachrl.sim import draws

__all__ = [
    "effective_mask",
    "entropy",
    "entropy_per_head",
    "kl_divergence",
    "kl_per_head",
    "log_prob",
    "log_prob_per_head",
    "log_probs",
    "masked_logits",
    "mode",
    "probs",
    "sample",
]

MASKED_LOGIT = -1e9  # the logit given to masked choices (float32); finite on purpose


def _masked_value(dtype) -> float:
    """`MASKED_LOGIT`, or half the lowest finite value of a narrower float dtype."""
    return max(MASKED_LOGIT, float(jnp.finfo(dtype).min) / 2)


def effective_mask(mask: jax.Array) -> jax.Array:
    """The mask actually used: a head with no allowed choice falls back to choice 0.

        m'_h = m_h                  if any(m_h)
        m'_h = [True, False, ...]   otherwise

    Args:
      mask: bool[..., H, N], True where a choice is allowed.

    Returns:
      bool[..., H, N].
    """
    mask = jnp.asarray(mask, bool)
    first = jnp.arange(mask.shape[-1]) == 0
    return jnp.where(jnp.any(mask, axis=-1, keepdims=True), mask, first)


def masked_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Logits with masked choices set to a large negative finite number.

        z'_{h,a} = z_{h,a}  if m'_{h,a}  else  MASKED_LOGIT (-1e9)

    with m' = `effective_mask(mask)`. The gradient w.r.t. masked logits is 0.

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.

    Returns:
      float[..., H, N].
    """
    logits = jnp.asarray(logits)
    return jnp.where(effective_mask(mask), logits, _masked_value(logits.dtype))


def log_probs(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Masked log-softmax per head: log π_h(a) = z'_{h,a} - log Σ_b exp(z'_{h,b}).

    Masked entries hold a large negative finite number (about -1e9), never -inf.

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.

    Returns:
      float[..., H, N].
    """
    return jax.nn.log_softmax(masked_logits(logits, mask), axis=-1)


def probs(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Masked softmax per head: π_h(a) = m'_{h,a} exp(z_{h,a}) / Σ_b m'_{h,b} exp(z_{h,b}).

    Masked entries are exactly 0 and every head sums to 1.

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.

    Returns:
      float[..., H, N].
    """
    # exp of the log-softmax, not jax.nn.softmax: XLA's CPU compiler hands a softmax to
    # oneDNN, whose kernel is ~5x slower on heads this small.
    p = jnp.exp(log_probs(logits, mask))
    return jnp.where(effective_mask(mask), p, 0.0)


def log_prob_per_head(logits: jax.Array, mask: jax.Array, action: jax.Array) -> jax.Array:
    """log π_h(a_h) for every head.

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.
      action: int[..., H], one choice per head.

    Returns:
      float[..., H].
    """
    lp = log_probs(logits, mask)
    action = jnp.asarray(action).astype(jnp.int32)
    # A one-hot select, not take_along_axis: the gradient of a gather is a scatter, which
    # XLA runs on CPU as a serial loop over the batch.
    chosen = action[..., None] == jnp.arange(lp.shape[-1])
    return jnp.sum(jnp.where(chosen, lp, 0.0), axis=-1)


def log_prob(logits: jax.Array, mask: jax.Array, action: jax.Array) -> jax.Array:
    """log π(a) = Σ_h log π_h(a_h).

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.
      action: int[..., H], one choice per head.

    Returns:
      float[...].
    """
    return jnp.sum(log_prob_per_head(logits, mask, action), axis=-1)


def entropy_per_head(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """H_h = -Σ_{a allowed} π_h(a) log π_h(a); masked entries contribute exactly 0.

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.

    Returns:
      float[..., H].
    """
    lp = log_probs(logits, mask)
    terms = jnp.where(effective_mask(mask), jnp.exp(lp) * lp, 0.0)
    return -jnp.sum(terms, axis=-1)


def entropy(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """H(π) = Σ_h H_h (heads are independent).

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.

    Returns:
      float[...].
    """
    return jnp.sum(entropy_per_head(logits, mask), axis=-1)


def kl_per_head(p_logits: jax.Array, q_logits: jax.Array, mask: jax.Array) -> jax.Array:
    """KL(p_h ‖ q_h) = Σ_{a allowed} p_h(a) (log p_h(a) - log q_h(a)), both under one mask.

    Masked entries contribute exactly 0.

    Args:
      p_logits: float[..., H, N] padded logits of p.
      q_logits: float[..., H, N] padded logits of q.
      mask: bool[..., H, N], True where a choice is allowed (for p and q alike).

    Returns:
      float[..., H].
    """
    lp = log_probs(p_logits, mask)
    lq = log_probs(q_logits, mask)
    terms = jnp.where(effective_mask(mask), jnp.exp(lp) * (lp - lq), 0.0)
    return jnp.sum(terms, axis=-1)


def kl_divergence(p_logits: jax.Array, q_logits: jax.Array, mask: jax.Array) -> jax.Array:
    """KL(p ‖ q) = Σ_h KL(p_h ‖ q_h) (heads are independent).

    Args:
      p_logits: float[..., H, N] padded logits of p.
      q_logits: float[..., H, N] padded logits of q.
      mask: bool[..., H, N], True where a choice is allowed (for p and q alike).

    Returns:
      float[...].
    """
    return jnp.sum(kl_per_head(p_logits, q_logits, mask), axis=-1)


def sample(key: jax.Array, logits: jax.Array, mask: jax.Array,
           num_samples: int | None = None) -> jax.Array:
    """a_h ~ π_h independently for every head (and batch entry); never a masked choice.

    By inverting each head's CDF with one uniform u_h ~ U[0, 1) (`coachrl.sim.draws`):

        a_h = #{k : C_{h,k} <= u_h C_{h,N-1}},   C_{h,k} = Σ_{j<=k} π_h(j),

    the first k whose C_{h,k} passes u_h C_{h,N-1}. A masked choice adds 0 to C, so it can
    never be that first k. (One uniform per head and integer sums: the Gumbel-max argmax of
    `jax.random.categorical` was ~30 % of a PPO rollout step on CPU.)

    Args:
      key: a PRNG key.
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.
      num_samples: if given, draws that many independent actions (for MPO).

    Returns:
      int32[..., H], or int32[num_samples, ..., H] when `num_samples` is given.
    """
    p = probs(logits, mask)
    n = p.shape[-1]
    cdf = p @ jnp.triu(jnp.ones((n, n), p.dtype))  # the cumulative sum, as one small matmul
    shape = p.shape[:-1] if num_samples is None else (num_samples, *p.shape[:-1])
    u = draws.uniform(key, shape) * cdf[..., -1]
    return jnp.sum((cdf <= u[..., None]).astype(jnp.int32), axis=-1)


def mode(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """argmax_a π_h(a) per head, over allowed choices only (lowest index on ties).

    Args:
      logits: float[..., H, N] padded logits.
      mask: bool[..., H, N], True where a choice is allowed.

    Returns:
      int32[..., H].
    """
    z = masked_logits(logits, mask)
    best = z == jnp.max(z, axis=-1, keepdims=True)
    n = z.shape[-1]  # the lowest best index, by an integer max (XLA's argmax is slow on CPU)
    return n - jnp.max(jnp.where(best, n - jnp.arange(n), 0), axis=-1).astype(jnp.int32)
