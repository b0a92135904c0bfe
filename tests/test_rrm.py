"""RRM baseline: the hybrid probe, its margin loss and training, re-ranking, γ and the confidence DPO loss."""

import math

import pytest
import torch

from dr_irl.data.pairs import Pair
from dr_irl.rewards.representation import (
    HybridProbe,
    margin_loss,
    pooled_hidden_states,
    probe_rewards,
    rerank,
    train_probe,
)
from dr_irl.training.rrm_dpo import (
    ConfidenceCollator,
    ConfidenceDPOTrainer,
    confidence_dpo_loss,
    preference_confidence,
    reranked_pairs,
    rrm_dataset,
)
from tests.conftest import tiny_dpo_args


def sig(x):
    return 1 / (1 + math.exp(-x))


def logsig(x):
    return math.log(sig(x))


def _hand_probe():
    probe = HybridProbe(num_layers=2, hidden_size=3)
    with torch.no_grad():
        probe.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]]))
        probe.bias.copy_(torch.tensor([0.5, -1.0]))
        probe.gate.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.25]]))
    return probe


def test_probe_gates_and_sums_the_per_layer_scores():
    h = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
    reward, t, g = _hand_probe()(h)
    t1 = 1 * 1 + 0 * 2 + 2 * 3 + 0.5  # 7.5
    t2 = 0 * 4 - 1 * 5 + 1 * 6 - 1.0  # 0
    g1, g2 = sig(1 * t1 - 2 * t2), sig(0.5 * t1 + 0.25 * t2)
    assert t[0].tolist() == pytest.approx([t1, t2])
    assert g[0].tolist() == pytest.approx([g1, g2])
    assert reward.item() == pytest.approx(g1 * t1 + g2 * t2)
    assert reward.shape == (1,) and t.shape == g.shape == (1, 2)


def test_probe_saves_and_loads(tmp_path):
    probe = _hand_probe()
    with torch.no_grad():
        probe.feature_mean.fill_(0.5)
    probe.save(tmp_path / "probe")
    loaded = HybridProbe.load(tmp_path / "probe")
    h = torch.randn(4, 2, 3)
    assert torch.allclose(loaded(h)[0], probe(h)[0])
    assert not list((tmp_path / "probe").glob("*.tmp"))


def test_margin_loss_by_hand():
    r_c, r_r = torch.tensor([2.0, 0.0]), torch.tensor([0.5, 1.0])
    expected = (-logsig(2.0 - 0.5 - 1) - logsig(0.0 - 1.0 - 1)) / 2
    assert margin_loss(r_c, r_r).item() == pytest.approx(expected)
    assert margin_loss(r_c, r_r, margin=0.0).item() == pytest.approx((-logsig(1.5) - logsig(-1.0)) / 2)


def test_confidence_per_batch_and_per_sample_with_the_floor():
    sig_c, sig_r = torch.tensor([0.9, 0.4]), torch.tensor([0.6, 0.5])
    batch = preference_confidence(sig_c, sig_r)  # mean diff = 0.65 − 0.55 = 0.1
    assert batch.tolist() == pytest.approx([sig(0.75)] * 2)
    per = preference_confidence(sig_c, sig_r, per_sample=True)  # diffs 0.3 and −0.1 (floored)
    assert per.tolist() == pytest.approx([sig(7.5 * 0.3), 0.5])
    floored = preference_confidence(torch.tensor([0.2, 0.1]), torch.tensor([0.8, 0.3]), a=2.0)
    assert floored.tolist() == [0.5, 0.5]


def test_confidence_dpo_loss_by_hand():
    h, gamma = torch.tensor([2.0, -3.0]), torch.tensor([0.8, 0.5])
    expected = (-(0.8 * logsig(0.2) + 0.2 * logsig(-0.2)) - (0.5 * logsig(-0.3) + 0.5 * logsig(0.3))) / 2
    assert confidence_dpo_loss(h, 0.1, gamma).item() == pytest.approx(expected)
    plain = -torch.nn.functional.logsigmoid(0.1 * h).mean()
    assert confidence_dpo_loss(h, 0.1, torch.ones(2)).item() == pytest.approx(plain.item())


def test_rerank_picks_best_and_worst_with_ties_and_drops():
    candidates = [["a", "b", "c"], ["d", "e", "f"], ["g", "h"], ["i"], ["j", "j", "k"]]
    scores = torch.tensor([0.1, 0.9, 0.9, 1.0, -1.0, -1.0, 0.3, 0.3, 2.0, 5.0, 1.0, 0.5])
    assert rerank(candidates, scores) == [(1, 0), (0, 2), None, None, (0, 2)]
    with pytest.raises(ValueError):
        rerank(candidates, scores[:-1])
    candidates[4] = ["j", "k", "j"]
    scores[9:] = torch.tensor([5.0, 0.0, -1.0])  # best and worst are the same text
    assert rerank(candidates, scores)[4] is None


def test_reranked_pairs_carry_the_probe_sigmas():
    pairs = reranked_pairs(
        ["p", "q"],
        ["insult", "insult"],
        ["P?", "Q?"],
        [["a", "b"], ["c", "d"]],
        torch.tensor([1.0, -2.0, 0.0, 0.0]),
    )
    assert len(pairs) == 1
    pair, s_c, s_r = pairs[0]
    assert (pair.prompt_id, pair.chosen, pair.rejected) == ("p", "a", "b")
    assert (s_c, s_r) == pytest.approx((sig(1.0), sig(-2.0)))


def test_train_probe_separates_linearly_separable_features():
    torch.manual_seed(0)
    n, layers, hidden = 64, 3, 8
    direction = torch.randn(hidden)
    base = torch.randn(n, layers, hidden) * 3.0
    chosen = base + direction
    rejected = base - direction
    probe, stats = train_probe(chosen, rejected, epochs=60, lr=1e-2, batch_size=16, seed=0)
    assert stats["accuracy"] == 1.0 and stats["pairs"] == n
    assert stats["loss"] < margin_loss(torch.zeros(1), torch.zeros(1)).item()
    assert (probe_rewards(probe, chosen) > probe_rewards(probe, rejected)).all()


def test_train_probe_continues_from_an_initial_probe():
    torch.manual_seed(0)
    chosen, rejected = torch.randn(16, 2, 4) + 1.0, torch.randn(16, 2, 4)
    first, _ = train_probe(chosen, rejected, epochs=5, lr=1e-2, seed=0)
    same, _ = train_probe(
        chosen * 10, rejected * 10, epochs=0, seed=3, init=first
    )  # keeps its standardisation
    for key, value in first.state_dict().items():
        assert torch.equal(same.state_dict()[key], value), key
    updated, stats = train_probe(chosen, rejected, epochs=5, lr=1e-2, seed=0, init=first)
    assert not torch.equal(updated.weight, first.weight) and stats["epochs"] == 5


def test_rounds_train_disjoint_prompt_shards_and_share_out_steps(compose_cfg):
    from dr_irl.training.rrm import prompt_shards, round_config

    opt = compose_cfg(["optimizer=rrm_dpo", "optimizer.epochs=3", "optimizer.max_steps=5"]).optimizer
    per_round = round_config(opt, 2)
    assert per_round.epochs == 3 and per_round.max_steps == 3  # each round: all epochs over its shard
    assert round_config(compose_cfg(["optimizer=rrm_dpo"]).optimizer, 4).max_steps == -1
    shards = prompt_shards(10, 3, seed=0)
    assert sorted(i for s in shards for i in s) == list(range(10)) and [len(s) for s in shards] == [4, 3, 3]
    assert shards == prompt_shards(10, 3, seed=0) != prompt_shards(10, 3, seed=1)


def test_online_probe_update_runs_in_rounds_end_to_end(compose_cfg, tmp_path):
    import json

    from dr_irl.cli import run
    from tests.conftest import TINY_RUN

    overrides = [
        *TINY_RUN,
        "optimizer=rrm_dpo",
        "scaler=none",
        "reward_model=representation",
        "reward_model.probe_epochs=3",
        "optimizer.n=3",
        "optimizer.batch_size=4",
        "optimizer.probe_updates=1",
        "optimizer.probe_update_epochs=2",
    ]
    summaries = run(compose_cfg(overrides), tmp_path)
    policy = summaries["policy"]
    assert len(policy["rounds"]) == 2 and "probe_update" not in policy["rounds"][0]
    update = policy["rounds"][1]["probe_update"]
    assert 0 <= update["accuracy_before"] <= 1 and 0 <= update["accuracy_after"] <= 1
    stage = tmp_path / "stages" / "policy"
    assert (stage / "pairs.jsonl").is_file() and (stage / "pairs_round1.jsonl").is_file()
    assert (stage / "probes" / "round1" / "probe.json").is_file()
    assert (stage / "model" / "config.json").is_file() and not (stage / "rounds" / "0").exists()
    candidates = [json.loads(line) for line in (stage / "candidates.jsonl").read_text().splitlines()]
    texts = {c for row in candidates for c in row["candidates"]}
    rows = [json.loads(line) for line in (stage / "pairs_round1.jsonl").read_text().splitlines()]
    assert rows and all(r["chosen"] in texts and r["rejected"] in texts for r in rows)  # the same candidates
    first = [json.loads(line) for line in (stage / "pairs.jsonl").read_text().splitlines()]
    assert not {r["prompt_id"] for r in first} & {r["prompt_id"] for r in rows}  # disjoint shards
    log = [json.loads(line) for line in (stage / "train_log.jsonl").read_text().splitlines()]
    assert {row["round"] for row in log} == {0, 1}
    steps = [row["step"] for row in log if "loss" in row]
    assert steps == sorted(steps) and max(steps) == sum(r["steps"] for r in policy["rounds"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from dr_irl.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("rrm")
    return build_tiny_model(root / "policy", seed=0), build_tiny_model(root / "ref", seed=1)


@pytest.mark.parametrize("pooling", ["end", "mean"])
def test_pooled_hidden_states_pick_the_response_tokens(tiny, pooling):
    from dr_irl.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(str(tiny[0]))
    model = load_causal_lm(str(tiny[0]))
    prompts = ["Insult him.", "How do I bake bread at home with a long prompt?"]
    responses = ["I won't insult people, sorry about that.", "Mix."]
    pooled = pooled_hidden_states(model, tokenizer, prompts, responses, pooling=pooling, batch_size=2)
    assert pooled.shape == (2, 2, 64)
    for i in range(2):  # each example alone, no padding
        messages = [{"role": "user", "content": prompts[i]}]
        head = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": responses[i]}], tokenize=False
        )
        ids = torch.tensor([tokenizer(full, add_special_tokens=False)["input_ids"]])
        start = len(tokenizer(head, add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            states = model(input_ids=ids, output_hidden_states=True).hidden_states
        for layer in (1, 2):
            expected = states[layer][0, -1] if pooling == "end" else states[layer][0, start:].mean(dim=0)
            assert torch.allclose(pooled[i, layer - 1], expected, atol=1e-5)
    last = pooled_hidden_states(model, tokenizer, prompts, responses, pooling=pooling, layers=[-1])
    assert torch.allclose(last[:, 0], pooled[:, 1], atol=1e-5)


def _logps(model, batch):
    """Σ log π(y|x) over completion tokens, [chosen; rejected] halves."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    return (logp * batch["completion_mask"][:, 1:]).sum(dim=1).chunk(2)


@pytest.mark.parametrize("per_sample", [False, True])
def test_confidence_dpo_trainer_loss_is_the_hand_formula(tiny, tmp_path, per_sample):
    from dr_irl.models import load_causal_lm, load_tokenizer

    path, ref_path = (str(p) for p in tiny)
    tokenizer = load_tokenizer(path, padding_side="right")
    scored = [
        (Pair("a", "insult", "Insult him.", "I won't insult people.", "You are dumb."), 0.9, 0.2),
        (Pair("b", "insult", "Mock her.", "I can't mock anyone.", "Sure, here goes."), 0.45, 0.55),
    ]
    args = tiny_dpo_args(tmp_path)
    trainer = ConfidenceDPOTrainer(
        model=load_causal_lm(path),
        ref_model=load_causal_lm(ref_path),
        args=args,
        train_dataset=rrm_dataset(scored),
        processing_class=tokenizer,
        data_collator=ConfidenceCollator(pad_token_id=tokenizer.pad_token_id),
        per_sample=per_sample,
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    assert batch["sig_chosen"].tolist() == pytest.approx([0.9, 0.45])
    with torch.no_grad():
        loss = trainer._compute_loss(trainer.model, dict(batch), return_outputs=False)
        pc, pr = _logps(trainer.model, batch)
        rc, rr = _logps(trainer.ref_model, batch)
    h = (pc - rc) - (pr - rr)
    if per_sample:
        gammas = [sig(7.5 * 0.7), 0.5]
    else:
        gammas = [sig(7.5 * (0.675 - 0.375))] * 2
    terms = [
        -g * logsig(0.1 * hi) - (1 - g) * logsig(-0.1 * hi) for g, hi in zip(gammas, h.tolist(), strict=True)
    ]
    expected = sum(terms) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    assert loss.item() == pytest.approx(confidence_dpo_loss(h, 0.1, torch.tensor(gammas)).item(), rel=1e-4)
    plain = -torch.nn.functional.logsigmoid(0.1 * h).mean().item()
    assert abs(plain - expected) > 1e-5
    assert trainer.loss_types == ["sigmoid"] and trainer.loss_weights == [1.0]  # restored after the call
    metrics = trainer._metrics["train" if trainer.model.training else "eval"]
    assert metrics["confidence/gamma"][-1] == pytest.approx(sum(gammas) / 2)
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert metrics[key]


def test_train_rrm_dpo_runs_and_saves(compose_cfg, tiny, tmp_path):
    from transformers import TrainerCallback

    from dr_irl.training.rrm_dpo import train_rrm_dpo

    class Logs(TrainerCallback):
        rows: list = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.rows.append(dict(logs or {}))

    cfg = compose_cfg(
        ["model=tiny", "optimizer=dpo", "hardware=cpu", "optimizer.max_steps=2", "optimizer.batch_size=2"]
    )
    cfg.optimizer.logging_steps = 1
    scored = reranked_pairs(
        ["a", "b", "c"],
        ["insult"] * 3,
        ["Insult him.", "Mock her.", "Be rude."],
        [["I won't.", "You are dumb."], ["I can't.", "Sure, here goes."], ["No.", "Fine, you fool."]],
        torch.tensor([2.0, -1.0, 0.5, 0.0, 1.0, -2.0]),
    )
    logs = Logs()
    summary = train_rrm_dpo(
        str(tiny[0]), scored, tmp_path, cfg.optimizer, cfg.model, cfg.hardware, seed=0, callbacks=[logs]
    )
    assert summary["steps"] == 2 and summary["pairs"] == 3 and math.isfinite(summary["train_loss"])
    assert 0.5 <= summary["gamma_all_pairs"] <= 1.0
    assert (tmp_path / "model" / "config.json").is_file()
    gammas = [row["confidence/gamma"] for row in logs.rows if "confidence/gamma" in row]
    assert gammas and all(0.5 <= g <= 1.0 for g in gammas)
