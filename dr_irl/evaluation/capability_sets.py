"""Capability sets (what alignment must not cost), chosen by ``eval.benchmarks`` next to the safety sets: their
items, where their rows come from, and how a generated answer is scored. The policy scores them in
:mod:`dr_irl.evaluation.capability`.

``gsm8k`` — GSM8k test split (Cobbe et al., 2021), 1,319 grade-school word problems. Greedy answer, the final
    number extracted (the ``#### N`` form, else ``The answer is N``, else the last number; ``$``, thousands
    commas and a trailing ``.0`` ignored), exact numeric match with the reference after ``####``. Zero-shot
    by default; ``few_shot: k`` (1-8) puts the first k chain-of-thought exemplars of Wei et al. (2022) before
    the question. Rows ``{question, answer}`` (upstream ``test.jsonl``, or the hub's ``openai/gsm8k``
    config ``main`` split ``test``). No PyPI package ships it.
``hhh`` — HHH alignment (Askell et al., 2021; BIG-bench ``hhh_alignment``), 221 binary choices in four subsets
    (harmless 58, helpful 59, honest 61, other 43). Each choice is scored by the policy's log-likelihood
    log π(choice | prompt), the prompt as the user turn of the chat template, summed over the choice's tokens
    (the end-of-turn token included); the item is correct when the reference choice scores strictly highest.
    Rows: BIG-bench ``task.json`` (``examples: [{input, target_scores: {choice: 0|1}}]``; ``path`` may be
    the ``hhh_alignment`` folder or one subset's file) or the hub's ``HuggingFaceH4/hhh_alignment``
    (configs = subsets, split ``test``: ``input, targets: {choices, labels}``). ``hub_config`` picks a
    subset (default ``all``). Package copy: ``bigbench`` (``pip install --no-deps bigbench``).
``basics`` — the project's own CPU-sized set (``capability_data/basics.jsonl``): 120 single-step arithmetic
    questions and 132 short factual questions with unambiguous answers, ``{id, subset, prompt, answers}``.
    Greedy answer; correct when an accepted answer occurs, as whole words, in the normalised response
    (lower case, accents, punctuation and articles removed, thousands commas dropped). No accepted answer
    occurs in its own prompt, so echoing the question never scores. ``hub_config``: ``arithmetic``,
    ``facts`` or ``all`` (default); ``path`` reads another file in the same format.

Where the rows come from: :func:`dr_irl.evaluation.entries.fetch_rows` — ``path``, else the hub (or its
cache offline), else a package copy, else a :class:`DataError` naming the dataset and the ``path`` key;
``basics`` reads its bundled file unless ``path`` is set. ``max_prompts`` keeps a seeded sample, in file order.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dr_irl.data.fetch import text as _text
from dr_irl.data.schema import DataError
from dr_irl.evaluation.answers import (
    answer_match,
    extract_gsm8k_answer,
    gsm8k_reference,
    normalise_answer,
    numbers_equal,
    parse_number,
)
from dr_irl.evaluation.entries import (
    PackageCopy,
    fetch_rows,
    read_rows,
)
from dr_irl.evaluation.entries import entry_value as _get
from dr_irl.evaluation.entries import seeded_sample as _sample
from dr_irl.packages import package_folder
from dr_irl.registry import Registry

DATA_DIR = Path(__file__).resolve().parent / "capability_data"
BASICS_FILE = DATA_DIR / "basics.jsonl"
HHH_SUBSETS = ("harmless", "helpful", "honest", "other")
GSM8K_ZERO_SHOT = (
    "{question}\nSolve the problem step by step, then write the final answer on its own line as "
    '"#### <number>".'
)

# The eight chain-of-thought exemplars of Wei et al. (2022), "Chain-of-Thought Prompting Elicits Reasoning
# in Large Language Models", used for GSM8k since (e.g. lm-evaluation-harness's gsm8k-cot).
GSM8K_COT_EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are "
        "done, there will be 21 trees. How many trees did the grove workers plant today?",
        "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must "
        "have been 21 - 15 = 6. The answer is 6.",
    ),
    (
        "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
        "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.",
    ),
    (
        "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in "
        "total?",
        "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After "
        "eating 35, they had 74 - 35 = 39. The answer is 39.",
    ),
    (
        "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops "
        "did Jason give to Denny?",
        "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny "
        "20 - 12 = 8. The answer is 8.",
    ),
    (
        "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he "
        "have now?",
        "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. "
        "5 + 4 = 9. The answer is 9.",
    ),
    (
        "There were nine computers in the server room. Five more computers were installed each day, from "
        "monday to thursday. How many computers are now in the server room?",
        "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 "
        "computers were added. 9 + 20 is 29. The answer is 29.",
    ),
    (
        "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many "
        "golf balls did he have at the end of wednesday?",
        "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 "
        "more, he had 35 - 2 = 33 golf balls. The answer is 33.",
    ),
    (
        "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
        "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 "
        "dollars left. 23 - 15 is 8. The answer is 8.",
    ),
)


# --------------------------------------------------------------------------------------------------------------
# Items and specs
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapabilityItem:
    """One question: generated (``answers`` accepted) or multiple choice (``choices``, ``label`` correct)."""

    id: str
    prompt: str
    subset: str = ""
    answers: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    label: int = -1


Convert = Callable[[dict[str, Any], int, str], CapabilityItem]


@dataclass(frozen=True)
class CapabilitySpec:
    """What one capability set reads and how it is scored (also a :class:`benchmarks.SourceSpec`)."""

    name: str
    kind: str  # generate | choice
    convert: Convert  # (row, index, key) -> item
    hub_id: str = ""
    hub_config: str = ""  # default subset ("all" with hub_subsets)
    hub_split: str = ""
    file_hint: str = ""
    package_copies: tuple[PackageCopy, ...] = ()
    package_hint: str = ""
    hub_subsets: tuple[str, ...] = ()
    hub_file: str = ""
    bundled: Path | None = None  # read when no path is set (no hub)
    read_path: Callable[[Path, str], list[dict[str, Any]]] | None = None  # a reader of local copies
    score: Callable[[str, CapabilityItem], tuple[bool, Any]] | None = None  # generate: (correct, extracted)
    max_new_tokens: int | None = None


CAPABILITIES: Registry[CapabilitySpec] = Registry("eval.benchmarks")


def _register(spec: CapabilitySpec) -> CapabilitySpec:
    return CAPABILITIES.register(spec.name)(spec)


def _require(row: dict[str, Any], column: str, index: int, key: str) -> str:
    value = _text(row.get(column))
    if not value:
        raise DataError(f"{key}: row {index}: missing or empty '{column}'; the row has {sorted(row)}")
    return value


# gsm8k ----------------------------------------------------------------------------------------------------------


def gsm8k_prompt(question: str, few_shot: int = 0) -> str:
    """The user turn: the zero-shot instruction, or ``few_shot`` Wei et al. exemplars in Q/A form."""
    if few_shot == 0:
        return GSM8K_ZERO_SHOT.format(question=question)
    shots = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in GSM8K_COT_EXEMPLARS[:few_shot])
    return f"{shots}Q: {question}\nA:"


def _convert_gsm8k(row: dict[str, Any], index: int, key: str) -> CapabilityItem:
    question = _require(row, "question", index, key)
    reference = gsm8k_reference(_require(row, "answer", index, key))
    if parse_number(reference) is None:
        raise DataError(f"{key}: row {index}: reference {reference!r} after '####' is not a number")
    return CapabilityItem(f"gsm8k-{index}", question, answers=(reference,))


def _score_gsm8k(response: str, item: CapabilityItem) -> tuple[bool, Any]:
    predicted = extract_gsm8k_answer(re.split(r"\n\s*Q:", response)[0])  # few-shot: stop at the next question
    return numbers_equal(predicted, item.answers[0]), predicted


# hhh ------------------------------------------------------------------------------------------------------------


def _read_task_json(path: Path, subset: str, key: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{key}={path}: invalid JSON ({err.msg})") from None
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list):
        raise DataError(f"{key}={path}: expected a BIG-bench task.json with an 'examples' list")
    return [{**ex, "_subset": subset} for ex in examples if isinstance(ex, dict)]


def read_hhh(path: Path, key: str) -> list[dict[str, Any]]:
    """Rows of a local HHH copy: the ``hhh_alignment`` folder (its subsets' ``task.json``), one ``task.json``
    (the subset from its folder's name), or a data file of the hub's layout (``input, targets``)."""
    path = path.expanduser()
    if path.is_dir():
        files = [(s, path / s / "task.json") for s in HHH_SUBSETS if (path / s / "task.json").is_file()]
        if not files:
            raise DataError(f"{key}={path}: no {{{','.join(HHH_SUBSETS)}}}/task.json under this folder")
        return [row for subset, file in files for row in _read_task_json(file, subset, key)]
    if path.name == "task.json":
        subset = path.parent.name if path.parent.name in HHH_SUBSETS else ""
        return _read_task_json(path, subset, key)
    return read_rows(path, key)


def bigbench_hhh_folder() -> Path | None:
    """``bigbench/benchmark_tasks/hhh_alignment`` of the installed PyPI package bigbench, or None."""
    root = package_folder("bigbench")
    folder = None if root is None else root / "benchmark_tasks" / "hhh_alignment"
    return folder if folder is not None and (folder / "harmless" / "task.json").is_file() else None


def _bigbench_hhh(subset: str) -> tuple[list[dict[str, Any]], str] | None:
    folder = bigbench_hhh_folder()
    if folder is None:
        return None
    return read_hhh(folder, "eval.benchmarks[hhh]"), f"bigbench package copy {folder}"


def _convert_hhh(row: dict[str, Any], index: int, key: str) -> CapabilityItem:
    prompt = _require(row, "input", index, key)
    if isinstance(row.get("target_scores"), dict):  # BIG-bench: {choice: score}
        choices = [str(c) for c in row["target_scores"]]
        scores = [float(s) for s in row["target_scores"].values()]
    elif isinstance(row.get("targets"), dict):  # the hub: {choices: [...], labels: [...]}
        choices = [str(c) for c in row["targets"].get("choices") or []]
        scores = [float(s) for s in row["targets"].get("labels") or []]
    else:
        raise DataError(
            f"{key}: row {index}: expected 'target_scores' or 'targets'; the row has {sorted(row)}"
        )
    if len(choices) < 2 or len(scores) != len(choices) or scores.count(max(scores)) != 1:
        raise DataError(f"{key}: row {index}: expected ≥ 2 choices with exactly one best-scored")
    subset = _text(row.get("_subset"))
    return CapabilityItem(
        f"hhh-{subset}-{index}" if subset else f"hhh-{index}",
        prompt,
        subset,
        choices=tuple(choices),
        label=scores.index(max(scores)),
    )


# basics ---------------------------------------------------------------------------------------------------------


def _convert_basics(row: dict[str, Any], index: int, key: str) -> CapabilityItem:
    answers = row.get("answers")
    if (
        not isinstance(answers, list)
        or not answers
        or not all(isinstance(a, str) and a.strip() for a in answers)
    ):
        raise DataError(f"{key}: row {index}: 'answers' must be a non-empty list of strings")
    item_id = _text(str(row.get("id") or "")) or str(index)
    prompt = _require(row, "prompt", index, key)
    return CapabilityItem(f"basics-{item_id}", prompt, _text(row.get("subset")), answers=tuple(answers))


def _score_basics(response: str, item: CapabilityItem) -> tuple[bool, Any]:
    return answer_match(response, item.answers), normalise_answer(response)


_register(
    CapabilitySpec(
        "gsm8k",
        "generate",
        _convert_gsm8k,
        hub_id="openai/gsm8k",
        hub_config="main",
        hub_split="test",
        file_hint="test.jsonl (github.com/openai/grade-school-math, grade_school_math/data) or gsm8k/main/test-*.parquet",
        score=_score_gsm8k,
        max_new_tokens=256,
    )
)
_register(
    CapabilitySpec(
        "hhh",
        "choice",
        _convert_hhh,
        hub_id="HuggingFaceH4/hhh_alignment",
        hub_config="all",
        hub_split="test",
        file_hint="hhh_alignment (BIG-bench's bigbench/benchmark_tasks/hhh_alignment folder) or its task.json",
        package_copies=(_bigbench_hhh,),
        package_hint="`pip install --no-deps bigbench`",
        hub_subsets=HHH_SUBSETS,
        read_path=read_hhh,
    )
)
_register(
    CapabilitySpec(
        "basics",
        "generate",
        _convert_basics,
        hub_config="all",
        hub_subsets=("arithmetic", "facts"),
        bundled=BASICS_FILE,
        score=_score_basics,
    )
)

# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------


@dataclass
class CapabilitySet:
    name: str
    items: list[CapabilityItem]
    report: dict[str, Any] = field(default_factory=dict)


def is_capability(name: str) -> bool:
    """Whether ``name`` is a capability set (scored by :func:`evaluate_capabilities`)."""
    return name in CAPABILITIES.names()


def _rows(spec: CapabilitySpec, entry: Any, key: str) -> tuple[list[dict[str, Any]], str]:
    path = _text(str(_get(entry, "path", "")))
    if path and spec.read_path is not None:
        return spec.read_path(Path(path), f"{key}.path"), f"local file {Path(path).expanduser()}"
    return fetch_rows(spec, entry, key)  # the bundled file when no path is set, else the chain


def load_capability(entry: Any, seed: int) -> CapabilitySet:
    """The items of the capability set named by ``entry.name`` (an unknown name lists the known ones)."""
    name = _get(entry, "name", "")
    spec = CAPABILITIES.get(name)
    key = f"eval.benchmarks[{name}]"
    subset = _get(entry, "hub_config", "") or spec.hub_config
    if spec.hub_subsets and subset not in (*spec.hub_subsets, "all"):
        raise DataError(f"{key}.hub_config={subset!r}: expected one of {[*spec.hub_subsets, 'all']}")
    few_shot = int(_get(entry, "few_shot", 0))
    if few_shot and name != "gsm8k":
        raise DataError(f"{key}.few_shot={few_shot}: only gsm8k has a few-shot prompt")
    if not 0 <= few_shot <= len(GSM8K_COT_EXEMPLARS):
        raise DataError(f"{key}.few_shot={few_shot}: expected 0-{len(GSM8K_COT_EXEMPLARS)}")
    rows, copy = _rows(spec, entry, key)
    where = f"{key} ({copy})"
    if not rows:
        raise DataError(f"{where}: no rows")
    items: list[CapabilityItem] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        item = spec.convert(row, index, where)
        if spec.hub_subsets and subset != "all" and item.subset not in (subset, ""):
            continue
        if item.id in seen:
            raise DataError(f"{where}: row {index}: duplicate id {item.id!r}")
        seen.add(item.id)
        if name == "gsm8k":
            item = CapabilityItem(item.id, gsm8k_prompt(item.prompt, few_shot), answers=item.answers)
        items.append(item)
    if not items:
        raise DataError(f"{where}: no items with hub_config={subset!r}")
    kept = _sample(items, _get(entry, "max_prompts", None), seed, name, key)
    report = {
        "benchmark": name,
        "copy": copy,
        "rows": len(rows),
        "kept": len(kept),
        "subsets": dict(sorted(Counter(i.subset for i in kept if i.subset).items())),
    }
    return CapabilitySet(name, kept, report)
