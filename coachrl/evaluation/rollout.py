"""Seasons of held-out athletes under a policy, with common random numbers.

    config = evaluation_config(world_config, days=180)
    trajectories = run_policies({"fixed": policy, ...}, config, num_athletes=200, seed=0)

Every policy faces the same athletes (drawn from the held-out population) and
the same random draws: the world's noise for athlete i on day t comes from a
key that depends only on (seed, i, t), never on the policy, so differences
between policies are paired (common random numbers; Glasserman & Yao 1992).
A policy's own randomness comes from a separate key stream.

One jitted `lax.scan` over days of a batched step over athletes per policy;
the results come back as numpy arrays in a `Trajectory`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.agents.policy import Policy
from coachrl.schema import ConfigError
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import feature_names
from coachrl.sim.population import AthleteParams, sample_athletes
from coachrl.sim.world import AthleteWorld

_ATHLETE_STREAM, _WORLD_STREAM, _POLICY_STREAM = 0, 1, 2


class Trajectory(NamedTuple):
    """One policy's seasons: [N athletes, T days] per field unless noted."""

    action: np.ndarray  # i32[N, T, H], prescribed (after the safety mask; day t's decision)
    violations: np.ndarray  # i32[N, T], heads of the policy's action the safety mask replaced
    session: np.ndarray  # i32[N, T], session type done
    minutes: np.ndarray  # f32[N, T], minutes done
    completed: np.ndarray  # f32[N, T], fraction of the prescribed session done (1 on rest days)
    habits_kept: np.ndarray  # f32[N, T], share of habits done at the prescribed level
    over_budget_min: np.ndarray  # f32[N, T], minutes prescribed beyond the person's free time
    habit_alignment: np.ndarray  # f32[N, T], 1 - mean|1 - habit EMA| after the day
    recovery: np.ndarray  # f32[N, T], true morning recovery score (0-100)
    seen_recovery: np.ndarray  # f32[N, T], recovery the policy saw (forward-filled; 50 if unknown)
    seen_tsb: np.ndarray  # f32[N, T], form (TSB) going into the day, as the policy saw it
    ctl: np.ndarray  # f32[N, T], CTL after the day
    atl: np.ndarray  # f32[N, T], ATL after the day
    gain: np.ndarray  # f32[N, T], tested-performance change since day 0 (%) after the day
    zone_minutes: np.ndarray  # f32[N, T, Z], minutes done in each domain (sessions.ZONE_NAMES)
    overreached: np.ndarray  # i32[N, T], hidden state after the day: 0 no, 1 functional, 2 not
    hrv_z: np.ndarray  # f32[N, T], true morning ln rMSSD vs the athlete's baseline (SD units)
    injured: np.ndarray  # bool[N, T]
    ill: np.ndarray  # bool[N, T]
    overtraining: np.ndarray  # f32[N, T], overtraining markers that morning (0, 1 or 2)
    start_ctl: np.ndarray  # f32[N], CTL on day 0
    race_day: np.ndarray  # i32[N], -1 without a race
    race_gain: np.ndarray  # f32[N], race-day performance vs day-0 tested performance (%); NaN
    # without a race
    archetype: np.ndarray  # i32[N]


def evaluation_config(config: WorldConfig, days: int,
                      race_probability: float | None = None) -> WorldConfig:
    """`config` with every season exactly `days` long (and the race probability, if given)."""
    e = config.episode
    try:
        episode = dataclasses.replace(
            e, min_days=days, max_days=days, race_window_days=min(e.race_window_days, days),
            race_probability=e.race_probability if race_probability is None
            else race_probability)
    except ConfigError as error:
        raise ConfigError(f"evaluation season of {days} days: {error}") from None
    return dataclasses.replace(config, episode=episode)


def heldout_athletes(config: WorldConfig, num_athletes: int, seed: int) -> AthleteParams:
    """The evaluation athletes ([N] axes): the held-out population's first draws for `seed`."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), _ATHLETE_STREAM)
    return sample_athletes(key, num_athletes, config, heldout=True)


def rollout(world: AthleteWorld, policy: Policy, athletes: AthleteParams,
            seed: int) -> Trajectory:
    """Every athlete's season under `policy` (one jitted scan over days of a batched step)."""
    days = world.config.episode.max_days
    if world.config.episode.min_days != days:
        raise ValueError("rollout needs fixed-length seasons: use evaluation_config(config, days)")
    world_key = jax.random.fold_in(jax.random.PRNGKey(seed), _WORLD_STREAM)
    policy_key = jax.random.fold_in(jax.random.PRNGKey(seed), _POLICY_STREAM)
    out, start_ctl, race_day = _jitted_seasons(world, policy)(athletes, world_key, policy_key)
    out = {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in out.items()}  # [T, N] -> [N, T]
    race_day = np.asarray(race_day)
    race = out.pop("race")
    race_gain = np.where(race_day >= 0, race.sum(axis=1), np.nan).astype(np.float32)
    return Trajectory(**out, start_ctl=np.asarray(start_ctl), race_day=race_day,
                      race_gain=race_gain, archetype=np.asarray(athletes.archetype))


@functools.lru_cache(maxsize=16)
def _jitted_seasons(world: AthleteWorld, policy: Policy):
    """jit((athletes, world_key, policy_key) -> ([T, N] day outputs, start CTL, race day))."""
    config = world.config
    days = config.episode.max_days
    names = feature_names(config)
    i_recovery, i_tsb = names.index("recovery"), names.index("tsb")

    def seasons(athletes, world_key, policy_key):
        num = athletes.archetype.shape[0]
        k_reset, k_days = jax.random.split(world_key)
        states, ts = jax.vmap(world.reset)(jax.random.split(k_reset, num), athletes)
        k_init, k_act = jax.random.split(policy_key)
        policy_states = jax.vmap(policy.init)(jax.random.split(k_init, num))

        def day(carry, t):
            states, observation, policy_states = carry
            keys = jax.random.split(jax.random.fold_in(k_act, t), num)
            actions, policy_states = jax.vmap(policy.step)(policy_states, observation, keys)
            states, ts = world.batch_step(states, actions, jax.random.fold_in(k_days, t),
                                          autoreset=False)
            x, rec, m = ts.extras, ts.extras["record"], ts.extras["metrics"]
            habits_kept = (jnp.mean(jnp.isclose(rec.habits, x["habits_prescribed"]), axis=-1)
                           if config.num_habits else jnp.ones((num,)))
            out = {
                "action": x["action"], "violations": jnp.sum(x["violations"], axis=-1),
                "session": rec.session, "minutes": rec.minutes, "completed": m["completed"],
                "habits_kept": habits_kept, "over_budget_min": m["over_budget_min"],
                "habit_alignment": x["reward_components"]["habits"],
                "recovery": m["recovery"],
                "seen_recovery": observation["features"][:, i_recovery] * 100.0,
                "seen_tsb": observation["features"][:, i_tsb] * 50.0,
                "ctl": m["ctl"], "atl": m["atl"], "gain": m["gain"],
                "zone_minutes": rec.zone_minutes, "overreached": m["overreached"],
                "hrv_z": m["hrv_z"],
                "injured": rec.injured, "ill": rec.ill,
                "overtraining": x["reward_components"]["overtraining"],
                "race": x["reward_components"]["race"],
            }
            return (states, ts.observation, policy_states), out

        start_ctl = states.history.ctl
        _, out = jax.lax.scan(day, (states, ts.observation, policy_states), jnp.arange(days))
        return out, start_ctl, states.race_day

    return jax.jit(seasons)


def run_policies(policies: Mapping[str, Policy], config: WorldConfig, num_athletes: int,
                 seed: int = 0) -> dict[str, Trajectory]:
    """Each policy's trajectories on the same held-out athletes and random draws."""
    if num_athletes < 1:
        raise ValueError(f"num_athletes: {num_athletes}; need at least 1 athlete")
    world = AthleteWorld(config)
    athletes = heldout_athletes(config, num_athletes, seed)
    return {name: rollout(world, policy, athletes, seed) for name, policy in policies.items()}


__all__ = ["Trajectory", "evaluation_config", "heldout_athletes", "rollout", "run_policies"]
