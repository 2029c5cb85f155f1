"""A person's habit file: goal-normalised EMAs, groups, the time budget, adherence, errors."""

import dataclasses
import math
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.config import CONFIG_DIR, ConfigError, default_world_config, load_world_config
from coachrl.sim import habits as H
from coachrl.sim.config import HabitConfig
from coachrl.sim.safety import action_mask, enforce, habit_level_mask
from coachrl.sim.world import AthleteWorld

WORLD23 = load_world_config(CONFIG_DIR / "world" / "coachrl23.yaml")
HABITS23 = WORLD23.habits
NAMES23 = WORLD23.habit_names


def _habit(**kw):
    base = dict(name="run", unit="min", levels=(0.0, 15.0, 30.0, 45.0), minutes=1.0)
    return HabitConfig(**{**base, **kw})


def test_the_23_habit_file_loads_with_its_groups_and_budget():
    assert WORLD23.num_habits == 23 and len(WORLD23.nvec) == 25
    assert all(3 <= len(h.levels) <= 20 or len(h.levels) == 2 for h in HABITS23.items)
    assert max(len(h.levels) for h in HABITS23.items) == 20
    assert HABITS23.time_budget_min == 300.0
    assert [g.habits for g in HABITS23.groups][0] == ("workout", "basketball", "swim")
    # The default world keeps its three habits, with the same goals as before.
    default = default_world_config()
    assert default.habit_names == ("sleep", "mobility", "breathing")
    assert [h.weekly_goal for h in default.habits.items] == [56.0, 70.0, 70.0]


def test_days_a_week_normalisation_is_the_originals_7_over_5():
    # Seed 004: a 30-minute run, goal 5 days a week: a day done counts 1 x 7/5.
    habit = _habit(days_per_week=5, amount=30.0)
    habits = dataclasses.replace(default_world_config().habits, items=(habit,))
    n = H.normalised(jnp.asarray([[30.0], [45.0], [15.0], [0.0]]), habits)
    np.testing.assert_allclose(np.asarray(n)[:, 0], [1.4, 1.4, 0.7, 0.0], rtol=1e-6)
    # EMA_1 = (1 - a) x 0 + a x 1.4.
    ema = H.update_ema(jnp.zeros((1,)), jnp.asarray([30.0]), habits)
    np.testing.assert_allclose(ema, [habits.alpha * 1.4], rtol=1e-6)
    # Five days on, two off, for two years: the EMA settles around 1.
    ema = jnp.zeros((1,))
    week = [30.0] * 5 + [0.0] * 2
    values = []
    for day in range(7 * 104):
        ema = H.update_ema(ema, jnp.asarray([week[day % 7]]), habits)
        values.append(float(ema[0]))
    assert abs(np.mean(values[-7:]) - 1.0) < 0.01


def test_weekly_amounts_normalise_by_a_seventh_of_the_goal_without_a_cap():
    habits = default_world_config().habits  # mobility: 70 min a week
    n = H.normalised(jnp.asarray([8.0, 10.0, 30.0]), habits)
    np.testing.assert_allclose(n, [8 / 8, 10 / 10, 30 / 10], rtol=1e-6)  # sleep 8 h = 56/7


def test_alignment_by_hand():
    np.testing.assert_allclose(H.alignment(jnp.asarray([1.0, 0.5, 1.3])),
                               1 - (0 + 0.5 + 0.3) / 3, rtol=1e-6)
    assert float(H.alignment(jnp.zeros((0,)))) == 1.0


def test_fit_keeps_at_most_k_of_a_group_the_highest_prescribed_first():
    i = {n: NAMES23.index(n) for n in ("workout", "basketball", "swim", "violin", "piano")}
    levels = np.zeros(23, np.int32)
    levels[i["workout"]], levels[i["basketball"]], levels[i["swim"]] = 1, 3, 3
    levels[i["violin"]], levels[i["piano"]] = 2, 2
    fitted, trimmed = H.fit(jnp.asarray(levels), jnp.float32(0.0), HABITS23)
    fitted = np.asarray(fitted)
    # basketball and swim are both at their top level: the first in the file stays.
    assert fitted[i["basketball"]] == 3 and fitted[i["swim"]] == 0 and fitted[i["workout"]] == 0
    # violin 15 of 60 min (2/6) vs piano 15 of 30 min (2/4): piano is prescribed higher.
    assert fitted[i["piano"]] == 2 and fitted[i["violin"]] == 0
    assert set(np.flatnonzero(trimmed)) == {i["workout"], i["swim"], i["violin"]}


def test_fit_fills_the_budget_in_file_order_after_training():
    top = jnp.asarray([len(h.levels) - 1 for h in HABITS23.items])
    fitted, _ = H.fit(top, jnp.float32(120.0), HABITS23)
    minutes = float(jnp.sum(H.minutes_of(fitted, HABITS23)))
    assert minutes <= 300.0 - 120.0 + 1e-4
    # Sleep, mobility and meditation come first in the file and keep their top levels.
    np.testing.assert_array_equal(np.asarray(fitted)[:3], np.asarray(top)[:3])
    # Habits that take no time (water, vegetables) keep their level even when time is up.
    full, _ = H.fit(top, jnp.float32(295.0), HABITS23)
    for name in ("water", "vegetables", "screens_off"):
        assert int(full[NAMES23.index(name)]) == int(top[NAMES23.index(name)])


def test_enforce_never_breaks_a_group_or_the_budget_on_random_histories():
    world = AthleteWorld(WORLD23)
    groups = H.tables(HABITS23).groups
    limits = H.tables(HABITS23).group_limit

    def season(key):
        k_a, k_r, k_d = jax.random.split(key, 3)
        state, ts = world.reset(k_r, world.sample_athlete(k_a))

        def day(carry, k):
            state, obs = carry
            k1, k2 = jax.random.split(k)
            action = jax.random.randint(k1, (len(world.nvec),), 0, jnp.asarray(world.nvec))
            state, ts = world.step(state, action, k2)
            return (state, ts.observation), ts.extras

        _, extras = jax.lax.scan(day, (state, ts.observation), jax.random.split(k_d, 40))
        return extras

    extras = jax.jit(jax.vmap(season))(jax.random.split(jax.random.PRNGKey(0), 16))
    levels = np.asarray(extras["action"])[..., 2:]
    active = levels > 0
    per_group = np.einsum("gh,ndh->ndg", groups.astype(int), active.astype(int))
    assert (per_group <= limits).all()
    minutes = np.asarray(extras["metrics"]["day_minutes"])
    assert minutes.max() <= HABITS23.time_budget_min + 1e-3
    assert np.asarray(extras["habits_trimmed"]).any()  # random prescriptions are trimmed
    # Enforcing a prescription that already holds changes nothing.
    action = jnp.asarray(extras["action"][0, 5])
    mask = jnp.ones((sum(WORLD23.nvec),), bool)
    again, replaced, trimmed = enforce(action, mask, WORLD23)
    np.testing.assert_array_equal(again, action)
    assert not replaced.any() and not trimmed.any()


def test_the_mask_holds_uncoached_habits_and_long_sessions_off():
    habits = dataclasses.replace(HABITS23, coached=("violin", "reading"))
    world = dataclasses.replace(WORLD23, habits=habits)
    held = H.level_mask(habits)
    t = H.tables(habits)
    for i, name in enumerate(NAMES23):
        allowed = np.flatnonzero(held[i, :t.num_levels[i]])
        if name in ("violin", "reading"):
            assert len(allowed) == t.num_levels[i]
        else:
            assert allowed.tolist() == [int(t.default[i])]
    assert habit_level_mask(world).shape == (sum(world.nvec[2:]),)
    # With a 100-minute budget no session longer than 100 minutes is offered.
    small = dataclasses.replace(
        WORLD23, habits=dataclasses.replace(HABITS23, time_budget_min=100.0))
    state, _ = AthleteWorld(small).reset(jax.random.PRNGKey(0),
                                         AthleteWorld(small).sample_athlete(jax.random.PRNGKey(1)))
    mask = np.asarray(action_mask(state.history, small))
    durations = np.asarray(small.actions.durations_min)
    offered = mask[small.nvec[0]:small.nvec[0] + len(durations)]
    assert not offered[durations > 100].any()


def _logits(**kw):
    args = dict(levels=jnp.zeros(23, jnp.int32), automaticity=jnp.zeros(23),
                day_minutes=jnp.float32(60.0), recovery=jnp.float32(50.0),
                stress=jnp.float32(0.0), hard_day=jnp.bool_(False),
                habit_adherence=jnp.float32(0.7), time_realism=jnp.float32(1.0))
    args.update(kw)
    return np.asarray(H.adherence_logits(config=WORLD23, **args))


def test_adherence_falls_with_load_and_rises_with_automaticity():
    a = WORLD23.adherence
    base = _logits()
    np.testing.assert_allclose(base, math.log(0.7 / 0.3), rtol=1e-5)
    many = np.ones(23, np.int32)  # every habit above its default (water, walk, ... too)
    many[NAMES23.index("water")] = 2
    many[NAMES23.index("walk")] = 2
    many[NAMES23.index("vegetables")] = 3
    many[NAMES23.index("sleep")] = 3
    count = int(np.sum(many > H.tables(HABITS23).default))
    np.testing.assert_allclose(
        _logits(levels=jnp.asarray(many)), base - a.habit_count_gain * (count - a.habit_free_count),
        rtol=1e-5)
    # 60 min over the person's real free time (300 x 0.8 = 240): 2 x overtime_gain.
    np.testing.assert_allclose(_logits(day_minutes=jnp.float32(300.0),
                                       time_realism=jnp.float32(0.8)),
                               base - 2 * a.habit_overtime_gain, rtol=1e-5)
    assert (_logits(stress=jnp.float32(1.0)) < base).all()
    assert (_logits(hard_day=jnp.bool_(True)) < base).all()
    assert (_logits(recovery=jnp.float32(20.0)) < base).all()
    assert (_logits(automaticity=jnp.full(23, 0.9)) > base).all()


def test_automaticity_follows_lallys_curve():
    # 95 % of the asymptote after formation_days daily repetitions (Lally et al. 2010).
    auto = jnp.zeros(())
    for _ in range(66):
        auto = H.next_automaticity(auto, jnp.bool_(True), jnp.float32(66.0), WORLD23)
    np.testing.assert_allclose(auto, 0.95, rtol=1e-4)
    decayed = H.next_automaticity(auto, jnp.bool_(False), jnp.float32(66.0), WORLD23)
    np.testing.assert_allclose(decayed, 0.95 * math.exp(-1 / WORLD23.adherence.habit_decay_days),
                               rtol=1e-5)


def test_a_habit_prescribed_every_day_is_kept_more_as_it_becomes_automatic():
    world = AthleteWorld(WORLD23)
    i = NAMES23.index("journaling")
    action = np.zeros(25, np.int32)
    action[0], action[1] = 2, 1  # 30 min aerobic base
    action[2 + i] = 1  # 5 min journaling, nothing else above its default
    action[2:][H.tables(HABITS23).default > 0] = H.tables(HABITS23).default[
        H.tables(HABITS23).default > 0]

    def season(key):
        k_a, k_r, k_d = jax.random.split(key, 3)
        state, _ = world.reset(k_r, world.sample_athlete(k_a))

        def day(state, k):
            state, ts = world.step(state, jnp.asarray(action), k)
            return state, ts.extras["habits_followed"][i]

        return jax.lax.scan(day, state, jax.random.split(k_d, 150))[1]

    followed = np.asarray(jax.jit(jax.vmap(season))(jax.random.split(jax.random.PRNGKey(2), 64)))
    assert followed[:, 120:].mean() > followed[:, :20].mean() + 0.05


def _write(tmp_path, habits_yaml: str):
    path = tmp_path / "habits.yaml"
    path.write_text(textwrap.dedent(habits_yaml))
    world = tmp_path / "world.yaml"
    world.write_text(f"base: {CONFIG_DIR / 'world' / 'default.yaml'}\nhabits: {path}\n")
    return world


@pytest.mark.parametrize("items, message", [
    ("- {name: violin, unit: min, levels: [0, 30, 15], minutes: 1, weekly_amount: 60}",
     r"habits.items\[0\].levels: habit 'violin': \[0.0, 30.0, 15.0\] must be strictly increasing"),
    ("- {name: violin, unit: min, levels: [0, 30], minutes: 1}",
     r"items\[0\].days_per_week: habit 'violin' needs a goal"),
    ("- {name: violin, unit: min, levels: [0, 30], minutes: 1, days_per_week: 3}",
     r"items\[0\].amount: habit 'violin': days_per_week and amount go together"),
    ("- {name: violin, unit: min, levels: [0, 30], minutes: 1, days_per_week: 3, amount: 45}",
     r"items\[0\].amount: habit 'violin': 45 is more than its top level"),
    ("- {name: violin, unit: min, levels: [0, 30], minutes: [0, 10, 20], weekly_amount: 60}",
     r"items\[0\].minutes: habit 'violin' has 2 levels but 3 minutes"),
    ("- {name: violin, unit: min, levels: [" + ", ".join(str(i) for i in range(21))
     + "], minutes: 1, weekly_amount: 60}",
     r"items\[0\].levels: habit 'violin' needs 2 to 20 amounts, got 21"),
    ("- {name: violin, unit: min, levels: [0, 30], minutes: 1, weekly_amount: 60, "
     "effect: music}", r"items\[0\].effect'?: expected one of"),
    ("- {name: violin, unit: min, levels: [0, 30], weekly_amount: 60}",
     r"missing key 'habits.items\[0\].minutes'"),
])
def test_bad_habit_files_name_the_file_the_habit_and_the_field(tmp_path, items, message):
    world = _write(tmp_path, f"alpha: 0.0155\nitems:\n  {items}\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_world_config(world)
    assert "habits.yaml" in str(err.value)


def test_bad_groups_and_budgets_are_named(tmp_path):
    items = ("items:\n"
             "  - {name: run, unit: min, levels: [0, 30], minutes: 1, days_per_week: 3,"
             " amount: 30}\n"
             "  - {name: gym, unit: min, levels: [0, 45], minutes: 1, days_per_week: 2,"
             " amount: 45}\n")
    world = _write(tmp_path, "alpha: 0.1\n" + items
                   + "groups: [{name: sport, habits: [run, basketball]}]\n")
    with pytest.raises(ConfigError, match=r"groups\[0\].habits: group 'sport' names unknown "
                                          r"habits \['basketball'\]"):
        load_world_config(world)
    world = _write(tmp_path, "alpha: 0.1\n" + items
                   + "groups: [{name: sport, habits: [run, gym], at_most: 2}]\n")
    with pytest.raises(ConfigError, match=r"groups\[0\].at_most: group 'sport': 2 of 2"):
        load_world_config(world)
    world = _write(tmp_path, "alpha: 0.1\n" + items + "coached: [run, swim]\n")
    with pytest.raises(ConfigError, match=r"coached: unknown habits \['swim'\]"):
        load_world_config(world)
