"""Study protocols as calendars in the session catalogue, and the policy that follows one.

A protocol arm is a list of weeks, each 7 days of (session type, minutes), written
as the study describes them. An arm is either absolute (minutes as written, as in
HERITAGE's standardised programme) or relative (`volume`: each week's mean daily
load is that multiple of the athlete's starting CTL, read from the log on day 0,
as overload and taper studies prescribe load relative to normal training).

`calendar_policy` follows an arm day by day with the habits at their goal level,
through the shared safety mask (`enforce`). A supervised study's cohort runs with
`safety.coach_rules: false`: its subjects do not train ill or injured, and otherwise
do the protocol as the paper wrote it (Aubry et al. 2014's athletes did their 3 weeks
at +40 % and were diagnosed overreached afterwards; no HRV or recovery rule changed
their sessions). A coach's cohort keeps every rule.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.agents.policy import Policy
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import feature_names
from coachrl.sim.safety import enforce
from coachrl.sim.sessions import INTENSITY_FACTORS, REST, SESSION_NAMES, tss

Day = tuple[str, float]  # (session type name, minutes)
Week = tuple[Day, ...]  # 7 days, Monday first

VOLUME_RANGE = (0.25, 3.0)  # a relative arm's weekly volume: multiples of the written week
MAX_OWED_MIN = 60.0  # most minutes the duration buckets may owe (or be ahead) at a time


def week(*days: Day) -> Week:
    """A week of 7 (session, minutes) days; a bare session name means rest."""
    if len(days) != 7:
        raise ValueError(f"a week has 7 days, got {len(days)}")
    for name, minutes in days:
        if name not in SESSION_NAMES:
            raise ValueError(f"unknown session type '{name}': one of {', '.join(SESSION_NAMES)}")
        if minutes < 0 or (name == "rest") != (minutes == 0):
            raise ValueError(f"{name} {minutes} min: rest has 0 minutes, a session > 0")
    return tuple(days)


REST_WEEK = week(*[("rest", 0.0)] * 7)


def week_load(w: Week) -> float:
    """Mean daily TSS of a written week."""
    return sum(tss(m, INTENSITY_FACTORS[SESSION_NAMES.index(s)]) for s, m in w) / 7.0


@dataclasses.dataclass(frozen=True)
class Arm:
    """One group of a study: its weeks and, for a relative arm, each week's volume.

    Attributes:
      name: the group's name in the study (e.g. "POL").
      weeks: the calendar, Monday first.
      volume: None for minutes as written; else, per week, the mean daily load as a
        multiple of the athlete's starting CTL (the week's sessions scaled to it).
    """

    name: str
    weeks: tuple[Week, ...]
    volume: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.weeks:
            raise ValueError(f"arm {self.name}: needs at least one week")
        if self.volume is not None and len(self.volume) != len(self.weeks):
            raise ValueError(f"arm {self.name}: {len(self.volume)} volumes for "
                             f"{len(self.weeks)} weeks")

    @property
    def days(self) -> int:
        return 7 * len(self.weeks)


def repeat(w: Week, n: int) -> tuple[Week, ...]:
    return (w,) * n


class CalendarState(NamedTuple):
    day: jnp.ndarray  # i32, days followed so far
    start_ctl: jnp.ndarray  # f32, the athlete's CTL on day 0 (a relative arm's scale)
    owed: jnp.ndarray  # f32, minutes the duration buckets left out so far (carried forward)


def calendar_policy(config: WorldConfig, arm: Arm) -> Policy:
    """Follows `arm` day by day (habits at their goal), through the shared safety mask.

    A day's minutes go to the nearest duration bucket and what the bucket leaves out is
    carried to the next session (error diffusion, capped at `MAX_OWED_MIN`), so a scaled
    week keeps its written volume. After the last written day the calendar's last week
    repeats.
    """
    names = feature_names(config)
    i_ctl = names.index("ctl")
    sessions = np.asarray([SESSION_NAMES.index(s) for w in arm.weeks for s, _ in w], np.int32)
    minutes = np.asarray([m for w in arm.weeks for _, m in w], np.float32)
    written = np.asarray([max(week_load(w), 1e-6) for w in arm.weeks for _ in w], np.float32)
    relative = arm.volume is not None
    volume = np.asarray([v for v in (arm.volume or [1.0] * len(arm.weeks)) for _ in range(7)],
                        np.float32)
    durations = np.asarray(config.actions.durations_min, np.float32)
    goals = np.asarray([h.goal_level for h in config.habits.items], np.int32)
    days = len(sessions)

    def step(state: CalendarState, obs, key):
        start_ctl = jnp.where(state.day == 0, obs["features"][i_ctl] * 100.0, state.start_ctl)
        d = jnp.where(state.day < days, state.day, days - 7 + (state.day - days) % 7)
        hot = d == jnp.arange(days)  # one-hot reads: gathers are slow under vmap on CPU
        session = jnp.sum(jnp.where(hot, sessions, 0))
        scale = jnp.sum(jnp.where(hot, volume / written, 0.0)) * start_ctl if relative else 1.0
        scale = jnp.clip(scale, *VOLUME_RANGE) if relative else scale
        written_min = jnp.sum(jnp.where(hot, minutes, 0.0)) * scale
        trains = written_min > 0
        target = written_min + jnp.where(trains, state.owed, 0.0)
        duration = jnp.argmin(jnp.abs(durations - target)).astype(jnp.int32)
        chosen = jnp.sum(jnp.where(jnp.arange(durations.size) == duration, durations, 0.0))
        owed = jnp.where(trains, jnp.clip(target - chosen, -MAX_OWED_MIN, MAX_OWED_MIN),
                         state.owed)
        session = jnp.where(trains, session, REST)
        action = jnp.concatenate([jnp.stack([session, duration]).astype(jnp.int32),
                                  jnp.asarray(goals, jnp.int32)])
        action = enforce(action, obs["action_mask"], config)[0]
        return action, CalendarState(state.day + 1, start_ctl, owed)

    def init(key: jax.Array) -> CalendarState:
        return CalendarState(jnp.int32(0), jnp.float32(0.0), jnp.float32(0.0))

    return Policy(f"calendar:{arm.name}", init, step)


__all__ = ["Arm", "CalendarState", "Day", "MAX_OWED_MIN", "REST_WEEK", "VOLUME_RANGE", "Week",
           "calendar_policy", "repeat", "week", "week_load"]
