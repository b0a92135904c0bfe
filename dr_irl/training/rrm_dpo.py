"""DPO with preference confidence (RRM, arXiv 2503.10093) on pairs re-ranked by the representation probe.

γ = max(σ(a·[mean σ(r_c) − mean σ(r_r)]), ½) with the means over the batch (``per_sample``: γ_i from the pair's own
σ(r_c) − σ(r_r)); loss = −γ log σ(βh) − (1 − γ) log σ(−βh), h the DPO log-ratio margin
(log π/π_ref of chosen − of rejected). σ(r_c), σ(r_r) are the frozen probe's, precomputed per pair as the dataset
columns ``sig_chosen`` and ``sig_rejected``.

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
import torch.nn.functional as F
from omegaconf import DictConfig
from trl import DPOTrainer

from dr_irl.data.pairs import Pair
from dr_irl.training.dpo import WeightedPreferenceCollator, dpo_config, dpo_dataset

SIGMA_COLUMNS = ("sig_chosen", "sig_rejected")
ScoredPair = tuple[Pair, float, float]  # (pair, σ(r_chosen), σ(r_rejected))


def preference_confidence(
    sig_c: torch.Tensor, sig_r: torch.Tensor, a: float = 7.5, per_sample: bool = False
) -> torch.Tensor:
    """γ, floored at ½, one value per pair: the batch's γ repeated, or (``per_sample``) each pair's own."""
    diff = sig_c - sig_r if per_sample else (sig_c.mean() - sig_r.mean()).expand(sig_c.shape)
    return torch.sigmoid(a * diff).clamp_min(0.5)


def confidence_dpo_loss(h: torch.Tensor, beta: float, gamma: torch.Tensor) -> torch.Tensor:
    """mean(−γ log σ(βh) − (1 − γ) log σ(−βh))."""
    x = beta * h
    return (-gamma * F.logsigmoid(x) - (1 - gamma) * F.logsigmoid(-x)).mean()


class ConfidenceCollator(WeightedPreferenceCollator):
    """TRL's preference collator (and ``beta_scale``), passing ``sig_chosen`` / ``sig_rejected`` through."""

    def torch_call(self, examples):
        output = super().torch_call(examples)
        for name in SIGMA_COLUMNS:
            if name in examples[0]:
                output[name] = torch.tensor([e[name] for e in examples], dtype=torch.float32)
        return output


class ConfidenceDPOTrainer(DPOTrainer):
    """DPOTrainer whose loss is the confidence loss −γ log σ(βh) − (1 − γ) log σ(−βh), γ from the batch's σ columns.

    No TRL loss is this mixture for every γ in [½, 1] (``robust`` is −γ' log σ(x) − (1 − γ') log σ(−x) only with
    γ' = (1 − ε)/(1 − 2ε), which reaches ½ only as ε → −∞), but a combination of two is: with x = βh and
    log σ(−x) = log σ(x) − x the loss is −log σ(x) + (1 − γ)x, and TRL's ``robust`` loss with label smoothing ε
    is −log σ(x) − εx/(1 − 2ε). So ``2·sigmoid − robust(ε_i)`` with ε_i = c_i/(1 + 2c_i), c_i = 1 − γ_i ∈ [0, ½]
    (ε_i ∈ [0, ¼]) is −log σ(x_i) + c_i x_i exactly. For each batch the trainer sets TRL's loss types, weights
    and a per-pair label-smoothing tensor for the duration of TRL's own ``_compute_loss``: the forward passes, the
    reference (``ref_model``, the adapter-disabled PEFT model or precomputed log-probs), f-divergences, WPO
    weighting and every ``rewards/*`` metric stay TRL's. Without the σ columns it is TRL's sigmoid DPO.

    γ per batch is over each device's micro-batch (no gather across ranks or accumulation steps).
    """

    def __init__(self, *args, per_sample: bool = False, a: float = 7.5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.loss_types != ["sigmoid"]:
            raise ValueError(f"confidence DPO generalises the sigmoid loss; loss_type={self.loss_types}")
        self.per_sample, self.confidence_a = per_sample, a

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        missing = [c for c in SIGMA_COLUMNS if c not in self._signature_columns]
        self._signature_columns = [*self._signature_columns, *missing]

    def _compute_loss(self, model, inputs, return_outputs):
        sig_c, sig_r = (inputs.pop(name, None) for name in SIGMA_COLUMNS)
        if sig_c is None or sig_r is None:
            return super()._compute_loss(model, inputs, return_outputs)
        device = self.accelerator.device
        sig_c, sig_r = sig_c.to(device), sig_r.to(device)
        gamma = preference_confidence(sig_c, sig_r, self.confidence_a, self.per_sample)
        c = 1.0 - gamma
        saved = self.loss_types, self.loss_weights, self.label_smoothing
        self.loss_types, self.loss_weights, self.label_smoothing = (
            ["sigmoid", "robust"],
            [2.0, -1.0],
            c / (1 + 2 * c),
        )
        try:
            result = super()._compute_loss(model, inputs, return_outputs)
        finally:
            self.loss_types, self.loss_weights, self.label_smoothing = saved
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["confidence/gamma"].append(
            self.accelerator.gather_for_metrics(gamma).mean().item()
        )
        margin = self.accelerator.gather_for_metrics(sig_c - sig_r).mean().item()
        self._metrics[mode]["confidence/sig_margin"].append(margin)
        return result


def reranked_pairs(
    prompt_ids: Sequence[str],
    categories: Sequence[str],
    prompts: Sequence[str],
    candidates: list[list[str]],
    rewards: torch.Tensor,
) -> list[ScoredPair]:
    """(best, worst) of each prompt's candidates by the probe's rewards (flattened prompt-major), with σ(r) of both.

    Prompts that :func:`dr_irl.rewards.representation.rerank` drops (no preference) give no pair.
    """
    from dr_irl.rewards.representation import rerank

    sizes = [len(c) for c in candidates]
    sig = torch.sigmoid(rewards.detach().float().cpu()).split(sizes)
    pairs = []
    for i, picked in enumerate(rerank(candidates, rewards)):
        if picked is None:
            continue
        best, worst = picked
        pair = Pair(prompt_ids[i], categories[i], prompts[i], candidates[i][best], candidates[i][worst])
        pairs.append((pair, float(sig[i][best]), float(sig[i][worst])))
    return pairs


def rrm_dataset(pairs_with_sigmas: Sequence[ScoredPair]):
    """The DPO dataset of the pairs with their ``sig_chosen`` / ``sig_rejected`` columns."""
    dataset = dpo_dataset([p for p, _, _ in pairs_with_sigmas])
    dataset = dataset.add_column("sig_chosen", [float(s) for _, s, _ in pairs_with_sigmas])
    return dataset.add_column("sig_rejected", [float(s) for _, _, s in pairs_with_sigmas])


def train_rrm_dpo(
    model_path: str,
    pairs_with_sigmas: Sequence[ScoredPair],
    out_dir: Path,
    opt_cfg: DictConfig,
    model_cfg: DictConfig,
    hardware_cfg: DictConfig,
    seed: int,
    per_sample: bool = False,
    a: float = 7.5,
    report_to: str = "none",
    callbacks=(),
    ref_model_path: str | None = None,
) -> dict:
    """Train with confidence DPO from ``model_path`` on (pair, σ(r_c), σ(r_r)); saves the policy to ``out_dir/model``.

    ``opt_cfg`` has the fields of ``train_dpo``'s: epochs, max_steps, learning_rate, beta, batch_size,
    max_length, logging_steps. ``ref_model_path``: the DPO reference when it is not ``model_path`` itself (later
    rounds of the online update).
    """
    from dr_irl.hf_trainer import (
        load_trainable_policy,
        lora_config,
        save_trained,
        seed_model_construction,
        train_resumable,
        use_compact_progress,
    )
    from dr_irl.models import load_causal_lm

    if not pairs_with_sigmas:
        raise ValueError("no re-ranked pairs to train on")
    seed_model_construction(seed)
    model, tokenizer = load_trainable_policy(model_path, model_cfg)
    ref_model = None
    if ref_model_path is not None and ref_model_path != model_path:
        ref_model = load_causal_lm(ref_model_path, model_cfg.dtype, model_cfg.trust_remote_code)
    args = dpo_config(out_dir, opt_cfg, hardware_cfg, seed, report_to)
    trainer = ConfidenceDPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=rrm_dataset(pairs_with_sigmas),
        processing_class=tokenizer,
        data_collator=ConfidenceCollator(pad_token_id=tokenizer.pad_token_id, max_length=opt_cfg.max_length),
        peft_config=lora_config(model_cfg.lora),
        callbacks=list(callbacks),
        per_sample=per_sample,
        a=a,
    )
    use_compact_progress(trainer, "RRM-DPO")
    result = train_resumable(trainer)
    save_trained(trainer, tokenizer, out_dir / "model")
    sig_c = torch.tensor([s for _, s, _ in pairs_with_sigmas])
    sig_r = torch.tensor([s for _, _, s in pairs_with_sigmas])
    return {
        "train_loss": result.training_loss,
        "pairs": len(pairs_with_sigmas),
        "steps": trainer.state.global_step,
        "sig_margin": (sig_c - sig_r).mean().item(),
        "gamma_all_pairs": preference_confidence(sig_c, sig_r, a)[0].item(),
    }


# ----------------------------------------------------------------------------------- the optimizer=rrm_dpo run


def _scored_pairs_rows(scored: Sequence[ScoredPair]) -> list[dict]:
    from dataclasses import asdict

    return [{**asdict(p), "sig_chosen": c, "sig_rejected": r} for p, c, r in scored]


def _read_scored_pairs(path: Path) -> list[ScoredPair]:
    from dr_irl.io import read_jsonl

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
    torch.manual_seed(ctx.cfg.seed)
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
    from dr_irl.rewards.representation import pooled_hidden_states, probe_rewards

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
    from dr_irl.rewards.representation import pooled_hidden_states, probe_rewards, train_probe
    from dr_irl.run_artifacts import reward_pairs

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
        seed=ctx.cfg.seed + round_index,
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


def run_rrm_dpo(ctx, out: Path) -> dict:
    """RRM: n samples per prompt once, re-ranked by the probe, confidence-weighted DPO; with
    ``optimizer.probe_updates`` the probe is updated online between rounds. Sampling, probe updates and
    re-ranking run on rank 0 and reach the other ranks through the stage folder (the same pairs everywhere)."""
    import gc
    import shutil

    from dr_irl.distributed.ranks import barrier, is_main_process
    from dr_irl.hf_trainer import JsonlMetricsCallback
    from dr_irl.io import atomic_write_json, write_jsonl
    from dr_irl.rewards.families import family_folder
    from dr_irl.rewards.representation import HybridProbe
    from dr_irl.run_artifacts import init_policy_path, load_policy, records

    cfg, opt = ctx.cfg, ctx.cfg.optimizer
    if opt.probe_updates < 0:
        raise ValueError(f"optimizer.probe_updates={opt.probe_updates}: expected >= 0")
    rounds = opt.probe_updates + 1
    prompts = [r for r in records(ctx, "train") if r.harmful or cfg.reward_model.include_benign]
    shards = prompt_shards(len(prompts), rounds, cfg.seed)
    initial = policy = init_policy_path(ctx)
    probe = candidates = None
    history = []
    steps_before = 0
    for k in range(rounds):
        pairs_path = out / ("pairs.jsonl" if k == 0 else f"pairs_round{k}.jsonl")
        update = None
        if is_main_process():
            model, tokenizer = load_policy(ctx, policy)
            if k == 0:
                candidates = sample_candidates(ctx, model, tokenizer, prompts)
                write_jsonl(
                    out / "candidates.jsonl",
                    [{"id": r.id, "candidates": c} for r, c in zip(prompts, candidates, strict=True)],
                )
                probe = HybridProbe.load(family_folder(ctx, "representation") / "probe")
            else:
                probe, update = update_probe_online(ctx, probe, model, tokenizer, k)
                probe.save(out / "probes" / f"round{k}")
                atomic_write_json(out / "probes" / f"round{k}" / "update.json", update)
                ctx.tracker.log({f"rrm/probe_update/{key}": v for key, v in update.items()})
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
            cfg.seed + k,
            per_sample=opt.confidence_per_sample,
            a=opt.confidence_a,
            report_to=ctx.tracker.report_to,
            callbacks=[
                JsonlMetricsCallback(
                    out / "train_log.jsonl",
                    step_offset=steps_before,
                    extra={"round": k} if rounds > 1 else None,
                )
            ],
            ref_model_path=initial,
        )
        steps_before += summary["steps"]
        barrier()
        if k > 0 and is_main_process():  # the previous round's policy has been loaded: free its disk
            shutil.rmtree(Path(policy).parent, ignore_errors=True)
        policy = str((out if last else out / "rounds" / str(k)) / "model")
        history.append({**summary, **({"probe_update": update} if update else {})})
    return {**history[-1], "rounds": history if rounds > 1 else [], "prompts": len(prompts)}
