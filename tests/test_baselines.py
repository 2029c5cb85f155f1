"""Baselines: hand-worked prescriptions, masks always respected, dm_env and jitted use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.agents.baselines import (
    COACH_WEEKS,
    FIXED_WEEK,
    MEAN_LOAD_FLOOR,
    NAMES,
    START_VOLUME,
    CoachState,
    PlanState,
    RuleState,
    coach_calendar,
    coach_tables,
    make_baseline,
    plan_tables,
)
from coachrl.agents.policy import PolicyActor
from coachrl.config import default_world_config
from coachrl.envs import CoachEnv
from coachrl.sim.features import feature_names
from coachrl.sim.safety import padded_heads
from coachrl.sim.sessions import (
    ACTIVE_RECOVERY,
    AEROBIC_BASE,
    HIIT,
    INTENSITY_FACTORS,
    REST,
    TEMPO,
    tss,
)

CONFIG = default_world_config()  # durations 20, 30, 45, 60, 90, 120 min
NAMES_F = feature_names(CONFIG)
KEY = jax.random.PRNGKey(0)


def observation(ctl=50.0, recovery=60.0, habit_ema=(1.0, 1.0, 1.0), mask=None):
    features = np.zeros(len(NAMES_F), np.float32)
    features[NAMES_F.index("ctl")] = ctl / 100.0
    features[NAMES_F.index("recovery")] = recovery / 100.0
    for h, value in zip(CONFIG.habits.items, habit_ema):
        features[NAMES_F.index(f"habit_ema_{h.name}")] = value
    mask = np.ones(sum(CONFIG.nvec), bool) if mask is None else mask
    return {"features": jnp.asarray(features), "action_mask": jnp.asarray(mask)}


def act(name, obs, state=None, key=KEY):
    policy = make_baseline(name, CONFIG)
    state = policy.init(key) if state is None else state
    action, state = jax.jit(policy.step)(state, obs, key)
    return np.asarray(action), state


GOAL = [h.goal_level for h in CONFIG.habits.items]  # 8 h in bed, 10 min mobility, 10 min breathing


def test_goal_levels_of_the_default_habits():
    assert GOAL == [2, 1, 2]


@pytest.mark.parametrize("recovery, session", [(80.0, TEMPO), (65.0, AEROBIC_BASE),
                                               (45.0, ACTIVE_RECOVERY), (30.0, REST)])
def test_readiness_rule_bands(recovery, session):
    action, _ = act("rule", observation(ctl=50.0, recovery=recovery))
    assert action[0] == session
    # Plan load 1.1 x 50 = 55 TSS. Tempo: 1.3 x 55 = 71.5 TSS at 72.25 TSS/h -> 59.4 min -> 60.
    # Aerobic base: 55 TSS at 49 TSS/h -> 67.3 min -> 60. Active recovery: 30 min.
    expected_minutes = {TEMPO: 60, AEROBIC_BASE: 60, ACTIVE_RECOVERY: 30, REST: None}[session]
    if expected_minutes is not None:
        assert CONFIG.actions.durations_min[action[1]] == expected_minutes
    sleep = GOAL[0] + 1 if recovery <= 50.0 else GOAL[0]  # more sleep on a low day
    assert action[2:].tolist() == [sleep, *GOAL[1:]]


def test_readiness_rule_alternates_tempo_and_hiit_and_keeps_its_start_ctl():
    obs = observation(ctl=50.0, recovery=80.0)
    first, state = act("rule", obs)
    second, state = act("rule", observation(ctl=200.0, recovery=80.0), state)
    assert (first[0], second[0]) == (TEMPO, HIIT)
    assert isinstance(state, RuleState) and float(state.start_ctl) == 50.0
    # HIIT: 71.5 TSS at 81 TSS/h -> 53 min -> 60 (the day-0 CTL sets the load, not today's).
    assert CONFIG.actions.durations_min[second[1]] == 60


def test_fixed_plan_progresses_three_weeks_then_deloads():
    """The written week at volume 1 when CTL = written load / START_VOLUME."""
    _, _, written_load = plan_tables(FIXED_WEEK)
    ctl = written_load / START_VOLUME
    obs = observation(ctl=ctl)
    durations = CONFIG.actions.durations_min
    policy = make_baseline("fixed", CONFIG)
    step = jax.jit(policy.step)
    state = policy.init(KEY)
    plan = []
    for _ in range(30):
        action, state = step(state, obs, KEY)
        plan.append((int(action[0]), durations[int(action[1])] if action[0] else 0))
    assert [s for s, _ in plan[:7]] == [REST, TEMPO, AEROBIC_BASE, HIIT, ACTIVE_RECOVERY,
                                        AEROBIC_BASE, AEROBIC_BASE]
    tuesdays = [plan[d][1] for d in (1, 8, 15, 22, 29)]
    # Tempo 60 min x 1.0, 1.15 (69 -> 60), 1.3 (78 -> 90), deload 0.6 (36 -> 30),
    # then the next block at +5 % (63 -> 60).
    assert tuesdays == [60, 60, 90, 30, 60]
    saturdays = [plan[d][1] for d in (5, 12, 19, 26)]  # 90 min long ride
    assert saturdays == [90, 90, 120, 60]  # 103.5 -> 90, 117 -> 120, 54 -> 60
    assert isinstance(state, PlanState) and int(state.day) == 30


def test_polarized_week_is_80_20_by_time():
    sessions, minutes, _ = plan_tables(make_baseline.__globals__["POLARIZED_WEEK"])
    hard = np.isin(sessions, [TEMPO, HIIT])
    assert minutes[hard].sum() / minutes.sum() == pytest.approx(0.2)


COACH_CTL = coach_tables()[2] / START_VOLUME  # the coach's weeks as written (volume 1)
DURATIONS = jnp.asarray(CONFIG.actions.durations_min, jnp.float32)
_I_HARD, _I_REST, _I_TO_RACE, _I_AHEAD = (NAMES_F.index(k) for k in (
    "hard_streak", "days_since_rest", "days_to_race", "race_ahead"))


def _coach_season(race_day, ctl, days):
    """The coach's (session types [T], minutes [T]) for an athlete who does every session.

    The features are what the log of that plan would show (hard streak, days since rest,
    the race countdown min(d, 60) / 60); nothing is masked. `race_day` -1: no race.
    """
    policy = make_baseline("coach", CONFIG)
    base = observation(ctl=ctl)

    def day_of(carry, day):
        state, hard_streak, since_rest = carry
        to_race = race_day - day
        ahead = (race_day >= 0) & (to_race >= 0)
        f = base["features"].at[_I_HARD].set(jnp.minimum(hard_streak, 6) / 3.0)
        f = f.at[_I_REST].set(jnp.minimum(since_rest, 14) / 7.0)
        f = f.at[_I_TO_RACE].set(jnp.where(ahead, jnp.minimum(to_race, 60) / 60.0, 1.0))
        f = f.at[_I_AHEAD].set(ahead.astype(jnp.float32))
        action, state = policy.step(state, {"features": f, "action_mask": base["action_mask"]},
                                    KEY)
        session = action[0]
        minutes = jnp.where(session == REST, 0.0, jnp.sum(jnp.where(
            jnp.arange(DURATIONS.shape[0]) == action[1], DURATIONS, 0.0)))
        hard = (session == TEMPO) | (session == HIIT)
        carry = (state, jnp.where(hard, hard_streak + 1, 0),
                 jnp.where(session == REST, 0, since_rest + 1))
        return carry, (session, minutes)

    start = (policy.init(KEY), jnp.int32(0), jnp.int32(3))
    return jax.lax.scan(day_of, start, jnp.arange(days))[1]


def coach_seasons(race_days, ctl=COACH_CTL, days=84):
    """_coach_season for each race day (vmapped, jitted, scanned): numpy [N, T] arrays."""
    run = jax.jit(jax.vmap(lambda race_day: _coach_season(race_day, ctl, days)))
    sessions, minutes = run(jnp.asarray(race_days, jnp.int32))
    return np.asarray(sessions), np.asarray(minutes)


def is_hard(sessions):
    return np.isin(sessions, [TEMPO, HIIT])


def test_coach_mesocycle_builds_three_weeks_then_recovers():
    sessions, minutes = coach_seasons([-1], days=56)
    weeks, week_minutes = sessions[0, :28].reshape(4, 7), minutes[0, :28].reshape(4, 7)
    # Volume 1: the written weeks, every duration a bucket (Mon..Sun):
    assert week_minutes.tolist() == [[0, 45, 60, 45, 60, 120, 90],
                                     [0, 45, 90, 45, 60, 120, 90],
                                     [0, 45, 90, 45, 90, 120, 90],
                                     [0, 45, 45, 30, 30, 90, 45]]
    totals = week_minutes.sum(axis=1)
    assert totals.tolist() == [420, 450, 480, 285]  # builds progress (+7 %, +14 %)
    assert totals[3] / totals[:3].mean() == pytest.approx(285 / 450)  # recovery: 63 %
    assert 0.60 <= totals[3] / totals[:3].mean() <= 0.65
    assert (weeks == REST).sum(axis=1).tolist() == [1, 1, 1, 1]  # one rest day, Mondays
    assert (weeks[:, 0] == REST).all()
    hard = is_hard(weeks)
    assert hard.sum(axis=1).tolist() == [2, 2, 2, 1]  # recovery: one hard session ...
    assert week_minutes[3][hard[3]].tolist() == [45]  # ... as long as in the build weeks
    assert hard[:3, [1, 3]].all() and hard[3, 1]  # Tuesday and Thursday; Tuesday
    season_hard = is_hard(sessions[0])
    assert not (season_hard[1:] & season_hard[:-1]).any()  # never two hard days running
    for w in range(3):  # one long easy session: Saturday's 120 min
        assert weeks[w, 5] == AEROBIC_BASE and week_minutes[w, 5] == 120
        assert (week_minutes[w] == week_minutes[w].max()).sum() == 1
    assert (sessions[0, 28:] == sessions[0, :28]).all()  # the next block repeats it


def test_coach_is_polarised_by_time():
    """~80 % easy, ~5 % threshold, ~15 % HIIT over a mesocycle (Seiler 2010)."""
    days = [day for week in COACH_WEEKS[:4] for day in week]
    total = sum(m for _, m in days)
    share = {kind: sum(m for name, m in days if name == kind) / total
             for kind in ("aerobic_base", "tempo", "hiit")}
    assert total == 1635
    assert share == pytest.approx({"aerobic_base": 1320 / 1635, "tempo": 90 / 1635,
                                   "hiit": 225 / 1635})  # 80.7 %, 5.5 %, 13.8 %
    assert 0.78 <= share["aerobic_base"] <= 0.83 and 0.03 <= share["tempo"] <= 0.07
    assert 0.12 <= share["hiit"] <= 0.17


def test_coach_calendar_tapers_after_the_third_build_week():
    race_days = np.arange(62, 180)
    for offset, (week, weekday) in {21: (2, 0), 15: (2, 6), 14: (4, 0), 8: (4, 6),
                                    7: (5, 0), 1: (5, 6), 0: (6, 0), -7: (0, 0),
                                    -28: (3, 0), 35: (0, 0), 42: (3, 0)}.items():
        weeks, weekdays = coach_calendar(jnp.asarray(race_days - offset), jnp.asarray(race_days))
        assert (np.asarray(weeks) == week).all() and (np.asarray(weekdays) == weekday).all(), \
            offset
    weeks, weekdays = coach_calendar(jnp.arange(28), jnp.int32(-1))  # no race: from day 0
    assert np.asarray(weeks).tolist() == [w for w in range(4) for _ in range(7)]
    assert np.asarray(weekdays).tolist() == list(range(7)) * 4


RACE_DAYS = list(range(70, 77))  # every weekday; the race comes in sight 59 days ahead


def test_coach_tapers_two_weeks_before_a_race():
    """Bosquet et al. 2007: volume -41...60 % over 2 weeks, intensity and frequency kept."""
    sessions, minutes = coach_seasons(RACE_DAYS, days=84)
    for s, m, race in zip(sessions, minutes, RACE_DAYS):
        taper, builds = slice(race - 14, race), slice(race - 35, race - 14)
        # Days 35-15 before the race: builds 1-3; 14-8 and 7-1: the taper weeks.
        assert m[builds].reshape(3, 7).sum(axis=1).tolist() == [420, 450, 480], race
        assert m[taper].reshape(2, 7).sum(axis=1).tolist() == [300, 185], race
        cut = 1.0 - m[taper].mean() / m[builds].mean()
        assert cut == pytest.approx(1 - (485 / 14) / (1350 / 21))  # 46 %
        assert 0.40 <= cut <= 0.60
        assert is_hard(s[taper]).sum() == 4 == is_hard(s[race - 28:race - 14]).sum()
        assert (m[taper] > 0).sum() == 12 == (m[race - 28:race - 14] > 0).sum()  # frequency
        assert s[race - 1] == AEROBIC_BASE and m[race - 1] == 20  # race eve: short, easy
        assert s[race] == REST and s[race + 1] == ACTIVE_RECOVERY  # race day, then easy
        assert not is_hard(s[race:race + 7]).any()


def test_coach_keeps_its_week_rules_when_it_rewrites_the_plan_for_a_race():
    """The calendar jumps once, when the race comes in sight; the week rules hold anyway."""
    sessions, _ = coach_seasons([-1, *RACE_DAYS], days=100)
    for s in sessions:
        hard, rest = is_hard(s), s == REST
        assert not (hard[1:] & hard[:-1]).any()
        assert all(rest[t:t + 7].any() for t in range(len(s) - 6))  # a rest in any 7 days


def test_plans_have_a_volume_floor():
    """150 min a week of moderate training (ACSM, Garber et al. 2011) as a load: 17.5 TSS/day."""
    assert MEAN_LOAD_FLOOR == pytest.approx(tss(150 / 7, INTENSITY_FACTORS[AEROBIC_BASE]))
    assert MEAN_LOAD_FLOOR == pytest.approx(17.5)
    _, minutes = coach_seasons([-1], ctl=10.0, days=28)  # 1.1 x 10 = 11 TSS/day without it
    weeks = minutes[0].reshape(4, 7)
    # Volume 17.5 / 53.2: 45 -> 14.8 -> 20, 60 -> 19.7 -> 20, 90 -> 29.6 -> 30, 120 -> 39.5 -> 45.
    assert weeks.tolist() == [[0, 20, 20, 20, 20, 45, 30], [0, 20, 30, 20, 20, 45, 30],
                              [0, 20, 30, 20, 30, 45, 30], [0, 20, 20, 20, 20, 30, 20]]
    assert (weeks[:3].sum(axis=1) >= 150).all()  # 155, 165, 175 min in the build weeks
    # Every sized baseline gets the floor: below it, the athlete's CTL no longer matters.
    for name in ("rule", "fixed", "polarized", "habit", "coach"):
        policy = make_baseline(name, CONFIG)
        step = jax.jit(policy.step)
        plans = []
        for ctl in (5.0, 12.0):
            state, plan = policy.init(KEY), []
            for _ in range(28):
                action, state = step(state, observation(ctl=ctl, recovery=80.0), KEY)
                plan.append(action.tolist())
            plans.append(plan)
        assert plans[0] == plans[1], name


def test_coach_state_keeps_the_start_ctl_and_the_race_day():
    policy = make_baseline("coach", CONFIG)
    obs = observation(ctl=40.0)
    features = obs["features"].at[_I_AHEAD].set(1.0).at[_I_TO_RACE].set(30 / 60)
    _, state = jax.jit(policy.step)(policy.init(KEY), {**obs, "features": features}, KEY)
    assert isinstance(state, CoachState)
    assert (int(state.day), float(state.start_ctl), int(state.race_day)) == (1, 40.0, 30)


def test_habit_greedy_pushes_the_habit_furthest_below_goal():
    action, _ = act("habit", observation(habit_ema=(1.1, 0.5, 0.8)))
    assert action[2:].tolist() == [GOAL[0], 3, GOAL[2]]  # mobility to its top level
    action, _ = act("habit", observation(habit_ema=(1.0, 1.2, 1.05)))
    assert action[2:].tolist() == GOAL  # every goal met: goal levels


def test_random_is_uniform_over_allowed_choices():
    mask = np.ones(sum(CONFIG.nvec), bool)
    mask[[0, 4, 5]] = False  # sessions: active recovery, aerobic base, strength allowed
    policy = make_baseline("random", CONFIG)
    obs = observation(mask=mask)
    keys = jax.random.split(KEY, 3000)
    actions, _ = jax.vmap(policy.step, in_axes=(None, None, 0))((), obs, keys)
    counts = np.bincount(np.asarray(actions[:, 0]), minlength=6) / 3000
    np.testing.assert_allclose(counts, [0, 1 / 3, 1 / 3, 1 / 3, 0, 0], atol=0.04)


def random_masks(key, n):
    """Random masks with at least one allowed choice per head."""
    mask = np.array(jax.random.bernoulli(key, 0.4, (n, sum(CONFIG.nvec))))
    rng = np.random.default_rng(0)
    start = 0
    for k in CONFIG.nvec:
        empty = np.flatnonzero(~mask[:, start:start + k].any(axis=1))
        mask[empty, start + rng.integers(k, size=empty.size)] = True
        start += k
    return mask


@pytest.mark.parametrize("name", NAMES)
def test_baselines_never_pick_a_masked_action(name):
    n = 512
    k_mask, k_obs, k_act = jax.random.split(jax.random.PRNGKey(1), 3)
    masks = random_masks(k_mask, n)
    u = np.asarray(jax.random.uniform(k_obs, (n, 3 + CONFIG.num_habits)))
    obs = {"features": jnp.zeros((n, len(NAMES_F))), "action_mask": jnp.asarray(masks)}
    obs["features"] = obs["features"].at[:, NAMES_F.index("ctl")].set(u[:, 0] * 1.5)
    obs["features"] = obs["features"].at[:, NAMES_F.index("recovery")].set(u[:, 1])
    # Half the athletes have a race 0-40 days ahead (the coach's taper and race weeks).
    race = u[:, 2] < 0.5
    obs["features"] = obs["features"].at[:, NAMES_F.index("race_ahead")].set(race * 1.0)
    obs["features"] = obs["features"].at[:, NAMES_F.index("days_to_race")].set(
        np.where(race, np.floor(u[:, 2] * 80) / 60, 1.0))
    for i, h in enumerate(CONFIG.habits.items):
        obs["features"] = obs["features"].at[:, NAMES_F.index(f"habit_ema_{h.name}")].set(
            u[:, 3 + i] * 1.5)
    policy = make_baseline(name, CONFIG)
    keys = jax.random.split(k_act, n)
    states = jax.vmap(policy.init)(keys)
    step = jax.jit(jax.vmap(policy.step))
    # Days through a whole 4-week cycle, so every plan day meets random masks.
    for day in range(28):
        actions, states = step(states, obs, keys)
        allowed = np.asarray(jax.vmap(padded_heads, in_axes=(0, None))(obs["action_mask"],
                                                                       CONFIG.nvec))
        picked = np.take_along_axis(allowed, np.asarray(actions)[:, :, None], axis=2)
        assert picked.all(), (name, day)
        obs["action_mask"] = jnp.roll(obs["action_mask"], 1, axis=0)
        if day == 13:  # the races are over: the weeks after a race
            obs["features"] = obs["features"].at[:, NAMES_F.index("race_ahead")].set(0.0)
            obs["features"] = obs["features"].at[:, NAMES_F.index("days_to_race")].set(1.0)


@pytest.mark.parametrize("name", ["rule", "habit", "coach"])
def test_baselines_run_through_dm_env_without_violations(name):
    env = CoachEnv(seed=3, population="heldout")
    actor = PolicyActor(make_baseline(name, env.config), seed=0)
    timestep = env.reset()
    actor.observe_first(timestep)
    days = 0
    while not timestep.last():
        action = actor.select_action(timestep.observation)
        assert env.action_spec().validate(action) is not None
        timestep = env.step(action)
        days += 1
    assert days >= CONFIG.episode.min_days
    assert env.total_violations == 0


def test_unknown_baseline_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown baseline 'nope'.*random, rule"):
        make_baseline("nope", CONFIG)
