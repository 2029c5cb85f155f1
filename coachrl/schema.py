"""The config machinery: YAML loaded into frozen, validated dataclasses.

Every config section is a frozen dataclass whose fields are declared with
`param(...)`: the allowed range lives next to the field and is checked in
`__post_init__`, so a config built in code is validated exactly like one read
from YAML. Loading adds what only a file can know: unknown keys, wrong types,
missing keys, and which file and key an error comes from.

Composition:
  * a value that is a `*.yaml` path where a section is expected is loaded
    from that file (relative to the file that names it, then to `configs/`);
  * a file may start with `base: other.yaml` and then override a few keys;
  * `--set section.key=value` overrides (value parsed as YAML) apply last.

Example:
  world = load_config(WorldConfig, "configs/world/default.yaml", ["habits.alpha=0.02"])
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file, key or value is not what is allowed."""


def param(default: Any = dataclasses.MISSING, *, lo: float | None = None,
          hi: float | None = None, doc: str = "") -> Any:
    """A dataclass field with an allowed closed range [lo, hi].

    For a tuple field the range applies to every element.
    """
    metadata = {"lo": lo, "hi": hi, "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _check_range(name: str, value: Any, lo: float | None, hi: float | None) -> None:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            lo_s = "-inf" if lo is None else f"{lo:g}"
            hi_s = "inf" if hi is None else f"{hi:g}"
            raise ConfigError(f"{name}: {v!r} is out of range; allowed [{lo_s}, {hi_s}]")


def require(condition: bool, message: str) -> None:
    """Raises ConfigError(message) unless condition holds (cross-field checks)."""
    if not condition:
        raise ConfigError(message)


class Section:
    """Mixin for frozen config dataclasses: range-checks every `param` field."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            _check_range(f.name, getattr(self, f.name), f.metadata.get("lo"), f.metadata.get("hi"))


# --------------------------------------------------------------------------- loading


def _type_name(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} values"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, key: str, source: str, base_dir: Path) -> Any:
    """Converts a YAML value to `tp`, or raises ConfigError naming source and key."""

    def wrong() -> ConfigError:
        return ConfigError(f"{source}: key '{key}': expected {_type_name(tp)}, got {value!r}")

    if dataclasses.is_dataclass(tp):
        if isinstance(value, str) and value.endswith((".yaml", ".yml")):
            path = _find_file(value, base_dir, source, key)
            return _build(tp, _read_yaml(path), key, str(path), path.parent)
        if not isinstance(value, Mapping):
            raise wrong()
        return _build(tp, value, key, source, base_dir)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _convert(arg, value, key, source, base_dir)
            except ConfigError:
                continue
        raise wrong()
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise wrong()
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong()
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        elif len(args) != len(value):
            raise wrong()
        return tuple(_convert(a, v, f"{key}[{i}]", source, base_dir)
                     for i, (a, v) in enumerate(zip(args, value)))
    if tp is type(None):
        if value is not None:
            raise wrong()
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    raise ConfigError(f"{source}: key '{key}': unsupported config type {tp!r}")


def _build(cls: type[T], data: Mapping[str, Any], prefix: str, source: str,
           base_dir: Path) -> T:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    dotted = (prefix + ".") if prefix else ""
    for key in data:
        if key not in names:
            raise ConfigError(f"{source}: unknown key '{dotted}{key}'; allowed keys: "
                              + ", ".join(names))
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], dotted + f.name, source,
                                      base_dir)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing key '{dotted}{f.name}' "
                              f"(expected {_type_name(hints[f.name])})")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{source}: key '{dotted}{e}'") from None


def _find_file(name: str, base_dir: Path, source: str, key: str) -> Path:
    for candidate in (base_dir / name, CONFIG_DIR / name, Path(name)):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{source}: key '{key}': config file '{name}' not found "
                      f"(looked in {base_dir} and {CONFIG_DIR})")


def _read_yaml(path: Path) -> dict[str, Any]:
    """Reads a YAML mapping, resolving a top-level `base:` file first."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: key 'base': expected a file name, got {base!r}")
    return _deep_merge(_read_yaml(_find_file(base, path.parent, str(path), "base")), data)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(
            out.get(k), Mapping) else v
    return out


def _apply_override(cls: type, data: dict[str, Any], item: str, base_dir: Path) -> None:
    """Applies one `a.b.c=value` override to raw YAML data, checking the key path.

    A section that the data names by file (`world: world/default.yaml`) is read
    in place first, so the override can reach inside it.
    """
    source = f"--set {item}"
    path, sep, text = item.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"{source}: expected section.key=value")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: value is not valid YAML: {e}") from None
    parts = path.strip().split(".")
    node: Any = data
    tp: Any = cls
    for i, part in enumerate(parts):
        here = ".".join(parts[:i]) or "the top level"
        if dataclasses.is_dataclass(tp):
            names = [f.name for f in dataclasses.fields(tp)]
            if part not in names:
                raise ConfigError(f"{source}: unknown key '{part}' in {here}; allowed keys: "
                                  + ", ".join(names))
            tp = typing.get_type_hints(tp)[part]
            key: Any = part
        elif typing.get_origin(tp) is tuple and part.isdigit() and isinstance(node, list):
            key = int(part)
            if key >= len(node):
                raise ConfigError(f"{source}: index {key} out of range in {here} "
                                  f"(it has {len(node)} items)")
            tp = typing.get_args(tp)[0]
        else:
            raise ConfigError(f"{source}: '{here}' has no key '{part}'")
        if i == len(parts) - 1:
            node[key] = value
            return
        child = node[key] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(child, str) and dataclasses.is_dataclass(tp):
            child = node[key] = _read_yaml(_find_file(child, base_dir, source, part))
        node = child


def load_config(cls: type[T], path: str | Path, overrides: Sequence[str] = ()) -> T:
    """Loads `path` into dataclass `cls`, then applies `--set` style overrides."""
    path = Path(path)
    data = _read_yaml(path)
    for item in overrides:
        _apply_override(cls, data, item, path.parent)
    return _build(cls, data, "", str(path), path.parent)


def to_dict(config: Any) -> Any:
    """A plain (YAML/JSON-ready) dict of a config dataclass."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, tuple):
        return [to_dict(v) for v in config]
    return config


def from_dict(cls: type[T], data: Mapping[str, Any], source: str = "<dict>") -> T:
    """Builds `cls` from a plain dict (e.g. one stored in a checkpoint), validated."""
    return _build(cls, data, "", source, CONFIG_DIR)


