"""Typed configuration: dataclass trees loaded from YAML plus ``key=value`` overrides.

Every config in the project is a dataclass whose defaults live in one place. YAML files and
command-line overrides may only *override* existing fields: an unknown key, or a value of the
wrong type, is an error that names the dotted path. ``__post_init__`` of each dataclass
validates values and runs again after every override, because the final object is rebuilt
from the merged dict.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union

import yaml

from vjepa_ac.atomic import atomic_write_text

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or key is invalid; the message names the dotted path.

    Raised inside a dataclass's ``__post_init__`` with ``key="field"`` (``require`` does), the
    message is qualified with the dataclass's dotted path when the tree is loaded
    (``optim.peak_lr: must be ...``).
    """

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


def require(cfg: Any, key: str, ok: bool, must: str) -> None:
    """Raise ``ConfigError`` naming field ``key`` of ``cfg`` unless ``ok``.

    Write ``ok`` as the positive condition (``x > 0``, ``0 <= x < 1``): NaN fails every
    comparison, so it is refused too. ``must`` completes "key must be ...".
    """
    if not ok:
        raise ConfigError(f"{key} must be {must}, got {getattr(cfg, key, '?')!r}", key=key)


SEED_MAX = 2**32 - 1  # numpy's seed range is [0, 2**32 - 1]


def require_seed(cfg: Any, key: str) -> None:
    value = getattr(cfg, key)
    require(cfg, key, 0 <= value <= SEED_MAX, "an integer in [0, 2**32 - 1] (numpy's seed range)")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own message ("expected a finite number")
            return _coerce(value, options[0], path)
        for arg in options:
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, path)
    if origin in (tuple,):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args or [Any] * len(value))))
    if origin in (list,):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (arg,) = args or (Any,)
        return [_coerce(v, arg, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (dict,):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        kt, vt = args or (Any, Any)
        return {_coerce(k, kt, path): _coerce(v, vt, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            # YAML 1.1 reads "1e-3" / "3e-4" (no dot) as strings
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{path}: expected a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: cannot read {value!r} as {tp}")


def from_dict(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build dataclass ``cls`` from a (possibly partial) mapping; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        where = path or cls.__name__
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid keys: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{path}.{k}" if path else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        if e.key is None:
            raise
        # a field check of this dataclass: name it by its full dotted path
        raise ConfigError(f"{path}.{e}" if path else str(e)) from e
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path or cls.__name__}: {e}") from e


def to_dict(cfg: Any) -> Any:
    """Plain-YAML view of a config (tuples become lists, paths strings)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {} if node.get(k) is None else node[k]
            if not isinstance(node[k], dict):
                raise ConfigError(f"{dotted}: {k} is not a section")
        node = node[k]
    node[keys[-1]] = value


def deep_merge(base: Mapping, *updates: Mapping) -> dict:
    """``base`` with each of ``updates`` merged in: nested mappings key by key, anything else replaced."""
    out = dict(base)
    for update in updates:
        for k, v in update.items():
            if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
                out[k] = deep_merge(out[k], v)
            else:
                out[k] = v
    return out


_deep_merge = deep_merge


def parse_overrides(overrides: list[str]) -> dict:
    """``["train.lr=1e-4", "data.root=/x"]`` -> nested dict; values are parsed as YAML scalars."""
    tree: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw != "" else "")
    return tree


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding the same key twice (PyYAML keeps the
    last one silently, so a second ``optim:`` block would replace the first)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # let PyYAML report unhashable keys
            if key in seen:
                raise ConfigError(
                    f"duplicate key {key!r} (lines {seen[key] + 1} and {key_node.start_mark.line + 1})"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict:
    """A YAML config file as a dict; a duplicate key (at any depth) is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    with open(path) as f:
        try:
            data = yaml.load(f, Loader=_UniqueKeyLoader) or {}
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None,
                defaults: Mapping[str, Any] | None = None) -> T:
    """Defaults of ``cls`` <- ``defaults`` (a partial mapping, e.g. taken from a training run)
    <- YAML file ``path`` <- ``key=value`` overrides, validated."""
    data = _deep_merge(to_dict(cls()), defaults or {})
    sources = ["defaults"] if defaults else []
    if path is not None:
        data = _deep_merge(data, load_yaml(path))
        sources.append(str(path))
    if overrides:
        data = _deep_merge(data, parse_overrides(overrides))
        sources.append("command-line overrides")
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        if not sources:
            raise
        raise ConfigError(f"{' + '.join(sources)}: {e}") from e


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically, so a crash never leaves half a file)."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
