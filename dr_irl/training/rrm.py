"""``optimizer.name=rrm_dpo`` (RRM, arXiv 2503.10093): n samples per prompt once, re-ranked by the
representation probe, confidence-weighted DPO (:mod:`dr_irl.training.rrm_dpo`).

Online probe update (``optimizer.probe_updates = K``, the paper's option): the prompts are split into K + 1
disjoint seeded shards, one per round (each round trains ``epochs`` on its shard, ``max_steps`` is shared out, a
new TRL run with its own schedule and seed); before every round but the first the probe continues training on the
*current* policy's hidden states of its own training pairs (demonstration ≻ reference sample), then re-scores the
round's candidates (sampled once, at the start) on those hidden states, re-ranks them and computes σ(r); each round
continues from the current policy, the reference staying π_init. Each update logs the probe's pairwise accuracy
on the current hidden states before it (how stale the probe had become) and after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig

from dr_irl.config import policy_seed
from dr_irl.data.pairs import Pair
from dr_irl.distributed.ranks import barrier, is_main_process
from dr_irl.hf_trainer import JsonlMetricsCallback, TrackerCallback
from dr_irl.io import atomic_write_json, read_jsonl, write_jsonl
from dr_irl.models.generation import count_generation
from dr_irl.rewards.families import family_folder
from dr_irl.rewards.representation import HybridProbe, pooled_hidden_states, probe_rewards, train_probe
from dr_irl.run_artifacts import init_policy_path, load_policy, records, reward_pairs
from dr_irl.training.methods import register_method, rewards_stage
from dr_irl.training.rrm_dpo import ScoredPair, reranked_pairs, train_rrm_dpo


def _scored_pairs_rows(scored: Sequence[ScoredPair]) -> list[dict]:
    from dataclasses import asdict

    return [{**asdict(p), "sig_chosen": c, "sig_rejected": r} for p, c, r in scored]


def _read_scored_pairs(path: Path) -> list[ScoredPair]:
    return [
        (
            Pair(**{k: v for k, v in row.items() if not k.startswith("sig_")}),
            row["sig_chosen"],
            row["sig_rejected"],
        )
        for row in read_jsonl(path)
    ]


def sample_candidates(ctx, model, tokenizer, prompts) -> list[list[str]]:
    """``optimizer.n`` samples per prompt, once (RRM's re-ranking replaces online sampling)."""
    from dr_irl.models.generation import generate_responses

    opt = ctx.cfg.optimizer
    torch.manual_seed(policy_seed(ctx.cfg))
    return generate_responses(
        model,
        tokenizer,
        [r.prompt for r in prompts],
        opt.max_completion_length,
        batch_size=max(1, ctx.cfg.eval.batch_size // opt.n),
        do_sample=True,
        temperature=opt.temperature,
        num_return_sequences=opt.n,
        desc="rrm samples",
    )


def rerank_with_probe(ctx, probe, model, tokenizer, prompts, candidates) -> list[ScoredPair]:
    """The candidates scored by ``probe`` on ``model``'s hidden states, best vs worst per prompt."""
    features = pooled_hidden_states(
        model,
        tokenizer,
        [r.prompt for r, cs in zip(prompts, candidates, strict=True) for _ in cs],
        [c for cs in candidates for c in cs],
        pooling=ctx.cfg.reward_model.pooling,
    )
    return reranked_pairs(
        [r.id for r in prompts],
        [r.category for r in prompts],
        [r.prompt for r in prompts],
        candidates,
        probe_rewards(probe, features),
    )


def update_probe_online(ctx, probe, model, tokenizer, round_index: int):
    """Continue training ``probe`` on the current policy's hidden states of its training pairs."""
    rm, opt = ctx.cfg.reward_model, ctx.cfg.optimizer
    pairs = reward_pairs(ctx)
    prompts = [p.prompt for p in pairs]
    chosen = pooled_hidden_states(model, tokenizer, prompts, [p.chosen for p in pairs], pooling=rm.pooling)
    rejected = pooled_hidden_states(
        model, tokenizer, prompts, [p.rejected for p in pairs], pooling=rm.pooling
    )
    before = (probe_rewards(probe, chosen) > probe_rewards(probe, rejected)).float().mean().item()
    probe, stats = train_probe(
        chosen,
        rejected,
        epochs=opt.probe_update_epochs,
        lr=rm.probe_learning_rate,
        seed=policy_seed(ctx.cfg) + round_index,
        init=probe,
    )
    return probe, {"accuracy_before": before, "accuracy_after": stats["accuracy"], "loss": stats["loss"]}


def round_config(opt: DictConfig, rounds: int) -> DictConfig:
    """The optimizer config of one of ``rounds`` rounds: each trains ``epochs`` on its own shard of the
    prompts (so every prompt is trained on as often as without rounds); ``max_steps`` is shared out."""
    import math

    from omegaconf import OmegaConf

    per_round = OmegaConf.create(OmegaConf.to_container(opt, resolve=True))
    if opt.max_steps > 0:
        per_round.max_steps = max(1, math.ceil(opt.max_steps / rounds))
    return per_round


def prompt_shards(n: int, rounds: int, seed: int) -> list[list[int]]:
    """Disjoint shards of ``range(n)`` covering it, one per round, from one seeded permutation."""
    import random

    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[k::rounds]) for k in range(rounds)]


def rrm_reads(cfg: DictConfig) -> tuple[str, ...]:
    """The probe's stage, and the reference samples its online updates train on."""
    return ("reference_samples", rewards_stage(cfg, "representation"))


@register_method("rrm_dpo", reads=rrm_reads, reward_kind="representation")
def run_rrm_dpo(ctx, out: Path) -> dict:
    """RRM: n samples per prompt once, re-ranked by the probe, confidence-weighted DPO; with
    ``optimizer.probe_updates`` the probe is updated online between rounds. Sampling, probe updates and
    re-ranking run on rank 0 and reach the other ranks through the stage folder (the same pairs everywhere)."""
    import gc
    import shutil

    cfg, opt = ctx.cfg, ctx.cfg.optimizer
    if opt.probe_updates < 0:
        raise ValueError(f"optimizer.probe_updates={opt.probe_updates}: expected >= 0")
    rounds = opt.probe_updates + 1
    prompts = [r for r in records(ctx, "train") if r.harmful or cfg.reward_model.include_benign]
    shards = prompt_shards(len(prompts), rounds, policy_seed(cfg))
    initial = policy = init_policy_path(ctx)
    probe = candidates = None
    sampling: dict = {}
    history = []
    steps_before = 0
    for k in range(rounds):
        pairs_path = out / ("pairs.jsonl" if k == 0 else f"pairs_round{k}.jsonl")
        update = None
        if is_main_process():
            model, tokenizer = load_policy(ctx, policy, dtype=ctx.cfg.model.dtype)  # the probe's features
            if k == 0:
                with count_generation() as generated:
                    candidates = sample_candidates(ctx, model, tokenizer, prompts)
                sampling = {
                    "generated_tokens": generated.new_tokens,
                    "sampling_seconds": round(generated.seconds, 2),
                }
                write_jsonl(
                    out / "candidates.jsonl",
                    [{"id": r.id, "candidates": c} for r, c in zip(prompts, candidates, strict=True)],
                )
                probe = HybridProbe.load(family_folder(ctx, "representation") / "probe")
            else:
                probe, update = update_probe_online(ctx, probe, model, tokenizer, k)
                probe.save(out / "probes" / f"round{k}")
                atomic_write_json(out / "probes" / f"round{k}" / "update.json", update)
                update_log = {f"{ctx.stage}/rrm/probe_update/{key}": v for key, v in update.items()}
                ctx.tracker.log({**update_log, f"{ctx.stage}/step": steps_before})
                print(f"online probe update {k}: {update}")
            shard = shards[k]  # this round's prompts, re-ranked by the current probe on the current policy
            scored = rerank_with_probe(
                ctx, probe, model, tokenizer, [prompts[i] for i in shard], [candidates[i] for i in shard]
            )
            write_jsonl(pairs_path, _scored_pairs_rows(scored))
            del model
            gc.collect()
        barrier()
        last = k == rounds - 1
        round_pairs = _read_scored_pairs(pairs_path)
        if not round_pairs:
            raise ValueError(
                f"RRM round {k}: no re-ranked pairs among its {len(shards[k])} prompts (all candidates tied); "
                f"use fewer rounds (optimizer.probe_updates={opt.probe_updates}) or more samples (optimizer.n)"
            )
        summary = train_rrm_dpo(
            policy,
            round_pairs,
            out if last else out / "rounds" / str(k),
            round_config(opt, rounds),
            cfg.model,
            cfg.hardware,
            policy_seed(cfg) + k,
            per_sample=opt.confidence_per_sample,
            a=opt.confidence_a,
            callbacks=[
                JsonlMetricsCallback(
                    out / "train_log.jsonl",
                    step_offset=steps_before,
                    extra={"round": k} if rounds > 1 else None,
                ),
                TrackerCallback(ctx.tracker, ctx.stage, step_offset=steps_before),
            ],
            ref_model_path=initial,
        )
        steps_before += summary["steps"]
        barrier()
        if k > 0 and is_main_process():  # the previous round's policy has been loaded: free its disk
            shutil.rmtree(Path(policy).parent, ignore_errors=True)
        policy = str((out if last else out / "rounds" / str(k)) / "model")
        history.append({**summary, **({"probe_update": update} if update else {})})
    return {
        **history[-1],
        "rounds": history if rounds > 1 else [],
        "prompts": len(prompts),
        **sampling,  # the n candidates per prompt, sampled once: tokens and seconds (rank 0)
        "model_path": "model",
        "responder": "greedy",
    }
