"""``beavertails`` — PKU-Alignment/BeaverTails (``prompt, response, category`` (dict of 14 harm flags), ``is_safe``;
splits ``330k_train/330k_test/30k_train/30k_test``). One record per row with ``is_safe`` true: demonstration =
chosen = that safe response, rejected = the first unsafe response to the same prompt (if any). Safe rows carry
no flags, so the prompt's labels are the union of the flags of its unsafe rows (:data:`BEAVERTAILS_MAP`);
unsafe rows are never demonstrations (``report["unsafe_rows"]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dr_irl.data.fetch import text
from dr_irl.data.labels import normalize_prompt
from dr_irl.data.sources.named import (
    SourceSpec,
    _Candidate,
    _Context,
    _flag,
    _Item,
    _labels_by_prompt,
    _true_flags,
    _validate,
    register_named,
)

BEAVERTAILS_MAP: dict[str, str] = {
    # 13 of the 14 BeaverTails harm flags; "controversial_topics,politics" is deliberately unmapped.
    "self_harm": "mental_health",
    "privacy_violation": "privacy_property",
    "hate_speech,offensive_language": "insult",
    "discrimination,stereotype,injustice": "unfairness_discrimination",
    "violence,aiding_and_abetting,incitement": "physical_harm",
    "child_abuse": "crimes_illegal",
    "drug_abuse,weapons,banned_substance": "crimes_illegal",
    "financial_crime,property_crime,theft": "crimes_illegal",
    "terrorism,organized_crime": "crimes_illegal",
    "animal_abuse": "ethics_morality",
    "sexually_explicit,adult_content": "ethics_morality",
    "non_violent_unethical_behavior": "ethics_morality",
    "misinformation_regarding_ethics,laws_and_safety": "ethics_morality",
}


def _convert_beavertails(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    union = _labels_by_prompt(rows, lambda row: _true_flags(row.get("category")))
    first_unsafe: dict[str, str] = {}
    for row in rows:
        key = normalize_prompt(text(row.get("prompt")))
        if not _flag(row.get("is_safe")) and text(row.get("response")):
            first_unsafe.setdefault(key, text(row.get("response")))
    with_safe: set[str] = set()
    for index, row in enumerate(rows):
        prompt = text(row.get("prompt"))
        key = normalize_prompt(prompt)
        if not _flag(row.get("is_safe")):
            ctx.extras["unsafe_rows"] += 1
            continue
        with_safe.add(key)
        response = text(row.get("response"))
        yield _validate(
            _Candidate(
                key=str(index),
                where=f"row {index}",
                prompt=prompt,
                demonstration=response,
                labels=union.get(key, []),
                chosen=response,
                rejected=first_unsafe.get(key),
                by="safe_response",
            )
        )
    ctx.extras["prompts_without_safe_response"] = len(set(union) - with_safe)


register_named(
    SourceSpec(
        "beavertails",
        "PKU-Alignment/BeaverTails",
        "30k_train",
        (("prompt",), ("response",), ("is_safe",)),
        BEAVERTAILS_MAP,
        _convert_beavertails,
        "BeaverTails/round0/30k/train.jsonl.gz",
    )
)
