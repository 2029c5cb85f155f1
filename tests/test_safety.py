"""Safety masks: each rule blocks what it should, masks are never empty, replacement."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coachrl.config import default_world_config
from coachrl.sim import safety as S
from coachrl.sim.features import readiness
from coachrl.sim.sessions import (
    ACTIVE_RECOVERY,
    AEROBIC_BASE,
    HIIT,
    INTENSITY_FACTORS,
    NUM_SESSION_TYPES,
    REST,
    STRENGTH,
    TEMPO,
    tss,
)
from coachrl.testing import fold, record

CFG = default_world_config()
ALL = set(range(NUM_SESSION_TYPES))
_mask = jax.jit(lambda h: S.safety_mask(h, CFG))


def allowed(history):
    m = _mask(history)
    fired = {n for n, f in zip(S.RULE_NAMES, np.asarray(m.rules)) if f}
    return set(np.flatnonzero(np.asarray(m.session))), np.asarray(m.duration), fired


def normal_days(n=20, **kw):
    return [record(CFG, session=AEROBIC_BASE if i % 3 else REST, minutes=60, **kw)
            for i in range(n)]


def test_normal_day_allows_everything_reasonable():
    types, durations, fired = allowed(fold(CFG, normal_days(), 40.0, today=record(CFG)))
    assert types == ALL and not fired - {"ramp_limit"}
    assert durations[:4].all()  # up to 60 min


def test_low_recovery_two_days_running():
    one = fold(CFG, normal_days(), 40.0, today=record(CFG, recovery=20))
    assert "low_recovery" not in allowed(one)[2]
    two = fold(CFG, normal_days() + [record(CFG, recovery=20)], 40.0,
               today=record(CFG, recovery=25))
    types, _, fired = allowed(two)
    assert types == {REST, ACTIVE_RECOVERY} and "low_recovery" in fired


def test_hrv_far_below_normal_blocks_tempo_and_hiit():
    rng = np.random.default_rng(0)
    days = [record(CFG, session=AEROBIC_BASE if i % 3 else REST, hrv_ms=float(v))
            for i, v in enumerate(60 * np.exp(rng.normal(0, 0.08, 30)))]
    ok = fold(CFG, days, 40.0, today=record(CFG, hrv_ms=58.0))
    assert allowed(ok)[0] == ALL
    low = fold(CFG, days, 40.0, today=record(CFG, hrv_ms=35.0))
    types, _, fired = allowed(low)
    assert types == ALL - {TEMPO, HIIT} and "hrv_suppressed" in fired
    # Not enough readings yet: the rule cannot be trusted and stays off.
    early = fold(CFG, days[:5], 40.0, today=record(CFG, hrv_ms=35.0))
    assert "hrv_suppressed" not in allowed(early)[2]


def test_three_hard_days_in_a_row():
    days = normal_days() + [record(CFG, session=s) for s in (TEMPO, HIIT, TEMPO)]
    types, _, fired = allowed(fold(CFG, days, 60.0, today=record(CFG)))
    assert TEMPO not in types and HIIT not in types and STRENGTH in types
    assert "hard_streak" in fired


def test_rest_due_after_six_days_without_rest():
    days = [record(CFG, session=REST)] + [record(CFG, session=AEROBIC_BASE)] * 6
    types, _, fired = allowed(fold(CFG, days, 40.0, today=record(CFG)))
    assert types == {REST} and "rest_due" in fired


@pytest.mark.parametrize("flag, expected", [("injured", {REST, ACTIVE_RECOVERY}),
                                            ("ill", {REST})])
def test_injury_and_illness(flag, expected):
    h = fold(CFG, normal_days(), 40.0, today=record(CFG, **{flag: True}))
    types, _, fired = allowed(h)
    assert types == expected and flag in fired


def test_ramp_limit_caps_duration():
    days = [record(CFG, session=AEROBIC_BASE if i % 4 else REST, minutes=30) for i in range(28)]
    _, durations, fired = allowed(fold(CFG, days, 0.0, today=record(CFG)))
    # cap = max(45, 1.5 x 30) = 45 min: buckets 20, 30, 45 allowed; 60, 90, 120, 180 not.
    np.testing.assert_array_equal(durations, [True, True, True, False, False, False, False])
    assert "ramp_limit" in fired


def test_acwr_limit_keeps_every_allowed_pair_under_the_danger_line():
    # Three weeks of light base, then a week with three 45-min HIIT sessions.
    days = [record(CFG, session=AEROBIC_BASE if i % 4 else REST, minutes=30) for i in range(21)]
    days += [record(CFG, session=HIIT, minutes=45) if i % 2 else record(CFG, session=REST)
             for i in range(6)]
    h = fold(CFG, days, 20.0, today=record(CFG))
    m = _mask(h)
    check_acwr(h, m)
    types, _, fired = allowed(h)
    assert "acwr_limit" in fired
    assert TEMPO not in types and HIIT not in types and AEROBIC_BASE in types  # still trains
    # A week of two long HIIT days on the same light base: nothing but rest is safe.
    days[-6:] = [record(CFG, session=HIIT, minutes=90) if i % 2 else record(CFG, session=REST)
                 for i in range(6)]
    assert allowed(fold(CFG, days, 20.0, today=record(CFG)))[0] == {REST}


def test_a_supervised_study_keeps_only_the_illness_and_injury_rules():
    """`safety.coach_rules: false`: a day every coach rule would restrict is open, ill or
    injured days are not."""
    import dataclasses

    study = dataclasses.replace(CFG, safety=dataclasses.replace(CFG.safety, coach_rules=False))
    mask = jax.jit(lambda h: S.safety_mask(h, study))
    # Low recovery two days running, 3 hard days in a row, 6 days without rest, sessions
    # capped by the ramp; then a light base under long HIIT, where only rest is safe.
    days = [record(CFG, session=AEROBIC_BASE if i % 4 else REST, minutes=30) for i in range(21)]
    days += [record(CFG, session=AEROBIC_BASE, minutes=45) for _ in range(3)]
    days += [record(CFG, session=HIIT, minutes=90, recovery=20) for _ in range(3)]
    hard = [record(CFG, session=AEROBIC_BASE if i % 4 else REST, minutes=30) for i in range(21)]
    hard += [record(CFG, session=HIIT, minutes=90) if i % 2 else record(CFG, session=REST)
             for i in range(6)]
    for history, fires in ((days, {"low_recovery", "hard_streak", "rest_due", "ramp_limit"}),
                           (hard, {"acwr_limit"})):
        h = fold(CFG, history, 20.0, today=record(CFG, recovery=20))
        assert fires <= allowed(h)[2]
        m = mask(h)
        assert np.asarray(m.session).all() and np.asarray(m.duration).all()
        assert not np.asarray(m.rules).any()
    for flag, expected in (("injured", {REST, ACTIVE_RECOVERY}), ("ill", {REST})):
        sick = mask(fold(CFG, days, 20.0, today=record(CFG, **{flag: True})))
        assert set(np.flatnonzero(np.asarray(sick.session))) == expected
        assert {n for n, f in zip(S.RULE_NAMES, np.asarray(sick.rules)) if f} == {flag}


def test_a_coach_is_never_trained_without_the_coach_rules():
    from coachrl.schema import ConfigError
    from coachrl.training.config import load_train_config

    with pytest.raises(ConfigError, match="coach_rules"):
        load_train_config("configs/ppo.yaml", ["world.safety.coach_rules=false"])


def check_acwr(history, m):
    past = np.asarray(history.tss)
    for s in np.flatnonzero(np.asarray(m.session)):
        for d in np.flatnonzero(np.asarray(m.duration)):
            load = tss(CFG.actions.durations_min[d], INTENSITY_FACTORS[s])
            acute = (past[-6:].sum() + load) / 7
            chronic = max((past[-27:].sum() + load) / 28, CFG.pmc.chronic_floor_tss)
            assert load == 0 or acute / chronic <= CFG.safety.acwr_danger + 1e-5


def test_random_histories_masks_are_safe_and_never_empty():
    rng = np.random.default_rng(1)
    for _ in range(25):
        days = [record(CFG, session=int(rng.integers(NUM_SESSION_TYPES)),
                       minutes=float(rng.choice(CFG.actions.durations_min)),
                       recovery=float(rng.uniform(10, 90)), hrv_ms=float(rng.uniform(30, 90)))
                for _ in range(int(rng.integers(1, 40)))]
        h = fold(CFG, days, float(rng.uniform(0, 90)),
                 today=record(CFG, recovery=float(rng.uniform(10, 90)),
                              ill=bool(rng.random() < 0.1), injured=bool(rng.random() < 0.1)))
        m = _mask(h)
        assert bool(m.session[REST]) and bool(m.duration.any())
        check_acwr(h, m)
        assert float(readiness(h, CFG).acwr) >= 0


def test_nearest_allowed_steps_down_then_up():
    nvec = (6, 3)
    mask = jnp.asarray([1, 1, 1, 0, 0, 0] + [0, 1, 1], bool)
    fixed, replaced = S.nearest_allowed(jnp.asarray([5, 0]), mask, nvec)
    np.testing.assert_array_equal(np.asarray(fixed), [2, 1])  # HIIT -> base; 0 -> first allowed
    np.testing.assert_array_equal(np.asarray(replaced), [True, True])
    fixed, replaced = S.nearest_allowed(jnp.asarray([1, 2]), mask, nvec)
    np.testing.assert_array_equal(np.asarray(fixed), [1, 2])
    assert not bool(replaced.any())


def test_reasons_name_the_rules():
    h = fold(CFG, normal_days(), 40.0, today=record(CFG, ill=True))
    text = " ".join(S.reasons(_mask(h).rules, CFG))
    assert "illness" in text and "rest only" in text
