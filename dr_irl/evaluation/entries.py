"""One ``eval.benchmarks`` entry — its settings, where its rows come from, its seeded sample — for the safety
sets (:mod:`dr_irl.evaluation.benchmarks`) and the capability sets (:mod:`dr_irl.evaluation.capability_sets`)
alike. The rows come from the set's bundled file when it has one and no ``path`` is set, else through the
training sources' chain, :func:`dr_irl.data.fetch.fetch_rows`."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from dr_irl.data import fetch as data_fetch
from dr_irl.data.fetch import PackageCopy, Rows, text
from dr_irl.data.schema import DataError, Record

__all__ = ["PackageCopy", "SourceSpec", "entry_value", "fetch_rows", "read_rows", "seeded_sample"]


def entry_value(entry: Any, key: str, default: Any = None) -> Any:
    """``entry[key]`` for a dict / DictConfig / dataclass entry; ``default`` when absent or None."""
    if isinstance(entry, Mapping) or hasattr(entry, "get"):
        value = entry.get(key, default)
    else:
        value = getattr(entry, key, default)
    return default if value is None else value


class SourceSpec(Protocol):
    """What :func:`fetch_rows` reads of a set's spec (:class:`BenchmarkSpec`, or a capability set's)."""

    name: str
    hub_id: str
    hub_config: str
    hub_split: str
    file_hint: str
    package_copies: tuple[PackageCopy, ...]
    package_hint: str
    hub_subsets: tuple[str, ...]
    hub_file: str  # a data file of the hub repository, read instead of load_dataset ("": load_dataset)
    bundled: Path | None  # the project's own copy, read when no path is set


def read_rows(path: str | Path, config_key: str) -> Rows:
    """Rows of one local benchmark file: the data formats of :func:`dr_irl.data.fetch.read_rows` and the
    prompt files (one prompt a line, PyRIT seed files)."""
    return data_fetch.read_rows(path, config_key, prompt_files=True)


def fetch_rows(spec: SourceSpec, entry: Any, key: str) -> tuple[Rows, str]:
    """(rows, which copy) of the set of ``spec`` for the ``eval.benchmarks`` entry ``entry``: the spec's
    bundled file when ``path`` is not set, else :func:`dr_irl.data.fetch.fetch_rows` (the entry's ``path``,
    ``hub_id``, ``hub_config``, ``hub_split`` override the spec's)."""
    path = text(str(entry_value(entry, "path", "")))
    if spec.bundled is not None and not path:
        return read_rows(spec.bundled, key), f"bundled file {spec.bundled.name}"
    return data_fetch.fetch_rows(
        f"{key}: benchmark {spec.name}",
        path,
        f"{key}.path",
        entry_value(entry, "hub_id", "") or spec.hub_id,
        entry_value(entry, "hub_config", "") or spec.hub_config,
        entry_value(entry, "hub_split", "") or spec.hub_split,
        spec.file_hint,
        subsets=spec.hub_subsets,
        package_copies=spec.package_copies,
        package_hint=spec.package_hint,
        prompt_files=True,
        hub_file=spec.hub_file,
    )


def seeded_sample(records: list[Record], max_prompts: Any, seed: int, name: str, key: str) -> list[Record]:
    if max_prompts is None or max_prompts == "":
        return records
    try:
        cap = int(max_prompts)
    except (TypeError, ValueError):
        raise DataError(f"{key}.max_prompts={max_prompts!r}: expected a positive integer or null") from None
    if cap < 1:
        raise DataError(f"{key}.max_prompts={max_prompts}: expected a positive integer or null")
    if len(records) <= cap:
        return records
    keep = sorted(random.Random(f"{seed}:{name}").sample(range(len(records)), cap))
    return [records[i] for i in keep]
