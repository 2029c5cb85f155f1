"""Checkpoints: any JAX pytree of arrays plus JSON metadata, written atomically.

On-disk layout::

    <workdir>/checkpoints/
        ckpt_0000001000/
            arrays.npz   one entry per pytree leaf, keyed "leaf_00000", "leaf_00001", ...
                         (plain np.savez, no object arrays, so nothing needs unpickling)
            meta.json    {"format_version": 1,
                          "step": 1000,
                          "created": "2024-05-01T12:00:00+00:00",
                          "arrays": {"file": "arrays.npz", "sha256": "<hex>",
                                     "leaves": [{"key": "leaf_00000",
                                                 "path": "[0].mu['linear']['w']",
                                                 "shape": [3, 4], "dtype": "float32"}, ...]},
                          "metadata": {...the caller's JSON-serialisable metadata...}}
        ckpt_0000002000/
        .tmp-ckpt_0000003000-xxxx/   a save in progress (or one killed mid-way): ignored

Leaf paths are `jax.tree_util.keystr` of the paths from `tree_flatten_with_path`, in
flattening order, so a checkpoint can be checked leaf by leaf against a template pytree
(e.g. freshly initialised params and optimiser state) before it is used.

Guarantees:
  * A save writes a temporary sibling directory, fsyncs it, then `os.replace`s it into
    place: a crash never leaves a half-written checkpoint under a `ckpt_*` name.
  * Loading checks the format version and the sha256 of `arrays.npz` and reads it with
    `allow_pickle=False`: nothing is ever unpickled.
  * A missing, corrupt or mismatched checkpoint raises `CheckpointError` with a message
    naming the file or leaf at fault.

Typical use (``--resume``)::

    state = init_state(config)                       # template: structure, shapes, dtypes
    if resume and latest_checkpoint(workdir) is not None:
        state, meta = load_checkpoint(workdir, template=state)
        start_step = meta["step"]
    ...
    save_checkpoint(workdir, step, state, {"config": to_dict(config), "episodes": n})
"""

from __future__ import annotations

import datetime
import hashlib
import json
import operator
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.files import check_writable

FORMAT_VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
ARRAYS_FILE = "arrays.npz"
META_FILE = "meta.json"

_CKPT_RE = re.compile(r"^ckpt_(\d{10})$")
_MAX_STEP = 10**10 - 1  # the step is zero-padded to 10 digits in the directory name


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, of an unknown format or does not match."""


# --------------------------------------------------------------------------- helpers


def checkpoint_name(step: int) -> str:
    """The directory name of the checkpoint for `step`, e.g. ``ckpt_0000001000``."""
    return f"ckpt_{step:010d}"


def _checkpoint_step(path: Path) -> int | None:
    """The step of a complete checkpoint directory, or None if `path` is not one."""
    match = _CKPT_RE.match(path.name)
    if match is None or not (path / META_FILE).is_file():
        return None
    return int(match.group(1))


def _list_checkpoints(checkpoints_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in `checkpoints_dir`, oldest first (temporary dirs ignored)."""
    if not checkpoints_dir.is_dir():
        return []
    found = []
    for child in checkpoints_dir.iterdir():
        if child.is_dir():
            step = _checkpoint_step(child)
            if step is not None:
                found.append((step, child))
    return sorted(found)


def _fsync_dir(path: Path) -> None:
    """Flushes a directory entry to disk (best effort: not every platform allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dtype_name(dtype: Any) -> str:
    return str(np.dtype(dtype))


def _leaf_to_numpy(path: str, leaf: Any) -> np.ndarray:
    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        raise CheckpointError(
            f"leaf {path} is a typed PRNG key ({dtype}); store jax.random.key_data(key) "
            "(a uint32 array) in the checkpoint instead")
    array = np.asarray(leaf)
    if array.dtype.hasobject:
        raise CheckpointError(
            f"leaf {path} has dtype object ({type(leaf).__name__}); only numeric, bool and "
            "string arrays can be checkpointed (no pickling)")
    return array


def _flatten(state: Any) -> tuple[list[str], list[Any], Any]:
    """(keystr paths, leaves, treedef) of a pytree."""
    with_path, treedef = jax.tree_util.tree_flatten_with_path(state)
    paths = [jax.tree_util.keystr(p) for p, _ in with_path]
    return paths, [leaf for _, leaf in with_path], treedef


# --------------------------------------------------------------------------- saving


def save_checkpoint(workdir: str | os.PathLike[str], step: int, state: Any,
                    metadata: Mapping[str, Any], keep: int = 3) -> Path:
    """Writes `state` and `metadata` as ``workdir/checkpoints/ckpt_<step:010d>/``.

    Args:
      workdir: the run's folder; ``checkpoints/`` is created inside it if needed.
      step: the training step (an int in [0, 10**10)); also names the directory.
      state: any JAX pytree whose leaves are arrays or scalars (jax or numpy; any numeric
        or bool dtype, e.g. raw uint32 PRNG keys). Typed PRNG keys and object leaves are
        refused: store ``jax.random.key_data(key)`` instead.
      metadata: JSON-serialisable mapping (config dict, counters, feature names...).
        Returned by `load_checkpoint` / `read_metadata` with ``"step"`` added.
      keep: how many checkpoints (the newest by step) to keep; older ones are deleted
        after the new one is in place. Must be >= 1.

    The checkpoint is written into a temporary sibling directory, fsynced, then renamed
    into place, so a crash never leaves a half checkpoint under the final name. Saving a
    step that already exists replaces that checkpoint.

    Returns:
      The path of the new checkpoint directory.

    Raises:
      CheckpointError: a leaf cannot be stored without pickling, or `metadata` is not
        JSON-serialisable. ValueError for a bad `step` or `keep`; OSError if the folder
        cannot be written.
    """
    try:
        step = operator.index(step)
    except TypeError:
        raise ValueError(f"step must be an int, got {step!r}") from None
    if isinstance(step, bool) or not 0 <= step <= _MAX_STEP:
        raise ValueError(f"step must be an int in [0, {_MAX_STEP}], got {step!r}")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep must be an int >= 1, got {keep!r}")
    if not isinstance(metadata, Mapping):
        raise CheckpointError(f"metadata must be a mapping, got {type(metadata).__name__}")

    paths, leaves, _ = _flatten(state)
    arrays = {}
    leaf_meta = []
    for i, (path, leaf) in enumerate(zip(paths, leaves)):
        array = _leaf_to_numpy(path, leaf)
        key = f"leaf_{i:05d}"
        arrays[key] = array
        leaf_meta.append({"key": key, "path": path, "shape": list(array.shape),
                          "dtype": _dtype_name(array.dtype)})
    try:
        metadata_json = json.loads(json.dumps(dict(metadata)))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint metadata is not JSON-serialisable: {e}") from e

    checkpoints_dir = check_writable(Path(workdir) / CHECKPOINTS_DIR)
    final = checkpoints_dir / checkpoint_name(step)
    tmp = Path(tempfile.mkdtemp(dir=checkpoints_dir, prefix=f".tmp-{final.name}-"))
    try:
        arrays_path = tmp / ARRAYS_FILE
        with open(arrays_path, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        meta = {
            "format_version": FORMAT_VERSION,
            "step": step,
            "created": datetime.datetime.now(datetime.UTC).isoformat(),
            "arrays": {"file": ARRAYS_FILE, "sha256": _sha256(arrays_path),
                       "leaves": leaf_meta},
            "metadata": metadata_json,
        }
        with open(tmp / META_FILE, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a checkpoint is an ordinary folder
        _fsync_dir(tmp)
        if final.exists():
            # os.replace cannot overwrite a non-empty directory: move the old one aside
            # first (under a temporary name, so it is never mistaken for a checkpoint).
            old = Path(tempfile.mkdtemp(dir=checkpoints_dir, prefix=f".old-{final.name}-"))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(checkpoints_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    for _, old_ckpt in _list_checkpoints(checkpoints_dir)[:-keep]:
        shutil.rmtree(old_ckpt, ignore_errors=True)
    return final


# --------------------------------------------------------------------------- finding


def latest_checkpoint(path: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint (by step) under `path`, or None if there is none.

    `path` may be a run's workdir, its ``checkpoints/`` folder, or a checkpoint
    directory itself (which is then returned as is). Temporary directories of saves in
    progress are ignored.
    """
    path = Path(path)
    if (path / META_FILE).is_file():
        return path
    checkpoints_dir = path / CHECKPOINTS_DIR
    if not checkpoints_dir.is_dir():
        checkpoints_dir = path
    found = _list_checkpoints(checkpoints_dir)
    return found[-1][1] if found else None


def _resolve(path: str | os.PathLike[str]) -> Path:
    ckpt = latest_checkpoint(path)
    if ckpt is None:
        raise CheckpointError(f"no checkpoint in {path}")
    return ckpt


# --------------------------------------------------------------------------- loading


def _malformed(meta_path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{meta_path} is malformed: {what}")


def _read_meta(ckpt: Path) -> dict[str, Any]:
    """Reads and validates meta.json of checkpoint directory `ckpt`."""
    meta_path = ckpt / META_FILE
    try:
        text = meta_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"{meta_path} is missing: {ckpt} is not a checkpoint") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read {meta_path}: {e}") from e
    try:
        meta = json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"{meta_path} is corrupt (invalid JSON: {e})") from e
    if not isinstance(meta, dict):
        raise _malformed(meta_path, "not a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path}: checkpoint format version {version!r} is not supported "
            f"(this code reads version {FORMAT_VERSION})")
    step = meta.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise _malformed(meta_path, f"'step' must be a non-negative int, got {step!r}")
    if not isinstance(meta.get("metadata"), dict):
        raise _malformed(meta_path, "'metadata' must be an object")
    arrays = meta.get("arrays")
    if not isinstance(arrays, dict):
        raise _malformed(meta_path, "'arrays' must be an object")
    if arrays.get("file") != ARRAYS_FILE:
        raise _malformed(meta_path, f"'arrays.file' must be {ARRAYS_FILE!r}")
    if not isinstance(arrays.get("sha256"), str):
        raise _malformed(meta_path, "'arrays.sha256' must be a string")
    leaves = arrays.get("leaves")
    if not isinstance(leaves, list):
        raise _malformed(meta_path, "'arrays.leaves' must be a list")
    for i, leaf in enumerate(leaves):
        ok = (isinstance(leaf, dict) and isinstance(leaf.get("key"), str)
              and isinstance(leaf.get("path"), str) and isinstance(leaf.get("dtype"), str)
              and isinstance(leaf.get("shape"), list)
              and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                      for d in leaf["shape"]))
        if not ok:
            raise _malformed(meta_path, f"'arrays.leaves[{i}]' needs key, path, shape, dtype")
    return meta


def _user_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta["metadata"], "step": meta["step"]}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The caller's metadata of a checkpoint, plus ``"step"``, without loading arrays.

    `path` is resolved like in `load_checkpoint` (workdir, ``checkpoints/`` folder or
    checkpoint directory). meta.json is validated as in `load_checkpoint`; the arrays
    (and their checksum) are not read.

    Raises:
      CheckpointError: no checkpoint found, meta.json missing/invalid, unknown version.
    """
    return _user_metadata(_read_meta(_resolve(path)))


def _restore_dtype(array: np.ndarray, dtype_name: str) -> np.ndarray:
    """Undoes np.save's loss of extension dtypes (bfloat16 is stored as raw bytes 'V2')."""
    if str(array.dtype) == dtype_name or array.dtype.kind != "V":
        return array
    try:
        dtype = jnp.dtype(dtype_name)
    except TypeError:
        return array
    return array.view(dtype) if dtype.itemsize == array.dtype.itemsize else array


def _load_arrays(ckpt: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """{leaf path: array} from arrays.npz, after checking its sha256 and contents."""
    arrays_path = ckpt / ARRAYS_FILE
    if not arrays_path.is_file():
        raise CheckpointError(f"{arrays_path} is missing")
    if _sha256(arrays_path) != meta["arrays"]["sha256"]:
        raise CheckpointError(
            f"{arrays_path} is corrupt or truncated (its sha256 does not match {META_FILE})")
    leaves = meta["arrays"]["leaves"]
    result: dict[str, np.ndarray] = {}
    try:
        with np.load(arrays_path, allow_pickle=False) as npz:
            expected = {leaf["key"] for leaf in leaves}
            if set(npz.files) != expected:
                raise CheckpointError(
                    f"{arrays_path} holds entries {sorted(npz.files)}, but {META_FILE} lists "
                    f"{sorted(expected)}")
            for leaf in leaves:
                array = _restore_dtype(npz[leaf["key"]], leaf["dtype"])
                found = (list(array.shape), str(array.dtype))
                if found != (leaf["shape"], leaf["dtype"]):
                    raise CheckpointError(
                        f"{arrays_path}: leaf {leaf['path']} is {found[0]} {found[1]}, but "
                        f"{META_FILE} says {leaf['shape']} {leaf['dtype']}")
                if leaf["path"] in result:
                    raise CheckpointError(f"{ckpt / META_FILE}: duplicate leaf {leaf['path']}")
                result[leaf["path"]] = array
    except CheckpointError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        # ValueError includes "Object arrays cannot be loaded when allow_pickle=False".
        raise CheckpointError(f"{arrays_path} cannot be read safely: {e}") from e
    return result


def _template_spec(leaf: Any) -> tuple[list[int], str]:
    """(shape, dtype name) of a template leaf: an array, scalar or jax.ShapeDtypeStruct."""
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        dtype = leaf.dtype
        if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            return list(leaf.shape), str(dtype)  # never matches: typed keys are not saved
        return list(leaf.shape), _dtype_name(dtype)
    array = np.asarray(leaf)
    return list(array.shape), _dtype_name(array.dtype)


def load_checkpoint(path: str | os.PathLike[str],
                    template: Any = None) -> tuple[Any, dict[str, Any]]:
    """Loads a checkpoint written by `save_checkpoint`.

    Args:
      path: a workdir or ``checkpoints/`` folder (the newest checkpoint there is
        loaded) or a checkpoint directory.
      template: optional pytree with the structure, shapes and dtypes expected, e.g. a
        freshly initialised state (leaves may be arrays, scalars or
        ``jax.ShapeDtypeStruct``). The checkpoint's leaf paths, shapes and dtypes must
        match it exactly.

    Returns:
      ``(state, metadata)``. With a template, `state` has the template's structure
      (its treedef) and numpy arrays as leaves (0-d arrays for scalars); move them to a
      device with ``jax.device_put`` if wanted. Without a template, `state` is a flat
      dict ``{leaf path: np.ndarray}`` in the saved order. `metadata` is the metadata
      given to `save_checkpoint` plus ``"step"``.

    Raises:
      CheckpointError: no checkpoint found; meta.json missing, invalid or of an unknown
        format version; arrays.npz missing, corrupt, truncated or holding anything that
        would need unpickling; or the template does not match (the message names the
        first mismatched leaf, what was expected and what was found).
    """
    ckpt = _resolve(path)
    meta = _read_meta(ckpt)
    arrays = _load_arrays(ckpt, meta)
    if template is None:
        return arrays, _user_metadata(meta)

    t_paths, t_leaves, treedef = _flatten(template)
    saved_paths = list(arrays)
    if t_paths != saved_paths:
        saved_set, t_set = set(saved_paths), set(t_paths)
        missing = [p for p in t_paths if p not in saved_set]
        extra = [p for p in saved_paths if p not in t_set]
        if missing:
            msg = f"the template expects leaf {missing[0]}, which the checkpoint does not have"
        elif extra:
            msg = f"the checkpoint has leaf {extra[0]}, which the template does not have"
        else:
            i = next(i for i, (a, b) in enumerate(zip(t_paths, saved_paths)) if a != b)
            msg = f"leaf #{i}: the template expects {t_paths[i]}, the checkpoint has " \
                  f"{saved_paths[i]}"
        raise CheckpointError(
            f"checkpoint {ckpt} does not match the template ({len(t_paths)} leaves "
            f"expected, {len(saved_paths)} found): {msg}")
    leaves = []
    for leaf_path, t_leaf in zip(t_paths, t_leaves):
        shape, dtype = _template_spec(t_leaf)
        array = arrays[leaf_path]
        if shape != list(array.shape) or dtype != str(array.dtype):
            raise CheckpointError(
                f"checkpoint {ckpt} does not match the template at leaf {leaf_path}: "
                f"expected shape {tuple(shape)} {dtype}, found shape {array.shape} "
                f"{array.dtype}")
        leaves.append(array)
    return jax.tree_util.tree_unflatten(treedef, leaves), _user_metadata(meta)


__all__ = [
    "ARRAYS_FILE",
    "CHECKPOINTS_DIR",
    "FORMAT_VERSION",
    "META_FILE",
    "CheckpointError",
    "checkpoint_name",
    "latest_checkpoint",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]
