"""A person's habits: goal-normalised EMAs, groups and the time budget, adherence.

Pure functions over a habit file (`HabitsConfig`), shared by the world, the
baselines, the safety mask and the daily coach:

  normalised    n_t = min(done_t, cap) x 7 / weekly goal, where cap is the day's amount
                of an "N days a week" goal (a day counts once: the original's 1 x 7/5
                for a 30-minute run 5 days a week) and unbounded for a weekly amount
  EMA           E_t = (1 - a) E_{t-1} + a n_t, -> 1 when the goal is met (CoachRL, seed 004)
  alignment     1 - mean_i |1 - E_i| (the daily coach adds the body weight's score,
                `weight_score`, as one more item when the file sets a target band)
  fit           groups (at most K of a set above their lowest level: the ones prescribed
                highest, then the first in the file) and the day's time budget (after
                training, habits in file order take the largest prescribed-or-lower level
                that still fits): the original's "massaging", applied everywhere
  automaticity  A <- A + (1 - A) r on a day the prescribed habit is done, with
                r = 1 - 0.05^(1/formation_days) (95 % of the asymptote after
                formation_days daily repetitions: Lally et al. 2010's asymptotic curve,
                median 66 days), and A <- A e^(-1/decay_days) on a day it is not
  adherence     P(done_i) = sigmoid(logit p + g_A A_i - g_n (n - free)+ - g_t over / 30
                            + g_r (recovery - 50) / 50 - g_s stress+ - g_h hard),
                n the habits prescribed above their default today, `over` the minutes
                prescribed (training and habits) beyond the person's real free time
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.sim.config import HabitsConfig, WorldConfig


class HabitTables(NamedTuple):
    """A habit file as arrays ([H] habits, [L] the most levels, [G] groups)."""

    amounts: np.ndarray  # f32[H, L], each level's amount (padded with the top amount)
    minutes: np.ndarray  # f32[H, L], each level's minutes (padded with the top level's)
    num_levels: np.ndarray  # i32[H]
    default: np.ndarray  # i32[H], the level done when the prescription is not followed
    cap: np.ndarray  # f32[H], most of a day's amount that counts (inf: weekly amounts)
    scale: np.ndarray  # f32[H], 7 / weekly goal
    coached: np.ndarray  # bool[H], prescribed by the coach (else held at the default)
    groups: np.ndarray  # bool[G, H], members of each group
    group_limit: np.ndarray  # i32[G], at most this many members above level 0 a day


@functools.lru_cache(maxsize=32)
def tables(habits: HabitsConfig) -> HabitTables:
    """The arrays of a habit file (cached: configs are frozen and hashable)."""
    items = habits.items
    width = max((len(h.levels) for h in items), default=1)

    def padded(rows):
        return np.asarray([list(r) + [r[-1]] * (width - len(r)) for r in rows],
                          np.float32).reshape(len(items), width)

    names = [h.name for h in items]
    groups = np.zeros((len(habits.groups), len(items)), bool)
    for g, group in enumerate(habits.groups):
        groups[g, [names.index(n) for n in group.habits]] = True
    return HabitTables(
        amounts=padded([h.levels for h in items]),
        minutes=padded([h.level_minutes for h in items]),
        num_levels=np.asarray([len(h.levels) for h in items], np.int32),
        default=np.asarray([h.default_level for h in items], np.int32),
        cap=np.asarray([h.day_cap for h in items], np.float32),
        scale=np.asarray([1.0 / h.daily_goal for h in items], np.float32),
        coached=np.asarray([habits.is_coached(h.name) for h in items], bool),
        groups=groups,
        group_limit=np.asarray([g.at_most for g in habits.groups], np.int32))


def _select(table: np.ndarray, levels: jnp.ndarray) -> jnp.ndarray:
    """table[i, levels[i]] for every habit, by a one-hot select (no gather)."""
    hot = jnp.asarray(levels)[..., None] == jnp.arange(table.shape[1])
    return jnp.sum(jnp.where(hot, table, 0.0), axis=-1)


def amounts_of(levels: jnp.ndarray, habits: HabitsConfig) -> jnp.ndarray:
    """f32[..., H]: the amount of each habit at `levels`."""
    return _select(tables(habits).amounts, levels)


def minutes_of(levels: jnp.ndarray, habits: HabitsConfig) -> jnp.ndarray:
    """f32[..., H]: the minutes each habit takes at `levels`."""
    return _select(tables(habits).minutes, levels)


def normalised(done: jnp.ndarray, habits: HabitsConfig) -> jnp.ndarray:
    """A day's amounts done, normalised by the goal (1 a day on average meets it)."""
    t = tables(habits)
    return jnp.minimum(jnp.asarray(done, jnp.float32), t.cap) * t.scale


def update_ema(ema: jnp.ndarray, done: jnp.ndarray, habits: HabitsConfig) -> jnp.ndarray:
    """E_t = (1 - a) E_{t-1} + a n_t."""
    a = habits.alpha
    return (1.0 - a) * ema + a * normalised(done, habits)


def alignment(ema: jnp.ndarray) -> jnp.ndarray:
    """1 - mean|1 - EMA| over the habits (1: every goal met; 1 with no habits)."""
    if ema.shape[-1] == 0:
        return jnp.ones(ema.shape[:-1], jnp.float32)
    return 1.0 - jnp.mean(jnp.abs(1.0 - ema), axis=-1)


def weight_score(weight_kg: float, band: tuple[float, ...]) -> float:
    """A body weight's share of the alignment, on the habits' scale (1 - |1 - E|): 1 inside
    the target band [low, high], falling linearly to 0 one band width outside it."""
    low, high = band
    distance = max(low - weight_kg, weight_kg - high, 0.0)
    return max(0.0, 1.0 - distance / (high - low))


def initial_ema(habits: HabitsConfig) -> np.ndarray:
    """Where each EMA stands for a person who has always done their default level."""
    t = tables(habits)
    default = t.amounts[np.arange(len(t.default)), t.default]
    return (np.minimum(default, t.cap) * t.scale).astype(np.float32)


def level_mask(habits: HabitsConfig) -> np.ndarray:
    """bool[H, L]: the levels the coach may prescribe before groups and the budget
    (padding off; a habit the coach does not prescribe only at its default)."""
    t = tables(habits)
    idx = np.arange(t.amounts.shape[1])
    allowed = idx[None, :] < t.num_levels[:, None]
    held = np.where(t.coached[:, None], allowed, idx[None, :] == t.default[:, None])
    if habits.time_budget_min is not None:
        others = t.minutes[:, 0].sum() - t.minutes[:, 0]
        fits = t.minutes <= habits.time_budget_min - others[:, None]
        held &= fits | (idx[None, :] == 0)
    return held


def fit(levels: jnp.ndarray, training_minutes: jnp.ndarray,
        habits: HabitsConfig) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The prescription with every group and the time budget respected (see module doc).

    Returns (levels, trimmed[H]). `training_minutes` is today's prescribed session.
    """
    t = tables(habits)
    levels = jnp.asarray(levels, jnp.int32)
    prescribed = levels
    n = levels.shape[-1]
    share = levels / np.maximum(t.num_levels - 1, 1)
    score = share - np.arange(n) * (1e-3 / max(n, 1))  # ties: the first in the file
    for members, limit in zip(t.groups, t.group_limit):
        active = members & (levels > 0)
        ahead = jnp.sum(active[None, :] & (score[None, :] > score[:, None]), axis=-1)
        levels = jnp.where(active & (ahead >= limit), 0, levels)
    if habits.time_budget_min is not None:
        extra = t.minutes - t.minutes[:, :1]  # [H, L]: beyond the lowest level
        left = (habits.time_budget_min - training_minutes - float(t.minutes[:, 0].sum()))
        idx = jnp.arange(t.amounts.shape[1])
        fitted = []
        for i in range(n):
            ok = ((idx <= levels[i]) & ((extra[i] <= left) | (extra[i] <= 0.0))) | (idx == 0)
            level = jnp.max(jnp.where(ok, idx, 0))
            left = left - _select(extra[i:i + 1], level[None])[0]
            fitted.append(level)
        levels = jnp.stack(fitted).astype(jnp.int32) if fitted else levels
    return levels, levels != prescribed


def prescribed_minutes(levels: jnp.ndarray, training_minutes: jnp.ndarray,
                       habits: HabitsConfig) -> jnp.ndarray:
    """Minutes the day's prescription takes: the session and every habit."""
    return training_minutes + jnp.sum(minutes_of(levels, habits), axis=-1)


def over_budget(day_minutes: jnp.ndarray, time_realism: jnp.ndarray,
                habits: HabitsConfig) -> jnp.ndarray:
    """Minutes prescribed beyond the person's real free time (budget x realism); 0 without
    a budget."""
    if habits.time_budget_min is None:
        return jnp.zeros_like(jnp.asarray(day_minutes, jnp.float32))
    return jnp.maximum(day_minutes - habits.time_budget_min * time_realism, 0.0)


def adherence_logits(levels: jnp.ndarray, automaticity: jnp.ndarray, day_minutes: jnp.ndarray,
                     recovery: jnp.ndarray, stress: jnp.ndarray, hard_day: jnp.ndarray,
                     habit_adherence: jnp.ndarray, time_realism: jnp.ndarray,
                     config: WorldConfig) -> jnp.ndarray:
    """f32[H]: the logit of doing each prescribed habit today (see module doc)."""
    a, habits = config.adherence, config.habits
    t = tables(habits)
    count = jnp.sum(levels > t.default)
    over = over_budget(day_minutes, time_realism, habits)
    p = jnp.clip(habit_adherence, 1e-3, 1.0 - 1e-3)
    shared = (jnp.log(p) - jnp.log1p(-p)
              - a.habit_count_gain * jnp.maximum(count - a.habit_free_count, 0)
              - a.habit_overtime_gain * over / 30.0
              + a.habit_readiness_gain * (recovery - 50.0) / 50.0
              - a.habit_stress_gain * jnp.maximum(stress, 0.0)
              - a.habit_hard_day_gain * hard_day)
    return shared + a.habit_automaticity_gain * automaticity


def done_levels(levels: jnp.ndarray, logits: jnp.ndarray, u: jnp.ndarray,
                habits: HabitsConfig) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(level done[H], followed[H]): the prescribed level with P = sigmoid(logit), else
    the person's default level."""
    followed = u < jax.nn.sigmoid(logits)
    return jnp.where(followed, levels, tables(habits).default), followed


def next_automaticity(automaticity: jnp.ndarray, repeated: jnp.ndarray,
                      formation_days: jnp.ndarray, config: WorldConfig) -> jnp.ndarray:
    """Lally's asymptotic curve per repetition, a slow decay on a day without one."""
    rate = 1.0 - jnp.power(0.05, 1.0 / formation_days)
    decay = np.float32(np.exp(-1.0 / config.adherence.habit_decay_days))
    return jnp.where(repeated, automaticity + (1.0 - automaticity) * rate,
                     automaticity * decay)


__all__ = ["HabitTables", "adherence_logits", "alignment", "amounts_of", "done_levels", "fit",
           "initial_ema", "level_mask", "minutes_of", "next_automaticity", "normalised",
           "over_budget", "prescribed_minutes", "tables", "update_ema", "weight_score"]
