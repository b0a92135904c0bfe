"""Batched chat generation for evaluation, reference samples, Best-of-N and RRM candidates.

What makes it fast on a CPU, where a decoding step streams every weight from memory and the prompt's
prefill costs about as much as the answer:

- prompts are tokenised once, sorted by length (longest first) and batched in that order, so a batch pads
  its prompts to nearly equal lengths; the answers come back in the caller's order;
- the tokens every prompt starts with (the chat template's system turn: 24 of SmolLM2's ~44 prompt
  tokens) go through the model once per call; each batch starts from a copy of that KV cache and pads
  between the shared prefix and the rest (the attention mask and the position ids skip the padding);
- the N samples of one prompt share one prefill: the prompt's KV cache is repeated N times;
- sampling draws each token by inverting the CDF in two levels (:func:`sample_from_logits`), not with
  ``torch.multinomial``, which walks every row's whole distribution (over SmolLM2's 49k-token
  vocabulary, about a sixth of a decoding step at batch 64);
- a batch stops as soon as every sequence has produced an end-of-sequence token (``transformers``'
  ``generate`` does, once the eos and pad ids are set, which this module makes sure of).

Every call counts its prompts, generated tokens and seconds (:class:`GenerationStats`): read them with
:func:`count_generation` around a stage, or :data:`TOTAL` for the whole process.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm
from transformers import DynamicCache, LogitsProcessor, LogitsProcessorList

from dr_irl.terminal import interactive

MIN_SHARED_PREFIX = 4
"""Shortest common prompt prefix worth a prefill of its own (tokens)."""

CLOCK: Callable[[], float] = time.perf_counter
"""What :class:`GenerationStats` seconds are read from: wall time. A benchmark on a shared machine may set
``time.process_time`` (with one torch thread: the CPU time the work itself took)."""


@dataclass
class GenerationStats:
    """Work done by :func:`generate_responses` calls.

    ``new_tokens`` counts each sequence's generated tokens up to and including its end-of-sequence token
    (the padding after it is not counted); ``token_slots`` counts every row of every decoding step (what
    the model computed, finished rows included); ``seconds`` is wall time, tokenisation, prefill and
    decoding included. ``decode_seconds`` is the time from each batch's first generated token to its
    last, in which the model ran ``decode_token_slots`` one-token rows.
    """

    calls: int = 0
    prompts: int = 0
    sequences: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    token_slots: int = 0
    seconds: float = 0.0
    decode_token_slots: int = 0
    decode_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second of wall time (0 before anything was generated)."""
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        """Rows × decoding steps per second of decoding, the prefill left out."""
        return self.decode_token_slots / self.decode_seconds if self.decode_seconds > 0 else 0.0

    def add(self, other: GenerationStats) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, float]:
        return {
            **asdict(self),
            "tokens_per_second": self.tokens_per_second,
            "decode_tokens_per_second": self.decode_tokens_per_second,
        }


TOTAL = GenerationStats()
"""Everything :func:`generate_responses` generated in this process."""

_open_counters: list[GenerationStats] = []


@contextmanager
def count_generation() -> Iterator[GenerationStats]:
    """Stats of the :func:`generate_responses` calls made inside the block (blocks may nest)::

    with count_generation() as generated:
        responses = generate_responses(...)
    summary["tokens_per_second"] = generated.tokens_per_second
    """
    stats = GenerationStats()
    _open_counters.append(stats)
    try:
        yield stats
    finally:
        _open_counters[:] = [c for c in _open_counters if c is not stats]  # by identity: equal stats differ


def _record(stats: GenerationStats) -> None:
    for counter in (TOTAL, *_open_counters):
        counter.add(stats)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of ``lengths`` in batches of ``batch_size``, longest first (ties in input order), so each
    batch pads its members to nearly equal lengths and the largest batch, the memory peak, comes first."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def shared_prefix_length(token_ids: Sequence[Sequence[int]]) -> int:
    """Tokens every sequence starts with, at most the shortest length − 1 (each keeps a token of its own
    for ``generate`` to start from); 0 for no sequences."""
    if not token_ids:
        return 0
    limit = min(len(ids) for ids in token_ids) - 1
    first = token_ids[0]
    length = 0
    while length < limit and all(ids[length] == first[length] for ids in token_ids):
        length += 1
    return length


def tokens_until_end(generated: torch.Tensor, eos_ids: Sequence[int]) -> torch.Tensor:
    """Per row of ``generated`` (new tokens only), the tokens up to and including the first end-of-sequence
    token; the whole row when it never ended."""
    ended = torch.isin(generated, torch.tensor(list(eos_ids), device=generated.device))
    return torch.where(ended.any(dim=1), ended.int().argmax(dim=1) + 1, generated.shape[1])


def _eos_ids(model, tokenizer) -> list[int]:
    """The model's end-of-sequence ids (its generation config's, else the tokenizer's)."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(
            "neither the model's generation_config nor the tokenizer defines an eos token: generation could "
            "not stop before max_new_tokens"
        )
    return [eos] if isinstance(eos, int) else list(eos)


def sample_from_logits(logits: torch.Tensor, temperature: float = 1.0, block: int = 256) -> torch.Tensor:
    """One token per row of ``logits`` drawn from softmax(logits / temperature) by inverting its CDF (one
    uniform per row from torch's global generator), in two levels — which block of ``block`` tokens, then
    which token in it — with float64 sums: exact like ``torch.multinomial(softmax(...), 1)`` and several
    times faster over a large vocabulary (``multinomial`` walks every row's whole distribution)."""
    rows, vocab = logits.shape
    scaled = logits / temperature if temperature != 1.0 else logits
    weights = (scaled - scaled.max(dim=-1, keepdim=True).values).exp_()
    if vocab % block:
        weights = torch.nn.functional.pad(weights, (0, -vocab % block))
    blocks = weights.view(rows, -1, block)
    cumulative = blocks.sum(dim=-1, dtype=torch.float64).cumsum_(dim=-1)
    u = torch.rand(rows, 1, dtype=torch.float64, device=logits.device) * cumulative[:, -1:]
    which = torch.searchsorted(cumulative, u).clamp_(max=cumulative.shape[1] - 1)
    before = torch.where(which > 0, cumulative.gather(1, (which - 1).clamp_(min=0)), 0.0)
    inside = blocks[torch.arange(rows, device=logits.device), which.squeeze(1)].cumsum(
        -1, dtype=torch.float64
    )
    offset = torch.searchsorted(inside, u - before).clamp_(max=block - 1)
    return (which * block + offset).clamp_(max=vocab - 1).squeeze(1)


class _Sampler(LogitsProcessor):
    """Sampling as the last logits processor of a greedy ``generate``: it draws each row's token with
    :func:`sample_from_logits` and leaves that token the only finite score, which greedy's argmax picks."""

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        tokens = sample_from_logits(scores, self.temperature)
        return scores.fill_(float("-inf")).scatter_(1, tokens[:, None], 0.0)


class _StepClock(LogitsProcessor):
    """Records when each decoding step's logits arrive (the first right after the prefill)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.times.append(CLOCK())
        return scores


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of a padded batch, as ``generate`` computes them (padding skipped)."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


def _padded_batch(
    token_ids: Sequence[Sequence[int]], prefix: int, pad_id: int, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask): the shared ``prefix`` tokens, then padding, then each prompt's rest."""
    width = max(len(ids) for ids in token_ids)
    input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        rest = len(ids) - prefix
        input_ids[row, :prefix] = torch.tensor(ids[:prefix])
        input_ids[row, width - rest :] = torch.tensor(ids[prefix:])
        mask[row, :prefix] = 1
        mask[row, width - rest :] = 1
    return input_ids.to(device), mask.to(device)


def _prefill(model, input_ids: torch.Tensor, cache: DynamicCache, **kwargs) -> DynamicCache:
    model(input_ids=input_ids, cache=cache, use_cache=True, logits_to_keep=1, **kwargs)
    return cache


def _batch_cache(model, prefix_cache: DynamicCache | None, rows: int) -> DynamicCache:
    """A cache for ``rows`` sequences holding the shared prefix (empty without one)."""
    if prefix_cache is None:
        return DynamicCache(config=model.config)
    cache = copy.deepcopy(prefix_cache)
    cache.batch_repeat_interleave(rows)
    return cache


def _generate_batch(
    model, input_ids: torch.Tensor, mask: torch.Tensor, cache: DynamicCache, n: int, kwargs: dict
) -> torch.Tensor:
    """``n`` sequences per row. With ``n > 1`` every prompt token but the last goes through the model once
    and the cache is repeated ``n`` times; ``generate`` then continues from the last prompt token."""
    if n > 1:
        done = cache.get_seq_length()
        if input_ids.shape[1] - done > 1:
            _prefill(
                model,
                input_ids[:, done:-1],
                cache,
                attention_mask=mask[:, :-1],
                position_ids=_positions(mask)[:, done:-1],
            )
        cache.batch_repeat_interleave(n)
        input_ids, mask = input_ids.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0)
    return model.generate(input_ids=input_ids, attention_mask=mask, cache=cache, **kwargs)


def join_opening(opening: str, continuation: str) -> str:
    """An answer's given opening and the model's continuation, with a space unless the continuation begins
    with punctuation."""
    opening, continuation = opening.strip(), continuation.strip()
    if not opening or not continuation or continuation[0] in ",.;:!?'\")":
        return opening + continuation
    return f"{opening} {continuation}"


@torch.inference_mode()
def generate_responses(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 16,
    do_sample: bool = False,
    temperature: float = 1.0,
    num_return_sequences: int = 1,
    desc: str = "generate",
    min_new_tokens: int = 0,
    share_prefix: bool = True,
    response_prefixes: Sequence[str] | None = None,
) -> list[list[str]]:
    """``num_return_sequences`` responses per prompt (user turn of the model's chat template), in the order
    of ``prompts``. ``batch_size`` prompts go through the model together (``batch_size ×
    num_return_sequences`` sequences); ``min_new_tokens`` forbids an earlier end (fixed-length benchmarks);
    ``share_prefix=False`` prefills every prompt whole (to measure what sharing saves);
    ``response_prefixes`` (one per prompt) opens each answer with the given words, which the model continues
    (the returned text starts with them).
    Greedy decoding with ``num_return_sequences > 1`` decodes each prompt once and repeats the answer."""
    if num_return_sequences < 1:
        raise ValueError(f"num_return_sequences must be at least 1, got {num_return_sequences}")
    started = CLOCK()
    model.eval()
    device = next(model.parameters()).device
    eos_ids = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    if do_sample and temperature <= 0:
        raise ValueError(f"temperature must be > 0 for sampling, got {temperature}")
    n = num_return_sequences if do_sample else 1
    kwargs = {
        "do_sample": False,  # sampling, when asked for, is the last logits processor (see _Sampler)
        "max_new_tokens": max_new_tokens,
        "min_new_tokens": min_new_tokens,
        "eos_token_id": eos_ids,
        "pad_token_id": pad_id,
    }

    messages = [[{"role": "user", "content": p}] for p in prompts]
    token_ids = (
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
        if prompts
        else []
    )
    if response_prefixes is not None:
        if len(response_prefixes) != len(prompts):
            raise ValueError(f"{len(response_prefixes)} response prefixes for {len(prompts)} prompts")
        token_ids = [
            ids + tokenizer(opening.strip(), add_special_tokens=False)["input_ids"]
            for ids, opening in zip(token_ids, response_prefixes, strict=True)
        ]
    stats = GenerationStats(calls=1, prompts=len(prompts), sequences=len(prompts) * n)
    stats.prompt_tokens = sum(len(ids) for ids in token_ids)
    prefix = shared_prefix_length(token_ids) if share_prefix else 0
    if prefix < MIN_SHARED_PREFIX:
        prefix = 0
    prefix_cache = (
        _prefill(
            model, torch.tensor([token_ids[0][:prefix]], device=device), DynamicCache(config=model.config)
        )
        if prefix
        else None
    )
    texts: list[list[str]] = [[] for _ in prompts]
    for batch in tqdm(
        length_sorted_batches([len(ids) for ids in token_ids], batch_size),
        desc=desc,
        unit="batch",
        leave=False,
        disable=not interactive(),  # a bar on a terminal only: no carriage-return walls in files
    ):
        input_ids, mask = _padded_batch([token_ids[i] for i in batch], prefix, pad_id, device)
        clock = _StepClock()
        processors = LogitsProcessorList([clock, *([_Sampler(temperature)] if do_sample else [])])
        output = _generate_batch(
            model,
            input_ids,
            mask,
            _batch_cache(model, prefix_cache, len(batch)),
            n,
            {**kwargs, "logits_processor": processors},
        )
        generated = output[:, input_ids.shape[1] :]
        stats.new_tokens += int(tokens_until_end(generated, eos_ids).sum())
        stats.token_slots += generated.numel()
        if clock.times:
            stats.decode_token_slots += generated.shape[0] * (len(clock.times) - 1)
            stats.decode_seconds += clock.times[-1] - clock.times[0]
        decoded = tokenizer.batch_decode(generated, skip_special_tokens=True)
        for row, i in enumerate(batch):
            opening = response_prefixes[i] if response_prefixes is not None else ""
            texts[i] = [join_opening(opening, t) for t in decoded[row * n : (row + 1) * n]]
    if n < num_return_sequences:
        texts = [t * num_return_sequences for t in texts]
    stats.seconds = CLOCK() - started
    _record(stats)
    return texts
