"""The plan printed before any stage runs (and alone with ``plan_only=true``): the resolved hardware, the
processes, the per-process memory estimate by component, the work of one optimizer step."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from dr_irl.distributed.machine import GB, Machine
from dr_irl.distributed.memory import HEADROOM, MemoryEstimate, estimate_memory, parameter_count, run_shapes
from dr_irl.distributed.workloads import Workload, workload
from dr_irl.models.precision import generation_dtype

HARDWARE_WORDS = {
    "cpu": "CPU",
    "gpu": "one CUDA GPU, no DeepSpeed",
    "zero2": "DeepSpeed ZeRO-2",
    "zero3": "DeepSpeed ZeRO-3",
    "zero3_offload": "DeepSpeed ZeRO-3, optimizer states and parameters offloaded to CPU RAM",
    "multi_node": "DeepSpeed ZeRO-3 over several nodes",
    "auto": "not resolved (reads as cpu)",
}


@dataclass
class Plan:
    cfg: DictConfig
    machine: Machine | None
    resolution: list[str]  # "hardware=auto → ... (why)" lines, empty when nothing was auto
    parameters: int | None
    origin: str
    memory: MemoryEstimate | None
    work: Workload
    processes: int

    @property
    def capacity(self) -> int:
        """Memory one process may use: its GPU's, or the host's RAM shared by the CPU processes."""
        if self.machine is None:
            return 0
        if self.cfg.hardware.use_cpu:
            return self.machine.host_memory // max(1, self.processes)
        return self.machine.gpu_memory

    @property
    def units_per_step(self) -> int:
        return self.work.per_process * self.processes

    def render(self) -> str:
        cfg, hw = self.cfg, self.cfg.hardware
        model = f"{cfg.model.name}: " + (
            f"{parameter_count(self.parameters)} parameters ({self.origin}), {cfg.model.dtype}"
            if self.parameters
            else "size unknown (set model.arch.* or model.path to a local folder)"
        )
        if cfg.model.lora.enabled:
            model += f", LoRA r={cfg.model.lora.r}"
        nodes = f" = {hw.num_gpus} per node × {hw.num_nodes} nodes" if hw.num_nodes > 1 else ""
        them = "them" if self.processes > 1 else "it"
        torchrun = self.processes > 1 or hw.deepspeed.enabled
        launched = f"; train.py starts {them} with torchrun" if torchrun else ""
        precision = "bf16" if hw.bf16 else "fp32"
        flags = [precision] + (["gradient checkpointing"] if hw.gradient_checkpointing else [])
        rows = [
            (
                "run",
                f"{cfg.run_name}: optimizer={cfg.optimizer.name} reward_model={cfg.reward_model.name} "
                f"scaler={cfg.scaler.name}",
            ),
            ("model", model),
            ("hardware", f"{hw.name}: {HARDWARE_WORDS.get(hw.name, hw.name)}, {', '.join(flags)}"),
            ("generation", f"{generation_dtype(cfg)} (eval.generation_dtype={cfg.eval.generation_dtype})"),
            ("processes", f"{self.processes}{nodes}{launched}"),
            ("machine", self.machine.describe() if self.machine else "not probed"),
            ("recipe", cfg.recipe.name),
        ]
        rows += [("", line) for line in self.resolution]
        work = self.work
        steps = cfg.optimizer.max_steps
        if work.trains:
            rows.append(
                (
                    "per step",
                    f"{self.units_per_step:,} {work.unit} = {work.detail} per process × "
                    f"{self.processes} process{'es' if self.processes > 1 else ''}",
                )
            )
            tokens = self.units_per_step * work.tokens_per_unit
            text = f"≤ {tokens:,} ({work.tokens_per_unit:,} per {work.unit.rstrip('s')})"
            if work.new_tokens_per_unit:
                text += f", of which ≤ {self.units_per_step * work.new_tokens_per_unit:,} generated"
            rows.append(("tokens / step", text))
            rows.append(
                (
                    "steps",
                    f"{steps:,} (optimizer.max_steps)"
                    if steps > 0
                    else f"{cfg.optimizer.epochs:g} epochs (optimizer.epochs)",
                )
            )
        else:
            rows.append(("per prompt", f"{work.per_process} {work.unit} ({work.detail})"))
        out = [f"{name:<14} {value}" for name, value in rows]
        out += self._memory_lines()
        return "\n".join(["plan", *("  " + line for line in out)])

    def _memory_lines(self) -> list[str]:
        estimate = self.memory
        if estimate is None:
            return ["memory         not estimated: the policy's size is unknown"]
        where = "per GPU" if estimate.device == "GPU" else "per CPU process"
        lines = [f"memory {where} (estimate, GB = 10⁹ bytes)"]
        transient = [c for c in estimate.components if c.transient]
        for c in estimate.components:
            mark = " *" if c.transient and len(transient) > 1 else "  "
            lines.append(f"  {c.name:<22}{c.bytes / GB:>8.1f}{mark}  {c.note}")
        lines.append(f"  {'peak':<22}{estimate.peak / GB:>8.1f}   " + self._verdict(estimate))
        if len(transient) > 1:
            lines.append(
                "  (* not at the same time: generation, then the update; the peak counts the larger)"
            )
        for c in estimate.host:
            lines.append(f"  host: {c.name:<16}{c.bytes / GB:>8.1f}   {c.note}, per node")
        lines += [f"  note: {note}" for note in estimate.notes]
        return lines

    def _verdict(self, estimate: MemoryEstimate) -> str:
        capacity = self.capacity
        if not capacity:
            return ""
        share = f"{estimate.peak / capacity:.0%} of {capacity / GB:,.1f} GB"
        return share + (
            "" if estimate.fits(capacity) else f" — over the {HEADROOM:.0%} usable: may run out of memory"
        )

    def to_json(self) -> dict:
        estimate = self.memory
        return {
            "hardware": self.cfg.hardware.name,
            "processes": self.processes,
            "recipe": self.cfg.recipe.name,
            "resolution": self.resolution,
            "machine": self.machine.describe() if self.machine else None,
            "parameters": self.parameters,
            "memory_per_process": None
            if estimate is None
            else {c.name: c.bytes for c in estimate.components} | {"peak": estimate.peak},
            "host_offload": None if estimate is None else {c.name: c.bytes for c in estimate.host},
            "unit": self.work.unit,
            "units_per_step": self.units_per_step,
            "tokens_per_step": self.units_per_step * self.work.tokens_per_unit,
            "generated_tokens_per_step": self.units_per_step * self.work.new_tokens_per_unit,
        }


def build_plan(cfg: DictConfig, machine: Machine | None = None, resolution: list[str] | None = None) -> Plan:
    """The plan of a resolved ``cfg`` on ``machine`` (None: capacities are not compared)."""
    shapes = run_shapes(cfg)
    hw = cfg.hardware
    processes = max(1, hw.num_gpus) * max(1, hw.num_nodes)
    return Plan(
        cfg=cfg,
        machine=machine,
        resolution=list(resolution or []),
        parameters=shapes.policy.parameters if shapes.policy else None,
        origin=shapes.policy.origin if shapes.policy else "",
        memory=estimate_memory(cfg, shapes, machine.gpu_memory if machine else 0),
        work=workload(cfg),
        processes=processes,
    )
