"""``hardware=auto`` and ``recipe=auto``: the concrete options a run starts with, chosen from the machine and
the memory estimate (``dr_irl.distributed.memory``). Options named on the command line always win.

| machine | hardware=auto resolves to |
|---|---|
| no CUDA GPU | ``cpu``; refused for policies over ``CPU_MAX_PARAMETERS`` or beyond the RAM (``hardware=cpu`` forces it) |
| 1 GPU | ``gpu`` when the estimate fits, else ``zero3_offload`` (one DeepSpeed process), else refused |
| N > 1 GPUs | ``zero2`` (all N) when policy, reference and Adam states fit per GPU, else ``zero3``, else ``zero3_offload`` |

bf16 mixed precision wherever the GPUs support it (``hardware.bf16=false`` otherwise), and on a CPU with native
bf16 arithmetic (AVX512-BF16 or AMX: a GRPO step runs about twice as fast there, docs/performance.md), also
when a preset pins ``hardware=cpu``; a CPU without it keeps fp32, where bf16 is emulated and slower, and so does
``hardware=cpu`` typed on the command line. ``recipe=auto`` resolves to
``cpu_smoke`` on the CPU and ``paper`` on GPUs. "Fits" means the estimate's peak stays within
``HEADROOM`` of the GPU's memory and what DeepSpeed offloads within ``HEADROOM`` of the host's RAM.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from omegaconf import DictConfig

from dr_irl.distributed.machine import GB, Machine
from dr_irl.distributed.memory import (
    HEADROOM,
    MemoryEstimate,
    RunShapes,
    estimate_memory,
    parameter_count,
    run_shapes,
)
from dr_irl.errors import UserError

CPU_MAX_PARAMETERS = 3e9  # beyond this a CPU step takes hours: hardware=auto refuses, hardware=cpu forces it
Composer = Callable[[list[str]], DictConfig]  # extra overrides → the composed config (Hydra's compose API)


class HardwareUnfitError(UserError, RuntimeError):
    """The run cannot start on this machine as asked; the message says what it needs and how to override.

    ``fallback``: the overrides auto would pick without that check (``--cfg`` shows the config with them).
    """

    def __init__(self, message: str, fallback: list[str]) -> None:
        super().__init__(message)
        self.fallback = fallback


@dataclass
class Resolution:
    overrides: list[str]  # appended to the command line (empty: nothing was auto)
    cfg: DictConfig  # the config composed with them
    machine: Machine
    lines: list[str] = field(default_factory=list)  # "hardware=auto → zero2 (why)", "recipe=auto → paper"
    estimate: MemoryEstimate | None = None


def _gpu_candidates(gpus: int) -> list[str]:
    return ["gpu", "zero3_offload"] if gpus == 1 else ["zero2", "zero3", "zero3_offload"]


def _fits(estimate: MemoryEstimate | None, machine: Machine) -> bool:
    if estimate is None:
        return False
    return estimate.fits(machine.gpu_memory) and estimate.host_total <= HEADROOM * machine.host_memory


def _describe(option: str, estimate: MemoryEstimate | None, machine: Machine) -> str:
    if estimate is None:
        return f"{option}: size unknown"
    host = f" + {estimate.host_total / GB:,.0f} GB of RAM" if estimate.host_total else ""
    return f"{option} needs {estimate.peak / GB:,.1f} GB per GPU{host}"


def processes_asked(base: DictConfig, explicit: set[str], machine: Machine) -> int:
    """GPUs to use: ``hardware.num_gpus`` when named, the ranks of an outer torchrun, else every visible GPU."""
    if "hardware.num_gpus" in explicit:
        return int(base.hardware.num_gpus)
    if "LOCAL_WORLD_SIZE" in os.environ:
        return int(os.environ["LOCAL_WORLD_SIZE"])
    return machine.gpus


def _cpu(
    compose: Composer,
    base: DictConfig,
    shapes: RunShapes,
    machine: Machine,
    explicit: set[str],
    recipe: list[str],
) -> Resolution:
    bf16 = cpu_mixed_precision(machine, explicit)
    overrides = ["hardware=cpu", *bf16, *recipe]
    cfg = compose(overrides)
    policy = shapes.policy
    estimate = estimate_memory(cfg, shapes)
    too_big = policy is not None and policy.parameters > CPU_MAX_PARAMETERS
    needed = estimate.peak * estimate.processes if estimate else 0
    if too_big or needed > HEADROOM * machine.host_memory:
        raise HardwareUnfitError(_cpu_refusal(compose, cfg, shapes, machine, needed), overrides)
    why = "no CUDA GPU visible" if not machine.simulated else f"{machine.describe()}"
    if cfg.hardware.bf16:
        why += "; bf16 mixed precision" + (": native bf16 arithmetic on this CPU" if bf16 else "")
    return Resolution(overrides, cfg, machine, [f"hardware=auto → cpu ({why})"], estimate)


def cpu_mixed_precision(machine: Machine, explicit: set[str]) -> list[str]:
    """``hardware.bf16=true`` for a CPU run on a CPU with native bf16 arithmetic, unless the command line named
    ``hardware.bf16`` or ``hardware`` itself (``hardware=cpu`` typed by hand is the plain fp32 CPU run)."""
    chosen = {"hardware", "hardware.bf16"} & explicit
    return ["hardware.bf16=true"] if machine.cpu_bf16 and not chosen else []


def _cpu_refusal(compose: Composer, cfg: DictConfig, shapes: RunShapes, machine: Machine, needed: int) -> str:
    policy = shapes.policy
    model = f"model={cfg.model.name}" + (f" ({cfg.model.path})" if cfg.model.get("path") else "")
    one = estimate_memory(compose(["hardware=gpu", "recipe=paper"]), shapes)
    eight = estimate_memory(compose(["hardware=zero2", "hardware.num_gpus=8", "recipe=paper"]), shapes)
    size = f"{parameter_count(policy.parameters)} parameters" if policy else "its size"
    needs = []
    if one is not None:
        needs.append(f"≈{one.peak / GB:,.0f} GB on one GPU")
    if eight is not None:
        needs.append(f"≈{eight.peak / GB:,.0f} GB per GPU on 8 GPUs with DeepSpeed ZeRO-2")
    return (
        f"hardware=auto: {model} has {size} and needs GPUs ({', '.join(needs)}), but no CUDA GPU is visible "
        f"here ({machine.describe()}); training it on the CPU would take ≈{needed / GB:,.0f} GB of RAM and hours "
        "per step. Run the same command on a GPU machine (`plan_only=true` prints what it would do), pick a "
        "smaller model (model=smollm2-135m, model=qwen2.5-0.5b), or pass hardware=cpu if you really mean the CPU."
        + _weights_note(cfg)
    )


def _weights_note(cfg: DictConfig) -> str:
    """When the hub model's weights are not on this machine either, what to fetch (one message, not two)."""
    if cfg.model.source != "hub":
        return ""
    from dr_irl.models.weights import ModelUnavailableError, resolve_model_path

    try:
        resolve_model_path(cfg.model, cfg.paths.cache_dir)
    except ModelUnavailableError as err:
        return f" The weights are not here either: {err}"
    return ""


def _gpus(
    compose: Composer,
    base: DictConfig,
    shapes: RunShapes,
    machine: Machine,
    explicit: set[str],
    recipe: list[str],
) -> Resolution:
    gpus = processes_asked(base, explicit, machine)
    if gpus > machine.gpus:
        raise HardwareUnfitError(
            f"hardware.num_gpus={gpus} but {machine.gpus} CUDA GPU(s) are visible ({machine.describe()})", []
        )
    extra = [] if "hardware.num_gpus" in explicit else [f"hardware.num_gpus={gpus}"]
    if not machine.bf16 and "hardware.bf16" not in explicit:
        extra.append("hardware.bf16=false")
    precision = "bf16" if machine.bf16 else "no bf16 on this GPU: mixed precision off"
    where = f"{gpus} GPU{'s' if gpus > 1 else ''} of {machine.gpu_memory / GB:,.0f} GB"
    if shapes.policy is None:  # size unknown: no estimate to choose by
        option = "gpu" if gpus == 1 else "zero3"
        overrides = [f"hardware={option}", *extra, *recipe]
        why = f"{where}; policy size unknown (set model.arch or a local model.path), {precision}"
        return Resolution(overrides, compose(overrides), machine, [f"hardware=auto → {option} ({why})"])
    tried: list[str] = []
    for option in _gpu_candidates(gpus):
        overrides = [f"hardware={option}", *extra, *recipe]
        cfg = compose(overrides)
        estimate = estimate_memory(cfg, shapes, machine.gpu_memory)
        if _fits(estimate, machine):
            usable = f"{HEADROOM * machine.gpu_memory / GB:,.1f} GB usable"
            done = f"{', '.join(tried)}: over the {usable}; " if tried else ""
            why = f"{where}: {done}{_describe(option, estimate, machine)}, fits; {precision}"
            return Resolution(overrides, cfg, machine, [f"hardware=auto → {option} ({why})"], estimate)
        tried.append(_describe(option, estimate, machine))
    raise HardwareUnfitError(
        f"hardware=auto: model={base.model.name} does not fit {where} ({machine.host_memory / GB:,.0f} GB of RAM): "
        f"{'; '.join(tried)}, with {HEADROOM:.0%} of each GPU usable. Use more GPUs, train LoRA adapters "
        "(model.lora.enabled=true), shorten optimizer.max_completion_length or optimizer.prompts_per_step, or "
        "name a hardware option yourself (hardware=zero3_offload ...).",
        [f"hardware={_gpu_candidates(gpus)[-1]}", *extra, *recipe],
    )


def resolve(compose: Composer, machine: Machine, explicit: set[str]) -> Resolution:
    """Resolve ``hardware=auto`` / ``recipe=auto`` of the config ``compose([])`` gives.

    ``explicit``: config keys named on the command line (``hardware.num_gpus``, ``hardware.bf16`` win).
    """
    base = compose([])
    hardware_auto, recipe_auto = base.hardware.name == "auto", base.recipe.name == "auto"
    if not hardware_auto:  # named by the command line or a preset (experiment=warm_start_cpu pins the CPU)
        on_cpu_preset = base.hardware.name == "cpu" and not base.hardware.bf16
        overrides = cpu_mixed_precision(machine, explicit) if on_cpu_preset else []
        lines = (
            ["hardware=cpu (preset) + bf16 mixed precision: native bf16 arithmetic on this CPU"]
            if overrides
            else []
        )
        if recipe_auto:
            recipe = "cpu_smoke" if base.hardware.use_cpu else "paper"
            overrides.append(f"recipe={recipe}")
            lines.append(f"recipe=auto → {recipe} (hardware={base.hardware.name})")
        return Resolution(overrides, compose(overrides) if overrides else base, machine, lines)
    shapes = run_shapes(base)
    on_cpu = machine.gpus == 0
    recipe = [f"recipe={'cpu_smoke' if on_cpu else 'paper'}"] if recipe_auto else []
    if on_cpu:
        resolution = _cpu(compose, base, shapes, machine, explicit, recipe)
    else:
        resolution = _gpus(compose, base, shapes, machine, explicit, recipe)
    if recipe_auto:
        resolution.lines.append(f"recipe=auto → {recipe[0].split('=')[1]} ({'CPU' if on_cpu else 'GPU'} run)")
    return resolution
