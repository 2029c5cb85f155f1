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
  coach      a periodised polarised plan as a good coach writes it: mesocycles of
             three progressive build weeks (420, 450, 480 min at volume 1) and a
             recovery week (63 % of the builds' volume, one hard session instead of
             two); by time ~81 % easy, ~5 % threshold, ~14 % HIIT (Seiler 2010;
             Stöggl & Sperlich 2014); two hard days a week, never back to back, one
             long easy day and one rest day. Once a race is in sight it re-anchors
             its weeks on race day so that three build weeks lead into a 2-week
             taper (volume -38 %, then -61 % of the last build week, -50 % over the
             taper; intensity and frequency kept: Bosquet et al. 2007; a short easy
             race eve), and the week from race day on is easy.

Plans are fitted to the athlete's level the way a coach picks a plan tier:
on the first day the weekly volume is scaled so that the plan's mean daily
load is `START_VOLUME` x the athlete's CTL (read from the log), at least
`MEAN_LOAD_FLOOR` (the load of ACSM's 150 min a week of moderate training), and
every 4-week block adds `BLOCK_PROGRESSION`. Habits are prescribed at their goal
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
from coachrl.sim.safety import enforce, padded_heads
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
# No plan goes below the load of 150 min a week at moderate intensity (aerobic base, IF
# 0.70): ACSM's minimum for adults, e.g. 30 min on 5 days (Garber et al. 2011, ACSM position
# stand), which beginner plans meet or exceed (3 sessions of 30-45 min a week). As a load,
# hard minutes count for more, as ACSM counts vigorous minutes double: 17.5 TSS a day.
FLOOR_MINUTES_PER_WEEK = 150.0
MEAN_LOAD_FLOOR = tss(FLOOR_MINUTES_PER_WEEK / 7.0, INTENSITY_FACTORS[AEROBIC_BASE])

# Readiness rule: recovery-score bands (WHOOP: green >= 67, red <= 33) and session loads.
RULE_HARD_ABOVE = 70.0
RULE_AEROBIC_ABOVE = 50.0
RULE_RED_AT_OR_BELOW = 33.0
RULE_EASY_LOAD = 1.0  # aerobic-base session load, x the plan's mean daily load (TSS)
RULE_HARD_LOAD = 1.3  # tempo / HIIT session load, x the plan's mean daily load (TSS)
RULE_RECOVERY_MIN = 30.0  # active-recovery minutes

# The coach's weeks, Monday first: (session type, minutes at volume 1). A mesocycle is
# BUILD_1-3 + RECOVERY; before a race TAPER_1-2 follow BUILD_3, and POST_RACE starts on race day.
COACH_BUILD_1: WeeklyPlan = (  # 420 min: 330 easy, 90 HIIT
    ("rest", 0.0), ("hiit", 45.0), ("aerobic_base", 60.0), ("hiit", 45.0),
    ("aerobic_base", 60.0), ("aerobic_base", 120.0), ("aerobic_base", 90.0))
COACH_BUILD_2: WeeklyPlan = (  # 450 min (+7 %): 360 easy, 45 HIIT, 45 threshold
    ("rest", 0.0), ("hiit", 45.0), ("aerobic_base", 90.0), ("tempo", 45.0),
    ("aerobic_base", 60.0), ("aerobic_base", 120.0), ("aerobic_base", 90.0))
COACH_BUILD_3: WeeklyPlan = (  # 480 min (+14 %): 390 easy, 45 HIIT, 45 threshold
    ("rest", 0.0), ("hiit", 45.0), ("aerobic_base", 90.0), ("tempo", 45.0),
    ("aerobic_base", 90.0), ("aerobic_base", 120.0), ("aerobic_base", 90.0))
COACH_RECOVERY: WeeklyPlan = (  # 285 min (63 % of the builds' 450): one hard session, same length
    ("rest", 0.0), ("hiit", 45.0), ("aerobic_base", 45.0), ("aerobic_base", 30.0),
    ("aerobic_base", 30.0), ("aerobic_base", 90.0), ("aerobic_base", 45.0))
COACH_TAPER_1: WeeklyPlan = (  # days 14-8 before the race: 300 min (-38 % of BUILD_3), 2 hard
    ("rest", 0.0), ("hiit", 45.0), ("aerobic_base", 45.0), ("tempo", 30.0),
    ("aerobic_base", 45.0), ("aerobic_base", 90.0), ("aerobic_base", 45.0))
COACH_TAPER_2: WeeklyPlan = (  # days 7-1: 185 min (-61 %), 2 hard; race eve (Sunday) 20 min easy
    ("rest", 0.0), ("hiit", 30.0), ("aerobic_base", 45.0), ("hiit", 30.0),
    ("aerobic_base", 30.0), ("aerobic_base", 30.0), ("aerobic_base", 20.0))
COACH_POST_RACE: WeeklyPlan = (  # race day (Monday: no training besides the race), then easy
    ("rest", 0.0), ("active_recovery", 30.0), ("aerobic_base", 45.0), ("aerobic_base", 45.0),
    ("aerobic_base", 30.0), ("aerobic_base", 90.0), ("aerobic_base", 45.0))
COACH_WEEKS: tuple[WeeklyPlan, ...] = (COACH_BUILD_1, COACH_BUILD_2, COACH_BUILD_3,
                                       COACH_RECOVERY, COACH_TAPER_1, COACH_TAPER_2,
                                       COACH_POST_RACE)
TAPER_1, TAPER_2, POST_RACE = 4, 5, 6  # indices in COACH_WEEKS (0-3: builds 1-3, recovery)
COACH_MAX_DAYS_WITHOUT_REST = 6  # one rest day in any 7 (features hold min(days, 14) / 7)
RACE_HORIZON_DAYS = 60  # features hold min(days to race, 60) / 60: the date is known inside it

NAMES: tuple[str, ...] = ("random", "rule", "fixed", "polarized", "habit", "coach")


class PlanState(NamedTuple):
    day: jnp.ndarray  # i32, days of the season so far
    start_ctl: jnp.ndarray  # f32, the athlete's CTL on day 0 (picks the plan's volume)


class CoachState(NamedTuple):
    day: jnp.ndarray  # i32, days of the season so far
    start_ctl: jnp.ndarray  # f32, the athlete's CTL on day 0 (picks the plan's volume)
    race_day: jnp.ndarray  # i32, the season day of the race once it is in sight; -1 before


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
        self.hard_streak = names.index("hard_streak")
        self.days_since_rest = names.index("days_since_rest")
        self.days_to_race = names.index("days_to_race")
        self.race_ahead = names.index("race_ahead")
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
        """A plan's mean daily load (TSS) on `day`: START_VOLUME x CTL (at least
        MEAN_LOAD_FLOOR), growing every block."""
        base = jnp.maximum(START_VOLUME * start_ctl, MEAN_LOAD_FLOOR)
        return base * (1.0 + BLOCK_PROGRESSION * (day // CYCLE_DAYS))

    def recovery_of(self, obs) -> jnp.ndarray:
        return obs["features"][self.recovery] * 100.0  # forward-filled; 50 when unknown

    def bucket(self, minutes: jnp.ndarray) -> jnp.ndarray:
        """The duration bucket nearest to `minutes`."""
        return jnp.argmin(jnp.abs(self.durations - minutes)).astype(jnp.int32)

    def minutes_for_load(self, session: int, load: jnp.ndarray) -> jnp.ndarray:
        """Minutes of `session` whose TSS is `load` (TSS = h x IF^2 x 100)."""
        return load / tss(60.0, INTENSITY_FACTORS[session]) * 60.0

    def safe(self, session, duration, habits, obs) -> jnp.ndarray:
        """The action made safe and feasible by the shared `safety.enforce` (masked heads
        stepped down, habit groups and the time budget applied)."""
        action = jnp.concatenate([jnp.stack([session, duration]).astype(jnp.int32),
                                  jnp.asarray(habits, jnp.int32)])
        return enforce(action, obs["action_mask"], self.config)[0]


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


def coach_tables() -> tuple[np.ndarray, np.ndarray, float]:
    """(session types i32[49], minutes f32[49], mean daily TSS of the mesocycle) of the coach.

    Entry 7 x week + weekday holds that day of COACH_WEEKS[week]; the mesocycle is
    the first four weeks (builds 1-3 and the recovery week).
    """
    days = [day for week in COACH_WEEKS for day in week]
    sessions = np.asarray([SESSION_NAMES.index(name) for name, _ in days], np.int32)
    minutes = np.asarray([m for _, m in days], np.float32)
    mesocycle = days[:CYCLE_DAYS]
    written = sum(tss(m, INTENSITY_FACTORS[SESSION_NAMES.index(name)])
                  for name, m in mesocycle) / CYCLE_DAYS
    return sessions, minutes, float(written)


def coach_calendar(day: jnp.ndarray, race_day: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(week in COACH_WEEKS, weekday 0-6) of season day `day`.

    With no race in sight the calendar runs from day 0 (a Monday): build 1-3, recovery.
    Once the race day is known (`race_day` >= 0) the weeks are re-anchored on it, a coach
    rewriting the plan: the race falls on a Monday (the weekly rest day), the two weeks
    before it taper, the three before those build (so the taper follows build 3, not a
    recovery week), and the week that starts on race day is easy before a new mesocycle.
    """
    to_race = race_day - day  # days to the race; < 0 after it
    week = jnp.floor_divide(-to_race, 7)  # 0: the week starting on race day, -1: the one before
    before = jnp.where(week <= -3, (week + 5) % 4, jnp.where(week == -2, TAPER_1, TAPER_2))
    after = jnp.where(week == 0, POST_RACE, (week + 3) % 4)
    known = race_day >= 0
    block_week = jnp.where(known, jnp.where(week < 0, before, after), (day // 7) % 4)
    weekday = jnp.where(known, (-to_race) % 7, day % 7)
    return block_week.astype(jnp.int32), weekday.astype(jnp.int32)


def coach_plan(config: WorldConfig) -> Policy:
    """The periodised polarised plan of a good coach, with a taper when a race is in sight.

    Volume as the other plans, the mesocycle's mean daily load being `mean_load` (the
    other plans scale their first week to it; their 4-week mean is 1.0125 x); habits at goal.
    Where the calendar is re-anchored on the race the log keeps the plan's rules: a hard
    session the day after a hard day becomes aerobic base of the same length, and the
    7th day without rest is a rest day.
    """
    r = _Reader(config)
    sessions, minutes, written_load = coach_tables()
    hard = np.isin(sessions, [TEMPO, HIIT])

    def step(state: CoachState, obs, key):
        features = obs["features"]
        start_ctl = jnp.where(state.day == 0, r.ctl_of(obs), state.start_ctl)
        in_sight = (features[r.race_ahead] > 0.5) & (features[r.days_to_race] < 1.0)
        to_race = jnp.round(features[r.days_to_race] * RACE_HORIZON_DAYS).astype(jnp.int32)
        race_day = jnp.where(in_sight, state.day + to_race, state.race_day)
        week, weekday = coach_calendar(state.day, race_day)
        hot = 7 * week + weekday == jnp.arange(sessions.shape[0])  # one-hot: gathers are slow
        session = jnp.sum(jnp.where(hot, sessions, 0))              # under vmap on CPU
        hard_after_hard = jnp.any(hot & hard) & (features[r.hard_streak] > 0)
        session = jnp.where(hard_after_hard, AEROBIC_BASE, session)
        rest_due = features[r.days_since_rest] * 7.0 >= COACH_MAX_DAYS_WITHOUT_REST - 0.5
        session = jnp.where(rest_due, REST, session)
        volume = jnp.clip(r.mean_load(state.day, start_ctl) / written_load, *SCALE_RANGE)
        duration = r.bucket(jnp.sum(jnp.where(hot, minutes, 0.0)) * volume)
        action = r.safe(session, duration, r.goal_levels, obs)
        return action, CoachState(state.day + 1, start_ctl, race_day)

    def init(key: jax.Array) -> CoachState:
        return CoachState(jnp.int32(0), jnp.float32(0.0), jnp.int32(-1))

    return Policy("coach", init, step)


BASELINES: dict[str, Callable[[WorldConfig], Policy]] = {
    "random": random_policy,
    "rule": readiness_rule,
    "fixed": periodised_plan,
    "polarized": polarized_plan,
    "habit": habit_greedy,
    "coach": coach_plan,
}


def make_baseline(name: str, config: WorldConfig) -> Policy:
    """The baseline `name` (one of NAMES) for the world `config`."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline '{name}': choose from {', '.join(NAMES)}")
    return BASELINES[name](config)


__all__ = ["BASELINES", "COACH_WEEKS", "CoachState", "FIXED_WEEK", "MEAN_LOAD_FLOOR", "NAMES",
           "POLARIZED_WEEK", "PlanState", "RuleState", "coach_calendar", "coach_plan",
           "coach_tables", "habit_greedy", "make_baseline", "periodised_plan", "plan_tables",
           "polarized_plan", "random_policy", "readiness_rule"]
