"""Hard safety constraints as action masks: ONE function for sim, agents, baselines, inference.

Every rule reads only the observable `History` (so daily inference applies the
same rules to a real log) and thresholds from `config.safety`:

  low_recovery    recovery < 30 two days running       -> rest / active recovery only
  hrv_suppressed  ln rMSSD < 60-day mean - 2 SD          -> no tempo or HIIT
  hard_streak     3 hard days in a row                   -> no hard session
  rest_due        6 days without rest                    -> rest (one rest day in any 7)
  injured         injury reported                        -> rest / active recovery only
  ill             illness reported                       -> rest only
  ramp_limit      duration <= max(floor, 1.5 x longest session of the last 28 days)
  acwr_limit      no (type, duration) whose load would push ACWR past 1.5 (Gabbett 2016)

With `safety.coach_rules: false` only the illness and injury rules apply: a supervised
study's subjects do not train ill or injured, and otherwise do the protocol as written
(the virtual trials, `coachrl.validation`).

Heads are independent categoricals, so the joint ACWR rule is enforced as a
product mask: among the "up to intensity k" type sets, keep the one that leaves
the most (type, duration) training choices, every one of them under the line.
Rest is always allowed, and so is the shortest duration: a mask is never empty.

Habits (`coachrl.sim.habits`): a habit the coach does not prescribe is held at its
default level; with a time budget, no duration or habit level longer than the day.
What heads cannot express alone, the groups ("at most K of these a day") and the
budget shared by the session and every habit, `enforce` applies to the whole
prescription, after the mask: the one function the world, the baselines, the
trials and the daily coach call.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from coachrl.sim import habits as habits_lib
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import History, Readiness, compute_features, readiness
from coachrl.sim.sessions import (
    ACTIVE_RECOVERY,
    HARD,
    INTENSITY_FACTORS,
    NUM_SESSION_TYPES,
    REST,
    lookup,
    tss,
)

RULE_NAMES: tuple[str, ...] = ("low_recovery", "hrv_suppressed", "hard_streak", "rest_due",
                               "injured", "ill", "ramp_limit", "acwr_limit")

RULE_REASONS: dict[str, str] = {
    "low_recovery": "recovery has been under {low_recovery:g} for {low_recovery_days} days: "
                    "rest or active recovery only",
    "hrv_suppressed": "HRV is more than {hrv_sd_below:g} SD below your 60-day normal: "
                      "tempo and HIIT are off today",
    "hard_streak": "{max_hard_in_a_row} hard days in a row: no hard session today",
    "rest_due": "{max_days_without_rest} days without rest: today is a rest day",
    "injured": "injury reported: rest or active recovery only",
    "ill": "illness reported: rest only",
    "ramp_limit": "sessions are capped at {ramp_factor:g} x your longest session of the last "
                  "28 days (at least {ramp_floor_min:g} min)",
    "acwr_limit": "longer or harder sessions would push your acute:chronic load ratio past "
                  "{acwr_danger:g}",
}


def _only(*types: int) -> np.ndarray:
    allowed = np.zeros(NUM_SESSION_TYPES, bool)
    allowed[list(types)] = True
    return allowed


_NOT_HARD = ~np.asarray(HARD)
_STUDY_RULES = np.asarray([name in ("injured", "ill") for name in RULE_NAMES[:6]])
# Session types each session rule allows, in RULE_NAMES order (the first six rules).
_SESSION_RULES = np.stack([
    _only(REST, ACTIVE_RECOVERY),  # low_recovery
    _NOT_HARD,  # hrv_suppressed
    _NOT_HARD,  # hard_streak
    _only(REST),  # rest_due
    _only(REST, ACTIVE_RECOVERY),  # injured
    _only(REST),  # ill
])


class SafetyMask(NamedTuple):
    session: jnp.ndarray  # bool[S]
    duration: jnp.ndarray  # bool[D]
    rules: jnp.ndarray  # bool[R], which rules removed something today (RULE_NAMES order)


def safety_mask(history: History, config: WorldConfig,
                ready: Readiness | None = None) -> SafetyMask:
    """Allowed session types and durations for today, and which rules fired.

    `ready` is `readiness(history, config)` when the caller already has it.
    """
    s = config.safety
    r = readiness(history, config) if ready is None else ready
    hrv_low = r.hrv_trusted & (r.hrv_ln < r.hrv_mean - s.hrv_sd_below * r.hrv_sd)
    session_rules = jnp.stack([
        history.low_recovery_streak >= s.low_recovery_days,
        hrv_low,
        history.hard_streak >= s.max_hard_in_a_row,
        history.days_since_rest >= s.max_days_without_rest,
        history.injured,
        history.ill,
    ])
    if not s.coach_rules:
        session_rules = session_rules & _STUDY_RULES
    session = jnp.all(~session_rules[:, None] | _SESSION_RULES, axis=0)

    durations = jnp.asarray(config.actions.durations_min, jnp.float32)
    first = jnp.arange(durations.shape[0]) == 0
    cap = jnp.maximum(s.ramp_floor_min, s.ramp_factor * r.longest_min)
    in_day = jnp.asarray(_durations_in_day(config)) | first
    ramp_ok = (durations <= cap) | first | (not s.coach_rules)
    duration = ramp_ok & in_day

    # ACWR after today's load for every (type, duration): ok[S, D], monotone in both.
    a, c = config.pmc.acute_days, config.pmc.chronic_days
    load = tss(durations[None, :], jnp.asarray(INTENSITY_FACTORS)[:, None])
    acute = (jnp.sum(history.tss[-(a - 1):]) + load) / a
    chronic = jnp.maximum((jnp.sum(history.tss[-(c - 1):]) + load) / c,
                          config.pmc.chronic_floor_tss)
    ok = (acute / chronic <= s.acwr_danger) | (load <= 0) | (not s.coach_rules)
    # Candidate k allows the allowed types <= k (types are sorted by intensity, so the
    # hardest is k) and the durations safe for k. Keep the candidate with most training
    # (type, duration) choices; on ties the wider type set.
    types = jnp.arange(NUM_SESSION_TYPES)
    n_types = jnp.cumsum(session & (types != REST))
    n_durations = jnp.sum(duration[None, :] & ok, axis=1)
    score = jnp.where(session, n_types * n_durations, -1)
    widest_best = NUM_SESSION_TYPES - 1 - jnp.argmax(score[::-1])
    best = jnp.where(jnp.max(score) > 0, widest_best, REST)  # nothing safe: rest only
    acwr_session = session & (types <= best)
    safe = duration & ok[best]
    acwr_duration = safe | (first & ~jnp.any(safe))
    acwr_fired = jnp.any(acwr_session != session) | jnp.any(acwr_duration != duration)

    rules = jnp.concatenate([session_rules, jnp.stack([jnp.any(in_day & ~ramp_ok), acwr_fired])])
    return SafetyMask(acwr_session, acwr_duration, rules)


def _durations_in_day(config: WorldConfig) -> np.ndarray:
    """bool[D]: the durations that fit the day's time budget with every habit at its lowest."""
    durations = np.asarray(config.actions.durations_min, np.float32)
    budget = config.habits.time_budget_min
    if budget is None:
        return np.ones(durations.shape, bool)
    least = float(habits_lib.tables(config.habits).minutes[:, 0].sum())
    return durations <= budget - least


def habit_level_mask(config: WorldConfig) -> np.ndarray:
    """bool[sum(nvec[2:])]: the habit levels the coach may prescribe (the same every day)."""
    held = habits_lib.level_mask(config.habits)
    return np.concatenate([held[i, :len(h.levels)] for i, h in enumerate(config.habits.items)]
                          or [np.zeros((0,), bool)])


def action_mask(history: History, config: WorldConfig,
                ready: Readiness | None = None) -> jnp.ndarray:
    """bool[sum(nvec)]: session choices, duration choices, then every habit level."""
    m = safety_mask(history, config, ready)
    return jnp.concatenate([m.session, m.duration, jnp.asarray(habit_level_mask(config))])


def enforce(action: jnp.ndarray, mask: jnp.ndarray, config: WorldConfig
            ) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """The prescription made safe and feasible: masked heads replaced (`nearest_allowed`),
    then the habit groups and the day's time budget (`habits.fit`).

    Returns (action, replaced[H]: heads the mask changed, trimmed[num_habits]: habits the
    groups or the budget lowered). The one function every caller applies to an action.
    """
    nvec = config.nvec
    action, replaced = nearest_allowed(action, mask, nvec)
    if not config.num_habits:
        return action, replaced, jnp.zeros((0,), bool)
    levels, trimmed = habits_lib.fit(action[2:], training_minutes(action, config), config.habits)
    return jnp.concatenate([action[:2], levels.astype(action.dtype)]), replaced, trimmed


def training_minutes(action: jnp.ndarray, config: WorldConfig) -> jnp.ndarray:
    """The prescribed session's minutes (0 for rest)."""
    minutes = lookup(np.float32(config.actions.durations_min), action[1])
    return jnp.where(action[0] == REST, 0.0, minutes)


def observe(history: History, config: WorldConfig) -> dict[str, jnp.ndarray]:
    """The observation for today's decision: `{features, action_mask}` (one readiness pass)."""
    ready = readiness(history, config)
    return {"features": compute_features(history, config, ready),
            "action_mask": action_mask(history, config, ready)}


def padded_heads(flat: jnp.ndarray, nvec: tuple[int, ...], fill=False) -> jnp.ndarray:
    """[..., sum(nvec)] -> [..., H, max(nvec)] by static slices (no gather), padded with `fill`."""
    width = max(nvec)
    lead = [(0, 0)] * (flat.ndim - 1)
    rows, start = [], 0
    for k in nvec:
        row = flat[..., start:start + k]
        rows.append(jnp.pad(row, lead + [(0, width - k)], constant_values=fill))
        start += k
    return jnp.stack(rows, axis=-2)


def nearest_allowed(action: jnp.ndarray, mask: jnp.ndarray,
                    nvec: tuple[int, ...]) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Replaces each masked head by the nearest allowed choice, stepping down first.

    Choices are ordered easiest first (rest < ... < HIIT, short < long), so the
    replacement is the largest allowed index below the requested one, or, if
    there is none, the smallest allowed index. Returns (action, replaced[H]).
    """
    allowed = padded_heads(mask, nvec)  # [H, N]
    idx = jnp.arange(allowed.shape[1])[None, :]
    below = allowed & (idx <= action[:, None])
    down = jnp.max(jnp.where(below, idx, -1), axis=1)
    up = jnp.argmax(allowed, axis=1)
    fixed = jnp.where(down >= 0, down, up).astype(action.dtype)
    return fixed, fixed != action


def reasons(rules: np.ndarray | jnp.ndarray, config: WorldConfig) -> list[str]:
    """Plain-language reasons for the rules that fired (for the daily coach)."""
    fields = {k: getattr(config.safety, k) for k in config.safety.__dataclass_fields__}
    return [RULE_REASONS[name].format(**fields)
            for name, fired in zip(RULE_NAMES, np.asarray(rules)) if fired]
