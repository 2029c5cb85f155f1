"""Today's plan from a coach: session, minutes, zones, structured steps, habits, reasons.

    history = history_from_log(days, config, initial_ctl, today=this_morning)
    plan = make_plan(coach.policy, config, history, athlete, date)
    week = outlook(coach.policy, config, history, athlete, date, days=7)

The observation is the SHARED one (`coachrl.sim.safety.observe`: the simulator's
features and safety mask), so the coach can only choose allowed sessions; the
reasons name the readings behind the day and every safety rule that fired, in
the shared wording (`coachrl.sim.safety.reasons`). Target zones come from the
athlete's own thresholds and the session catalogue's zones (`coachrl.sim.sessions`).
The outlook rolls the plan forward assuming each day is done as planned and no
new readings arrive (readings are forward-filled, then treated as missing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any

import jax
import numpy as np

from coachrl.agents.policy import Policy
from coachrl.coach.features import HISTORY_TREE, history_spec
from coachrl.coach.programs import program
from coachrl.coach.store import Athlete
from coachrl.coach.todo import HabitTodo
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import (
    History,
    Readiness,
    compute_features,
    log_day,
    observe_morning,
    readiness,
)
from coachrl.sim.record import empty_record
from coachrl.sim.safety import RULE_NAMES, action_mask, enforce, reasons, safety_mask
from coachrl.sim.sessions import (
    EASY_HR_ZONE,
    EASY_ZONE,
    HARD,
    INTENSITY_FACTORS,
    REST,
    SESSION_TYPES,
    tss,
)


@dataclasses.dataclass(frozen=True)
class Step:
    name: str  # warm-up, main set, interval, recovery, cool-down
    minutes: float
    target: str  # the zone in the athlete's terms, e.g. "150-190 W" or "60-68 % of max HR"


@dataclasses.dataclass(frozen=True)
class Plan:
    date: dt.date
    session: str  # a session type name
    label: str
    minutes: float
    load_tss: float
    steps: tuple[Step, ...]
    habits: dict[str, str]  # habit name -> "8.0 h in bed"
    reasons: tuple[str, ...]
    rules: tuple[str, ...]  # the safety rules that fired today
    action: tuple[int, ...]  # the coach's action: session, duration bucket, habit levels
    # today's habits as a to-do list with reasons (`coachrl.coach.todo`; the daily coach's)
    todo: tuple[HabitTodo, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "session": self.session, "label": self.label,
                "minutes": self.minutes, "load_tss": round(self.load_tss, 1),
                "steps": [dataclasses.asdict(s) for s in self.steps], "habits": self.habits,
                "reasons": list(self.reasons), "rules": list(self.rules),
                "action": list(self.action), "todo": [t.to_json() for t in self.todo]}


def zone(session: int, athlete: Athlete | None, easy: bool = False) -> str:
    """The session's main-set zone (`easy`: of its warm-up, cool-down and recoveries) in the
    athlete's own units: power from the threshold power, else heart rate from LTHR."""
    s = SESSION_TYPES[session]
    if s.name == "strength":
        return f"RPE {s.rpe:g}"
    power = EASY_ZONE if easy else s.power_zone
    if athlete is not None and athlete.threshold_power_w:
        ftp = athlete.threshold_power_w
        return f"{power[0] * ftp:.0f}-{power[1] * ftp:.0f} W"
    heart = EASY_HR_ZONE if easy else s.hr_zone
    if athlete is not None and athlete.threshold_hr:
        lthr = athlete.threshold_hr
        return f"{heart[0] * lthr:.0f}-{heart[1] * lthr:.0f} bpm"
    return f"{power[0]:.0%}-{power[1]:.0%} of threshold power (RPE {s.rpe:g})"


def workout_steps(session: int, minutes: float, athlete: Athlete | None) -> tuple[Step, ...]:
    """Warm-up ramp, main set (intervals where the catalogue has them), cool-down: the
    session catalogue's structure (`coachrl.sim.sessions`), the one the simulator's time in
    zone comes from."""
    if session == REST or minutes <= 0:
        return ()
    s = SESSION_TYPES[session]
    st = s.structure
    warm, cool = round(minutes * st.warm_up), round(minutes * st.cool_down)
    main = minutes - warm - cool
    easy = zone(session, athlete, easy=True) if s.name != "strength" else "easy mobility"
    steps = [Step("warm-up (ramp)", warm, easy)]
    if st.work_min > 0:
        period = st.work_min + st.recovery_min
        reps = max(1, int(main // period))
        for i in range(reps):
            steps += [Step(f"interval {i + 1}/{reps}", st.work_min, zone(session, athlete)),
                      Step("recovery", st.recovery_min, easy)]
        cool += main - period * reps
    else:
        steps.append(Step("main set", main, zone(session, athlete)))
    steps.append(Step("cool-down", cool, easy))
    return tuple(s for s in steps if s.minutes > 0)


def _reading_reasons(r: Readiness) -> list[str]:
    """The readings behind the day, from this morning's readiness (numpy)."""
    out = []
    if not np.isnan(r.hrv_ln) and bool(r.hrv_trusted):
        z = float((r.hrv_ln - r.hrv_mean) / r.hrv_sd)
        which = "your last HRV reading is" if bool(r.missing[0]) else "HRV"
        out.append(f"{which} {abs(z):.1f} SD {'below' if z < 0 else 'above'} your 60-day "
                   "normal")
    recovery = float(r.filled[4])
    if not np.isnan(recovery):
        which = "your last recovery score" if bool(r.missing[4]) else "recovery"
        out.append(f"{which} {recovery:.0f}/100")
    out.append(f"form (TSB) {float(r.tsb):+.0f}, acute:chronic load {float(r.acwr):.2f}")
    if bool(r.missing[0]):
        out.append("no HRV reading today: judged on the days before")
    return out


CAUTIOUS_REASON = "today's readings could not be trusted: tempo and HIIT are off today"


NO_KEY = np.zeros((2,), np.uint32)  # a raw PRNG key: the greedy coach draws nothing


@functools.lru_cache(maxsize=16)
def _decide(policy: Policy, config: WorldConfig, cautious: bool):
    """jit(history, key -> (action, rules fired, readiness)): the observation and mask of
    `coachrl.sim.safety.observe` (one readiness pass, shared with the reasons) and the
    coach's choice. `cautious` also takes the hard sessions off the mask (readings that
    cannot be trusted). A policy with an identity keeps the program across runs."""
    not_hard = ~np.asarray(HARD)

    def decide(history, key):
        ready = readiness(history, config)
        observation = {"features": compute_features(history, config, ready),
                       "action_mask": action_mask(history, config, ready)}
        if cautious:
            mask = observation["action_mask"]
            observation = {**observation, "action_mask": mask.at[:len(HARD)].set(
                mask[:len(HARD)] & not_hard)}
        action, _ = policy.step(policy.init(key), observation, key)
        action = enforce(action, observation["action_mask"], config)[0]
        return action, safety_mask(history, config, ready).rules, ready

    if not policy.identity:
        return jax.jit(decide)
    out = (0, 0, Readiness(*(0,) * len(Readiness._fields)))
    return program("decide", decide, lambda: (history_spec(config), NO_KEY), out,
                   (config, policy.name, policy.identity, cautious))


def make_plan(policy: Policy, config: WorldConfig, history: History, athlete: Athlete | None,
              date: dt.date, key: jax.Array | None = None, cautious: bool = False) -> Plan:
    """Today's plan from the coach `policy` for the morning `history`; `cautious` (today's
    readings could not be trusted) also rules out the hard sessions and says so."""
    action, fired, ready = jax.device_get(_decide(policy, config, cautious)(
        history, key if key is not None else NO_KEY))
    action, fired = np.asarray(action), np.asarray(fired)
    session, minutes = int(action[0]), float(config.actions.durations_min[int(action[1])])
    minutes = 0.0 if session == REST else minutes
    habits = {h.name: f"{h.levels[int(level)]:g} {h.unit}"
              for h, level in zip(config.habits.items, action[2:])}
    return Plan(date=date, session=SESSION_TYPES[session].name,
                label=SESSION_TYPES[session].label, minutes=minutes,
                load_tss=float(tss(minutes, INTENSITY_FACTORS[session])),
                steps=workout_steps(session, minutes, athlete), habits=habits,
                reasons=tuple(_reading_reasons(ready) + reasons(fired, config)
                              + ([CAUTIOUS_REASON] if cautious else [])),
                rules=tuple(name for name, f in zip(RULE_NAMES, fired) if f),
                action=tuple(int(a) for a in action))


@functools.lru_cache(maxsize=16)
def _next_morning(config: WorldConfig):
    """jit(history, today's done record -> tomorrow morning's history, no readings)."""
    return program("next_morning", lambda history, done: observe_morning(
        log_day(history, done, config), empty_record(config.num_habits), config),
        lambda: (history_spec(config), empty_record(config.num_habits)), HISTORY_TREE,
        (config,))


def outlook(policy: Policy, config: WorldConfig, history: History, athlete: Athlete | None,
            date: dt.date, days: int = 7, cautious: bool = False) -> list[Plan]:
    """Today's plan (`cautious` as in `make_plan`) and the next days', each assuming the
    days before go as planned."""
    plans = []
    for i in range(days):
        plan = make_plan(policy, config, history, athlete, date + dt.timedelta(days=i),
                         cautious=cautious and i == 0)
        plans.append(plan)
        habits = np.asarray([h.levels[level] for h, level in
                             zip(config.habits.items, plan.action[2:])], np.float32)
        done = empty_record(config.num_habits)._replace(
            session=np.int32(plan.action[0]), minutes=np.float32(plan.minutes),
            tss=np.float32(plan.load_tss), habits=habits)
        history = _next_morning(config)(history, done)
    return plans


__all__ = ["CAUTIOUS_REASON", "Plan", "Step", "make_plan", "outlook", "workout_steps", "zone"]
