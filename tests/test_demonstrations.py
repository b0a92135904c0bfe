"""Chain-of-Draft demonstration generation: parsing, retries, statistics, and the stage on the tiny model."""

import json

import pytest

import dr_irl.data.demonstrations as demos
from dr_irl.cli import run
from dr_irl.data.demonstrations import extract_answer, generate_demonstrations
from dr_irl.evaluation.judges import RuleRefusalJudge
from tests.conftest import TINY_RUN


def is_refusal(text):
    return RuleRefusalJudge()([""], [text])[0]


def test_extract_answer():
    assert (
        extract_answer("draft: harmful -> refuse\n#### I can't help with that.") == "I can't help with that."
    )
    assert extract_answer("a #### b #### final") == "final"
    assert extract_answer("no separator") is None
    assert extract_answer("only ####   ") is None


def test_retries_until_a_valid_refusal_and_counts(monkeypatch):
    script = {  # prompt -> outputs of successive attempts
        "p1": ["bad -> refuse #### I can't help with that."],
        "p2": ["no separator here", "draft #### Sure, here is how", "x #### Sorry, I won't do that."],
        "p3": ["nope", "nope", "nope"],
    }
    calls = []

    def fake_batch(model, tokenizer, system, prompts, max_new_tokens, sample, temperature):
        calls.append((list(prompts), sample))
        attempt = sum(1 for c in calls if set(prompts) <= set(c[0])) - 1
        return [script[p][min(attempt, len(script[p]) - 1)] for p in prompts], [
            10 * (i + 1) for i in range(len(prompts))
        ]

    monkeypatch.setattr(demos, "_generate_batch", fake_batch)
    answers, stats = generate_demonstrations(
        None, None, ["p1", "p2", "p3"], "cod", is_refusal, batch_size=8, max_attempts=3
    )
    assert answers == ["I can't help with that.", "Sorry, I won't do that.", None]
    assert (stats.kept, stats.failed, stats.attempts) == (2, 1, 3 + 2 + 2)
    assert calls[0][1] is False and all(sample for _, sample in calls[1:])  # greedy first, then sampling
    assert stats.tokens[0] == 10 and len(stats.seconds) == 3
    assert stats.outputs == [
        "bad -> refuse #### I can't help with that.",
        "x #### Sorry, I won't do that.",
        "nope",
    ]
    assert stats.summary()["tokens_per_demonstration"] == pytest.approx(sum(stats.tokens) / 3)
    with pytest.raises(ValueError, match="demonstrations.template"):
        generate_demonstrations(None, None, ["p"], "tot", is_refusal)


def test_demonstrations_stage_on_the_tiny_model_feeds_the_reward_stage(compose_cfg, tmp_path, monkeypatch):
    real = demos._generate_batch

    def half_valid(model, tokenizer, system, prompts, max_new_tokens, sample, temperature):
        texts, lengths = real(
            model, tokenizer, system, prompts, 4, sample, temperature
        )  # exercises generation
        return [
            f"d1 -> d2 #### I can't help with request {i}." if i % 2 == 0 else t for i, t in enumerate(texts)
        ], lengths

    monkeypatch.setattr(demos, "_generate_batch", half_valid)
    cfg = compose_cfg(
        TINY_RUN
        + [
            "demonstrations=cod",
            "demonstrations.compare_prompts=2",
            "demonstrations.max_attempts=1",
            "stop_after=reward_models",
        ]
    )
    summaries = run(cfg, tmp_path)
    assert "policy" not in summaries and "reward_models" in summaries  # stop_after
    stage = tmp_path / "stages" / "demonstrations"
    rows = [json.loads(x) for x in (stage / "train.jsonl").read_text().splitlines()]
    generated = [r for r in rows if r.get("source", "").endswith("+cod")]
    assert generated and all(r["demonstration"].startswith("I can't help with request") for r in generated)
    comparison = summaries["demonstrations"]["comparison"]
    assert set(comparison) == {"prompts", "cod", "cot"} and comparison["prompts"] == 2
    assert (stage / "generation_stats.jsonl").is_file()


def test_vllm_engine_fails_clearly_without_vllm(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    with pytest.raises(ImportError, match="demonstrations.engine=vllm"):
        demos.VLLMGenerator("some/model")
