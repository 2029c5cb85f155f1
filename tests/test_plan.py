"""Today's plan from logged days: safety parity with the shared rules, reasons, outlook."""

import datetime as dt

import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.agents.acting import masked_policy
from coachrl.coach.features import history_from_log
from coachrl.coach.plan import make_plan, outlook, workout_steps
from coachrl.coach.store import Athlete, LoggedDay
from coachrl.config import default_world_config
from coachrl.sim.safety import RULE_REASONS, safety_mask

CONFIG = default_world_config()
START = dt.date(2026, 3, 2)
ATHLETE = Athlete("a", None, 190.0, 170.0, 250.0, None, dt.datetime(2026, 1, 1), {})
# A coach that always wants the hardest, longest session it is allowed.
GREEDY = masked_policy(
    lambda f: jnp.broadcast_to(jnp.arange(max(CONFIG.nvec), dtype=jnp.float32),
                               (len(CONFIG.nvec), max(CONFIG.nvec))), CONFIG.nvec)


def day(i, session="aerobic_base", minutes=60.0, **readings):
    sessions = () if session == "rest" else ((session, minutes, None),)
    return LoggedDay(START + dt.timedelta(days=i), **{"hrv_ms": 60.0, "rhr_bpm": 50.0,
                                                      "sleep_h": 7.5, "sleep_eff": 0.9,
                                                      "recovery": 60.0, **readings},
                     sessions=sessions)


def normal(n=20):
    return [day(i, "aerobic_base" if i % 3 else "rest") for i in range(n)]


def hrv_days(n=30):
    rng = np.random.default_rng(0)
    return [day(i, "aerobic_base" if i % 3 else "rest", hrv_ms=float(v))
            for i, v in enumerate(60 * np.exp(rng.normal(0, 0.08, n)))]


CASES = {  # rule -> (logged days, this morning)
    "low_recovery": (normal() + [day(20, recovery=20.0)], day(21, recovery=25.0)),
    "hrv_suppressed": (hrv_days(), day(30, hrv_ms=35.0)),
    "hard_streak": (normal() + [day(20 + i, s) for i, s in enumerate(("tempo", "hiit",
                                                                        "tempo"))], day(23)),
    "rest_due": ([day(0, "rest")] + [day(i) for i in range(1, 7)], day(7)),
    "injured": (normal(), day(20, injured=True)),
    "ill": (normal(), day(20, ill=True)),
    "ramp_limit": ([day(i, "aerobic_base" if i % 4 else "rest", 30.0) for i in range(28)],
                   day(28)),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_plan_keeps_to_every_rule_and_says_why(rule):
    days, today = CASES[rule]
    history = history_from_log(days, CONFIG, 40.0, today=today)
    plan = make_plan(GREEDY, CONFIG, history, ATHLETE, today.date)
    mask = safety_mask(history, CONFIG)
    assert rule in plan.rules
    assert bool(mask.session[plan.action[0]]) and bool(mask.duration[plan.action[1]])
    opening = RULE_REASONS[rule].split("{")[0][:15]
    assert any(reason.startswith(opening) for reason in plan.reasons), plan.reasons


def test_a_normal_day_plan_with_zones_steps_and_habits():
    days, today = normal(), day(20)
    plan = make_plan(GREEDY, CONFIG, history_from_log(days, CONFIG, 40.0, today=today),
                     ATHLETE, today.date)
    assert plan.session == "hiit" and plan.minutes > 0
    assert sum(s.minutes for s in plan.steps) == pytest.approx(plan.minutes)
    assert any(s.name.startswith("interval") and s.target.endswith(" W") for s in plan.steps)
    assert set(plan.habits) == {h.name for h in CONFIG.habits.items}
    assert any(r.startswith("recovery 60/100") for r in plan.reasons)
    as_json = plan.to_json()
    for key in ("date", "session", "minutes", "steps", "habits", "reasons"):
        assert key in as_json


def test_outlook_rolls_seven_days_and_respects_the_rules_on_the_way():
    days, today = normal(), day(20)
    history = history_from_log(days, CONFIG, 40.0, today=today)
    week = outlook(GREEDY, CONFIG, history, ATHLETE, today.date, days=7)
    assert [p.date for p in week] == [today.date + dt.timedelta(days=i) for i in range(7)]
    # The greedy coach would go hard every day; the shared rules (the load ratio, the
    # hard-day streak) stop it on the way.
    hard = [p.session in ("tempo", "hiit") for p in week]
    assert not all(hard) and any(p.rules for p in week[1:])


def test_workout_steps_by_hand():
    # HIIT 45 min (catalogue: warm-up 25 %, cool-down 15 %, 4-min intervals, 3-min recoveries):
    # warm-up round(11.25) = 11, main 45 - 11 - 7 = 27 -> 3 x (4 + 3), cool-down 7 + 6 = 13.
    steps = workout_steps(5, 45.0, None)
    assert steps[0].minutes == 11 and [s.minutes for s in steps[1:7]] == [4.0, 3.0] * 3
    assert steps[-1].minutes == 13
    assert sum(s.minutes for s in steps) == pytest.approx(45.0)
    assert workout_steps(0, 0.0, None) == ()


def test_a_cautious_plan_takes_the_hard_sessions_off_and_says_so():
    from coachrl.coach.plan import CAUTIOUS_REASON
    from coachrl.sim.sessions import SESSION_NAMES, SESSION_TYPES

    history = history_from_log(normal(), CONFIG, 40.0, today=day(20))
    bold = make_plan(GREEDY, CONFIG, history, ATHLETE, START)
    assert SESSION_TYPES[bold.action[0]].hard  # the greedy coach wants a hard day
    cautious = make_plan(GREEDY, CONFIG, history, ATHLETE, START, cautious=True)
    hardest_easy = max(i for i, s in enumerate(SESSION_TYPES) if not s.hard)
    assert cautious.session == SESSION_NAMES[hardest_easy]
    assert CAUTIOUS_REASON in cautious.reasons and CAUTIOUS_REASON not in bold.reasons
