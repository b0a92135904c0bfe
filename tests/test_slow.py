"""Slow tests (`make test-slow`): the real SmolLM2 pipeline and DeepSpeed ZeRO-2/3 over two CPU processes."""

import json

import pytest

from tests.conftest import TINY_RUN, run_train

pytestmark = pytest.mark.slow


def test_smollm2_pipeline_end_to_end(tmp_path):
    """The default model through every stage (few steps): the GGUF conversion, real generations, the table."""
    result = run_train(
        "optimizer.max_steps=2",
        "eval.max_harmful=7",
        "eval.max_benign=7",
        "dataset.max_per_category=4",
        f"hydra.run.dir={tmp_path}",
        timeout=1800,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["model"] == "smollm2-135m" and results["before"]["n_harmful"] == 7
    answers = [
        json.loads(x)["response"] for x in (tmp_path / "stages" / "eval_base" / "generations.jsonl").open()
    ]
    assert sum(len(a.split()) > 3 for a in answers) >= len(answers) // 2  # a real model answers in sentences


@pytest.mark.parametrize(("stage", "port"), [(2, 29544), (3, 29545)])
def test_zero_over_two_cpu_processes(tmp_path, stage, port):
    """hardware.deepspeed (ZeRO-2 / ZeRO-3) with two gloo ranks on the CPU: the DeepSpeed engine trains every
    trainer stage (SFT warm start, reward models, GRPO-S) and saves gathered, from_pretrained-loadable weights."""
    result = run_train(
        *TINY_RUN,
        "hardware.num_gpus=2",
        f"hardware.master_port={port}",
        "hardware.deepspeed.enabled=true",
        f"hardware.deepspeed.stage={stage}",
        f"hydra.run.dir={tmp_path}",
        timeout=1800,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    states = [(tmp_path / "stages" / "policy" / "scaler_state" / f"rank{r}.json").read_text() for r in (0, 1)]
    assert states[0] == states[1] and "gap_ema" in states[0]  # as text: NaN (categories never seen) != NaN
    from dr_irl.models import load_causal_lm

    model = load_causal_lm(str(tmp_path / "stages" / "policy" / "model"))  # full weights, not ZeRO-3 shards
    assert all(p.numel() > 0 and p.isfinite().all() for p in model.parameters())
