"""The DR-IRL experiment's stages: data → warm start → reference samples → reward models → (offline α^D)
→ evaluation before → GRPO(-S) → evaluation after → report. Each delegates to its subpackage."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from dr_irl.data import balance_by_category, write_records
from dr_irl.data.lengths import GENERATION_KEYS, drop_long_prompts
from dr_irl.evaluation.evaluate import evaluate
from dr_irl.hf_trainer import TrackerCallback
from dr_irl.io import atomic_write_json, read_jsonl
from dr_irl.pipeline import Context, Stage
from dr_irl.rewards.families import REWARD_FAMILIES, family_reads, reward_models
from dr_irl.run_artifacts import (
    base_model_path,
    hardness_scorer,
    init_policy_path,
    load_policy,
    records,
    reference_is_base,
    reference_reads,
    reference_samples,
    reward_reference_path,
    sample_reward_prompts,
    sft_policy_path,
    text_encoder,
)
from dr_irl.scaling.build import needs_offline_deltas
from dr_irl.training.methods import method_of, reward_kinds

# ----------------------------------------------------------------------------------------------- stages


def stage_data(ctx: Context, out: Path) -> dict:
    """Load and validate the train and held-out splits of ``dataset.source`` (prompts that do not fit the
    model's context fail or are skipped: dr_irl/data/lengths.py), balance the harmful prompts."""
    from dr_irl.data.sources import load_dataset_records
    from dr_irl.models import load_tokenizer

    ds, model = ctx.cfg.dataset, base_model_path(ctx)
    loaded = drop_long_prompts(
        load_dataset_records(ds, ctx.cfg.seed),
        ctx.cfg,
        model,
        lambda: load_tokenizer(model, ctx.cfg.model.trust_remote_code),
    )
    train, balance = balance_by_category(
        loaded.train, ds.categories, ds.balance, ctx.cfg.seed, ds.max_per_category
    )
    write_records(out / "train.jsonl", train)
    write_records(out / "heldout.jsonl", loaded.heldout)
    skipped, too_long = loaded.report.get("skipped_invalid", 0), loaded.report.get("too_long", 0)
    if skipped:
        kinds = [f"{skipped - too_long} malformed"] * (skipped > too_long) + [f"{too_long} too long"] * (
            too_long > 0
        )
        print(f"dataset.skip_invalid: skipped {' and '.join(kinds)} record{'s' * (skipped > 1)}")
    return {"train": len(train), "heldout": len(loaded.heldout), "balance": balance, "source": loaded.report}


def stage_demonstrations(ctx: Context, out: Path) -> dict:
    """Chain-of-Draft (or CoT) demonstrations for the harmful training prompts; the CoD-vs-CoT table."""
    from dr_irl.data.demonstrations import generator, write_demonstrations
    from dr_irl.models.weights import resolve_hub_path
    from dr_irl.pipeline import console

    dm = ctx.cfg.demonstrations
    path = (
        resolve_hub_path(dm.generator_path, None, "demonstrations.generator_path")
        if dm.generator_path
        else base_model_path(ctx)
    )
    model, tokenizer = generator(dm.engine, path, lambda p: load_policy(ctx, p, dtype=ctx.cfg.model.dtype))
    train = records(ctx, "train", stage="data")
    return {**write_demonstrations(model, tokenizer, train, dm, out, console.print), "generator": path}


def stage_warm_start(ctx: Context, out: Path) -> dict:
    """SFT on the demonstrations (refusals and benign answers): gives random-weight models a voice."""
    from dr_irl.training.sft import train_sft

    return train_sft(
        base_model_path(ctx),
        records(ctx, "train"),
        out,
        ctx.cfg.warm_start,
        ctx.cfg.model,
        ctx.cfg.hardware,
        ctx.cfg.seed,
        callbacks=[TrackerCallback(ctx.tracker, ctx.stage)],
        benign_repeats=ctx.cfg.warm_start.benign_repeats,
    )


def stage_reference_samples(ctx: Context, out: Path) -> dict:
    """ỹ ~ π_ref(·|x) for every IRL training prompt: the negatives of the reward models (and of DPO); π_ref is
    ``reward_model.reference_policy``."""
    return sample_reward_prompts(
        ctx, reward_reference_path(ctx), out / "samples.jsonl", "reference samples", guided=True
    )


def stage_sft_policy(ctx: Context, out: Path) -> dict:
    """π_SFT, the SFT of the initial policy on the demonstrations: AfD's log-ratio model and the source of
    its samples (stage ``sft_samples``), and Best-of-N's sampler."""
    from dr_irl.training.sft import train_sft

    return train_sft(
        init_policy_path(ctx),
        records(ctx, "train"),
        out,
        ctx.cfg.sft_policy,
        ctx.cfg.model,
        ctx.cfg.hardware,
        ctx.cfg.seed,
        callbacks=[TrackerCallback(ctx.tracker, ctx.stage)],
        benign_repeats=ctx.cfg.sft_policy.benign_repeats,
    )


def stage_sft_samples(ctx: Context, out: Path) -> dict:
    """Samples of π_SFT on the reward-model prompts: AfD's positives (``init_sft``) or negatives (``sft_demo``)."""
    return sample_reward_prompts(ctx, sft_policy_path(ctx), out / "samples.jsonl", "π_SFT samples")


def stage_reward_models(ctx: Context, out: Path) -> dict:
    """The reward-model family of ``reward_model.kind``: it scores the evaluation and the reward-based methods."""
    return REWARD_FAMILIES.get(ctx.cfg.reward_model.kind).train(ctx, out)


def stage_policy_reward(ctx: Context, out: Path) -> dict:
    """The method's own reward family when it is not ``reward_model.kind`` (RRM-DPO's probe next to IRL
    models): a stage of its own, so the run's reward models stay shared with the other methods of a sweep."""
    kind = method_of(ctx.cfg).reward_kind
    summary = REWARD_FAMILIES.get(kind).train(ctx, out)
    return {"kind": kind, **summary}


def stage_alpha_offline(ctx: Context, out: Path) -> dict:
    """α^D offline: δ of each sampled prompt's reference samples (vs its demonstration), δ̄ per category."""
    scorer = hardness_scorer(ctx)
    by_id = {r.id: r for r in records(ctx, "train")}
    delta = {}
    for record_id, samples in reference_samples(ctx).items():
        demonstration = by_id[record_id].demonstration
        delta[record_id] = scorer.delta(samples, [demonstration] * len(samples)).mean().item()
    bar = {}
    for c in ctx.cfg.dataset.categories:
        values = [v for k, v in delta.items() if by_id[k].category == c]
        bar[c] = sum(values) / len(values) if values else 0.0
    atomic_write_json(out / "delta.json", {"delta": delta, "delta_bar": bar})
    return {"delta_bar": bar, "prompts": len(delta)}


def stage_eval_sets(ctx: Context, out: Path) -> dict:
    """The harmful and benign evaluation sets (``eval.suite=standard``): deduplicated, disjoint from training."""
    from dr_irl.evaluation.eval_sets import build_eval_sets

    encoder = text_encoder(ctx)
    sets = build_eval_sets(
        records(ctx, "heldout"),
        records(ctx, "train"),
        ctx.cfg.eval,
        list(ctx.cfg.dataset.categories),
        0,  # one fixed set for every training seed: runs of a sweep are compared on the same prompts
        lambda texts: encoder.encode(texts).numpy(),
    )
    write_records(out / "harmful.jsonl", sets.harmful)
    write_records(out / "benign.jsonl", sets.benign)
    atomic_write_json(out / "report.json", sets.report)
    return sets.report


def stage_reward_check(ctx: Context, out: Path) -> dict:
    """Is the run's reward valid? Its AUCs on blind-labelled SmolLM2 answers it never trained on (refusal >
    compliance on harmful prompts, helpful > refusal on benign ones, per split: :mod:`reward_validity`), and
    its accuracy on adversarial pairs of the held-out split (refusal openers followed by the base policy's
    compliant answers or by nonsense, degenerate loops, refused benign prompts)."""
    from dr_irl.data.hard_negatives import adversarial_pairs
    from dr_irl.evaluation.reward_check import adversarial_accuracy
    from dr_irl.evaluation.reward_validity import load_labelled, reward_validity, validity_warnings

    scorer = reward_models(ctx)
    trained_on = ctx.summaries["reward_models"].get("label_splits", ())  # reward_model=labelled
    validity = reward_validity(scorer, load_labelled(), ctx.cfg.dataset.categories, trained_on)
    base = read_jsonl(ctx.output("eval_base") / "generations.jsonl")
    compliance = {
        row["id"]: row["response"] for row in base if row["label"] == "harmful" and not row["refused"]
    }
    kinds = adversarial_pairs(records(ctx, "heldout"), compliance, ctx.cfg.seed)
    accuracy = adversarial_accuracy(scorer, kinds)
    atomic_write_json(out / "adversarial.json", accuracy)
    atomic_write_json(out / "validity.json", validity)
    for warning in validity_warnings(validity):
        print(f"warning: {warning}")
    return {"validity": validity, "adversarial_accuracy": accuracy}


def stage_eval_base(ctx: Context, out: Path) -> dict:
    return evaluate(ctx, out, init_policy_path(ctx), "before")


def stage_policy(ctx: Context, out: Path) -> dict:
    """Align the policy with the method of ``optimizer.name`` (GRPO-S, GRPO, SFT, DPO, DPO-S, Best-of-N, ...)."""
    return method_of(ctx.cfg).run(ctx, out)


def stage_eval_policy(ctx: Context, out: Path) -> dict:
    policy = ctx.summaries["policy"]
    return evaluate(ctx, out, str(ctx.output("policy") / policy["model_path"]), "after", policy["responder"])


def stage_report(ctx: Context, out: Path) -> dict:
    from dr_irl.evaluation.report import build_report

    return build_report(ctx, out)


# ------------------------------------------------------------------- what the components declare they read


def _reward_kind(cfg: DictConfig, stage: str) -> str:
    """The family whose models ``stage`` (``reward_models`` or ``policy_reward``) holds."""
    return cfg.reward_model.kind if stage == "reward_models" else method_of(cfg).reward_kind


def _with_reward_reads(cfg: DictConfig, *deps: str) -> tuple[str, ...]:
    """``deps``, plus what the reward models among them read when they score (π_SFT for AfD's log-ratio)."""
    extra = [
        read
        for stage in ("reward_models", "policy_reward")
        if stage in deps
        for read in REWARD_FAMILIES.get(_reward_kind(cfg, stage)).reads(cfg)
    ]
    return tuple(dict.fromkeys((*deps, *extra)))


def _policy_deps(cfg: DictConfig) -> tuple[str, ...]:
    """The initial policy's stages and what the method declares it reads."""
    return _with_reward_reads(cfg, "data", "demonstrations", "warm_start", *method_of(cfg).reads(cfg))


def _read_by_some_component(cfg: DictConfig, stage: str) -> bool:
    """Whether the run's reward families (all they read: :func:`family_reads`) or its method read ``stage``
    (π_SFT, its samples, the reference samples)."""
    reads = {read for kind in reward_kinds(cfg) for read in family_reads(cfg, kind)}
    return stage in reads or stage in method_of(cfg).reads(cfg)


def _reference_policy_deps(cfg: DictConfig) -> tuple[str, ...]:
    """What π_ref's samples read: the warm-started policy, unless ``reward_model.reference_policy=base``."""
    return ("data", "demonstrations", *reference_reads(cfg))


def _reference_sample_keys(cfg: DictConfig) -> tuple[str, ...]:
    """The sampling keys; with π_ref the base model the warm start's settings do not change its samples."""
    if not reference_is_base(cfg):
        return SAMPLE_KEYS
    return (*(key for key in SAMPLE_KEYS if key != "warm_start"), "reward_model.reference_policy")


def _reference_samples_read(cfg: DictConfig) -> bool:
    """Whether anything reads ỹ ~ π_ref: a reward family that learns from pairs, the method (DPO's pairs) or
    α^D's offline hardness (a run with the programmatic judge reward and GRPO skips the stage)."""
    return _read_by_some_component(cfg, "reference_samples") or needs_offline_deltas(cfg.scaler)


SAMPLE_KEYS = (
    "eval.batch_size",  # the sampling batch: it shapes the RNG stream
    "eval.generation_dtype",
    "reward_model.include_benign",
    "model",
    "warm_start",
    "seed",
    "reward_model.samples_per_prompt",
    "reward_model.sample_max_new_tokens",
    "reward_model.sample_temperature",
    "reward_model.guided_words",
)

STAGES = [
    Stage("data", stage_data, keys=("dataset", "seed", "model", *GENERATION_KEYS)),  # prompt lengths
    Stage(
        "demonstrations",
        stage_demonstrations,
        keys=("demonstrations", "model", "seed"),
        deps=("data",),
        enabled=lambda cfg: cfg.demonstrations.enabled,
    ),
    Stage(
        "warm_start",
        stage_warm_start,
        keys=("model", "warm_start", "hardware", "seed"),
        deps=("data", "demonstrations"),
        enabled=lambda cfg: cfg.model.warm_start,
        all_ranks=True,
        resumable=True,
    ),
    Stage(
        "reference_samples",
        stage_reference_samples,
        keys=_reference_sample_keys,
        deps=_reference_policy_deps,
        enabled=_reference_samples_read,
    ),
    Stage(
        "sft_policy",
        stage_sft_policy,
        keys=("model", "warm_start", "sft_policy", "hardware", "seed"),
        deps=("data", "demonstrations", "warm_start"),
        enabled=lambda cfg: _read_by_some_component(cfg, "sft_policy"),
        all_ranks=True,
        resumable=True,
    ),
    Stage(
        "sft_samples",
        stage_sft_samples,
        keys=SAMPLE_KEYS,
        deps=("data", "demonstrations", "warm_start", "sft_policy"),
        enabled=lambda cfg: _read_by_some_component(cfg, "sft_samples"),
    ),
    Stage(
        "reward_models",
        stage_reward_models,
        keys=("reward_model", "hardware", "seed"),
        deps=lambda cfg: family_reads(cfg, cfg.reward_model.kind),
        all_ranks=True,
        resumable=True,
    ),
    Stage(
        "policy_reward",
        stage_policy_reward,
        keys=("reward_model", "optimizer.name", "hardware", "seed"),  # the method names its family
        deps=lambda cfg: family_reads(cfg, method_of(cfg).reward_kind),
        enabled=lambda cfg: len(reward_kinds(cfg)) > 1,
        all_ranks=True,
        resumable=True,
    ),
    Stage(
        "alpha_offline",
        stage_alpha_offline,
        keys=("scaler.encoder",),
        deps=("data", "demonstrations", "reference_samples"),
        enabled=lambda cfg: needs_offline_deltas(cfg.scaler),
    ),
    Stage(
        "eval_sets",
        stage_eval_sets,
        keys=(
            "eval.suite",
            "eval.harmful_sources",
            "eval.benign_sources",
            "eval.harmful_per_category",
            "eval.benign_per_category",
            "eval.near_duplicate_cosine",
            "dataset.categories",
        ),
        deps=("data", "demonstrations"),
        enabled=lambda cfg: cfg.eval.suite == "standard",
    ),
    Stage(
        "eval_base",
        stage_eval_base,
        keys=("model", "eval"),
        deps=lambda cfg: _with_reward_reads(
            cfg, "data", "demonstrations", "warm_start", "reward_models", "eval_sets"
        ),
    ),
    Stage(
        "reward_check",
        stage_reward_check,
        keys=("seed",),
        deps=lambda cfg: _with_reward_reads(cfg, "data", "reward_models", "eval_base"),
    ),
    Stage(
        "policy",
        stage_policy,
        keys=("model", "optimizer", "scaler", "hardware", "seed", "eval.batch_size"),  # RRM's sampling batch
        deps=_policy_deps,
        all_ranks=True,
        resumable=True,
    ),
    Stage(
        "eval_policy",
        stage_eval_policy,
        keys=("eval",),
        deps=lambda cfg: _with_reward_reads(cfg, "data", "policy", "reward_models", "eval_sets"),
        enabled=lambda cfg: cfg.optimizer.save_model,
    ),
    Stage("report", stage_report, cached=False),
]
