"""eval.generation_dtype: auto picks bf16 only where the CPU computes it natively; explicit values win; the
generation path loads the policy in the resolved dtype and generates in it."""

from __future__ import annotations

import pytest
import torch

from dr_irl.models import precision
from dr_irl.models.precision import cpu_has_native_bf16, resolve_generation_dtype
from dr_irl.validation import config_problems


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    from dr_irl.models.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny")))


@pytest.mark.parametrize(
    ("requested", "model_dtype", "on_cpu", "native", "expected"),
    [
        ("auto", "float32", True, True, "bfloat16"),  # bf16 CPU: fast path
        ("auto", "float32", True, False, "float32"),  # emulated bf16 is slower: keep fp32
        ("auto", "float16", True, True, "float16"),  # a half-precision model is left as it is
        ("auto", "bfloat16", False, False, "bfloat16"),  # GPUs: the model's dtype
        ("auto", "float32", False, True, "float32"),
        ("float32", "float32", True, True, "float32"),  # explicit wins
        ("bfloat16", "float32", True, False, "bfloat16"),
    ],
)
def test_resolve_generation_dtype(requested, model_dtype, on_cpu, native, expected):
    assert resolve_generation_dtype(requested, model_dtype, on_cpu, native) == expected


def test_unknown_generation_dtype_fails_naming_the_key(compose_cfg):
    with pytest.raises(ValueError, match="eval.generation_dtype='fp8'"):
        resolve_generation_dtype("fp8", "float32", True, True)
    problems = config_problems(compose_cfg(["eval.generation_dtype=fp8"]))
    assert problems == [
        "eval.generation_dtype='fp8': expected one of ['auto', 'float32', 'bfloat16', 'float16']"
    ]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu avx2 avx512_bf16", True), ("fpu avx2 amx_bf16", True), ("fpu avx2 avx512f", False)],
)
def test_cpu_bf16_from_cpuinfo_when_torch_cannot_tell(monkeypatch, tmp_path, flags, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(cpuinfo) is expected
    assert cpu_has_native_bf16(tmp_path / "missing") is False


def test_generation_loads_the_policy_in_the_resolved_dtype(compose_cfg, tmp_path, monkeypatch, tiny_folder):
    from dr_irl.models.generation import generate_responses
    from dr_irl.pipeline import Context
    from dr_irl.run_artifacts import load_policy

    folder = tiny_folder
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    for override, dtype in [("auto", torch.bfloat16), ("float32", torch.float32)]:
        ctx = Context(compose_cfg([f"eval.generation_dtype={override}"]), tmp_path, tracker=None)
        model, tokenizer = load_policy(ctx, folder)
        assert next(model.parameters()).dtype == dtype
        answers = generate_responses(model, tokenizer, ["Hi", "How do I pick a lock?"], 6, batch_size=2)
        assert len(answers) == 2 and all(isinstance(a[0], str) for a in answers)
    trained, _ = load_policy(ctx, folder, for_generation=False)  # trainers: model.dtype, whatever eval says
    assert next(trained.parameters()).dtype == torch.float32


def test_the_generation_dtype_is_in_the_fingerprint_of_every_stage_that_generates_and_no_other(compose_cfg):
    from dr_irl.pipeline import fingerprint
    from dr_irl.stages import STAGES

    def prints(dtype: str) -> dict[str, str]:
        cfg = compose_cfg([f"eval.generation_dtype={dtype}"])
        return {stage.name: fingerprint(cfg, stage, {}) for stage in STAGES if stage.cached}

    fp32, bf16 = prints("float32"), prints("bfloat16")
    changed = {name for name in fp32 if fp32[name] != bf16[name]}
    # answers and samples are generated in it; trainers and hidden-state readers use model.dtype
    assert changed == {"reference_samples", "sft_samples", "eval_base", "eval_policy"}


def test_hidden_state_readers_load_the_policy_in_model_dtype(compose_cfg, tmp_path, tiny_folder):
    from dr_irl.pipeline import Context
    from dr_irl.run_artifacts import load_policy

    folder = tiny_folder
    ctx = Context(compose_cfg(["eval.generation_dtype=bfloat16"]), tmp_path, tracker=None)
    model, _ = load_policy(ctx, folder, dtype=ctx.cfg.model.dtype)  # RRM's probe, demonstrations
    assert next(model.parameters()).dtype == torch.float32


def test_benign_repeats_at_its_default_leaves_every_fingerprint_as_before_it_existed(compose_cfg):
    """The field came after runs existed: at 1 it is not hashed (their stages resume and the cache hits)."""
    from omegaconf import OmegaConf, open_dict

    from dr_irl.pipeline import fingerprint
    from dr_irl.stages import STAGES

    def prints(cfg) -> dict[str, str]:
        return {stage.name: fingerprint(cfg, stage, {}) for stage in STAGES if stage.cached}

    default = compose_cfg([])
    before = OmegaConf.create(OmegaConf.to_container(default))
    with open_dict(before):  # the config as it was before the field existed
        del before.warm_start["benign_repeats"], before.sft_policy["benign_repeats"]
    assert prints(default) == prints(before)
    changed = prints(compose_cfg(["warm_start.benign_repeats=3", "sft_policy.benign_repeats=2"]))
    assert {name for name, p in prints(default).items() if changed[name] != p} >= {"warm_start", "sft_policy"}
