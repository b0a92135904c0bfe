"""Batched generation: length-sorted batches come back in the caller's order, a shared prompt prefix and a
shared prefill change nothing but the speed, sampling is exact and seeded, tokens are counted."""

from __future__ import annotations

import pytest
import torch

from dr_irl.models import generation
from dr_irl.models.generation import (
    GenerationStats,
    count_generation,
    generate_responses,
    length_sorted_batches,
    sample_from_logits,
    shared_prefix_length,
    tokens_until_end,
)

# different lengths on purpose: length sorting reorders them
PROMPTS = [
    "How do I pick a lock?",
    "Write a short poem about the sea and the ships that sail on it at night.",
    "Hi",
    "Explain how vaccines train the immune system, in two sentences.",
    "What is 2 + 2?",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from dr_irl.models import load_causal_lm, load_tokenizer
    from dr_irl.models.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path_factory.mktemp("tiny"))
    return load_causal_lm(str(folder)), load_tokenizer(str(folder))


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]


# ------------------------------------------------------------------------------------------ pure helpers


def test_length_sorted_batches_longest_first_ties_in_input_order():
    assert length_sorted_batches([3, 5, 3, 9, 1], 2) == [[3, 1], [0, 2], [4]]
    assert length_sorted_batches([], 4) == []
    with pytest.raises(ValueError, match="batch_size"):
        length_sorted_batches([1], 0)


def test_shared_prefix_leaves_every_sequence_a_token_of_its_own():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 9, 9], [1, 2, 7]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # not all of the shorter one
    assert shared_prefix_length([[5, 6, 7]]) == 2
    assert shared_prefix_length([[1], [2]]) == 0
    assert shared_prefix_length([]) == 0


def test_tokens_until_end_counts_the_eos_and_nothing_after_it():
    generated = torch.tensor([[5, 6, 2, 2, 2], [5, 6, 7, 8, 9], [2, 0, 0, 0, 0], [4, 0, 3, 1, 1]])
    assert tokens_until_end(generated, [2]).tolist() == [3, 5, 1, 5]
    assert tokens_until_end(generated, [2, 3]).tolist() == [3, 5, 1, 3]


def test_stats_add_and_rates():
    a = GenerationStats(calls=1, new_tokens=30, seconds=2.0, decode_token_slots=20, decode_seconds=0.5)
    a.add(GenerationStats(calls=1, new_tokens=10, seconds=2.0))
    assert (a.calls, a.new_tokens, a.seconds) == (2, 40, 4.0)
    assert a.tokens_per_second == 10.0
    assert a.decode_tokens_per_second == 40.0
    assert GenerationStats().tokens_per_second == 0.0
    assert a.as_dict()["tokens_per_second"] == 10.0


def test_sampling_by_inverse_cdf_matches_the_softmax():
    """Frequencies of 40k draws against softmax(logits / T) (χ², 5 degrees of freedom), blocks that
    split the vocabulary unevenly, a -inf token never drawn, and the same draws for the same seed."""
    from scipy.stats import chisquare

    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, float("-inf"), 0.5, 0.1])
    for temperature, block in ((1.0, 3), (0.5, 4), (2.0, 256)):
        torch.manual_seed(0)
        draws = sample_from_logits(logits.repeat(40_000, 1), temperature, block=block)
        counts = torch.bincount(draws, minlength=7)
        assert counts[4] == 0
        keep = [0, 1, 2, 3, 5, 6]
        expected = torch.softmax(logits / temperature, dim=0).double()[keep]
        observed = counts[keep].double()
        assert chisquare(observed.numpy(), (expected / expected.sum() * observed.sum()).numpy()).pvalue > 1e-3
    torch.manual_seed(1)
    first = sample_from_logits(logits.repeat(50, 1))
    torch.manual_seed(1)
    assert torch.equal(first, sample_from_logits(logits.repeat(50, 1)))


# ---------------------------------------------------------------------------------------- with a model


def test_batched_greedy_answers_come_back_in_the_callers_order(tiny):
    """Each prompt alone (no padding, no sharing) gives the answer the sorted, batched call puts at its
    index — with and without the shared prefix."""
    model, tokenizer = tiny
    alone = [
        generate_responses(model, tokenizer, [p], 8, batch_size=1, share_prefix=False)[0] for p in PROMPTS
    ]
    lengths = [len(prompt_ids(tokenizer, p)) for p in PROMPTS]
    assert length_sorted_batches(lengths, 2) != [[0, 1], [2, 3], [4]]  # the batches really are reordered
    assert generate_responses(model, tokenizer, PROMPTS, 8, batch_size=2, share_prefix=False) == alone
    assert generate_responses(model, tokenizer, PROMPTS, 8, batch_size=3) == alone


def test_shared_prefix_gives_the_same_greedy_answers(tiny, monkeypatch):
    """The tiny model's template shares one token only: lower the threshold so the prefix path runs."""
    model, tokenizer = tiny
    prompts = [f"Tell me about safety rule number {p}" for p in PROMPTS]  # a long common prefix
    plain = generate_responses(model, tokenizer, prompts, 8, batch_size=2, share_prefix=False)
    monkeypatch.setattr(generation, "MIN_SHARED_PREFIX", 1)
    calls = []
    real = generation._prefill
    monkeypatch.setattr(
        generation,
        "_prefill",
        lambda m, ids, cache, **kw: calls.append(ids.shape) or real(m, ids, cache, **kw),
    )
    assert generate_responses(model, tokenizer, prompts, 8, batch_size=2) == plain
    assert calls[0][0] == 1 and calls[0][1] > 5  # the prefix went through the model once, as one row


def test_samples_are_grouped_per_prompt_and_share_one_prefill(tiny):
    """At a temperature near 0 every sample of a prompt is that prompt's greedy answer: the groups line up
    with the prompts, and the shared prefill (cache repeated per sample) continues each prompt correctly."""
    model, tokenizer = tiny
    greedy = generate_responses(model, tokenizer, PROMPTS, 8, batch_size=2)
    torch.manual_seed(0)
    samples = generate_responses(
        model, tokenizer, PROMPTS, 8, batch_size=2, do_sample=True, temperature=1e-4, num_return_sequences=3
    )
    assert [len(s) for s in samples] == [3] * len(PROMPTS)
    assert samples == [[g[0]] * 3 for g in greedy]
    repeated = generate_responses(model, tokenizer, PROMPTS, 8, batch_size=2, num_return_sequences=3)
    assert repeated == [[g[0]] * 3 for g in greedy]  # greedy decodes once and repeats


def test_sampling_is_seeded(tiny):
    model, tokenizer = tiny

    def draw(seed):
        torch.manual_seed(seed)
        return generate_responses(
            model, tokenizer, PROMPTS, 12, batch_size=2, do_sample=True, num_return_sequences=2
        )

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)


def test_tokens_and_seconds_are_counted(tiny):
    """Fixed length: every sequence counts exactly max_new_tokens; nested counters and TOTAL all see it."""
    model, tokenizer = tiny
    before = generation.TOTAL.new_tokens
    with count_generation() as outer:
        with count_generation() as inner:
            generate_responses(model, tokenizer, PROMPTS, 6, batch_size=2, min_new_tokens=6)
        torch.manual_seed(0)
        generate_responses(
            model,
            tokenizer,
            PROMPTS[:2],
            6,
            batch_size=1,
            do_sample=True,
            num_return_sequences=4,
            min_new_tokens=6,
        )
    assert (inner.calls, inner.prompts, inner.sequences, inner.new_tokens) == (1, 5, 5, 30)
    assert inner.token_slots == 30
    assert inner.decode_token_slots == 5 * 5  # five steps after the first token
    assert inner.seconds > 0 and inner.decode_seconds > 0
    assert inner.prompt_tokens == sum(len(prompt_ids(tokenizer, p)) for p in PROMPTS)
    assert (outer.calls, outer.sequences, outer.new_tokens) == (2, 13, 30 + 48)
    assert generation.TOTAL.new_tokens - before == 78


def test_a_batch_stops_when_every_sequence_has_ended(tiny):
    """Make each prompt's first greedy token an end-of-sequence token: one step, one token per sequence."""
    model, tokenizer = tiny
    eos = set()
    for prompt in PROMPTS:
        ids = prompt_ids(tokenizer, prompt)
        with torch.inference_mode():
            eos.add(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    eos = sorted(eos)
    original = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = eos
    try:
        with count_generation() as stats:
            generate_responses(model, tokenizer, PROMPTS, 16, batch_size=5)
    finally:
        model.generation_config.eos_token_id = original
    assert stats.token_slots == len(PROMPTS)  # one step for the batch, not 16
    assert stats.new_tokens == len(PROMPTS)


def test_bad_arguments_fail_clearly(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="num_return_sequences"):
        generate_responses(model, tokenizer, PROMPTS, 4, num_return_sequences=0)
    with pytest.raises(ValueError, match="temperature"):
        generate_responses(model, tokenizer, PROMPTS, 4, do_sample=True, temperature=0)
    assert generate_responses(model, tokenizer, [], 4) == []


def test_response_prefixes_open_each_answer(tiny):
    model, tokenizer = tiny
    prompts = ["how do I make tea", "write an insult"]
    openings = ["Tea is", "I can't write"]
    answers = generate_responses(model, tokenizer, prompts, 4, batch_size=2, response_prefixes=openings)
    assert [a[0].startswith(o) for a, o in zip(answers, openings, strict=True)] == [True, True]
    # the opening is part of the context: the continuation differs from an answer without it
    free = generate_responses(model, tokenizer, prompts, 4, batch_size=2)
    assert answers != free
    with pytest.raises(ValueError, match="response prefixes"):
        generate_responses(model, tokenizer, prompts, 4, response_prefixes=["only one"])
