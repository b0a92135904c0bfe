"""What finished stages left in the run directory, for the stages after them (memoised per run).

The records of each split, the policy before alignment and its loader, the reference and π_SFT samples, the
reward models' training pairs, the offline δ of α^D, the α^D scorer and the MiniLM text encoder. This module
sits below every component that reads a run (reward families, alignment methods, the evaluation) and imports
none of them; the reward models' scorer is :func:`dr_irl.rewards.families.reward_models`.
"""

from __future__ import annotations

from pathlib import Path

from dr_irl.data import load_records
from dr_irl.data.schema import Record
from dr_irl.io import read_json, read_jsonl
from dr_irl.pipeline import Context


def records(ctx: Context, split: str, stage: str | None = None) -> list[Record]:
    """Records of a split, from ``stage``'s folder; by default the training split carries the generated
    demonstrations when the ``demonstrations`` stage ran, and everything else comes from ``data``."""
    if stage is None:
        stage = "demonstrations" if split == "train" and "demonstrations" in ctx.outputs else "data"
    return ctx.memo(
        f"records/{stage}/{split}",
        lambda: load_records(ctx.output(stage) / f"{split}.jsonl", ctx.cfg.dataset.categories)[0],
    )


def sample_reward_prompts(
    ctx: Context, policy_path: str, path: Path, desc: str, guided: bool = False
) -> dict:
    """``samples_per_prompt`` samples of ``policy_path`` for every reward-model training prompt, to ``path``;
    with ``guided`` (and ``reward_model.guided_words > 0``) also one sample continuing each prompt's opening
    (:func:`dr_irl.data.pair_designs.guide_openings`), under ``guided``."""
    import torch

    from dr_irl.data.pair_designs import guide_openings
    from dr_irl.io import write_jsonl
    from dr_irl.models.generation import generate_responses

    rm = ctx.cfg.reward_model
    torch.manual_seed(ctx.cfg.seed)
    prompts = [r for r in records(ctx, "train") if r.harmful or rm.include_benign]
    model, tokenizer = load_policy(ctx, policy_path)
    settings = {
        "batch_size": ctx.cfg.eval.batch_size,
        "do_sample": True,
        "temperature": rm.sample_temperature,
    }
    samples = generate_responses(
        model,
        tokenizer,
        [r.prompt for r in prompts],
        rm.sample_max_new_tokens,
        num_return_sequences=rm.samples_per_prompt,
        desc=desc,
        **settings,
    )
    rows = [{"id": r.id, "samples": s} for r, s in zip(prompts, samples, strict=True)]
    if guided and rm.guided_words > 0:
        openings = guide_openings(prompts, rm.guided_words, ctx.cfg.seed)
        steered = generate_responses(
            model,
            tokenizer,
            [r.prompt for r in prompts],
            rm.sample_max_new_tokens,
            desc=f"{desc} (guided)",
            response_prefixes=[openings[r.id] for r in prompts],
            **settings,
        )
        for row, texts in zip(rows, steered, strict=True):
            row["guided"] = texts
    write_jsonl(path, rows)
    return {"prompts": len(prompts), "samples_per_prompt": rm.samples_per_prompt, "guided": guided}


def record_labels(ctx: Context) -> dict[str, bool]:
    """Prompt → harmful, for the run's training and held-out records."""
    return {r.prompt: r.harmful for split in ("train", "heldout") for r in records(ctx, split)}


def base_model_path(ctx: Context) -> str:
    """The local folder (or hub id) of ``model``: built or converted once for local sources."""
    from dr_irl.models import resolve_model_path

    return ctx.memo("base_model_path", lambda: resolve_model_path(ctx.cfg.model, ctx.cfg.paths.cache_dir))


def init_policy_path(ctx: Context) -> str:
    """The policy before alignment: the warm-started model when enabled, else the base model."""
    if ctx.cfg.model.warm_start:
        return str(ctx.output("warm_start") / "model")
    return base_model_path(ctx)


def reference_is_base(cfg) -> bool:
    """Whether π_ref is the base model while the policy is warm-started (``reward_model.reference_policy=base``);
    without a warm start the two are the same model."""
    return bool(cfg.model.warm_start) and cfg.reward_model.get("reference_policy", "init") == "base"


def reference_reads(cfg) -> tuple[str, ...]:
    """The stage whose model π_ref is: the warm start, unless π_ref is the base model."""
    return () if reference_is_base(cfg) else ("warm_start",)


def reward_reference_path(ctx: Context) -> str:
    """π_ref: the model whose samples every sample-reading component uses (the IRL negatives, DPO's rejected
    answers, α^D's offline δ̄, AfD's and RRM's negatives) and whose hidden states ``policy_hidden`` reads —
    the initial policy, or the base model before the warm start (``reward_model.reference_policy``)."""
    return base_model_path(ctx) if reference_is_base(ctx.cfg) else init_policy_path(ctx)


def sft_policy_path(ctx: Context) -> str:
    """π_SFT, the ``sft_policy`` stage's model."""
    return str(ctx.output("sft_policy") / "model")


def load_policy(ctx: Context, path: str, for_generation: bool = True, dtype: str | None = None):
    """(model, tokenizer); for generation the model is loaded whole (never ZeRO-3-partitioned: it is used by
    this process alone) and put on this process's device; trainers place their own. Generation uses
    ``eval.generation_dtype`` unless ``dtype`` names another (hidden-state readers pass ``model.dtype``)."""
    from dr_irl.distributed.deepspeed import zero3_init_disabled
    from dr_irl.distributed.ranks import device
    from dr_irl.models import load_causal_lm, load_tokenizer
    from dr_irl.models.precision import generation_dtype

    if not for_generation:
        model = load_causal_lm(path, ctx.cfg.model.dtype, ctx.cfg.model.trust_remote_code)
    else:
        dtype = dtype or generation_dtype(ctx.cfg)
        with zero3_init_disabled():
            model = load_causal_lm(path, dtype, ctx.cfg.model.trust_remote_code)
        model = model.to(device(ctx.cfg.hardware.use_cpu))
    return model, load_tokenizer(path, ctx.cfg.model.trust_remote_code)


def _samples(ctx: Context, stage: str) -> dict[str, list[str]]:
    path = ctx.output(stage) / "samples.jsonl"
    return ctx.memo(stage, lambda: {row["id"]: row["samples"] for row in read_jsonl(path)})


def reference_samples(ctx: Context) -> dict[str, list[str]]:
    """Record id → its reference samples ỹ ~ π_ref (stage ``reference_samples``)."""
    return _samples(ctx, "reference_samples")


def guided_samples(ctx: Context) -> dict[str, list[str]]:
    """Record id → π_ref's continuations of the prompt's opening (``reward_model.guided_words``), or {}."""

    def read() -> dict[str, list[str]]:
        rows = read_jsonl(ctx.output("reference_samples") / "samples.jsonl")
        return {row["id"]: row["guided"] for row in rows if "guided" in row}

    return ctx.memo("guided_samples", read)


def sft_samples(ctx: Context) -> dict[str, list[str]]:
    """Record id → its samples of π_SFT (stage ``sft_samples``)."""
    return _samples(ctx, "sft_samples")


def offline_deltas(ctx: Context) -> dict | None:
    """The ``alpha_offline`` stage's ``{"delta": {record id: δ}, "delta_bar": {category: δ̄}}``, or None when
    it did not run."""
    if "alpha_offline" not in ctx.outputs:
        return None
    return ctx.memo("alpha_offline", lambda: read_json(ctx.output("alpha_offline") / "delta.json"))


def offline_delta_bar(ctx: Context, categories: list[str]):
    """δ̄ per category (a tensor in the order of ``categories``) from the ``alpha_offline`` stage, or None."""
    import torch

    saved = offline_deltas(ctx)
    return None if saved is None else torch.tensor([saved["delta_bar"][c] for c in categories])


def reward_pairs(ctx: Context, extra_samples: dict[str, list[str]] | None = None):
    """The (chosen ≻ rejected) pairs the pairwise reward models learn from: demonstrations of the training
    records against their reference samples, in the design of ``reward_model.pairs``
    (:mod:`dr_irl.data.pair_designs`). ``extra_samples`` (record id → texts, e.g. the policy's rollouts in
    iterative IRL) join the reference samples; only the pairs without them are memoised."""
    from dr_irl.data.pair_designs import PAIR_DESIGNS
    from dr_irl.data.pairs import demonstration_pairs

    def build(samples: dict[str, list[str]]):
        rm = ctx.cfg.reward_model
        train = records(ctx, "train")
        if rm.pairs != "paper":
            return PAIR_DESIGNS.get(rm.pairs)(train, samples, ctx.cfg.seed, guided=guided_samples(ctx))
        pairs = demonstration_pairs(train, samples, rm.include_benign)
        if rm.hard_negatives:
            from dr_irl.data.hard_negatives import hard_negative_pairs
            from dr_irl.data.refusals import RuleRefusalJudge

            judge = RuleRefusalJudge()
            pairs += hard_negative_pairs(train, samples, judge.is_refusal, ctx.cfg.seed, rm.include_benign)
        return pairs

    if extra_samples:
        reference = reference_samples(ctx)
        merged = {
            key: reference.get(key, []) + extra_samples.get(key, [])
            for key in dict.fromkeys([*reference, *extra_samples])
        }
        return build(merged)
    return ctx.memo("reward_pairs", lambda: build(reference_samples(ctx)))


def hardness_scorer(ctx: Context):
    """The δ scorer of α^D with the configured encoder, on this process's device (each rank holds it whole)."""
    from dr_irl.distributed.deepspeed import zero3_init_disabled
    from dr_irl.distributed.ranks import device
    from dr_irl.encoders import HardnessScorer, build_text_encoder
    from dr_irl.encoders.splitters import SPLITTERS

    sc = ctx.cfg.scaler
    with zero3_init_disabled():
        splitter = SPLITTERS.get(sc.encoder.splitter)(
            max_pieces=sc.encoder.max_subsentences,
            model_path=sc.encoder.splitter_model or base_model_path(ctx),
            device=device(ctx.cfg.hardware.use_cpu),
        )
        encoder = build_text_encoder(sc.encoder, device(ctx.cfg.hardware.use_cpu))
        return HardnessScorer(encoder, sc.encoder.max_subsentences, splitter)


def text_encoder(ctx: Context):
    """The MiniLM sentence encoder used for near-duplicate checks and prompt–response relevance."""
    from dr_irl.encoders.text import SentenceTransformerEncoder, minilm_folder

    return ctx.memo("text_encoder", lambda: SentenceTransformerEncoder(minilm_folder()))
