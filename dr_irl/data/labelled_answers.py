"""The blind-labelled SmolLM2 answers (``dr_irl/evaluation/judge_data/smollm2*_labelled.jsonl``): greedy answers of
SmolLM2-135M-Instruct before and after the project's methods, each read blind and labelled refusal / incoherent,
with the prompt's category and evaluation set. Read by the reward-validity check and by the reward family
trained on labelled answers (``reward_model=labelled``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

JUDGE_DATA = Path(__file__).resolve().parents[1] / "evaluation" / "judge_data"
LABELLED_FILES = ("smollm2_labelled.jsonl", "smollm2_lr_screen_labelled.jsonl")
# whose answers each split holds
SPLITS = {
    "dev": "base model",
    "test": "after GRPO",
    "methods": "after SFT, DPO, GRPO, GRPO-S",
    "fresh": "after Best-of-4, SFT, DPO, GRPO-family",
    "lr_screen": "after DPO, GRPO-S (learning-rate screen)",
}


@dataclass(frozen=True)
class LabelledAnswer:
    prompt: str
    response: str
    category: str
    harmful_prompt: bool  # the prompt's evaluation set (what the run knows), not the reader's opinion
    refusal: bool
    incoherent: bool
    split: str


def load_labelled(folder: Path = JUDGE_DATA, files: Sequence[str] = LABELLED_FILES) -> list[LabelledAnswer]:
    """The blind-labelled answers of every split (the learning-rate screen's file is split ``lr_screen``)."""
    rows = []
    for name in files:
        path = Path(folder) / name
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append(
                    LabelledAnswer(
                        prompt=row["prompt"],
                        response=row["response"],
                        category=row["category"],
                        harmful_prompt=row["set_label"] == "harmful",
                        refusal=bool(row["refusal"]),
                        incoherent=bool(row["incoherent"]),
                        split=row.get("split", "lr_screen"),
                    )
                )
            except (ValueError, KeyError) as error:
                raise ValueError(f"{path}:{number}: not a labelled answer ({error})") from error
    return rows
