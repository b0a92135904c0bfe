"""Chain-of-Draft demonstration generation (DR-IRL step 1): a generator LLM writes a safe response per
harmful prompt with a CoD (or CoT) system prompt; the answer after the ``####`` separator is kept.

Outputs that lack the separator or are not refusals are regenerated (sampling) up to ``max_attempts``
times; tokens and seconds per demonstration are recorded so CoD's savings over CoT are measurable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from dr_irl.data.refusals import RuleRefusalJudge
from dr_irl.data.schema import Record, write_records
from dr_irl.io import write_jsonl
from dr_irl.registry import Registry
from dr_irl.terminal import interactive

SEPARATOR = "####"
TEMPLATES = {
    # Xu et al. 2025, "Chain of Draft: Thinking Faster by Writing Less"
    "cod": "Think step by step, but only keep a minimum draft for each thinking step, with 5 words at most. "
    "Return the answer at the end of the response after a separator ####.",
    "cot": "Think step by step to answer the following question. "
    "Return the answer at the end of the response after a separator ####.",
}
USER_TEMPLATE = (
    "A user sent the request below. Write the response a safe assistant gives: a brief refusal with a short "
    "reason, and a safe alternative if there is one.\n\nRequest: {prompt}"
)


def extract_answer(text: str) -> str | None:
    """The text after the last ``####``, stripped; None when the separator is missing or nothing follows."""
    if SEPARATOR not in text:
        return None
    answer = text.rsplit(SEPARATOR, 1)[1].strip()
    return answer or None


@dataclass
class GenerationStats:
    """Per-template totals: demonstrations kept, failed prompts, generated tokens and seconds."""

    template: str
    kept: int = 0
    failed: int = 0
    attempts: int = 0
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # per prompt: the generator's text of its last attempt

    def summary(self) -> dict:
        n = max(1, len(self.tokens))
        return {
            "template": self.template,
            "kept": self.kept,
            "failed": self.failed,
            "attempts": self.attempts,
            "tokens_per_demonstration": sum(self.tokens) / n,
            "seconds_per_demonstration": sum(self.seconds) / n,
        }


class VLLMGenerator:
    """vLLM in place of transformers for the generation (``demonstrations.engine=vllm``, a GPU machine)."""

    def __init__(self, model_path: str) -> None:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise ImportError(
                "demonstrations.engine=vllm needs vLLM: `pip install '.[vllm]'` on a GPU machine "
                "(or demonstrations.engine=transformers)"
            )
        from vllm import LLM

        self.llm = LLM(model=model_path)

    def __call__(
        self, system: str, prompts: Sequence[str], max_new_tokens: int, sample: bool, temperature: float
    ) -> tuple[list[str], list[int]]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature if sample else 0.0)
        messages = [
            [
                {"role": "system", "content": system},
                {"role": "user", "content": USER_TEMPLATE.format(prompt=p)},
            ]
            for p in prompts
        ]
        outputs = self.llm.chat(messages, params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs], [len(o.outputs[0].token_ids) for o in outputs]


PolicyLoader = Callable[[str], tuple[Any, Any]]  # path -> (model, tokenizer) on this process's device
DEMONSTRATION_ENGINES: Registry[Callable[[str, PolicyLoader], tuple[Any, Any]]] = Registry(
    "demonstrations.engine"
)


@DEMONSTRATION_ENGINES.register("transformers")
def _transformers(path: str, load_policy: PolicyLoader) -> tuple[Any, Any]:
    return load_policy(path)


@DEMONSTRATION_ENGINES.register("vllm")
def _vllm(path: str, load_policy: PolicyLoader) -> tuple[Any, None]:
    return VLLMGenerator(path), None


def generator(engine: str, path: str, load_policy: PolicyLoader) -> tuple[Any, Any]:
    """(generator, tokenizer) of ``demonstrations.engine`` for the model at ``path``; ``load_policy`` loads a
    transformers policy (the run's loader: dtype, device)."""
    return DEMONSTRATION_ENGINES.get(engine)(path, load_policy)


def comparison_table(title: str, summaries: Sequence[dict]):
    """A rich table of :meth:`GenerationStats.summary` rows (the CoD-vs-CoT comparison)."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("template", "tokens / demonstration", "seconds / demonstration", "kept"):
        table.add_column(column, justify="left" if column == "template" else "right")
    for s in summaries:
        table.add_row(
            s["template"],
            f"{s['tokens_per_demonstration']:.1f}",
            f"{s['seconds_per_demonstration']:.2f}",
            str(s["kept"]),
        )
    return table


@torch.inference_mode()
def _generate_batch(
    model,
    tokenizer,
    system: str,
    prompts: Sequence[str],
    max_new_tokens: int,
    sample: bool,
    temperature: float,
) -> tuple[list[str], list[int]]:
    if isinstance(model, VLLMGenerator):
        return model(system, prompts, max_new_tokens, sample, temperature)
    messages = [
        [{"role": "system", "content": system}, {"role": "user", "content": USER_TEMPLATE.format(prompt=p)}]
        for p in prompts
    ]
    tokenizer.padding_side = "left"
    enc = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", padding=True, return_dict=True
    ).to(next(model.parameters()).device)
    kwargs = {"max_new_tokens": max_new_tokens, "do_sample": sample, "pad_token_id": tokenizer.pad_token_id}
    if sample:
        kwargs.update(temperature=temperature, top_p=1.0, top_k=0)
    out = model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1] :]
    lengths = [int((row != tokenizer.pad_token_id).sum()) for row in out]
    return tokenizer.batch_decode(out, skip_special_tokens=True), lengths


def generate_demonstrations(
    model,
    tokenizer,
    prompts: Sequence[str],
    template: str,
    is_refusal: Callable[[str], bool],
    max_new_tokens: int = 256,
    batch_size: int = 8,
    max_attempts: int = 3,
    temperature: float = 0.7,
) -> tuple[list[str | None], GenerationStats]:
    """One demonstration per prompt (None where every attempt failed) and the generation statistics.

    The first attempt is greedy, the retries sample. Seconds are the batch's wall time divided evenly
    over its prompts; tokens are the generated tokens of the kept attempt.
    """
    if template not in TEMPLATES:
        raise ValueError(f"demonstrations.template={template!r}: expected one of {sorted(TEMPLATES)}")
    stats = GenerationStats(template)
    answers: list[str | None] = [None] * len(prompts)
    spent_tokens = [0] * len(prompts)
    spent_seconds = [0.0] * len(prompts)
    outputs = [""] * len(prompts)
    pending = list(range(len(prompts)))
    for attempt in range(max_attempts):
        if not pending:
            break
        still = []
        for start in tqdm(
            range(0, len(pending), batch_size),
            desc=f"{template} demonstrations (try {attempt + 1})",
            unit="batch",
            leave=False,
            disable=not interactive(),  # a bar on a terminal only: no carriage-return walls in files
        ):
            idx = pending[start : start + batch_size]
            began = time.perf_counter()
            texts, lengths = _generate_batch(
                model,
                tokenizer,
                TEMPLATES[template],
                [prompts[i] for i in idx],
                max_new_tokens,
                sample=attempt > 0,
                temperature=temperature,
            )
            per_prompt = (time.perf_counter() - began) / len(idx)
            stats.attempts += len(idx)
            for i, text, n_tokens in zip(idx, texts, lengths, strict=True):
                spent_tokens[i] += n_tokens
                spent_seconds[i] += per_prompt
                outputs[i] = text
                answer = extract_answer(text)
                if answer is not None and is_refusal(answer):
                    answers[i] = answer
                else:
                    still.append(i)
        pending = still
    for i, answer in enumerate(answers):
        if answer is None:
            stats.failed += 1
        else:
            stats.kept += 1
        stats.tokens.append(spent_tokens[i])
        stats.seconds.append(spent_seconds[i])
    stats.outputs = outputs
    return answers, stats


def write_demonstrations(
    model, tokenizer, train: Sequence[Record], dm: Any, out: Path, print_fn: Callable[[Any], None] = print
) -> dict:
    """Demonstrations of ``dm.template`` for the harmful records of ``train`` (the others kept as they are):
    ``out/train.jsonl``, the per-prompt cost in ``out/generation_stats.jsonl``, and with ``dm.compare_cot``
    the CoD-vs-CoT table. Returns the stage's summary (the generation statistics)."""
    is_refusal = RuleRefusalJudge().is_refusal
    harmful = [r for r in train if r.harmful]
    prompts = [r.prompt for r in harmful]

    def run(template: str, subset: list[str]):
        return generate_demonstrations(
            model,
            tokenizer,
            subset,
            template,
            is_refusal,
            dm.max_new_tokens,
            dm.batch_size,
            dm.max_attempts,
            dm.temperature,
        )

    answers, stats = run(dm.template, prompts)
    new = {
        r.id: replace(r, demonstration=a, source=f"{r.source}+{dm.template}")
        for r, a in zip(harmful, answers, strict=True)
        if a is not None
    }
    write_records(out / "train.jsonl", [new.get(r.id, r) for r in train])
    write_jsonl(
        out / "generation_stats.jsonl",
        [
            {"id": r.id, "tokens": t, "seconds": s, "kept": a is not None}
            for r, a, t, s in zip(harmful, answers, stats.tokens, stats.seconds, strict=True)
        ],
    )
    summary: dict = {dm.template: stats.summary()}
    if stats.failed:
        print_fn(
            f"[yellow]{stats.failed} of {len(prompts)} prompts kept their original demonstration "
            f"(no valid {dm.template} refusal in {dm.max_attempts} attempts)"
        )
    if dm.compare_cot and dm.template != "cot":
        _, cot = run("cot", prompts[: dm.compare_prompts])
        _, cod = run(dm.template, prompts[: dm.compare_prompts])
        summary["comparison"] = {
            "prompts": min(len(prompts), dm.compare_prompts),
            dm.template: cod.summary(),
            "cot": cot.summary(),
        }
        title = f"{dm.template.upper()} vs CoT on {summary['comparison']['prompts']} prompts"
        print_fn(comparison_table(title, [cod.summary(), cot.summary()]))
    return summary
