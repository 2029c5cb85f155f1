"""The daily coach's programs kept across runs (jax.export): same results, keyed, robust."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_plan import ATHLETE, CONFIG, GREEDY, day, normal

from coachrl.coach import features as coach_features
from coachrl.coach import plan as coach_plan
from coachrl.coach import programs
from coachrl.coach.programs import SUFFIX, program, program_key


class Pair(NamedTuple):
    a: jnp.ndarray
    b: jnp.ndarray


def scaled(pair, x):
    return Pair(pair.a * x, pair.b + jnp.sum(x))


ARGS = (Pair(np.ones(3, np.float32), np.float32(1.0)), np.arange(3, dtype=np.float32))
OUT = Pair(0, 0)


def _refuse(*args, **kwargs):
    raise AssertionError("exported again although the file was there")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(programs, "program_folder", lambda: tmp_path)
    return tmp_path


def test_a_program_is_exported_once_then_loaded_with_the_same_results(folder, monkeypatch):
    first = program("scaled", scaled, lambda: ARGS, OUT, ("v1",))(*ARGS)
    assert len(list(folder.glob(f"*{SUFFIX}"))) == 1
    monkeypatch.setattr(programs.export, "export", _refuse)
    again = program("scaled", scaled, lambda: ARGS, OUT, ("v1",))(*ARGS)
    expected = jax.jit(scaled)(*ARGS)
    for got in (first, again):
        assert isinstance(got, Pair)
        np.testing.assert_array_equal(got.a, expected.a)
        np.testing.assert_array_equal(got.b, expected.b)


def test_a_damaged_file_is_exported_again(folder):
    path = folder / f"{program_key('scaled', ('v1',))}{SUFFIX}"
    path.write_bytes(b"not a program")
    got = program("scaled", scaled, lambda: ARGS, OUT, ("v1",))(*ARGS)
    np.testing.assert_array_equal(got.a, [0.0, 1.0, 2.0])
    assert path.read_bytes() != b"not a program"


def test_without_a_cache_folder_it_is_a_plain_jit(monkeypatch):
    monkeypatch.setattr(programs, "program_folder", lambda: None)
    monkeypatch.setattr(programs.export, "export", _refuse)
    got = program("scaled", scaled, lambda: ARGS, OUT, ("v1",))(*ARGS)
    np.testing.assert_array_equal(got.b, 4.0)


def test_the_key_changes_with_everything_the_program_depends_on():
    keys = {program_key("scaled", ("v1",)), program_key("scaled", ("v2",)),
            program_key("other", ("v1",)), program_key("scaled", (CONFIG,))}
    assert len(keys) == 4
    assert program_key("scaled", ("v1",)) == program_key("scaled", ("v1",))


def _clear_caches():
    for cached in (coach_features._folders, coach_plan._decide, coach_plan._next_morning):
        cached.cache_clear()


def test_kept_programs_plan_the_week_exactly_as_traced_ones(tmp_path, monkeypatch):
    days, today = normal(), day(20)
    coach = GREEDY._replace(identity="always-the-hardest")  # an identity: kept programs

    def week():
        _clear_caches()
        history = coach_features.history_from_log(days, CONFIG, 40.0, today=today)
        return coach_plan.outlook(coach, CONFIG, history, ATHLETE, today.date)

    try:
        monkeypatch.setattr(programs, "program_folder", lambda: None)
        traced = week()
        monkeypatch.setattr(programs, "program_folder", lambda: tmp_path)
        assert week() == traced  # exported
        monkeypatch.setattr(programs.export, "export", _refuse)
        assert week() == traced  # loaded
    finally:
        _clear_caches()
    # init, day, morning, decide, next morning
    assert len(list(tmp_path.glob(f"*{SUFFIX}"))) == 5
    assert traced[0].date == today.date and len(traced) == 7
