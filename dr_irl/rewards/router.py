"""Routing each prompt to its category's reward model R_j, and the reward function GRPO calls."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from dr_irl.distributed.deepspeed import zero3_init_disabled
from dr_irl.rewards.backbones import (
    SHARED,
    adapter_base_path,
    load_reward_model,
    load_reward_tokenizer,
    load_scoring_model,
    score_texts,
)


class Scorer:
    """One reward model, or one LoRA adapter of a shared backbone (activated before scoring)."""

    def __init__(self, model, tokenizer, adapter: str | None = None) -> None:
        self.model, self.tokenizer, self.adapter = model, tokenizer, adapter

    def __call__(self, prompts: list[str], responses: list[str], max_length: int) -> torch.Tensor:
        if self.adapter is not None:
            self.model.set_adapter(self.adapter)
        return score_texts(self.model, self.tokenizer, prompts, responses, max_length)


@zero3_init_disabled()
def _adapter_scorers(
    folder: Path, categories: Sequence[str], device: str, base_path: str | None = None
) -> dict[str, Scorer]:
    """Per-category LoRA adapters on one backbone loaded once (``reward_model.shared_backbone``)."""
    from peft import PeftModel

    tokenizer = load_reward_tokenizer(str(folder / categories[0]))
    base, _ = load_reward_model(base_path or adapter_base_path(folder / categories[0]))
    base.config.pad_token_id = tokenizer.pad_token_id
    model = PeftModel.from_pretrained(base, str(folder / categories[0]), adapter_name=categories[0])
    for category in categories[1:]:
        model.load_adapter(str(folder / category), adapter_name=category)
    model = model.to(device).eval()
    return {c: Scorer(model, tokenizer, adapter=c) for c in categories}


class CategoryRewardModels:
    """R_j for each category j: one model per category, one shared model, or per-category LoRA adapters on a
    shared backbone — a router, not a mixture."""

    def __init__(
        self,
        folder: str | Path,
        categories: Sequence[str],
        max_length: int = 160,
        device: str = "cpu",
        base_path: str | None = None,
    ) -> None:
        """``base_path``: the backbone of LoRA-adapter reward models (default: the path each adapter recorded)."""
        folder = Path(folder)
        self.max_length = max_length
        self.categories = list(categories)
        missing = [c for c in self.categories if not (folder / c).is_dir()]
        if (folder / SHARED).is_dir():
            model, tokenizer = load_scoring_model(folder / SHARED, base_path)
            shared = Scorer(model.to(device).eval(), tokenizer)
            self.route = dict.fromkeys(self.categories, shared)
        elif missing:
            raise FileNotFoundError(f"no reward model for categories {missing} in {folder}")
        elif (folder / self.categories[0] / "adapter_config.json").is_file():
            self.route = _adapter_scorers(folder, self.categories, device, base_path)
        else:
            self.route = {}
            for category in self.categories:
                model, tokenizer = load_scoring_model(folder / category)
                self.route[category] = Scorer(model.to(device).eval(), tokenizer)

    def score(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        categories: Sequence[str],
        harmful: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        """R_{c_i}(x_i, y_i) for each i, batched per model (or adapter)."""
        scores = torch.zeros(len(prompts))
        by_scorer: dict[int, list[int]] = {}
        for i, category in enumerate(categories):
            if category not in self.route:
                raise KeyError(f"prompt category '{category}' has no reward model (known: {self.categories})")
            by_scorer.setdefault(id(self.route[category]), []).append(i)
        for indices in by_scorer.values():
            scorer = self.route[categories[indices[0]]]
            scores[indices] = scorer(
                [prompts[i] for i in indices], [responses[i] for i in indices], self.max_length
            )
        return scores


def completion_text(completion) -> str:
    """TRL passes a string, or (conversational) a list of messages; return the assistant text."""
    if isinstance(completion, str):
        return completion
    return (
        "".join(m["content"] for m in completion if m.get("role") == "assistant") or completion[-1]["content"]
    )


class CategoryRewardFunction:
    """The reward function handed to GRPOTrainer: R_j(q, o_i) with j the prompt's category (any scorer of
    :mod:`dr_irl.rewards.families` — the category IRL models route by category, the others ignore it).

    Keeps the last batch (texts, rewards, demonstration rewards) so that the GRPO-S trainer can compute
    α without scoring twice; R_j(q, y*) is computed once per prompt and cached.
    """

    __name__ = "reward_model"  # TRL logs rewards/reward_model/{mean,std}

    def __init__(self, models) -> None:
        self.models = models
        self.demo_cache: dict[str, float] = {}
        self.last: dict[str, list] = {}

    def demonstration_rewards(
        self,
        ids: Sequence[str],
        prompts: Sequence[str],
        demonstrations: Sequence[str],
        categories: Sequence[str],
    ) -> torch.Tensor:
        missing = {}
        for i, key in enumerate(ids):
            if key not in self.demo_cache:
                missing.setdefault(key, i)
        if missing:
            idx = list(missing.values())
            fresh = self.models.score(
                [prompts[i] for i in idx], [demonstrations[i] for i in idx], [categories[i] for i in idx]
            )
            self.demo_cache.update(zip(missing, fresh.tolist(), strict=True))
        return torch.tensor([self.demo_cache[k] for k in ids])

    def __call__(
        self, prompts, completions, prompt_text, category, demonstration, id, harmful=None, **kwargs
    ) -> list[float]:
        texts = [completion_text(c) for c in completions]
        rewards = self.models.score(prompt_text, texts, category, harmful=harmful)
        observe = getattr(self.models, "observe", None)  # iterative IRL keeps the rollouts it scored
        if observe is not None:
            observe(list(id), texts)
        self.last = {
            "ids": list(id),
            "texts": texts,
            "rewards": rewards,
            "category": list(category),
            "prompt_text": list(prompt_text),
            "demonstration": list(demonstration),
        }
        return rewards.tolist()
