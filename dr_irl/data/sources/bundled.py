"""``dataset.source=bundled``: the jsonl files shipped with the package (or ``dataset.train_path`` / ``dataset.heldout_path``); the held-out
prompts must be disjoint from the train prompts (case-insensitive, whitespace-normalised).
"""

from __future__ import annotations

from collections import Counter

from omegaconf import DictConfig

from dr_irl.data.labels import normalize_prompt
from dr_irl.data.schema import DataError, load_records
from dr_irl.data.sources import DATASET_SOURCES, SourceResult
from dr_irl.data.sources.named import _counts


@DATASET_SOURCES.register("bundled")
def _bundled(ds_cfg: DictConfig, seed: int) -> SourceResult:
    """The package's jsonl files (or dataset.train_path / heldout_path), validated; held-out disjoint from train."""
    from dr_irl.data.bundled import bundled_paths

    paths = {
        "train": ds_cfg.train_path or bundled_paths()["train"],
        "heldout": ds_cfg.heldout_path or bundled_paths()["heldout"],
    }
    train, skipped_train = load_records(paths["train"], ds_cfg.categories, ds_cfg.skip_invalid)
    heldout, skipped_heldout = load_records(paths["heldout"], ds_cfg.categories, ds_cfg.skip_invalid)
    overlap = {normalize_prompt(r.prompt) for r in train} & {normalize_prompt(r.prompt) for r in heldout}
    if overlap:
        raise DataError(
            f"{paths['heldout']}: {len(overlap)} held-out prompts also in {paths['train']}, "
            f"e.g. {sorted(overlap)[0]!r}"
        )
    categories = list(ds_cfg.categories)
    report = {
        "source": "bundled",
        "copy": f"local files {paths['train']} and {paths['heldout']}",
        "train": len(train),
        "heldout": len(heldout),
        "categories": {"train": _counts(train, categories), "heldout": _counts(heldout, categories)},
        "labels": dict(Counter(r.label for r in train + heldout)),
        "unmapped": {},
        "unmapped_rows": 0,
        "skipped_invalid": skipped_train + skipped_heldout,
        "notes": [],
    }
    return SourceResult(train, heldout, report)
