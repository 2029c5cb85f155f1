"""Rule-based and fixed-plan coaches: what athletes and coaches use today.

Every baseline is a `Policy` (pure `init` / `step`, jit-, vmap- and scan-able)
that reads only the observation the world gives any coach (features and the
safety mask) and ends with the shared `nearest_allowed`, so it never
prescribes a masked action:

  random     uniform over the allowed choices of every head (habits included).
  rule       readiness rule (HRV-guided training, Kiviniemi 2007; WHOOP zones):
             recovery > 70 -> a hard session (tempo and HIIT in turn),
             50-70 -> aerobic base, 34-50 -> active recovery, red (<= 33) -> rest.
  fixed      fixed periodisation: a weekly pattern, three progressive build
             weeks and one deload week (3:1 loading, Bompa & Haff 2009).
  polarized  polarised 80/20 template: ~80 % of training time easy, ~20 % HIIT
             (Seiler & Kjerland 2006; Stöggl & Sperlich 2014).
  habit      CoachRL habit-greedy: training from the fixed plan; every habit at
             its goal level and the one furthest below goal at its top level.

Plans are fitted to the athlete's level the way a coach picks a plan tier:
on the first day the weekly volume is scaled so that the plan's mean daily
load is `START_VOLUME` x the athlete's CTL (read from the log), and every
4-week block adds `BLOCK_PROGRESSION`. Habits are prescribed at their goal
level (the amount closest to weekly goal / 7) unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.agents.policy import Policy
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import feature_names
from coachrl.sim.safety import nearest_allowed, padded_heads
from coachrl.sim.sessions import (
    ACTIVE_RECOVERY,
    AEROBIC_BASE,
    HIIT,
    INTENSITY_FACTORS,
    REST,
    SESSION_NAMES,
    TEMPO,
    tss,
)

WeeklyPlan = tuple[tuple[str, float], ...]

# The fixed week, Monday first (day 0 of a season is a Monday): (session type, minutes).
FIXED_WEEK: WeeklyPlan = (
    ("rest", 0.0),
    ("tempo", 60.0),
    ("aerobic_base", 60.0),
    ("hiit", 45.0),
    ("active_recovery", 30.0),
    ("aerobic_base", 90.0),
    ("aerobic_base", 60.0),
)
# Polarised week: 90 of 450 min (20 %) in HIIT, the rest easy.
POLARIZED_WEEK: WeeklyPlan = (
    ("rest", 0.0),
    ("hiit", 45.0),
    ("aerobic_base", 90.0),
    ("aerobic_base", 60.0),
    ("hiit", 45.0),
    ("aerobic_base", 120.0),
    ("aerobic_base", 90.0),
)
BUILD_FACTORS = (1.0, 1.15, 1.3, 0.6)  # weekly volume of the 4-week cycle: 3 builds, 1 deload
CYCLE_DAYS = 7 * len(BUILD_FACTORS)
START_VOLUME = 1.1  # the plan's mean daily load on day 0, as a multiple of the athlete's CTL
BLOCK_PROGRESSION = 0.05  # volume added by every 4-week block (fraction of the first block's)
SCALE_RANGE = (0.25, 3.0)  # the plan's volume: multiples of the written week on offer

# Readiness rule: recovery-score bands (WHOOP: green >= 67, red <= 33) and session loads.
RULE_HARD_ABOVE = 70.0
RULE_AEROBIC_ABOVE = 50.0
RULE_RED_AT_OR_BELOW = 33.0
RULE_EASY_LOAD = 1.0  # aerobic-base session load, x the plan's mean daily load (TSS)
RULE_HARD_LOAD = 1.3  # tempo / HIIT session load, x the plan's mean daily load (TSS)
RULE_RECOVERY_MIN = 30.0  # active-recovery minutes

NAMES: tuple[str, ...] = ("random", "rule", "fixed", "polarized", "habit")


class PlanState(NamedTuple):
    day: jnp.ndarray  # i32, days of the season so far
    start_ctl: jnp.ndarray  # f32, the athlete's CTL on day 0 (picks the plan's volume)


class RuleState(NamedTuple):
    day: jnp.ndarray  # i32, days of the season so far
    start_ctl: jnp.ndarray  # f32, the athlete's CTL on day 0 (sets the session loads)
    hard_sessions: jnp.ndarray  # i32, hard sessions prescribed so far (tempo and HIIT alternate)


class _Reader:
    """Named reads of the observation and the config's action tables (static, per config)."""

    def __init__(self, config: WorldConfig):
        names = feature_names(config)
        self.config = config
        self.nvec = config.nvec
        self.ctl = names.index("ctl")
        self.recovery = names.index("recovery")
        self.habit_ema = np.asarray([names.index(f"habit_ema_{h.name}")
                                     for h in config.habits.items], np.int32)
        self.durations = np.asarray(config.actions.durations_min, np.float32)
        self.goal_levels = np.asarray([h.goal_level for h in config.habits.items], np.int32)
        self.top_levels = np.asarray([len(h.levels) - 1 for h in config.habits.items], np.int32)
        self.sleep = next((i for i, h in enumerate(config.habits.items) if h.effect == "sleep"),
                          None)

    def ctl_of(self, obs) -> jnp.ndarray:
        return obs["features"][self.ctl] * 100.0  # features hold CTL / 100

    @staticmethod
    def mean_load(day: jnp.ndarray, start_ctl: jnp.ndarray) -> jnp.ndarray:
        """A plan's mean daily load (TSS) on `day`: START_VOLUME x CTL, growing every block."""
        return START_VOLUME * start_ctl * (1.0 + BLOCK_PROGRESSION * (day // CYCLE_DAYS))

    def recovery_of(self, obs) -> jnp.ndarray:
        return obs["features"][self.recovery] * 100.0  # forward-filled; 50 when unknown

    def bucket(self, minutes: jnp.ndarray) -> jnp.ndarray:
        """The duration bucket nearest to `minutes`."""
        return jnp.argmin(jnp.abs(self.durations - minutes)).astype(jnp.int32)

    def minutes_for_load(self, session: int, load: jnp.ndarray) -> jnp.ndarray:
        """Minutes of `session` whose TSS is `load` (TSS = h x IF^2 x 100)."""
        return load / tss(60.0, INTENSITY_FACTORS[session]) * 60.0

    def safe(self, session, duration, habits, obs) -> jnp.ndarray:
        """The action, with every masked head stepped down to the nearest allowed choice."""
        action = jnp.concatenate([jnp.stack([session, duration]).astype(jnp.int32),
                                  jnp.asarray(habits, jnp.int32)])
        return nearest_allowed(action, obs["action_mask"], self.nvec)[0]


def random_policy(config: WorldConfig) -> Policy:
    """Uniform over the allowed choices of every head."""
    nvec = config.nvec

    def step(state, obs, key):
        allowed = padded_heads(obs["action_mask"], nvec)  # [H, max(nvec)]
        logits = jnp.where(allowed, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits).astype(jnp.int32), state

    return Policy("random", lambda key: (), step)


def readiness_rule(config: WorldConfig) -> Policy:
    """Today's session from this morning's recovery score; more sleep when recovery is low."""
    r = _Reader(config)

    def step(state: RuleState, obs, key):
        recovery = r.recovery_of(obs)
        start_ctl = jnp.where(state.day == 0, r.ctl_of(obs), state.start_ctl)
        load = r.mean_load(state.day, start_ctl)
        hard_type = jnp.where(state.hard_sessions % 2 == 0, TEMPO, HIIT)
        session = jnp.where(recovery > RULE_HARD_ABOVE, hard_type,
                            jnp.where(recovery > RULE_AEROBIC_ABOVE, AEROBIC_BASE,
                                      jnp.where(recovery > RULE_RED_AT_OR_BELOW,
                                                ACTIVE_RECOVERY, REST)))
        hard_minutes = jnp.where(hard_type == TEMPO,
                                 r.minutes_for_load(TEMPO, RULE_HARD_LOAD * load),
                                 r.minutes_for_load(HIIT, RULE_HARD_LOAD * load))
        easy_minutes = r.minutes_for_load(AEROBIC_BASE, RULE_EASY_LOAD * load)
        minutes = jnp.select([session == hard_type, session == AEROBIC_BASE],
                             [hard_minutes, easy_minutes], RULE_RECOVERY_MIN)
        habits = jnp.asarray(r.goal_levels)
        if r.sleep is not None:  # a short night is the first thing to fix on a low day
            boost = jnp.minimum(r.goal_levels[r.sleep] + 1, r.top_levels[r.sleep])
            habits = habits.at[r.sleep].set(
                jnp.where(recovery <= RULE_AEROBIC_ABOVE, boost, r.goal_levels[r.sleep]))
        action = r.safe(session, r.bucket(minutes), habits, obs)
        done_hard = (action[0] == TEMPO) | (action[0] == HIIT)
        return action, RuleState(state.day + 1, start_ctl,
                                 state.hard_sessions + done_hard.astype(jnp.int32))

    return Policy("rule", lambda key: RuleState(jnp.int32(0), jnp.float32(0.0), jnp.int32(0)),
                  step)


def plan_tables(week: WeeklyPlan) -> tuple[np.ndarray, np.ndarray, float]:
    """(session types i32[28], minutes f32[28], mean daily TSS of the written week) of a plan.

    The 4-week cycle repeats `week` with its volume scaled by BUILD_FACTORS.
    """
    sessions = np.asarray([SESSION_NAMES.index(name) for name, _ in week] * 4, np.int32)
    minutes = np.asarray([m * f for f in BUILD_FACTORS for _, m in week], np.float32)
    mean_tss = sum(tss(m, INTENSITY_FACTORS[SESSION_NAMES.index(name)]) for name, m in week) / 7
    return sessions, minutes, float(mean_tss)


def _plan_step(r: _Reader, week: WeeklyPlan
               ) -> Callable[[PlanState, dict], tuple[jnp.ndarray, jnp.ndarray, PlanState]]:
    """(session, duration bucket, next state) of a periodised plan fitted to the athlete."""
    sessions, minutes, written_load = plan_tables(week)

    def step(state: PlanState, obs):
        start_ctl = jnp.where(state.day == 0, r.ctl_of(obs), state.start_ctl)
        volume = jnp.clip(r.mean_load(state.day, start_ctl) / written_load, *SCALE_RANGE)
        hot = state.day % CYCLE_DAYS == jnp.arange(CYCLE_DAYS)  # one-hot: gathers are slow
        session = jnp.sum(jnp.where(hot, sessions, 0))           # under vmap on CPU
        duration = r.bucket(jnp.sum(jnp.where(hot, minutes, 0.0)) * volume)
        return session, duration, PlanState(state.day + 1, start_ctl)

    return step


def _plan_init(key: jax.Array) -> PlanState:
    return PlanState(jnp.int32(0), jnp.float32(0.0))


def periodised_plan(config: WorldConfig, week: WeeklyPlan = FIXED_WEEK,
                    name: str = "fixed") -> Policy:
    """A fixed weekly plan with 3 build weeks and a deload week; habits at their goal."""
    r = _Reader(config)
    plan = _plan_step(r, week)

    def step(state: PlanState, obs, key):
        session, duration, state = plan(state, obs)
        return r.safe(session, duration, r.goal_levels, obs), state

    return Policy(name, _plan_init, step)


def polarized_plan(config: WorldConfig) -> Policy:
    """The polarised 80/20 week (HIIT two days, the rest easy), same cycle as `fixed`."""
    return periodised_plan(config, POLARIZED_WEEK, "polarized")


def habit_greedy(config: WorldConfig) -> Policy:
    """Training from the fixed plan; habits at goal, the furthest below goal at its top level."""
    r = _Reader(config)
    plan = _plan_step(r, FIXED_WEEK)

    def step(state: PlanState, obs, key):
        session, duration, state = plan(state, obs)
        habits = jnp.asarray(r.goal_levels)
        if len(r.goal_levels):
            ema = obs["features"][r.habit_ema]
            worst = jnp.argmin(ema)
            behind = (jnp.arange(len(r.goal_levels)) == worst) & (ema[worst] < 1.0)
            habits = jnp.where(behind, r.top_levels, habits)
        return r.safe(session, duration, habits, obs), state

    return Policy("habit", _plan_init, step)


BASELINES: dict[str, Callable[[WorldConfig], Policy]] = {
    "random": random_policy,
    "rule": readiness_rule,
    "fixed": periodised_plan,
    "polarized": polarized_plan,
    "habit": habit_greedy,
}


def make_baseline(name: str, config: WorldConfig) -> Policy:
    """The baseline `name` (one of NAMES) for the world `config`."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline '{name}': choose from {', '.join(NAMES)}")
    return BASELINES[name](config)


__all__ = ["BASELINES", "FIXED_WEEK", "NAMES", "POLARIZED_WEEK", "PlanState", "RuleState",
           "habit_greedy", "make_baseline", "periodised_plan", "plan_tables", "polarized_plan",
           "random_policy", "readiness_rule"]
