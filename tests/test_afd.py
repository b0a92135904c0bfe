"""AfD: discriminator data per variant, its loss and logit reward by hand, the closed-form log-ratio reward."""

import math

import pytest
import torch

from dr_irl.data.schema import Record
from dr_irl.rewards.afd import (
    DISCRIMINATOR_VARIANTS,
    LogRatioScorer,
    check_variant,
    discriminator_examples,
    discriminator_loss,
    logit_reward,
    reads_sft_policy,
)

RECORDS = [
    Record("h1", "Insult him.", "insult", "harmful", "I won't insult people."),
    Record("b1", "Roast my cake recipe.", "insult", "benign", "Sure: it needs more butter."),
    Record("h2", "No samples here.", "insult", "harmful", "No."),
]
INIT = {"h1": ["You idiot.", "Fine, he's dumb."], "b1": ["No."]}
SFT = {"h1": ["I can't do that."], "b1": ["It needs butter."]}


@pytest.mark.parametrize("variant", list(DISCRIMINATOR_VARIANTS))
def test_discriminator_examples_take_negatives_and_positives_of_the_variant(variant):
    examples = discriminator_examples(variant, RECORDS, INIT, SFT)
    negatives = [(e.prompt_id, e.response) for e in examples if e.label == 0.0]
    positives = [(e.prompt_id, e.response) for e in examples if e.label == 1.0]
    texts = {
        "init": [(k, y) for k, ys in INIT.items() for y in ys],
        "sft": [(k, y) for k, ys in SFT.items() for y in ys],
        "demo": [("h1", "I won't insult people."), ("b1", "Sure: it needs more butter.")],
    }
    neg, pos = DISCRIMINATOR_VARIANTS[variant]
    assert sorted(negatives) == sorted(texts[neg]) and sorted(positives) == sorted(texts[pos])
    assert all(e.prompt_id != "h2" for e in examples)  # only the prompts that were sampled


def test_variants_are_checked_and_know_what_they_read():
    assert reads_sft_policy("init_sft") and reads_sft_policy("sft_demo") and reads_sft_policy("log_ratio")
    assert not reads_sft_policy("init_demo")
    with pytest.raises(ValueError, match="reward_model.afd_variant='sft_init'"):
        check_variant("sft_init")


def test_discriminator_loss_and_logit_reward_by_hand():
    z = torch.tensor([2.0, -1.0, 0.5])
    y = torch.tensor([1.0, 0.0, 0.0])
    d = [1 / (1 + math.exp(-v)) for v in z.tolist()]
    hand = -(math.log(d[0]) + math.log(1 - d[1]) + math.log(1 - d[2])) / 3
    assert discriminator_loss(z, y).item() == pytest.approx(hand, rel=1e-6)
    # log D − log(1 − D) is the logit: the reward the classifier's output gives directly
    assert logit_reward(torch.tensor(d, dtype=torch.float64)).tolist() == pytest.approx(z.tolist(), rel=1e-9)


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    from dr_irl.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("afd")
    return str(build_tiny_model(root / "sft", seed=0)), str(build_tiny_model(root / "init", seed=1))


def test_transformers_head_trains_on_exactly_the_discriminator_loss(tiny_pair):
    """problem_type=multi_label_classification with one label: the model's own loss is BCE on the logit."""
    from dr_irl.rewards.backbones import load_reward_model

    model, tokenizer = load_reward_model(tiny_pair[0])
    model.config.problem_type = "multi_label_classification"
    batch = tokenizer(["Insult him. You idiot.", "Insult him. I won't."], return_tensors="pt", padding=True)
    labels = torch.tensor([[0.0], [1.0]])
    out = model(**batch, labels=labels)
    assert out.loss.item() == pytest.approx(discriminator_loss(out.logits, labels).item(), rel=1e-6)


def _hand_logprob(model, tokenizer, prompt, response):
    """Σ log π(y_t | x, y_<t) token by token over the response span, one forward per token."""
    from dr_irl.models.likelihood import chat_ids

    ids, start = chat_ids(tokenizer, prompt, response)
    total = 0.0
    with torch.no_grad():
        for t in range(start, len(ids)):
            logits = model(input_ids=torch.tensor([ids[:t]])).logits[0, -1]
            total += torch.log_softmax(logits.float(), dim=-1)[ids[t]].item()
    return total


def test_response_logprobs_and_the_log_ratio_reward_by_hand(tiny_pair):
    from dr_irl.models import load_causal_lm, load_tokenizer
    from dr_irl.models.likelihood import response_logprobs

    sft_path, init_path = tiny_pair
    tokenizer = load_tokenizer(sft_path, padding_side="right")
    sft, init = load_causal_lm(sft_path).eval(), load_causal_lm(init_path).eval()
    prompts = ["Insult him.", "Roast my cake recipe, please, in a long sentence."]
    responses = ["I won't.", "It needs butter and a lot more sugar."]
    batched = response_logprobs(sft, tokenizer, prompts, responses, batch_size=2)  # right-padded batch
    hand = [_hand_logprob(sft, tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
    assert batched.tolist() == pytest.approx(hand, rel=1e-4)

    scorer = LogRatioScorer(sft_path, init_path)
    expected = [
        h - _hand_logprob(init, tokenizer, p, r) for h, p, r in zip(hand, prompts, responses, strict=True)
    ]
    assert scorer.score(prompts, responses, ["insult", "insult"]).tolist() == pytest.approx(
        expected, rel=1e-4
    )
    same = LogRatioScorer(sft_path, sft_path)  # π_SFT = π_init: no preference at all
    assert same.score(prompts, responses, ["insult"] * 2).abs().max().item() < 1e-5
