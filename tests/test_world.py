"""The pure world: determinism, vmap, scan, autoreset, masks, missing data, rewards."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.config import default_world_config, load_world_config
from coachrl.sim import FIRST, LAST, MID, REWARD_COMPONENTS, AthleteWorld, draws
from coachrl.sim.features import num_features
from coachrl.sim.sessions import AEROBIC_BASE, HIIT, REST

SHORT = load_world_config(overrides=["episode.min_days=12", "episode.max_days=14",
                                     "episode.race_window_days=5", "episode.race_probability=1.0"])
WORLD = AthleteWorld(SHORT)
ACTION = jnp.asarray([AEROBIC_BASE, 3, 2, 1, 1], jnp.int32)


@functools.partial(jax.jit, static_argnums=(1, 2))
def season(key, days, heldout=False):
    """Runs `days` steps of one athlete under a fixed plan (scan over days)."""
    k_athlete, k_reset, k_steps = jax.random.split(key, 3)
    state, first = WORLD.reset(k_reset, WORLD.sample_athlete(k_athlete, heldout))

    def body(s, k):
        s, ts = WORLD.step(s, ACTION, k)
        return s, ts

    return first, jax.lax.scan(body, state, jax.random.split(k_steps, days))


def test_reset_observation_and_specs():
    _, (_, ts) = season(jax.random.PRNGKey(0), 3)
    first, _ = season(jax.random.PRNGKey(0), 3)
    assert int(first.step_type) == FIRST
    assert first.observation["features"].shape == (num_features(SHORT),)
    assert first.observation["action_mask"].shape == (sum(SHORT.nvec),)
    assert first.observation["features"].dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(ts.observation["features"])))
    assert set(ts.extras["reward_components"]) == set(REWARD_COMPONENTS)


def test_same_seed_same_trajectory_and_different_seeds_differ():
    a = season(jax.random.PRNGKey(7), 10)
    b = season(jax.random.PRNGKey(7), 10)
    c = season(jax.random.PRNGKey(8), 10)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.allclose(np.asarray(a[1][1].reward), np.asarray(c[1][1].reward))


def test_vmap_over_athletes_equals_single_calls():
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    batched = jax.vmap(lambda k: season(k, 6))(keys)
    for i in range(3):
        single = season(keys[i], 6)
        for x, y in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(single)):
            np.testing.assert_allclose(np.asarray(x)[i], np.asarray(y), rtol=2e-5, atol=1e-5)


def test_season_ends_with_truncation_and_race_day_is_scored():
    _, (state, ts) = season(jax.random.PRNGKey(2), 14)
    types = np.asarray(ts.step_type)
    length = int(np.argmax(types == LAST)) + 1
    assert 12 <= length <= 14 and np.all(types[:length - 1] == MID)
    assert np.all(np.asarray(ts.discount) == 1.0)  # a season ends by time, not failure
    race = np.asarray(ts.extras["reward_components"]["race"])[:length]
    days_to_race = np.asarray(ts.extras["record"].days_to_race)[:length]
    race_day = int(np.flatnonzero(days_to_race == 0)[0])
    assert length - 5 <= race_day < length
    assert np.count_nonzero(race) <= 1 and np.flatnonzero(race).tolist() in ([], [race_day])
    assert not np.isnan(np.asarray(ts.extras["record"].benchmark)[race_day]) or bool(
        np.asarray(ts.extras["record"].ill | ts.extras["record"].injured)[race_day])


def test_reward_is_the_weighted_sum_of_its_components():
    _, (_, ts) = season(jax.random.PRNGKey(3), 10)
    w = SHORT.reward
    total = 0.0
    for name in REWARD_COMPONENTS:
        sign = -1.0 if name in ("injury", "illness", "overtraining", "violation") else 1.0
        total = total + sign * getattr(w, name) * np.asarray(ts.extras["reward_components"][name])
    np.testing.assert_allclose(np.asarray(ts.reward), total, rtol=1e-5, atol=1e-6)


def test_performance_reward_sums_to_the_season_gain():
    _, (_, ts) = season(jax.random.PRNGKey(4), 12)
    perf = np.asarray(ts.extras["reward_components"]["performance"])
    gain = np.asarray(ts.extras["metrics"]["gain"])
    # Potential-based: daily changes telescope, so their sum is the gain so far (both in %).
    assert perf.sum() == pytest.approx(gain[-1], abs=1e-3)


def test_missing_wearable_days_are_missing_not_invented():
    world = AthleteWorld(load_world_config(overrides=[
        "population.common.missing_prob=[1.0, 1.0]", "population.heldout_shift=0.0"]))
    state, first = world.reset(jax.random.PRNGKey(0), world.sample_athlete(jax.random.PRNGKey(1)))
    _, ts = world.step(state, ACTION, jax.random.PRNGKey(2))
    rec = ts.extras["record"]
    for field in ("hrv_ms", "rhr_bpm", "sleep_h", "sleep_eff", "recovery"):
        assert np.isnan(float(getattr(rec, field)))
    assert float(rec.minutes) >= 0 and not np.isnan(float(rec.tss))  # training is still logged
    names = world.num_features
    assert names == num_features(world.config)
    assert np.all(np.isfinite(np.asarray(ts.observation["features"])))


def test_masked_action_is_replaced_and_counted():
    world = AthleteWorld(load_world_config(overrides=["safety.max_days_without_rest=1"]))
    state, _ = world.reset(jax.random.PRNGKey(0), world.sample_athlete(jax.random.PRNGKey(0)))
    hiit = jnp.asarray([HIIT, 0, 0, 0, 0], jnp.int32)
    # The warm-start week ends with training days: rest is due, so HIIT is replaced and counted.
    assert not bool(state.mask[HIIT]) and bool(state.mask[REST])
    _, ts = world.step(state, hiit, jax.random.PRNGKey(2))
    assert int(ts.extras["action"][0]) == REST
    assert bool(ts.extras["violations"][0])
    assert float(ts.extras["reward_components"]["violation"]) >= 1.0


def test_step_autoreset_starts_a_new_season():
    state, _ = WORLD.reset(jax.random.PRNGKey(0), WORLD.sample_athlete(jax.random.PRNGKey(0)))
    step = jax.jit(WORLD.step_autoreset)
    lasts = 0
    for t in range(30):
        state, ts = step(state, ACTION, jax.random.PRNGKey(t))
        if int(ts.step_type) == LAST:
            lasts += 1
            assert int(state.day) == 0  # the next observation is a new season's first morning
    assert lasts == 2


def test_batch_step_runs_and_resets():
    batch = 16
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    states, _ = jax.vmap(WORLD.reset)(keys, jax.vmap(WORLD.sample_athlete)(keys))
    actions = jnp.tile(ACTION, (batch, 1))

    @jax.jit
    def run(states, key):
        def body(s, k):
            s, ts = WORLD.batch_step(s, actions, k)
            return s, (ts.step_type, ts.reward)
        return jax.lax.scan(body, states, jax.random.split(key, 30))

    states, (types, rewards) = run(states, jax.random.PRNGKey(1))
    assert np.count_nonzero(np.asarray(types) == LAST) >= batch  # every athlete finished once
    assert np.all(np.isfinite(np.asarray(rewards)))
    assert np.all(np.asarray(states.day) < np.asarray(states.length))


def test_restarting_only_the_ended_rows_is_the_same_as_by_rank():
    """batch_step's usual path (the ended seasons restart in place) and its fallback (every
    row picks a pool athlete by rank) start the same seasons when the pool suffices."""
    batch, pool_size = 16, 4
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    states, _ = jax.vmap(WORLD.reset)(keys, jax.vmap(WORLD.sample_athlete)(keys))
    pool = jax.vmap(WORLD.sample_athlete)(jax.random.split(jax.random.PRNGKey(1), pool_size))
    starts = jax.vmap(WORLD._season_start)(pool)
    u = jax.random.uniform(jax.random.PRNGKey(2), (batch, WORLD._num_uniform + 3))
    for ended in ([], [3], [0, 5, 9, 15]):
        done = jnp.zeros((batch,), bool).at[jnp.asarray(ended, jnp.int32)].set(True)
        got = WORLD._restart_ended(states, done, u, pool, starts)
        expected = WORLD._restart_by_rank(states, done, u, pool, starts)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert np.array_equal(np.asarray(got.day) == 0, np.asarray(done) | (
            np.asarray(states.day) == 0))


def test_default_world_is_deterministic_under_jit_and_eager():
    world = AthleteWorld(default_world_config())
    key = jax.random.PRNGKey(5)
    params = world.sample_athlete(key)
    s1, t1 = jax.jit(world.reset)(key, params)
    s2, t2 = world.reset(key, params)
    np.testing.assert_allclose(np.asarray(t1.observation["features"]),
                               np.asarray(t2.observation["features"]), rtol=1e-5, atol=1e-6)


def test_batch_draws_are_uniform_and_fixed_by_the_key():
    key = jax.random.PRNGKey(3)
    u = np.asarray(draws.uniform(key, (4096, 24)))
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    np.testing.assert_array_equal(u, np.asarray(draws.uniform(key, (4096, 24))))
    assert not np.array_equal(u, np.asarray(draws.uniform(jax.random.PRNGKey(4), (4096, 24))))
    # Mean 1/2 and variance 1/12 within 5 standard errors; columns and rows uncorrelated.
    n = u.size
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - n / 10) < 5 * np.sqrt(n / 10))
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 5 / np.sqrt(u.shape[0])
    assert abs(np.corrcoef(u[:-1, 0], u[1:, 0])[0, 1]) < 5 / np.sqrt(u.shape[0])


def test_pool_covers_the_seasons_that_end_on_one_day():
    """Seasons are min_days..max_days long: with ages spread evenly, at most about
    batch / min_days end on one day; the pool holds twice that."""
    world = AthleteWorld(default_world_config())
    min_days = world.config.episode.min_days
    assert world.pool_size(1) == 1
    assert world.pool_size(4096) == -(-2 * 4096 // min_days) >= 2 * 4096 / min_days
