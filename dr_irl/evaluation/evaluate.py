"""Answers of a policy to every evaluation set, judged and scored by the run's reward model.

The evaluation stages (``eval_base``, ``eval_policy``) call :func:`evaluate`: the main set (the ``eval_sets``
stage's prompts, or the held-out split) and every ``eval.benchmarks`` set, answered by a responder
(:mod:`dr_irl.evaluation.responders`), judged by ``eval.judge``, with the reward of each harmful answer,
helpfulness and relevance; the rows go to ``generations.jsonl``, the metrics to the tracker.
"""

from __future__ import annotations

from pathlib import Path

from dr_irl.data.schema import Record
from dr_irl.io import write_jsonl
from dr_irl.pipeline import Context
from dr_irl.rewards.families import reward_models
from dr_irl.run_artifacts import load_policy, records, text_encoder


def evaluation_sets(ctx: Context) -> dict[str, list[Record]]:
    """The main set (``heldout``: the eval_sets stage's harmful + benign prompts with ``eval.suite=standard``,
    else the held-out split), capped by eval.max_harmful / max_benign, and every eval.benchmarks set."""
    from dr_irl.evaluation.benchmarks import load_benchmarks

    def build():
        ev = ctx.cfg.eval
        if ev.suite == "standard":
            harmful = records(ctx, "harmful", stage="eval_sets")
            benign = records(ctx, "benign", stage="eval_sets")
        else:
            heldout = records(ctx, "heldout")
            harmful = [r for r in heldout if r.harmful]
            benign = [r for r in heldout if not r.harmful]
        sets = {"heldout": harmful[: ev.max_harmful] + benign[: ev.max_benign]}
        for name, result in load_benchmarks(ev.benchmarks, ctx.cfg.seed).items():
            sets[name] = result.records
        return sets

    return ctx.memo("evaluation_sets", build)


def relevance(ctx: Context, prompts: list[Record], responses: list[str]) -> list[float]:
    """Cosine of the MiniLM embeddings of each prompt and its response."""
    if not prompts:
        return []
    encoder = text_encoder(ctx)
    p = encoder.encode([r.prompt for r in prompts])
    a = encoder.encode([x or " " for x in responses])
    return (p * a).sum(dim=1).tolist()


def judge_responses(ctx: Context, prompts: list[Record], responses: list[str]) -> list[bool]:
    """Refusal (or safety) verdicts of the configured judge."""
    from dr_irl.evaluation.judges import JUDGES

    judge = ctx.memo("judge", lambda: JUDGES.get(ctx.cfg.eval.judge)(ctx.cfg.eval))
    return judge([r.prompt for r in prompts], responses, [r.label for r in prompts])


def evaluate(ctx: Context, out: Path, policy_path: str, label: str, responder: str = "greedy") -> dict:
    """Answers to every evaluation set (greedy or best-of-n), judged, scored by the reward models.

    The top-level metrics are the held-out split's; each extra benchmark gets its own under ``benchmarks``.
    """
    from dr_irl.evaluation.metrics import helpfulness_metrics, refusal_metrics, strongreject_proxy_metrics
    from dr_irl.evaluation.responders import RESPONDERS

    sets = evaluation_sets(ctx)
    model, tokenizer = load_policy(ctx, policy_path)
    results: dict = {}
    rows = []
    for name, prompts in sets.items():
        responses = RESPONDERS.get(responder)(ctx, model, tokenizer, prompts, f"{label}: {name}")
        refused = judge_responses(ctx, prompts, responses)
        harmful = [i for i, r in enumerate(prompts) if r.harmful]
        rewards: list[float | None] = [None] * len(prompts)
        if harmful:  # the run's reward model scores the harmful answers
            scores = reward_models(ctx).score(
                [prompts[i].prompt for i in harmful],
                [responses[i] for i in harmful],
                [prompts[i].category for i in harmful],
                harmful=[True] * len(harmful),
            )
            for i, score in zip(harmful, scores.tolist(), strict=True):
                rewards[i] = score
        labels = [r.label for r in prompts]
        metrics = refusal_metrics(labels, [r.category for r in prompts], refused, rewards)
        similarity = relevance(ctx, prompts, responses)
        helpfulness, helpful, incoherent = helpfulness_metrics(
            labels, refused, responses, similarity, ctx.cfg.eval.relevance_threshold
        )
        metrics.update(helpfulness)
        if harmful:
            metrics.update(strongreject_proxy_metrics(labels, refused, responses))
        rows += [
            {
                "set": name,
                "id": r.id,
                "label": r.label,
                "category": r.category,
                "prompt": r.prompt,
                "response": resp,
                "refused": ref,
                "helpful": hel,
                "incoherent": inc,
                "relevance": rel,
                "reward": rew,
            }
            for r, resp, ref, rew, hel, inc, rel in zip(
                prompts, responses, refused, rewards, helpful, incoherent, similarity, strict=True
            )
        ]
        if name == "heldout":
            results.update(metrics)
        else:
            results.setdefault("benchmarks", {})[name] = metrics
        prefix = f"eval_{label}" if name == "heldout" else f"eval_{label}/{name}"
        ctx.tracker.log({f"{prefix}/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
    write_jsonl(out / "generations.jsonl", rows)
    results.update(capability_results(ctx, out, model, tokenizer))
    if getattr(model, "dtype", None) is not None:  # the dtype the answers were generated in
        results["generation_dtype"] = str(model.dtype).removeprefix("torch.")
    return results


def capability_results(ctx: Context, out: Path, model, tokenizer) -> dict:
    """Accuracy of the capability sets in ``eval.benchmarks`` (gsm8k, hhh, basics) with Wilson intervals; the
    per-item rows go to ``capability.jsonl`` for the paired before/after test (the alignment tax)."""
    from dr_irl.evaluation.capability import evaluate_capabilities
    from dr_irl.evaluation.statistics import rate

    ev = ctx.cfg.eval
    scores = evaluate_capabilities(
        model, tokenizer, ev.benchmarks, ctx.cfg.seed, ev.batch_size, ev.max_new_tokens
    )
    if not scores:
        return {}
    summary, rows = {}, []
    for name, score in scores.items():
        r = rate(score["correct"])
        summary[name] = {"accuracy": r.value, "accuracy_ci": [r.low, r.high], "n": r.n}
        rows += [{"set": name, "index": i, "correct": bool(c)} for i, c in enumerate(score["correct"])]
        ctx.tracker.log({f"capability/{name}/accuracy": r.value})
    write_jsonl(out / "capability.jsonl", rows)
    return {"capability": summary}
