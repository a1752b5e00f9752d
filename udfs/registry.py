"""Named-function registries (rule extractors, merge steps): a dict plus a decorator."""
from __future__ import annotations


class Registry(dict):
    """``name -> function``; ``@registry.register("name")`` adds one, twice is an error."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str):
        def deco(fn):
            if name in self:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self[name] = fn
            return fn

        return deco
