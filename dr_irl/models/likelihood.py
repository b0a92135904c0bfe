"""Chat-formatted (prompt, response) token ids and the log-likelihood of a response under a causal LM."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch


def chat_ids(tokenizer, prompt: str, response: str, max_length: int | None = None) -> tuple[list[int], int]:
    """Token ids of the chat (user prompt, assistant response) and where the response's span starts.

    A chat longer than ``max_length`` keeps its last ``max_length`` tokens (the response's end is always
    seen); the span start moves with it. The span has at least one token, even for an empty response.
    """
    user = [{"role": "user", "content": prompt}]
    full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": response}], tokenize=False)
    head = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    start = min(len(tokenizer(head, add_special_tokens=False)["input_ids"]), len(ids) - 1)
    if max_length is not None and len(ids) > max_length:
        cut = len(ids) - max_length
        ids, start = ids[cut:], max(0, start - cut)
    return ids, start


@contextmanager
def eval_mode(model) -> Iterator[torch.device]:
    """``model`` in eval mode for the block (its device is yielded), its training mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield next(model.parameters()).device
    finally:
        model.train(was_training)


def chat_batches(
    tokenizer, prompts: Sequence[str], responses: Sequence[str], batch_size: int, max_length: int
):
    """Right-padded batches of chat-formatted pairs: (input_ids, attention_mask, response span) [B, T] each."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for begin in range(0, len(prompts), batch_size):
        chats = [
            chat_ids(tokenizer, prompts[i], responses[i], max_length)
            for i in range(begin, min(begin + batch_size, len(prompts)))
        ]
        width = max(len(ids) for ids, _ in chats)
        input_ids = torch.full((len(chats), width), pad, dtype=torch.long)
        attention = torch.zeros((len(chats), width), dtype=torch.long)
        span = torch.zeros((len(chats), width), dtype=torch.bool)
        for i, (ids, start) in enumerate(chats):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention[i, : len(ids)] = 1
            span[i, start : len(ids)] = True
        yield input_ids, attention, span


@torch.inference_mode()
def response_logprobs(
    model,
    tokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    batch_size: int = 8,
    max_length: int = 256,
) -> torch.Tensor:
    """log π(y|x) = Σ_t log π(y_t | x, y_<t) over the response's tokens of each chat, [N] float32 (CPU).

    The response's tokens are those after the generation prompt, the template's end-of-turn tokens included
    (the same for every model sharing a template, so they matter little in a log-ratio of two such models).
    """
    out = []
    with eval_mode(model) as device:
        for input_ids, attention, span in chat_batches(tokenizer, prompts, responses, batch_size, max_length):
            scored = span.clone()
            scored[:, 0] = False  # token t is predicted from position t − 1: the first has no prediction
            logits = model(
                input_ids=input_ids.to(device), attention_mask=attention.to(device), use_cache=False
            ).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            token_logp = logp.gather(-1, input_ids[:, 1:, None].to(device))[..., 0]
            out.append((token_logp * scored[:, 1:].to(device)).sum(dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0)
