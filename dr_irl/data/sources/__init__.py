"""Dataset sources (``dataset.source``): each turns a ``dataset`` config into train / held-out :class:`Record`
lists and a report. :func:`load_dataset_records` runs the loader that :data:`DATASET_SOURCES` names.

One module per source: ``bundled`` (:mod:`.bundled`, the jsonl files shipped with the package) and the
named public sets ``do_not_answer``, ``pku_saferlhf``, ``beavertails``, ``hh_rlhf_harmless`` (each module
holds its label → category table and its row converter; what they share — reading through
:func:`dr_irl.data.fetch.fetch_rows`, category mapping, validation, the held-out split — is
:mod:`.named`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from dr_irl.data.schema import Record
from dr_irl.registry import Registry


@dataclass
class SourceResult:
    """Train and held-out records of one source, and what was done to get them (counts, copy used, skips)."""

    train: list[Record]
    heldout: list[Record]
    report: dict[str, Any] = field(default_factory=dict)


SourceFn = Callable[[DictConfig, int], SourceResult]
DATASET_SOURCES: Registry[SourceFn] = Registry(
    "dataset.source",
    builtins=(
        "dr_irl.data.sources.bundled",
        "dr_irl.data.sources.do_not_answer",
        "dr_irl.data.sources.pku_saferlhf",
        "dr_irl.data.sources.beavertails",
        "dr_irl.data.sources.hh_rlhf",
    ),
)


def load_dataset_records(ds_cfg: DictConfig, seed: int) -> SourceResult:
    """Train / held-out records of ``ds_cfg`` from the loader named by ``dataset.source``."""
    return DATASET_SOURCES.get(ds_cfg.source)(ds_cfg, seed)
