"""The daily coach's jitted programs, kept across runs so a cold `coachrl today` is fast.

    fold = program("update_history", fn, (history, record), out=history, depends=(config,))
    history = fold(history, record)

`program` is `jax.jit(fn)` with one more step: where JAX's persistent compilation cache is
on (`jax_compilation_cache_dir`, which `coachrl today` and `coachrl serve` set), the traced
and lowered program is exported (`jax.export`: StableHLO in a flatbuffer, no pickle) to
`<cache>/programs/<key>.jaxexport` and later runs load it instead of tracing and lowering
the Python again (about a second of a cold plan; the compile itself comes from the
compilation cache). The key is a SHA-256 of everything the program depends on: its name,
the caller's `depends` (the world config, the policy's identity), the argument shapes, the
jax version and the source of the whole coachrl package, so any change of code, config or
checkpoint makes a new file. A file that cannot be read or written falls back to the
plain jit (slower, never wrong).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax import export

SUFFIX = ".jaxexport"


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of every Python source file of the coachrl package (names and contents)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def program_folder() -> Path | None:
    """`<jax_compilation_cache_dir>/programs`, or None while the compilation cache is off."""
    cache = jax.config.jax_compilation_cache_dir
    return Path(cache) / "programs" if cache else None


def _specs(tree: Any) -> list[jax.ShapeDtypeStruct]:
    """The shape and dtype of every leaf (arrays, numpy scalars or ShapeDtypeStructs)."""
    return [x if isinstance(x, jax.ShapeDtypeStruct)
            else jax.ShapeDtypeStruct(np.shape(x), jax.dtypes.canonicalize_dtype(np.result_type(x)))
            for x in jax.tree_util.tree_leaves(tree)]


def program_key(name: str, depends: Sequence[Any]) -> str:
    """The file name (without suffix) of a program: a digest of all it depends on. The
    argument shapes follow from the code and the config, so they are not part of it."""
    parts = [name, jax.__version__, source_digest(), *map(repr, depends)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Writes `data` to `path` atomically (a temp file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def program(name: str, fn: Callable[..., Any], example_args: Callable[[], tuple],
            out: Any, depends: Sequence[Any]) -> Callable[..., Any]:
    """`jax.jit(fn)`, loaded from (or exported to) the program folder when there is one.

    `example_args()` gives arguments of the right structure, shapes and dtypes (arrays or
    `jax.ShapeDtypeStruct`s; called only to export); `out` is any value with the tree
    structure of fn's result (its leaves are ignored); `depends` lists what the program's
    meaning depends on beyond its name and the package source (reprs stable across
    runs: configs, digests, flags).
    """
    folder = program_folder()
    if folder is None:
        return jax.jit(fn)
    path = folder / f"{program_key(name, depends)}{SUFFIX}"
    try:
        exported = export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # noqa: BLE001 - missing, damaged or foreign: export it (again)
        exported = None
    if exported is None:
        args = tuple(example_args())
        in_tree = jax.tree_util.tree_structure(args)

        def flat(*leaves):  # jax.export keeps plain tuples only: flatten both sides
            result = fn(*jax.tree_util.tree_unflatten(in_tree, leaves))
            return tuple(jax.tree_util.tree_leaves(result))

        exported = export.export(jax.jit(flat))(*_specs(args))
        try:
            _write(path, exported.serialize())
        except OSError:
            pass  # a read-only cache: this run still works
    call = jax.jit(exported.call)
    out_tree = jax.tree_util.tree_structure(out)

    def run(*args):
        return jax.tree_util.tree_unflatten(out_tree, call(*jax.tree_util.tree_leaves(args)))

    return run


__all__ = ["SUFFIX", "program", "program_folder", "program_key", "source_digest"]
