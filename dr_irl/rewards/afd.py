"""Alignment from Demonstrations (AfD, arXiv 2405.15624): a discriminator as reward model, and the closed form.

The discriminator D(x, y) tells "positive" responses from "negative" ones; trained with binary cross-entropy on
its one logit z, D = σ(z), and the reward of the reverse-KL (adversarial) view is log D − log(1 − D) = z: the
classifier's logit itself. Variants by (negatives, positives):

- ``init_sft`` (the paper's proposal): samples of π_init vs samples of π_SFT;
- ``init_demo``: samples of π_init vs the demonstrations;
- ``sft_demo``: samples of π_SFT vs the demonstrations.

``log_ratio`` is the training-free baseline r(x, y) = log π_SFT(y|x) − log π_init(y|x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from dr_irl.data.schema import Record
from dr_irl.distributed import is_main_process
from dr_irl.distributed.ranks import device
from dr_irl.pipeline import Context
from dr_irl.rewards.backbones import encode_pairs, load_reward_model, score_texts
from dr_irl.rewards.families import register_family
from dr_irl.rewards.irl import (
    classifier_scorer,
    fit_and_save,
    load_scoring_model,
    reward_lora_config,
    reward_training_args,
    split_by_prompt,
    train_per_category,
)
from dr_irl.run_artifacts import init_policy_path, records, reference_samples, sft_policy_path, sft_samples

# variant → (source of the negatives, source of the positives); sources: init | sft (samples), demo
DISCRIMINATOR_VARIANTS: dict[str, tuple[str, str]] = {
    "init_sft": ("init", "sft"),
    "init_demo": ("init", "demo"),
    "sft_demo": ("sft", "demo"),
}
VARIANTS = (*DISCRIMINATOR_VARIANTS, "log_ratio")


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"reward_model.afd_variant={variant!r}: expected one of {list(VARIANTS)}")


def reads_sft_policy(variant: str) -> bool:
    """Whether the variant reads π_SFT (its samples, or its log-likelihood)."""
    check_variant(variant)
    return variant == "log_ratio" or "sft" in DISCRIMINATOR_VARIANTS[variant]


def afd_reads(cfg: DictConfig) -> tuple[str, ...]:
    """The stages a variant reads beyond the common ones: π_SFT for the log-ratio, π_SFT's samples for the
    discriminators trained on them, nothing else (so the other variants' runs share π_SFT-free stages)."""
    variant = cfg.reward_model.afd_variant
    if not reads_sft_policy(variant):
        return ()
    return ("sft_policy",) if variant == "log_ratio" else ("sft_policy", "sft_samples")


def afd_label(rm: DictConfig) -> str:
    """``afd:<variant>``, whichever way the variant was set."""
    return f"afd:{rm.afd_variant}"


@dataclass(frozen=True)
class Example:
    prompt_id: str
    category: str
    prompt: str
    response: str
    label: float  # 1 positive, 0 negative


def discriminator_examples(
    variant: str,
    records: Sequence[Record],
    init_samples: dict[str, list[str]],
    sft_samples: dict[str, list[str]],
) -> list[Example]:
    """The labelled responses of ``variant`` for every record that has samples (the reward-model prompts).

    ``demo`` contributes the record's demonstration once; ``init`` / ``sft`` every sample of that policy.
    """
    negatives, positives = DISCRIMINATOR_VARIANTS[variant]
    texts = {"init": init_samples, "sft": sft_samples}
    examples = []
    for r in records:
        if r.id not in init_samples:
            continue
        for source, label in ((negatives, 0.0), (positives, 1.0)):
            responses = [r.demonstration] if source == "demo" else texts[source].get(r.id, [])
            examples += [Example(r.id, r.category, r.prompt, y, label) for y in responses]
    return examples


def discriminator_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mean(−y log σ(z) − (1 − y) log(1 − σ(z))): what the trainer minimises (BCE on the one logit)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


def logit_reward(probability: torch.Tensor) -> torch.Tensor:
    """log D − log(1 − D): equal to the logit z when D = σ(z) (the reward AfD reads off the classifier)."""
    return torch.log(probability) - torch.log1p(-probability)


def classification_accuracy(model, tokenizer, examples: list[Example], max_length: int) -> float | None:
    if not examples:
        return None
    z = score_texts(
        model, tokenizer, [e.prompt for e in examples], [e.response for e in examples], max_length
    )
    return ((z > 0).float() == torch.tensor([e.label for e in examples])).float().mean().item()


def train_discriminator(
    examples: list[Example],
    backbone_path: str,
    out_dir: Path,
    rm_cfg: DictConfig,
    hardware: DictConfig,
    seed: int,
    report_to: str = "none",
    callbacks=(),
) -> dict:
    """Fit D on ``examples`` (binary cross-entropy on the logit) with the HF Trainer; save it to ``out_dir``.

    The model is a one-output sequence classifier with ``problem_type=multi_label_classification``: the
    transformers loss for that head is exactly :func:`discriminator_loss`, so the saved model needs nothing
    custom to reload, and its logit is the reward.
    """
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    model, tokenizer = load_reward_model(backbone_path, seed=seed)
    model.config.problem_type = "multi_label_classification"
    peft_config = reward_lora_config(rm_cfg)
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    train, held = split_by_prompt(examples, rm_cfg.eval_fraction, seed)
    if not train or len({e.label for e in train}) < 2:
        raise ValueError(f"the AfD discriminator needs positives and negatives; got {len(train)} examples")
    encoded = encode_pairs(
        tokenizer, [e.prompt for e in train], [e.response for e in train], rm_cfg.max_length
    )
    dataset = Dataset.from_dict({"input_ids": encoded["input_ids"], "labels": [[e.label] for e in train]})
    args = TrainingArguments(**reward_training_args(rm_cfg, hardware, out_dir, seed, report_to))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    result = fit_and_save(trainer, tokenizer, out_dir, rm_cfg, f"AfD discriminator {out_dir.name}")
    summary: dict = {
        "train_examples": len(train),
        "eval_examples": len(held),
        "positives": int(sum(e.label for e in train)),
        "train_loss": result.training_loss,
    }
    if is_main_process():
        model, tokenizer = load_scoring_model(out_dir)
        summary["train_accuracy"] = classification_accuracy(model, tokenizer, train, rm_cfg.max_length)
        summary["eval_accuracy"] = classification_accuracy(model, tokenizer, held, rm_cfg.max_length)
    return summary


class LogRatioScorer:
    """r(x, y) = log π_SFT(y|x) − log π_init(y|x), the closed-form AfD baseline (no training)."""

    def __init__(
        self,
        sft_path: str,
        init_path: str,
        dtype: str = "float32",
        device: str = "cpu",
        trust_remote_code: bool = False,
        max_length: int = 256,
    ) -> None:
        from dr_irl.distributed.deepspeed import zero3_init_disabled
        from dr_irl.models import load_causal_lm, load_tokenizer

        with zero3_init_disabled():
            self.sft = load_causal_lm(sft_path, dtype, trust_remote_code).to(device).eval()
            self.init = load_causal_lm(init_path, dtype, trust_remote_code).to(device).eval()
        self.tokenizer = load_tokenizer(sft_path, trust_remote_code, padding_side="right")
        self.max_length = max_length

    def score(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        categories: Sequence[str],
        harmful: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        from dr_irl.models.likelihood import response_logprobs

        prompts, responses = list(prompts), list(responses)
        sft = response_logprobs(self.sft, self.tokenizer, prompts, responses, max_length=self.max_length)
        init = response_logprobs(self.init, self.tokenizer, prompts, responses, max_length=self.max_length)
        return sft - init


def afd_scorer(ctx: Context, folder: Path):
    """The discriminators' logits, or the log-ratio of π_SFT and π_init (``afd_variant=log_ratio``)."""
    if ctx.cfg.reward_model.afd_variant != "log_ratio":
        return classifier_scorer(ctx, folder)
    model = ctx.cfg.model
    return LogRatioScorer(
        sft_policy_path(ctx),
        init_policy_path(ctx),
        model.dtype,
        device(ctx.cfg.hardware.use_cpu),
        model.trust_remote_code,
        ctx.cfg.reward_model.max_length,
    )


@register_family("afd", scorer=afd_scorer, reads=afd_reads, label=afd_label)
def train_afd(ctx: Context, out: Path) -> dict:
    """The AfD discriminator of ``afd_variant`` (BCE on its logit); nothing to train for ``log_ratio``."""
    rm = ctx.cfg.reward_model
    check_variant(rm.afd_variant)
    if rm.afd_variant == "log_ratio":
        return {"variant": "log_ratio", "sft_policy": sft_policy_path(ctx)}
    samples = sft_samples(ctx) if "sft_samples" in ctx.outputs else {}
    examples = discriminator_examples(rm.afd_variant, records(ctx, "train"), reference_samples(ctx), samples)
    label = f"AfD discriminator ({rm.afd_variant})"
    return {"variant": rm.afd_variant, **train_per_category(ctx, out, examples, train_discriminator, label)}
