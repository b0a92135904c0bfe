"""How a policy answers the evaluation prompts: greedy decoding, or Best-of-N under the reward models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from dr_irl.config import policy_seed
from dr_irl.registry import Registry

RESPONDERS: Registry[Callable[..., list[str]]] = Registry("policy responder")


@RESPONDERS.register("greedy")
def greedy(ctx, model, tokenizer, prompts: Sequence, label: str) -> list[str]:
    from dr_irl.models.generation import generate_responses

    ev = ctx.cfg.eval
    texts = [r.prompt for r in prompts]
    return [
        r[0]
        for r in generate_responses(
            model, tokenizer, texts, ev.max_new_tokens, batch_size=ev.batch_size, desc=f"eval {label}"
        )
    ]


def best_of(candidates: list[list[str]], scores: torch.Tensor) -> list[str]:
    """Pick, per prompt, the candidate with the highest score (``scores`` flattened prompt-major)."""
    n = len(candidates[0]) if candidates else 0
    best = scores.view(len(candidates), n).argmax(dim=1).tolist()
    return [c[i] for c, i in zip(candidates, best, strict=True)]


@RESPONDERS.register("best_of_n")
def best_of_n(ctx, model, tokenizer, prompts: Sequence, label: str) -> list[str]:
    """Sample ``optimizer.n`` responses per prompt; keep the one the category reward model scores highest."""
    from dr_irl.models.generation import generate_responses
    from dr_irl.rewards.families import reward_models

    ev, opt = ctx.cfg.eval, ctx.cfg.optimizer
    torch.manual_seed(policy_seed(ctx.cfg))
    candidates = generate_responses(
        model,
        tokenizer,
        [r.prompt for r in prompts],
        ev.max_new_tokens,
        batch_size=max(1, ev.batch_size // opt.n),
        do_sample=True,
        temperature=opt.temperature,
        num_return_sequences=opt.n,
        desc=f"eval {label} (best of {opt.n})",
    )
    flat_prompts = [r.prompt for r in prompts for _ in range(opt.n)]
    flat_cats = [r.category for r in prompts for _ in range(opt.n)]
    flat_harmful = [r.harmful for r in prompts for _ in range(opt.n)]
    scores = reward_models(ctx).score(
        flat_prompts, [c for cs in candidates for c in cs], flat_cats, harmful=flat_harmful
    )
    return best_of(candidates, scores)
