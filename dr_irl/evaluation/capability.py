"""Capability benchmarks scored with the policy; the sets themselves are in
:mod:`dr_irl.evaluation.capability_sets`.

``evaluate_capabilities(model, tokenizer, cfg.eval.benchmarks, ...)`` scores the capability entries of the
list (the safety entries are :mod:`dr_irl.evaluation.benchmarks`' and are skipped here) and returns, per set,
``{"accuracy", "n", "correct", "rows", "subsets", "copy"}``: ``correct`` is the per-item outcome in a fixed
order (the same items before and after training, for paired tests and intervals).

Generation length: the entry's ``max_new_tokens``, else the set's default (gsm8k: 256, for the reasoning),
else the caller's (the evaluation's ``eval.max_new_tokens``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from dr_irl.data.schema import DataError
from dr_irl.evaluation.capability_sets import (
    CAPABILITIES,
    CapabilityItem,
    CapabilitySpec,
    is_capability,
    load_capability,
)
from dr_irl.evaluation.entries import entry_value as _get

__all__ = [
    "CAPABILITIES",
    "CHOICE_BATCH_SIZE",
    "HHH_MAX_LENGTH",
    "CapabilityItem",
    "CapabilitySpec",
    "choice_logprobs",
    "evaluate_capabilities",
    "evaluate_capability",
    "is_capability",
    "load_capability",
    "score_choices",
    "score_generations",
]

HHH_MAX_LENGTH = 1024  # tokens of one (prompt, choice) chat; longer chats keep their end
CHOICE_BATCH_SIZE = 4  # chats per forward pass when scoring choices


def choice_logprobs(
    model, tokenizer, items: Sequence[CapabilityItem], batch_size: int, max_length: int = HHH_MAX_LENGTH
) -> list[list[float]]:
    """log π(choice | prompt) of every choice of every item (the prompt as the chat's user turn)."""
    from dr_irl.models.likelihood import response_logprobs

    prompts = [item.prompt for item in items for _ in item.choices]
    choices = [choice for item in items for choice in item.choices]
    # longest chats first (by characters), so that each batch pads little; scores go back to their places
    order = sorted(range(len(prompts)), key=lambda i: -(len(prompts[i]) + len(choices[i])))
    scored = response_logprobs(
        model, tokenizer, [prompts[i] for i in order], [choices[i] for i in order], batch_size, max_length
    ).tolist()
    flat = [0.0] * len(order)
    for position, i in enumerate(order):
        flat[i] = scored[position]
    out, start = [], 0
    for item in items:
        out.append(flat[start : start + len(item.choices)])
        start += len(item.choices)
    return out


def score_choices(
    items: Sequence[CapabilityItem], logprobs: Sequence[Sequence[float]]
) -> list[dict[str, Any]]:
    """Per item: the picked choice (highest log-likelihood) and whether the reference scores strictly highest."""
    rows = []
    for item, scores in zip(items, logprobs, strict=True):
        best = max(scores)
        correct = scores[item.label] == best and scores.count(best) == 1
        rows.append(
            {
                "id": item.id,
                "subset": item.subset,
                "prompt": item.prompt,
                "choices": list(item.choices),
                "label": item.label,
                "logprobs": [float(s) for s in scores],
                "pick": scores.index(best),
                "correct": bool(correct),
            }
        )
    return rows


def score_generations(
    spec: CapabilitySpec, items: Sequence[CapabilityItem], responses: Sequence[str]
) -> list[dict]:
    """Per item: the response, what was extracted from it, the accepted answers and whether it is correct."""
    if spec.score is None:
        raise ValueError(f"{spec.name}: no generation scorer")
    rows = []
    for item, response in zip(items, responses, strict=True):
        correct, extracted = spec.score(response, item)
        rows.append(
            {
                "id": item.id,
                "subset": item.subset,
                "prompt": item.prompt,
                "response": response,
                "extracted": extracted,
                "answers": list(item.answers),
                "correct": bool(correct),
            }
        )
    return rows


def _summary(rows: list[dict[str, Any]], copy: str) -> dict[str, Any]:
    correct = [bool(r["correct"]) for r in rows]
    by_subset: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        if r["subset"]:
            by_subset[r["subset"]].append(bool(r["correct"]))
    return {
        "accuracy": sum(correct) / len(correct) if correct else 0.0,
        "n": len(correct),
        "correct": correct,
        "rows": rows,
        "subsets": {s: {"accuracy": sum(v) / len(v), "n": len(v)} for s, v in sorted(by_subset.items())},
        "copy": copy,
    }


def evaluate_capability(
    model, tokenizer, entry: Any, seed: int, batch_size: int, max_new_tokens: int
) -> dict[str, Any]:
    """Accuracy, n, per-item correctness and rows of one capability entry (see the module docstring)."""
    loaded = load_capability(entry, seed)
    spec = CAPABILITIES.get(loaded.name)
    if spec.kind == "choice":  # [B, T, vocab] logits of long chats: small batches
        logprobs = choice_logprobs(model, tokenizer, loaded.items, min(batch_size, CHOICE_BATCH_SIZE))
        rows = score_choices(loaded.items, logprobs)
    else:
        from dr_irl.models.generation import generate_responses

        tokens = int(_get(entry, "max_new_tokens", 0) or spec.max_new_tokens or max_new_tokens)
        responses = generate_responses(
            model, tokenizer, [i.prompt for i in loaded.items], tokens, batch_size, desc=loaded.name
        )
        rows = score_generations(spec, loaded.items, [r[0] for r in responses])
    return _summary(rows, loaded.report["copy"])


def evaluate_capabilities(
    model, tokenizer, entries: Iterable[Any], seed: int, batch_size: int, max_new_tokens: int
) -> dict[str, dict[str, Any]]:
    """:func:`evaluate_capability` of every capability entry of ``eval.benchmarks`` (safety entries skipped),
    by name: ``{"accuracy": float, "n": int, "correct": list[bool], "rows": [...], "subsets", "copy"}``."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name = _get(entry, "name", "")
        if not is_capability(name):
            continue
        if name in out:
            raise DataError(f"eval.benchmarks: '{name}' appears twice")
        out[name] = evaluate_capability(model, tokenizer, entry, seed, batch_size, max_new_tokens)
    return out
