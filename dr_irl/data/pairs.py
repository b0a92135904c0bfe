"""(prompt, chosen, rejected) pairs: what the pairwise reward models and the DPO family learn from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dr_irl.data.schema import Record


@dataclass(frozen=True)
class Pair:
    prompt_id: str
    category: str
    prompt: str
    chosen: str
    rejected: str


def demonstration_pairs(
    records: Sequence[Record], samples: dict[str, list[str]], include_benign: bool = False
) -> list[Pair]:
    """(demonstration, reference sample) pairs for every harmful record (and benign one, when asked) with samples.

    With benign records the reward model of category j also sees benign look-alikes whose demonstration is
    a helpful answer: it learns to prefer *the demonstrated behaviour for the prompt*, not refusals as such.
    """
    pairs = []
    for record in records:
        if not (record.harmful or include_benign):
            continue
        for sample in samples.get(record.id, []):
            pairs.append(Pair(record.id, record.category, record.prompt, record.demonstration, sample))
    return pairs


def preference_pairs(records: Sequence[Record], samples: dict[str, list[str]]) -> list[Pair]:
    """A record's own (chosen, rejected) when it has them, else (demonstration, each of its reference samples)."""
    pairs = []
    for r in records:
        if r.chosen and r.rejected:
            pairs.append(Pair(r.id, r.category, r.prompt, r.chosen, r.rejected))
        else:  # the IRL pairs: every record with reference samples (harmful, and benign if sampled)
            pairs += [Pair(r.id, r.category, r.prompt, r.demonstration, s) for s in samples.get(r.id, [])]
    return pairs
