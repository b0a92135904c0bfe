"""The schema's keys: which settings it declares where, the keys of a composed config it does not declare, and
the one-line message naming a misspelt key and the settings of its group (start-up validation)."""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

from dr_irl.config import RunConfig


def _schema_type(hint: Any) -> type | None:
    """The dataclass a field holds, directly or as the elements of a list (``eval.benchmarks``), or None."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) is list:
        (element,) = typing.get_args(hint) or (None,)
        return element if dataclasses.is_dataclass(element) else None
    return None


def schema_settings(path: str = "") -> list[str] | None:
    """The settings the schema declares at ``path`` (``""``: the top level, ``scaler``, ``model.tiny``,
    ``eval.benchmarks``: an element's), or None when ``path`` is not a group of settings."""
    node: type | None = RunConfig
    for part in path.split(".") if path else ():
        hints = typing.get_type_hints(node)
        if part not in hints:
            return None
        node = _schema_type(hints[part])
        if node is None:
            return None
    return [f.name for f in dataclasses.fields(node)]


def unknown_keys(cfg: Any) -> list[str]:
    """The dotted keys of a composed config that the schema does not declare (added with ``+key=value``);
    the entries of dict settings (``dataset.category_map``) are free."""
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    found: list[str] = []

    def walk(value: dict, node: type, prefix: str) -> None:
        hints = typing.get_type_hints(node)
        for key, sub in value.items():
            if key not in hints:
                found.append(f"{prefix}{key}")
                continue
            inner = _schema_type(hints[key])
            if inner is None:
                continue
            if isinstance(sub, dict):
                walk(sub, inner, f"{prefix}{key}.")
            elif isinstance(sub, list):
                for i, item in enumerate(sub):
                    if isinstance(item, dict):
                        walk(item, inner, f"{prefix}{key}[{i}].")

    walk(tree, RunConfig, "")
    return found


def unknown_key_message(key: str) -> str:
    """``<key> is not a setting of <group>; its settings: …``, naming the first part of ``key`` the schema
    does not declare and the settings it declares there."""
    parts = re.sub(r"\[\d*\]", "", key).split(".")
    group = ""
    for i, part in enumerate(parts):
        settings = schema_settings(group)
        if settings is None:  # a value, not a group: scaler.tau.x
            return f"{key}: {group} is a value, not a group of settings"
        if part not in settings:
            name = ".".join(parts[: i + 1])
            listed = ", ".join(sorted(settings))
            if group:
                return f"{name} is not a setting of {group}; its settings: {listed}"
            return f"{name} is not a setting or config group; the top-level keys: {listed}"
        group = f"{group}.{part}" if group else part
    return f"{key} is not a setting"
