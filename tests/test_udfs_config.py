"""The dataclass validator every component's configuration goes through."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from nerlake.udfs.config import ConfigError, from_dict


@dataclass
class Inner:
    size: int = field(default=1, metadata={"check": lambda v: v > 0, "help": "> 0"})


@dataclass
class Outer:
    name: str
    mode: str = field(default="a", metadata={"choices": ["a", "b"]})
    ratio: float = 0.5
    tags: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    maybe: int | None = None


def test_valid_mapping_builds_nested_dataclasses():
    cfg = from_dict(Outer, {"name": "x", "ratio": 1, "tags": ["t"], "inner": {"size": 3}, "maybe": None})
    assert cfg == Outer(name="x", ratio=1.0, tags=["t"], inner=Inner(size=3))
    assert isinstance(cfg.ratio, float)


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "colour": 1}, "unknown key colour"),
    ({"name": "x", "inner": {"sise": 1}}, "unknown key inner.sise"),
    ({"name": "x", "mode": "c"}, "mode: 'c' is not allowed; choose one of a, b"),
    ({"name": "x", "inner": {"size": 0}}, "inner.size: 0 is not allowed; must be > 0"),
    ({"name": "x", "ratio": "high"}, "ratio: expected a number"),
    ({"name": "x", "ratio": True}, "ratio: expected a number"),
    ({"name": "x", "tags": "t"}, "tags: expected a list"),
    ({"name": "x", "tags": [1]}, r"tags\[0\]: expected a string"),
    ({"name": "x", "maybe": "two"}, "maybe: 'two' is not int"),
    ({"name": "x", "inner": 5}, "inner: expected a mapping"),
    ({}, "missing key name"),
])
def test_errors_name_the_key_and_what_is_allowed(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)
