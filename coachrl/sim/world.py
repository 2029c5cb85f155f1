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

from coachrl.sim import draws
from coachrl.sim import habits as habits_lib
from coachrl.sim import physiology as phys_lib
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import History, init_history, log_day, num_features, observe_morning
from coachrl.sim.population import AthleteParams, sample_athlete, sample_athletes
from coachrl.sim.record import DailyRecord, empty_record
from coachrl.sim.safety import RULE_NAMES, enforce, observe, safety_mask, training_minutes
from coachrl.sim.sessions import HARD, NUM_ZONES, lookup, zone_minutes

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


class SeasonStart(NamedTuple):
    """What a new season starts from (computed once per athlete)."""

    physiology: phys_lib.Physiology
    tested: jnp.ndarray  # f32, tested performance on day 0 (W)
    history: History


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
    start_performance: jnp.ndarray  # f32, tested performance on day 0 (W)
    tested: jnp.ndarray  # f32, tested performance at the end of yesterday (W)


# One step's random numbers come from ONE uniform draw (threefry is most of a step's cost):
# adherence (full, partial, fraction), injury (event, length), illness (event, length),
# one per habit, the wearable worn or not, then normals for the benchmark, sleep efficiency,
# stress, and tomorrow's HRV and resting-HR noise.
_U_ADHERENCE, _U_INJURY, _U_ILLNESS, _U_HABITS = 0, 3, 5, 7
_NUM_NORMAL = 5


def _normal(u: jnp.ndarray) -> jnp.ndarray:
    """Standard normals from uniforms by the inverse CDF (as jax.random.normal does)."""
    u = jnp.clip(u, 1e-7, 1.0 - 1e-7)
    return jnp.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * u - 1.0)


_SEASON_FIELDS = ("params", "physiology", "history", "day", "length", "race_day",
                  "start_performance", "tested")


class AthleteWorld:
    """Pure functions of the athlete world for one config (hashable, stateless)."""

    def __init__(self, config: WorldConfig):
        self.config = config
        self.nvec = config.nvec
        self.num_features = num_features(config)
        habits = config.habits.items
        self._sleep_habit = next((i for i, h in enumerate(habits) if h.effect == "sleep"), None)
        self._num_uniform = _U_HABITS + config.num_habits + 1 + _NUM_NORMAL

    # ------------------------------------------------------------------ reset

    def sample_athlete(self, key: jax.Array, heldout: bool = False) -> AthleteParams:
        """One athlete from the training (or held-out) population."""
        return sample_athlete(key, self.config, heldout)

    def reset(self, key: jax.Array, params: AthleteParams) -> tuple[WorldState, TimeStep]:
        """Day 0 of a season for the athlete `params`: this morning's observation."""
        k_season, k_morning = jax.random.split(key)
        state = self._new_season(jax.random.uniform(k_season, (3,)), params)
        u = jax.random.uniform(k_morning, (3,))
        state, observation = self._observe(
            self._begin_day(state, u[0], _normal(u[1]), _normal(u[2])))
        return state, TimeStep(jnp.int32(FIRST), jnp.float32(0.0), jnp.float32(1.0),
                               observation, {})

    def _season_start(self, params: AthleteParams) -> SeasonStart:
        """What a season of `params` starts from: day-0 physiology, tested performance, history."""
        physiology = phys_lib.initial_physiology(params, self.config)
        return SeasonStart(physiology, phys_lib.tested_performance(physiology, params, self.config),
                           init_history(self.config, params.initial_ctl))

    def _new_season(self, u: jnp.ndarray, params: AthleteParams,
                    start: SeasonStart | None = None) -> WorldState:
        """A season's state before its first morning, from 3 uniforms (length, race, race day);
        `start` is `_season_start(params)` when the caller already has it."""
        e = self.config.episode
        length = jnp.floor(e.min_days + u[0] * (e.max_days - e.min_days + 1)).astype(jnp.int32)
        race_day = jnp.where(u[1] < e.race_probability,
                             length - 1 - jnp.floor(u[2] * e.race_window_days).astype(jnp.int32),
                             -1)
        physiology, tested, history = self._season_start(params) if start is None else start
        zero = jnp.float32(0.0)
        morning = phys_lib.Morning(*(zero,) * len(phys_lib.Morning._fields))
        record = empty_record(self.config.num_habits)
        return WorldState(
            params=params, physiology=physiology, history=history,
            morning=morning, record=jax.tree_util.tree_map(jnp.asarray, record),
            mask=jnp.ones((sum(self.nvec),), bool),
            day=jnp.int32(0), length=length, race_day=race_day.astype(jnp.int32),
            start_performance=tested, tested=tested)

    def _begin_day(self, state: WorldState, u_missing, z_hrv, z_rhr) -> WorldState:
        """Takes this morning's readings (from yesterday's state) and today's mask."""
        physiology, m = phys_lib.morning(state.physiology, state.history, state.params,
                                         self.config, z_hrv, z_rhr)
        worn = u_missing >= state.params.missing_prob
        nan = jnp.float32(jnp.nan)
        days_to_race = jnp.where(state.race_day >= state.day, state.race_day - state.day, -1)
        record = DailyRecord(
            hrv_ms=jnp.where(worn, jnp.exp(m.hrv_ln), nan), rhr_bpm=jnp.where(worn, m.rhr_bpm, nan),
            sleep_h=jnp.where(worn, m.sleep_h, nan), sleep_eff=jnp.where(worn, m.sleep_eff, nan),
            recovery=jnp.where(worn, m.recovery, nan),
            session=jnp.int32(0), minutes=jnp.float32(0.0), tss=jnp.float32(0.0),
            zone_minutes=jnp.zeros((NUM_ZONES,), jnp.float32),
            habits=jnp.zeros((self.config.num_habits,), jnp.float32), benchmark=nan,
            ill=physiology.illness_left > 0, injured=physiology.injury_left > 0,
            days_to_race=days_to_race.astype(jnp.int32))
        history = observe_morning(state.history, record, self.config)
        return state._replace(physiology=physiology, history=history, morning=m, record=record)

    def _observe(self, state: WorldState) -> tuple[WorldState, dict[str, jnp.ndarray]]:
        """Today's observation; the mask is kept in the state to check tomorrow's action."""
        observation = observe(state.history, self.config)
        return state._replace(mask=observation["action_mask"]), observation

    # ------------------------------------------------------------------ step

    def step(self, state: WorldState, action: jnp.ndarray,
             key: jax.Array) -> tuple[WorldState, TimeStep]:
        """One day: the prescription `action` (int32[H]) meets the athlete.

        Inside jit nothing can raise: choices out of range are clipped, so validate
        actions at the boundary (the dm_env / gymnasium adapters do). Masked choices
        are replaced by the nearest allowed one and reported in `extras["violations"]`.
        The timestep of `reset` has the same observation but empty extras.
        """
        return self._step(state, action, jax.random.uniform(key, (self._num_uniform,)))

    def _step(self, state: WorldState, action: jnp.ndarray,
              u: jnp.ndarray) -> tuple[WorldState, TimeStep]:
        state, ts = self._end_day(state, action, u)
        state, observation = self._morning_of(state, u)
        return state, ts._replace(observation=observation)

    def step_autoreset(self, state: WorldState, action: jnp.ndarray, key: jax.Array,
                       heldout: bool = False) -> tuple[WorldState, TimeStep]:
        """`step`, then a new athlete wherever the season ended.

        The returned timestep keeps the last day's reward, step type and extras,
        with the new season's first observation (the usual auto-reset contract).
        """
        k_day, k_athlete = jax.random.split(key)
        u = jax.random.uniform(k_day, (self._num_uniform + 3,))
        return self._step_autoreset(state, action, u, self.sample_athlete(k_athlete, heldout))

    def _step_autoreset(self, state: WorldState, action: jnp.ndarray, u: jnp.ndarray,
                        athlete: AthleteParams) -> tuple[WorldState, TimeStep]:
        ended, ts = self._end_day(state, action, u)
        return self._restart(ended, ts, u, athlete)

    def _restart(self, ended: WorldState, ts: TimeStep, u: jnp.ndarray, athlete: AthleteParams,
                 start: SeasonStart | None = None) -> tuple[WorldState, TimeStep]:
        """Starts `athlete`'s season where `ts` ended one, then takes the next morning."""
        state = self._season_where(ended, ts.step_type == LAST, u, athlete, start)
        state, observation = self._morning_of(state, u)
        return state, ts._replace(observation=observation)

    def _season_where(self, ended: WorldState, done: jnp.ndarray, u: jnp.ndarray,
                      athlete: AthleteParams, start: SeasonStart | None = None) -> WorldState:
        """`ended` (one athlete), with `athlete`'s new season instead where `done`. The
        morning, record and mask are rewritten by `_begin_day` / `_observe` anyway."""
        fresh = self._new_season(u[-3:], athlete, start)
        return ended._replace(**{
            name: jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b),
                                         getattr(fresh, name), getattr(ended, name))
            for name in _SEASON_FIELDS})

    def batch_step(self, states: WorldState, actions: jnp.ndarray, key: jax.Array,
                   autoreset: bool = True, heldout: bool = False) -> tuple[WorldState, TimeStep]:
        """A batch of athletes ([B] leading axes) steps one day.

        Statistically the same as `vmap(step)` / `vmap(step_autoreset)`, but all
        random numbers come from one draw for the whole batch, and new athletes
        come from a pool (`pool_size`) drawn per step, handed out in order to the seasons
        that ended (fewer end on one day; should more, the pool repeats with
        fresh noise). Both are several times cheaper: use it in training loops.
        Its random numbers come from `draws.uniform` (XLA's threefry), not `jax.random`.
        """
        batch = actions.shape[0]
        k_day, k_athlete = jax.random.split(key)
        if not autoreset:
            u = draws.uniform(k_day, (batch, self._num_uniform))
            return jax.vmap(self._step)(states, actions, u)
        u = draws.uniform(k_day, (batch, self._num_uniform + 3))
        ended, ts = jax.vmap(self._end_day)(states, actions, u)
        pool_size = self.pool_size(batch)
        pool = sample_athletes(k_athlete, pool_size, self.config, heldout, draws.uniform)
        starts = jax.vmap(self._season_start)(pool)  # once per pool athlete, not per row
        done = ts.step_type == LAST
        # Usually: the seasons that ended (at most the pool's size) restart in place, the
        # j-th of them with pool athlete j. Else every row picks its pool athlete by rank.
        ended = jax.lax.cond(jnp.sum(done) <= pool_size, self._restart_ended,
                             self._restart_by_rank, ended, done, u, pool, starts)
        state, observation = jax.vmap(self._morning_of)(ended, u)
        return state, ts._replace(observation=observation)

    def pool_size(self, batch: int) -> int:
        """New athletes drawn per batched step: twice the most seasons that end on one day
        when their ages are spread evenly (batch / shortest season), at least one."""
        return max(1, -(-2 * batch // self.config.episode.min_days))

    def _restart_ended(self, ended: WorldState, done: jnp.ndarray, u: jnp.ndarray,
                       pool: AthleteParams, starts: SeasonStart) -> WorldState:
        """New seasons for the ended rows only (no more of them than pool athletes)."""
        batch, pool_size = done.shape[0], starts.tested.shape[0]
        rows = jnp.nonzero(done, size=pool_size, fill_value=batch)[0]  # batch: none
        fresh = jax.vmap(self._new_season)(u[jnp.minimum(rows, batch - 1), -3:], pool, starts)
        return ended._replace(**{
            name: jax.tree_util.tree_map(lambda a, b: a.at[rows].set(b, mode="drop"),
                                         getattr(ended, name), getattr(fresh, name))
            for name in _SEASON_FIELDS})

    def _restart_by_rank(self, ended: WorldState, done: jnp.ndarray, u: jnp.ndarray,
                         pool: AthleteParams, starts: SeasonStart) -> WorldState:
        """New seasons where `done`, the ended rows taking the pool athletes in turn."""
        rank = (jnp.cumsum(done) - 1) % starts.tested.shape[0]
        athletes, start = jax.tree_util.tree_map(lambda x: x[rank], (pool, starts))
        return jax.vmap(self._season_where)(ended, done, u, athletes, start)

    def _morning_of(self, state: WorldState, u: jnp.ndarray
                    ) -> tuple[WorldState, dict[str, jnp.ndarray]]:
        """The next morning's readings, mask and observation, from the step's uniforms."""
        return self._observe(self._begin_day(state, *self._morning_draws(u)))

    def _morning_draws(self, u: jnp.ndarray):
        k = _U_HABITS + self.config.num_habits
        return u[k], _normal(u[k + 4]), _normal(u[k + 5])

    def _end_day(self, state: WorldState, action: jnp.ndarray,
                 u: jnp.ndarray) -> tuple[WorldState, TimeStep]:
        """Today's training, habits, physiology, tonight and tomorrow's events; the reward.

        Returns the state at the end of the day (before tomorrow's morning) and a
        timestep whose observation is left empty for the caller to fill.
        """
        cfg = self.config
        params, history, m = state.params, state.history, state.morning
        action = jnp.clip(jnp.asarray(action, jnp.int32), 0, jnp.asarray(self.nvec) - 1)
        action, replaced, trimmed = enforce(action, state.mask, cfg)
        nh = cfg.num_habits
        u_habits = u[_U_HABITS:_U_HABITS + nh]
        z = _normal(u[_U_HABITS + nh + 1:_U_HABITS + nh + 1 + 3])  # benchmark, sleep, stress

        # Training done.
        ill, injured = state.record.ill, state.record.injured
        prescribed_minutes = lookup(np.float32(cfg.actions.durations_min), action[1])
        stress = phys_lib.stress_effective(state.physiology, history, cfg)
        a = _U_ADHERENCE
        done = phys_lib.adherence(action[0], prescribed_minutes, m.recovery, stress, ill, injured,
                                  params, cfg, u[a], u[a + 1], u[a + 2])
        load = phys_lib.load_of(done.session, done.minutes)
        in_zone = zone_minutes(done.session, done.minutes)  # [NUM_ZONES]
        hard_done = lookup(HARD, done.session) & (done.minutes > 0)

        # Habits done: the prescribed level, or the athlete's default when not followed.
        levels = action[2:]
        day_minutes = habits_lib.prescribed_minutes(levels, training_minutes(action, cfg),
                                                     cfg.habits)
        logits = habits_lib.adherence_logits(
            levels, state.physiology.automaticity, day_minutes, m.recovery, stress, hard_done,
            params.habit_adherence, params.time_realism, cfg)
        level_done, followed = habits_lib.done_levels(levels, logits, u_habits, cfg.habits)
        habits_done = habits_lib.amounts_of(level_done, cfg.habits)
        repeated = followed & (levels > habits_lib.tables(cfg.habits).default)
        over_budget = habits_lib.over_budget(day_minutes, params.time_realism, cfg.habits)

        # Benchmark / race result: this morning's performance, less a short night's cut.
        before = state.physiology
        perf_morning = phys_lib.performance(before, params, cfg)
        short = m.sleep_h <= cfg.sleep.short_sleep_h
        on_form = perf_morning * (1.0 - cfg.sleep.short_sleep_performance_cut * short)
        obs_cfg = cfg.observation
        race_today = state.day == state.race_day
        bench_today = (((state.day % obs_cfg.benchmark_every_days)
                        == obs_cfg.benchmark_every_days - 1) | race_today) & ~ill & ~injured
        benchmark = jnp.where(bench_today, on_form * (1.0 + obs_cfg.benchmark_noise * z[0]),
                              jnp.nan)

        record = state.record._replace(session=done.session, minutes=done.minutes, tss=load,
                                       zone_minutes=in_zone, habits=habits_done,
                                       benchmark=benchmark)
        history = log_day(history, record, cfg)
        physiology = phys_lib.adapt(before, in_zone, load, params, cfg)
        loss = jnp.where(ill, cfg.risk.illness_fitness_loss, 0.0)
        physiology = physiology._replace(
            aerobic=physiology.aerobic - loss * (physiology.aerobic - physiology.aerobic_floor),
            vo2=physiology.vo2 - loss * (physiology.vo2 - physiology.vo2_floor),
            automaticity=habits_lib.next_automaticity(before.automaticity, repeated,
                                                      params.formation_days, cfg))

        # Tonight, then tomorrow's events.
        if self._sleep_habit is not None:
            time_in_bed = habits_done[self._sleep_habit]
        else:
            time_in_bed = params.sleep_need_h / cfg.sleep.efficiency
        physiology = phys_lib.night(physiology, history, time_in_bed, hard_done, params, cfg,
                                    z[1], z[2])
        hz = phys_lib.hazards(physiology, history, done.session, m.recovery, params, cfg)
        k = cfg.risk
        new_injury = (u[_U_INJURY] < hz.injury) & (physiology.injury_left <= 1)
        new_illness = (u[_U_ILLNESS] < hz.illness) & (physiology.illness_left <= 1)
        injury_len = jnp.round(k.injury_days[0]
                               + u[_U_INJURY + 1] * (k.injury_days[1] - k.injury_days[0]))
        illness_len = jnp.round(k.illness_days[0]
                                + u[_U_ILLNESS + 1] * (k.illness_days[1] - k.illness_days[0]))
        low_recovery = m.recovery < cfg.safety.low_recovery
        physiology = physiology._replace(
            injury_left=jnp.where(new_injury, injury_len.astype(jnp.int32),
                                  jnp.maximum(physiology.injury_left - 1, 0)),
            illness_left=jnp.where(new_illness, illness_len.astype(jnp.int32),
                                   jnp.maximum(physiology.illness_left - 1, 0)),
            low_recovery_yesterday=low_recovery)

        # Reward components (each reported; penalties are positive magnitudes).
        perf_after = phys_lib.performance(physiology, params, cfg)
        tested = phys_lib.tested_performance(physiology, params, cfg)
        to_pct = 100.0 / state.start_performance
        components = {
            "recovery": (m.recovery - 50.0) / 50.0,
            "adaptation": 100.0 * (phys_lib.capacity(physiology) - phys_lib.capacity(before)),
            "performance": (tested - state.tested) * to_pct,
            "habits": habits_lib.alignment(history.habit_ema),
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
        extras = {
            "record": record,
            "reward_components": {k_: jnp.asarray(v, jnp.float32) for k_, v in components.items()},
            "action": action,
            "violations": replaced,
            "habits_prescribed": habits_lib.amounts_of(levels, cfg.habits),
            "habits_followed": followed,
            "habits_trimmed": trimmed,
            "metrics": {
                "performance": perf_after, "tested": tested,
                "capacity": phys_lib.capacity(physiology), "aerobic": physiology.aerobic,
                "vo2": physiology.vo2, "fatigue_ratio": phys_lib.fatigue_ratio(physiology, cfg),
                "strain": physiology.strain, "overreached": physiology.overreached,
                "hrv_z": m.hrv_z, "recovery": m.recovery,
                "injury_hazard": hz.injury, "illness_hazard": hz.illness,
                "acwr": hz.acwr, "monotony": hz.monotony, "ctl": history.ctl,
                "atl": history.atl, "tsb": history.ctl - history.atl,
                "sleep_debt": physiology.sleep_debt, "completed": done.completed,
                "injured": injured, "ill": ill, "new_injury": new_injury,
                "new_illness": new_illness,
                "gain": (tested - state.start_performance) * to_pct,
                "day_minutes": day_minutes, "over_budget_min": over_budget,
            },
        }
        ts = TimeStep(jnp.where(day >= state.length, LAST, MID).astype(jnp.int32),
                      jnp.float32(reward), jnp.float32(1.0), {}, extras)
        return state._replace(physiology=physiology, history=history, day=day,
                              tested=tested), ts

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
