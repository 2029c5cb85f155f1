"""The simulated athlete world: pure `reset` / `step` over one athlete.

    world = AthleteWorld(config)
    params = world.sample_athlete(key)                    # or heldout=True
    state, ts = world.reset(key, params)
    state, ts = world.step(state, action, key)            # action: int32[H]

Both are pure functions of their arguments: `jax.jit`, `jax.vmap` over a batch
of athletes and `jax.lax.scan` over days all apply. `step_autoreset` starts a
new athlete when a season ends (for batched training loops).

A timestep's observation is `{features: f32[F], action_mask: bool[sum(nvec)]}`
for the decision of that day; its extras hold the day's observable record,
every reward component, the safety violations and the hidden metrics used
for evaluation (never for acting).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.sim import physiology as phys_lib
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import (
    History,
    compute_features,
    init_history,
    log_day,
    num_features,
    observe_morning,
)
from coachrl.sim.population import AthleteParams, sample_athlete
from coachrl.sim.record import DailyRecord
from coachrl.sim.safety import RULE_NAMES, action_mask, nearest_allowed, safety_mask
from coachrl.sim.sessions import HARD

FIRST, MID, LAST = 0, 1, 2  # dm_env.StepType values

REWARD_COMPONENTS = ("recovery", "adaptation", "performance", "habits", "injury", "illness",
                     "overtraining", "race", "violation")
_PENALTIES = ("injury", "illness", "overtraining", "violation")


class TimeStep(NamedTuple):
    step_type: jnp.ndarray  # i32: FIRST, MID or LAST
    reward: jnp.ndarray  # f32
    discount: jnp.ndarray  # f32 (1.0 also at LAST: a season ends by time, not failure)
    observation: dict[str, jnp.ndarray]
    extras: dict[str, Any]


class WorldState(NamedTuple):
    params: AthleteParams
    physiology: phys_lib.Physiology
    history: History  # observable: complete days before today + this morning
    morning: phys_lib.Morning  # this morning's true readings
    record: DailyRecord  # this morning's part of today's record (as the wearable shows it)
    mask: jnp.ndarray  # bool[sum(nvec)], today's safety mask
    day: jnp.ndarray  # i32, today's index in the season
    length: jnp.ndarray  # i32, season length (days)
    race_day: jnp.ndarray  # i32, -1 for no race
    start_performance: jnp.ndarray  # f32, performance on day 0 (W)


# Random draws of one step: uniforms for adherence (full, partial, fraction), injury (event,
# length), illness (event, length), then one per habit and one for the wearable; normals for
# the benchmark, sleep efficiency, stress, and tomorrow's HRV and resting-HR noise.
_NUM_UNIFORM = 7
_NUM_NORMAL = 5


class AthleteWorld:
    """Pure functions of the athlete world for one config (hashable, stateless)."""

    def __init__(self, config: WorldConfig):
        self.config = config
        self.nvec = config.nvec
        self.num_features = num_features(config)
        habits = config.habits.items
        width = max(len(h.levels) for h in habits) if habits else 1
        table = np.zeros((len(habits), width), np.float32)
        for i, h in enumerate(habits):
            table[i, :len(h.levels)] = h.levels
        self._habit_levels = table
        self._habit_default = np.asarray([h.default_level for h in habits], np.int32)
        self._sleep_habit = next((i for i, h in enumerate(habits) if h.effect == "sleep"), None)

    # ------------------------------------------------------------------ population

    def sample_athlete(self, key: jax.Array, heldout: bool = False) -> AthleteParams:
        return sample_athlete(key, self.config, heldout)

    # ------------------------------------------------------------------ reset

    def reset(self, key: jax.Array, params: AthleteParams) -> tuple[WorldState, TimeStep]:
        """Day 0 of a season for the athlete `params`."""
        e = self.config.episode
        k_len, k_race, k_day, k_morning = jax.random.split(key, 4)
        length = jax.random.randint(k_len, (), e.min_days, e.max_days + 1)
        has_race = jax.random.uniform(k_race) < e.race_probability
        race_day = jnp.where(
            has_race, length - 1 - jax.random.randint(k_day, (), 0, e.race_window_days), -1)
        history = init_history(self.config, params.initial_ctl)
        physiology = phys_lib.initial_physiology(params)
        state = WorldState(
            params=params, physiology=physiology, history=history,
            morning=None, record=None, mask=None,  # type: ignore[arg-type]  # set below
            day=jnp.int32(0), length=length.astype(jnp.int32), race_day=race_day.astype(jnp.int32),
            start_performance=phys_lib.performance(physiology, params))
        z = jax.random.normal(k_morning, (2,))
        u_missing = jax.random.uniform(jax.random.fold_in(k_morning, 1))
        state = self._begin_day(state, u_missing, z[0], z[1])
        return state, TimeStep(jnp.int32(FIRST), jnp.float32(0.0), jnp.float32(1.0),
                               self._observation(state), {})

    def _begin_day(self, state: WorldState, u_missing, z_hrv, z_rhr) -> WorldState:
        """Takes this morning's readings (from yesterday's state) and today's mask."""
        p = state.physiology
        physiology, m = phys_lib.morning(p, state.history, state.params, self.config, z_hrv, z_rhr)
        worn = u_missing >= state.params.missing_prob
        nan = jnp.float32(jnp.nan)
        days_to_race = jnp.where(state.race_day >= state.day, state.race_day - state.day, -1)
        record = DailyRecord(
            hrv_ms=jnp.where(worn, jnp.exp(m.hrv_ln), nan), rhr_bpm=jnp.where(worn, m.rhr_bpm, nan),
            sleep_h=jnp.where(worn, m.sleep_h, nan), sleep_eff=jnp.where(worn, m.sleep_eff, nan),
            recovery=jnp.where(worn, m.recovery, nan),
            session=jnp.int32(0), minutes=jnp.float32(0.0), tss=jnp.float32(0.0),
            habits=jnp.zeros((self.config.num_habits,), jnp.float32), benchmark=nan,
            ill=physiology.illness_left > 0, injured=physiology.injury_left > 0,
            days_to_race=days_to_race.astype(jnp.int32))
        history = observe_morning(state.history, record, self.config)
        return state._replace(physiology=physiology, history=history, morning=m, record=record,
                              mask=action_mask(history, self.config))

    def _observation(self, state: WorldState) -> dict[str, jnp.ndarray]:
        return {"features": compute_features(state.history, self.config),
                "action_mask": state.mask}

    # ------------------------------------------------------------------ step

    def step(self, state: WorldState, action: jnp.ndarray,
             key: jax.Array) -> tuple[WorldState, TimeStep]:
        """One day: the prescription `action` (int32[H]) meets the athlete."""
        cfg = self.config
        params, history, m = state.params, state.history, state.morning
        action = jnp.clip(jnp.asarray(action, jnp.int32), 0, jnp.asarray(self.nvec) - 1)
        action, replaced = nearest_allowed(action, state.mask, self.nvec)
        u = jax.random.uniform(key, (_NUM_UNIFORM + cfg.num_habits + 1,))
        z = jax.random.normal(jax.random.fold_in(key, 1), (_NUM_NORMAL,))
        u_habits, u_missing = u[_NUM_UNIFORM:_NUM_UNIFORM + cfg.num_habits], u[-1]

        # Training done.
        ill, injured = state.record.ill, state.record.injured
        prescribed_minutes = jnp.asarray(cfg.actions.durations_min, jnp.float32)[action[1]]
        stress = phys_lib.stress_effective(state.physiology, history, cfg)
        done = phys_lib.adherence(action[0], prescribed_minutes, m.recovery, stress, ill, injured,
                                  params, cfg, u[0], u[1], u[2])
        load = phys_lib.load_of(done.session, done.minutes)

        # Habits done: the prescribed level, or the athlete's default when not followed.
        habit_action = action[2:]
        followed = u_habits < params.habit_adherence
        level = jnp.where(followed, habit_action, self._habit_default)
        habits_done = jnp.asarray(self._habit_levels)[jnp.arange(cfg.num_habits), level]

        # Benchmark / race result: this morning's performance, less a short night's cut.
        before = state.physiology
        perf_morning = phys_lib.performance(before, params)
        short = m.sleep_h <= cfg.sleep.short_sleep_h
        on_form = perf_morning * (1.0 - cfg.sleep.short_sleep_performance_cut * short)
        obs_cfg = cfg.observation
        race_today = state.day == state.race_day
        bench_today = (((state.day % obs_cfg.benchmark_every_days)
                        == obs_cfg.benchmark_every_days - 1) | race_today) & ~ill & ~injured
        benchmark = jnp.where(bench_today, on_form * (1.0 + obs_cfg.benchmark_noise * z[0]),
                              jnp.nan)

        record = state.record._replace(session=done.session, minutes=done.minutes, tss=load,
                                       habits=habits_done, benchmark=benchmark)
        history = log_day(history, record, cfg)
        physiology = phys_lib.banister_step(before, load, params)

        # Tonight, then tomorrow's events.
        if self._sleep_habit is not None:
            time_in_bed = habits_done[self._sleep_habit]
        else:
            time_in_bed = params.sleep_need_h / cfg.sleep.efficiency
        hard_done = jnp.asarray(HARD)[done.session] & (done.minutes > 0)
        physiology = phys_lib.night(physiology, history, time_in_bed, hard_done, params, cfg,
                                    z[1], z[2])
        hz = phys_lib.hazards(physiology, history, done.session, m.recovery, params, cfg)
        k = cfg.risk
        new_injury = (u[3] < hz.injury) & (physiology.injury_left <= 1)
        new_illness = (u[5] < hz.illness) & (physiology.illness_left <= 1)
        injury_len = jnp.round(k.injury_days[0] + u[4] * (k.injury_days[1] - k.injury_days[0]))
        illness_len = jnp.round(k.illness_days[0] + u[6] * (k.illness_days[1] - k.illness_days[0]))
        low_recovery = m.recovery < cfg.safety.low_recovery
        physiology = physiology._replace(
            injury_left=jnp.where(new_injury, injury_len.astype(jnp.int32),
                                  jnp.maximum(physiology.injury_left - 1, 0)),
            illness_left=jnp.where(new_illness, illness_len.astype(jnp.int32),
                                   jnp.maximum(physiology.illness_left - 1, 0)),
            low_recovery_yesterday=low_recovery)

        # Reward components (each reported; penalties are positive magnitudes).
        perf_after = phys_lib.performance(physiology, params)
        to_pct = 100.0 / params.p0
        components = {
            "recovery": (m.recovery - 50.0) / 50.0,
            "adaptation": params.k1 * (physiology.fitness - before.fitness) * to_pct,
            "performance": (perf_after - perf_morning) * to_pct,
            "habits": 1.0 - jnp.mean(jnp.abs(1.0 - history.habit_ema)),
            "injury": injured.astype(jnp.float32),
            "illness": ill.astype(jnp.float32),
            "overtraining": ((m.hrv_z < -cfg.safety.hrv_sd_below).astype(jnp.float32)
                             + (low_recovery & state.physiology.low_recovery_yesterday)),
            "race": jnp.where(race_today, (on_form - state.start_performance) * to_pct, 0.0),
            "violation": jnp.sum(replaced).astype(jnp.float32),
        }
        w = cfg.reward
        reward = sum((-1.0 if name in _PENALTIES else 1.0) * getattr(w, name) * value
                     for name, value in components.items())

        day = state.day + 1
        last = day >= state.length
        state = state._replace(physiology=physiology, history=history, day=day)
        state = self._begin_day(state, u_missing, z[3], z[4])
        extras = {
            "record": record,
            "reward_components": {k_: jnp.asarray(v, jnp.float32) for k_, v in components.items()},
            "action": action,
            "violations": replaced,
            "metrics": {
                "performance": perf_after, "fitness": params.k1 * physiology.fitness,
                "fatigue": physiology.fatigue, "recovery": m.recovery,
                "injury_hazard": hz.injury, "illness_hazard": hz.illness,
                "acwr": hz.acwr, "monotony": hz.monotony, "ctl": history.ctl,
                "atl": history.atl, "tsb": history.ctl - history.atl,
                "sleep_debt": physiology.sleep_debt, "completed": done.completed,
                "injured": injured, "ill": ill, "new_injury": new_injury,
                "new_illness": new_illness,
                "gain": (perf_after - state.start_performance) * to_pct,
            },
        }
        ts = TimeStep(jnp.where(last, LAST, MID).astype(jnp.int32), jnp.float32(reward),
                      jnp.float32(1.0), self._observation(state), extras)
        return state, ts

    def step_autoreset(self, state: WorldState, action: jnp.ndarray, key: jax.Array,
                       heldout: bool = False) -> tuple[WorldState, TimeStep]:
        """`step`, then a new athlete wherever the season ended.

        The returned timestep keeps the last day's reward, step type and extras,
        with the new season's first observation (the usual auto-reset contract).
        """
        k_step, k_athlete, k_reset = jax.random.split(key, 3)
        state, ts = self.step(state, action, k_step)
        fresh, first = self.reset(k_reset, self.sample_athlete(k_athlete, heldout))
        done = ts.step_type == LAST
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b), fresh, state)
        observation = jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b),
                                             first.observation, ts.observation)
        return state, ts._replace(observation=observation)

    # ------------------------------------------------------------------ helpers

    def safety(self, state: WorldState):
        """Today's safety mask with the rules that fired (for reasons and tests)."""
        return safety_mask(state.history, self.config)

    def __hash__(self) -> int:
        return hash(self.config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AthleteWorld) and other.config == self.config


__all__ = ["AthleteWorld", "FIRST", "LAST", "MID", "REWARD_COMPONENTS", "RULE_NAMES",
           "TimeStep", "WorldState"]
