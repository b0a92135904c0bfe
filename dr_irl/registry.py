"""A name → component registry: components are chosen by config keys, not by if-chains."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to components; an unknown name fails with the config key and the known names.

    ``builtins`` names the modules whose components register themselves in this registry (each module
    calls :meth:`register` on import); they are imported at the first lookup, so the registry's own module
    imports none of its components and a component module may import the registry without a cycle.
    """

    def __init__(self, config_key: str, builtins: Sequence[str] = ()) -> None:
        self.config_key = config_key
        self.builtins = tuple(builtins)
        self._items: dict[str, T] = {}
        self._loaded = not self.builtins

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if name in self._items:
                raise KeyError(f"{self.config_key}: '{name}' registered twice")
            self._items[name] = item
            return item

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a component of their own clean up with this)."""
        self._items.pop(name, None)

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # before importing: a builtin module may look names up while it loads
            try:
                for module in self.builtins:
                    importlib.import_module(module)
            except BaseException:
                self._loaded = False  # the next lookup tries again (and fails naming the module)
                raise

    def get(self, name: str) -> T:
        self._load()
        if name not in self._items:
            raise KeyError(f"{self.config_key}={name!r} is unknown; known: {sorted(self._items)}")
        return self._items[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items
