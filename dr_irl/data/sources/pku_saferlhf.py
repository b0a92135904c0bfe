"""``pku_saferlhf`` — PKU-Alignment/PKU-SafeRLHF (``prompt, response_0, response_1, prompt_source,
response_{0,1}_source, is_response_{0,1}_safe, response_{0,1}_harm_category`` (dict of 19 harm flags),
``response_{0,1}_severity_level, better_response_id, safer_response_id, response_{0,1}_sha256``). One record per
row: chosen = the safer response (``safer_response_id``), rejected = the other; demonstration = the chosen
response when it is labelled safe, else the other one if that is safe, else — neither response safe — the row
is kept for its preference pair but the demonstration is :data:`GENERIC_REFUSAL` (counted in
``report["both_unsafe"]`` and ``report["generic_demonstrations"]``). Harm flags describe a (prompt, response)
pair, so a prompt's labels are the union of the flags of all its rows in the loaded split: a row whose two
responses are safe still gets its prompt's category (:data:`PKU_SAFERLHF_MAP`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dr_irl.data.fetch import text
from dr_irl.data.labels import normalize_prompt
from dr_irl.data.sources.named import (
    GENERIC_REFUSAL,
    SourceSpec,
    _as_int,
    _Candidate,
    _Context,
    _flag,
    _Invalid,
    _Item,
    _labels_by_prompt,
    _true_flags,
    _validate,
    register_named,
)

PKU_SAFERLHF_MAP: dict[str, str] = {
    # The 19 harm categories of PKU-SafeRLHF; rare and specific before broad (crimes, ethics catch-alls).
    "Psychological Harm": "mental_health",
    "Mental Manipulation": "mental_health",
    "Privacy Violation": "privacy_property",
    "Copyright Issues": "privacy_property",
    "Insulting Behavior": "insult",
    "Discriminatory Behavior": "unfairness_discrimination",
    "Physical Harm": "physical_harm",
    "Violence": "physical_harm",
    "Endangering Public Health": "physical_harm",
    "Human Trafficking": "crimes_illegal",
    "Drugs": "crimes_illegal",
    "Cybercrime": "crimes_illegal",
    "Economic Crime": "crimes_illegal",
    "White-Collar Crime": "crimes_illegal",
    "Endangering National Security": "crimes_illegal",
    "Disrupting Public Order": "crimes_illegal",
    "Animal Abuse": "ethics_morality",
    "Environmental Damage": "ethics_morality",
    "Sexual Content": "ethics_morality",
}


def _convert_pku(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    def flags(row: dict[str, Any]) -> list[str]:
        return _true_flags(row.get("response_0_harm_category")) + _true_flags(
            row.get("response_1_harm_category")
        )

    union = _labels_by_prompt(rows, flags)
    for index, row in enumerate(rows):
        where = f"row {index}"
        safer = _as_int(row.get("safer_response_id"))
        if safer not in (0, 1):
            yield _Invalid(where, f"safer_response_id must be 0 or 1, got {row.get('safer_response_id')!r}")
            continue
        responses = (text(row.get("response_0")), text(row.get("response_1")))
        safe = (_flag(row.get("is_response_0_safe")), _flag(row.get("is_response_1_safe")))
        chosen, rejected = responses[safer], responses[1 - safer]
        if not chosen or not rejected:
            yield _Invalid(where, "empty response_0 or response_1")
            continue
        if safe[safer]:
            demonstration, by = chosen, "safer_response"
        elif safe[1 - safer]:
            demonstration, by = rejected, "other_response (the safer one is labelled unsafe)"
        else:
            demonstration, by = GENERIC_REFUSAL, "generic"
            ctx.extras["both_unsafe"] += 1
        prompt = text(row.get("prompt"))
        yield _validate(
            _Candidate(
                key=str(index),
                where=where,
                prompt=prompt,
                demonstration=demonstration,
                labels=union.get(normalize_prompt(prompt), []),
                chosen=chosen,
                rejected=rejected,
                by=by,
            )
        )


register_named(
    SourceSpec(
        "pku_saferlhf",
        "PKU-Alignment/PKU-SafeRLHF",
        "train",
        (("prompt",), ("response_0",), ("response_1",), ("safer_response_id",)),
        PKU_SAFERLHF_MAP,
        _convert_pku,
        "PKU-SafeRLHF/data/Alpaca-7B/train.jsonl",
    )
)
