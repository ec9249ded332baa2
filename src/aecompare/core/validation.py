"""Validated settings: typed configuration dataclasses from plain dicts (YAML, JSON, keyword arguments), and counts.

Unknown keys are errors that name the key and the valid ones; values are checked against the
field's type, so ``epochs: "ten"`` fails at load time with its location instead of deep in training.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from aecompare.errors import ConfigError

T = TypeVar("T")

# Scalar annotations: (what the error says was expected, whether a value is accepted as is).
_SCALARS: dict[type, tuple[str, Any]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Create the dataclass ``cls`` from ``data``, validating keys and value types.

    Args:
        cls: a dataclass type whose fields all have defaults or are given in ``data``.
        data: field values; missing ones keep their defaults.
        where: where the values came from, used in error messages (e.g. ``"quick.yaml: train"``).

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: on an unknown key, a missing required key or a value of the wrong type.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        values[name] = coerce(value, hints[name], f"{where}.{name}")
    missing = [
        n
        for n, f in fields.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r}")
    return cls(**values)


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a type annotation, converting lists to tuples and ints to floats."""
    origin = get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {annotation}")
    if origin is Literal:
        choices = get_args(annotation)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not valid; choose one of: {', '.join(map(str, choices))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation in _SCALARS:
        what, accepts = _SCALARS[annotation]
        if not accepts(value):
            raise ConfigError(f"{where}: expected {what}, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string; accept what float() reads
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    raise TypeError(f"unsupported annotation {annotation!r} at {where}")  # a bug in aecompare, not user input


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a JSON-ready dict (tuples become lists)."""
    return _plain(dataclasses.asdict(obj))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_int(value: Any, where: str, least: int = 1) -> int:
    """``value`` if it is an integer (not a bool) of at least ``least``: the one count check of aecompare.

    Raises:
        ConfigError: naming ``where`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{where} must be an integer of at least {least}, got {value!r}")
    return value
