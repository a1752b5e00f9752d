"""Components declare their configuration as dataclasses; this turns YAML dicts into them.

Validation happens on load, on the driver, before Spark starts: an unknown key or a value
of the wrong type raises :class:`ConfigError` naming the dotted key and what is allowed.
Field metadata may carry ``choices`` (allowed values) and ``check`` (a predicate with a
``help`` text), e.g. ``field(default=1, metadata={"check": lambda v: v > 0, "help": "> 0"})``.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union, get_args, get_origin


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names the key."""


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, key: str):
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{key}: {value!r} is not {' or '.join(_type_name(a) for a in args)}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {sorted(f.name for f in dataclasses.fields(tp))}, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin in (list, tuple):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        k_tp, v_tp = get_args(tp) or (Any, Any)
        return {_coerce(k, k_tp, f"{key}"): _coerce(v, v_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls, data: dict | None, prefix: str = ""):
    """Build dataclass ``cls`` from ``data``, validating every key and value."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]}; allowed keys{' under ' + prefix if prefix else ''}: "
            + ", ".join(sorted(fields))
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        f = fields[name]
        value = _coerce(value, hints[name], key)
        choices = f.metadata.get("choices")
        if choices is not None:
            bad = [v for v in (value if isinstance(value, (list, tuple)) else [value]) if v not in choices]
            if bad:
                raise ConfigError(f"{key}: {bad[0]!r} is not allowed; choose one of {', '.join(map(str, choices))}")
        check = f.metadata.get("check")
        if check is not None and value is not None and not check(value):
            raise ConfigError(f"{key}: {value!r} is not allowed; must be {f.metadata.get('help', 'valid')}")
        kwargs[name] = value
    required = [f.name for f in fields.values()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in kwargs]
    if required:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"missing key {where}{required[0]}; required keys: {', '.join(required)}")
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a component's own cross-field checks: name the full key
        if prefix and not str(exc).startswith(prefix):
            raise ConfigError(f"{prefix}.{exc}") from None
        raise


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)
