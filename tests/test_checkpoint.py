"""Tests for coachrl.checkpoint."""

import hashlib
import json
import os
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from coachrl import checkpoint as ck


class Stats(NamedTuple):
    mean: np.ndarray
    var: np.ndarray
    count: np.ndarray


def make_state(offset: float = 0.0):
    params = {
        "linear": {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3) + offset,
                   "b": jnp.zeros(3, jnp.float32)},
        "head": {"w": jnp.ones((3, 1), jnp.float32)},
    }
    return {
        "params": params,
        "opt_state": optax.adam(1e-3).init(params),
        "stats": Stats(mean=np.array([0.5, -1.0], np.float32), var=np.ones(2, np.float32),
                       count=np.array(7, np.int32)),
        "key": jax.random.PRNGKey(42),  # uint32 raw key
        "int_key": np.array([3, -4], np.int32),
        "mask": np.array([True, False, True]),
        "scalar": np.float32(2.5),
        "counter": jnp.int32(11),
    }


def assert_same(a, b):
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype
        assert x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def test_round_trip_with_template(tmp_path):
    state = make_state()
    meta = {"config": {"agent": {"lr": 1e-3, "layers": [64, 64]}}, "episodes": 12,
            "features": ["fatigue", "fitness"]}
    path = ck.save_checkpoint(tmp_path, 100, state, meta)
    assert path == tmp_path / "checkpoints" / "ckpt_0000000100"
    assert sorted(p.name for p in path.iterdir()) == ["arrays.npz", "meta.json"]

    loaded, loaded_meta = ck.load_checkpoint(tmp_path, template=make_state(offset=5.0))
    assert_same(loaded, state)
    assert isinstance(loaded["stats"], Stats)
    assert isinstance(loaded["opt_state"][0], optax.ScaleByAdamState)
    assert loaded["key"].dtype == np.uint32
    assert loaded["mask"].dtype == np.bool_
    assert loaded["scalar"].shape == ()
    assert loaded_meta == {**meta, "step": 100}
    # The loaded state is usable by optax as is.
    grads = jax.tree_util.tree_map(jnp.ones_like, loaded["params"])
    optax.adam(1e-3).update(grads, loaded["opt_state"], loaded["params"])


def test_template_may_be_shape_dtype_structs(tmp_path):
    state = make_state()
    ck.save_checkpoint(tmp_path, 1, state, {})
    template = jax.eval_shape(lambda: make_state())
    loaded, _ = ck.load_checkpoint(tmp_path, template=template)
    assert_same(loaded, state)


def test_load_without_template_is_flat_dict(tmp_path):
    state = make_state()
    ck.save_checkpoint(tmp_path, 3, state, {"a": 1})
    flat, meta = ck.load_checkpoint(tmp_path)
    assert meta == {"a": 1, "step": 3}
    expected = {jax.tree_util.keystr(p): np.asarray(x)
                for p, x in jax.tree_util.tree_flatten_with_path(state)[0]}
    assert list(flat) == list(expected)
    for k, v in expected.items():
        assert flat[k].dtype == v.dtype
        np.testing.assert_array_equal(flat[k], v)
    assert "['opt_state'][0].count" in flat


def test_meta_json_layout(tmp_path):
    path = ck.save_checkpoint(tmp_path, 9, {"w": np.zeros((2, 2), np.float32)}, {"x": [1]})
    meta = json.loads((path / "meta.json").read_text())
    assert meta["format_version"] == ck.FORMAT_VERSION == 1
    assert meta["step"] == 9
    assert meta["metadata"] == {"x": [1]}
    assert meta["arrays"]["leaves"] == [
        {"key": "leaf_00000", "path": "['w']", "shape": [2, 2], "dtype": "float32"}]
    digest = hashlib.sha256((path / "arrays.npz").read_bytes()).hexdigest()
    assert meta["arrays"]["sha256"] == digest
    assert "created" in meta


def test_read_metadata(tmp_path):
    ck.save_checkpoint(tmp_path, 5, make_state(), {"config": {"seed": 0}})
    assert ck.read_metadata(tmp_path) == {"config": {"seed": 0}, "step": 5}


def test_keep_prunes_and_latest_is_newest(tmp_path):
    for step in (10, 30, 20, 40, 50):
        ck.save_checkpoint(tmp_path, step, make_state(step), {"s": step}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["ckpt_0000000040", "ckpt_0000000050"]
    assert ck.latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "ckpt_0000000050"
    loaded, meta = ck.load_checkpoint(tmp_path, template=make_state())
    assert meta["step"] == 50 and meta["s"] == 50
    assert_same(loaded, make_state(50))


def test_latest_orders_by_step_and_ignores_temporary_dirs(tmp_path):
    ck.save_checkpoint(tmp_path, 9, make_state(), {})
    ck.save_checkpoint(tmp_path, 10, make_state(), {})
    # A save killed mid-way leaves a hidden temporary directory behind: ignored.
    stale = tmp_path / "checkpoints" / ".tmp-ckpt_0000000099-abc"
    stale.mkdir()
    (stale / "meta.json").write_text("{}")
    # A directory without meta.json is not a complete checkpoint.
    (tmp_path / "checkpoints" / "ckpt_0000000077").mkdir()
    assert ck.latest_checkpoint(tmp_path).name == "ckpt_0000000010"


def test_latest_none_when_empty(tmp_path):
    assert ck.latest_checkpoint(tmp_path) is None
    assert ck.latest_checkpoint(tmp_path / "does-not-exist") is None
    with pytest.raises(ck.CheckpointError, match="no checkpoint in"):
        ck.load_checkpoint(tmp_path)
    with pytest.raises(ck.CheckpointError, match="no checkpoint in"):
        ck.read_metadata(tmp_path)


def test_load_from_workdir_checkpoints_dir_and_ckpt_dir(tmp_path):
    ck.save_checkpoint(tmp_path, 1, make_state(1), {"n": 1})
    path = ck.save_checkpoint(tmp_path, 2, make_state(2), {"n": 2})
    for where in (tmp_path, tmp_path / "checkpoints", path, str(path)):
        loaded, meta = ck.load_checkpoint(where, template=make_state())
        assert meta["n"] == 2
        assert_same(loaded, make_state(2))
        assert ck.read_metadata(where)["step"] == 2
    # An explicit checkpoint directory is loaded even if it is not the newest.
    older = tmp_path / "checkpoints" / "ckpt_0000000001"
    assert ck.latest_checkpoint(older) == older
    assert ck.load_checkpoint(older)[1]["n"] == 1


def test_saving_same_step_replaces(tmp_path):
    ck.save_checkpoint(tmp_path, 7, make_state(1), {"v": 1})
    ck.save_checkpoint(tmp_path, 7, make_state(2), {"v": 2})
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["ckpt_0000000007"]
    loaded, meta = ck.load_checkpoint(tmp_path, template=make_state())
    assert meta["v"] == 2
    assert_same(loaded, make_state(2))


def test_no_temporary_dir_left_behind(tmp_path):
    for step in range(3):
        ck.save_checkpoint(tmp_path, step, make_state(), {})
    ck.save_checkpoint(tmp_path, 2, make_state(), {})
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir()
                 if not p.name.startswith("ckpt_")]
    assert leftovers == []


def test_failed_save_leaves_nothing(tmp_path):
    with pytest.raises(ck.CheckpointError, match="JSON-serialisable"):
        ck.save_checkpoint(tmp_path, 1, make_state(), {"bad": object()})
    with pytest.raises(ck.CheckpointError, match="typed PRNG key"):
        ck.save_checkpoint(tmp_path, 1, {"k": jax.random.key(0)}, {})
    with pytest.raises(ck.CheckpointError, match="dtype object"):
        ck.save_checkpoint(tmp_path, 1, {"o": np.array([{}], dtype=object)}, {})
    cdir = tmp_path / "checkpoints"
    assert not cdir.exists() or list(cdir.iterdir()) == []


def test_bad_step_or_keep(tmp_path):
    with pytest.raises(ValueError, match="step"):
        ck.save_checkpoint(tmp_path, -1, make_state(), {})
    with pytest.raises(ValueError, match="step"):
        ck.save_checkpoint(tmp_path, 1.5, make_state(), {})
    with pytest.raises(ValueError, match="keep"):
        ck.save_checkpoint(tmp_path, 1, make_state(), {}, keep=0)


def test_truncated_arrays_refused(tmp_path):
    path = ck.save_checkpoint(tmp_path, 4, make_state(), {})
    arrays = path / "arrays.npz"
    size = arrays.stat().st_size
    with open(arrays, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(ck.CheckpointError, match="arrays.npz is corrupt or truncated"):
        ck.load_checkpoint(tmp_path, template=make_state())
    # read_metadata does not touch the arrays.
    assert ck.read_metadata(tmp_path)["step"] == 4


def test_missing_arrays_refused(tmp_path):
    path = ck.save_checkpoint(tmp_path, 4, make_state(), {})
    (path / "arrays.npz").unlink()
    with pytest.raises(ck.CheckpointError, match="arrays.npz is missing"):
        ck.load_checkpoint(path)


@pytest.mark.parametrize("content", ["{\"format_version\": 1, \"step\": ", "", "[1, 2]",
                                     "{\"format_version\": 1}"])
def test_corrupt_meta_refused(tmp_path, content):
    path = ck.save_checkpoint(tmp_path, 4, make_state(), {})
    (path / "meta.json").write_text(content)
    with pytest.raises(ck.CheckpointError, match="meta.json is (corrupt|malformed)") as e:
        ck.load_checkpoint(path)
    assert str(path / "meta.json") in str(e.value)
    with pytest.raises(ck.CheckpointError, match="meta.json"):
        ck.read_metadata(path)


def test_unknown_format_version_refused(tmp_path):
    path = ck.save_checkpoint(tmp_path, 4, make_state(), {})
    meta = json.loads((path / "meta.json").read_text())
    meta["format_version"] = 99
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ck.CheckpointError, match="format version 99 is not supported"):
        ck.load_checkpoint(tmp_path)
    with pytest.raises(ck.CheckpointError, match="format version 99"):
        ck.read_metadata(tmp_path)


def test_template_shape_mismatch_names_leaf(tmp_path):
    ck.save_checkpoint(tmp_path, 1, make_state(), {})
    template = make_state()
    template["params"]["head"]["w"] = jnp.ones((4, 1), jnp.float32)
    with pytest.raises(ck.CheckpointError) as e:
        ck.load_checkpoint(tmp_path, template=template)
    msg = str(e.value)
    assert "['params']['head']['w']" in msg
    assert "(4, 1)" in msg and "(3, 1)" in msg


def test_template_dtype_mismatch_names_leaf(tmp_path):
    ck.save_checkpoint(tmp_path, 1, make_state(), {})
    template = make_state()
    template["int_key"] = np.array([3, -4], np.int64)
    with pytest.raises(ck.CheckpointError, match=r"\['int_key'\].*int64.*int32"):
        ck.load_checkpoint(tmp_path, template=template)


def test_template_structure_mismatch_names_leaf(tmp_path):
    ck.save_checkpoint(tmp_path, 1, make_state(), {})
    template = make_state()
    template["extra"] = np.zeros(2)
    with pytest.raises(ck.CheckpointError, match=r"template expects leaf \[.extra.\], which"):
        ck.load_checkpoint(tmp_path, template=template)
    template = make_state()
    del template["mask"]
    with pytest.raises(ck.CheckpointError, match=r"checkpoint has leaf \[.mask.\], which"):
        ck.load_checkpoint(tmp_path, template=template)


def _touch(path):
    Path(path).touch()
    return "unpickled"


class Trap:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_touch, (self.marker,))


def _write_pickle_npz(path: Path, marker: Path) -> None:
    with open(path, "wb") as f:
        np.savez(f, leaf_00000=np.array([Trap(marker)], dtype=object))


def test_pickle_bearing_npz_refused_by_checksum(tmp_path):
    marker = tmp_path / "unpickled"
    path = ck.save_checkpoint(tmp_path, 1, {"w": np.zeros(1)}, {})
    _write_pickle_npz(path / "arrays.npz", marker)
    with pytest.raises(ck.CheckpointError, match="corrupt or truncated"):
        ck.load_checkpoint(tmp_path)
    assert not marker.exists()


def test_pickle_bearing_npz_with_matching_checksum_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = ck.save_checkpoint(tmp_path, 1, {"w": np.zeros(1)}, {})
    _write_pickle_npz(path / "arrays.npz", marker)
    meta = json.loads((path / "meta.json").read_text())
    meta["arrays"]["sha256"] = hashlib.sha256((path / "arrays.npz").read_bytes()).hexdigest()
    meta["arrays"]["leaves"][0]["dtype"] = "object"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ck.CheckpointError, match="cannot be read safely.*allow_pickle"):
        ck.load_checkpoint(tmp_path)
    assert not marker.exists()


def test_npz_not_matching_meta_refused(tmp_path):
    path = ck.save_checkpoint(tmp_path, 1, {"w": np.zeros(2, np.float32)}, {})
    with open(path / "arrays.npz", "wb") as f:
        np.savez(f, leaf_00000=np.zeros(3, np.float32))
    meta = json.loads((path / "meta.json").read_text())
    meta["arrays"]["sha256"] = hashlib.sha256((path / "arrays.npz").read_bytes()).hexdigest()
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ck.CheckpointError, match=r"leaf \['w'\] is \[3\] float32"):
        ck.load_checkpoint(path)


def test_bfloat16_round_trip(tmp_path):
    state = {"w": jnp.arange(4, dtype=jnp.bfloat16)}
    ck.save_checkpoint(tmp_path, 1, state, {})
    loaded, _ = ck.load_checkpoint(tmp_path, template=state)
    assert_same(loaded, state)


def test_checkpoint_dir_is_readable_by_others(tmp_path):
    path = ck.save_checkpoint(tmp_path, 1, make_state(), {})
    assert os.stat(path).st_mode & 0o755 == 0o755
